package record

import (
	"bytes"
	"encoding/binary"

	"github.com/klauspost/compress/snappy"
)

// Kafka's snappy codec is xerial snappy-java's SnappyOutputStream framing,
// not the official snappy framing format:
//
//	+--------------------------------+---------+---------+
//	| 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0 | version | compat  |   16-byte header
//	+--------------------------------+---------+---------+   (int32 BE each, 1 and 1)
//	| length int32 BE | snappy block (length bytes)      |   repeated; each block
//	+-----------------+----------------------------------+   holds <= 32 KiB raw
//
// SnappyInputStream also accepts a header in the middle of a stream (streams
// written one after another) and, when the magic is missing, treats the
// whole input as one plain snappy block; some non-Java clients send that.
// A block length can never start with 0x82 (it would be negative), so a
// header at a block boundary is unambiguous.

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16
	xerialVersion   = 1
	xerialCompat    = 1
	// xerialBlockSize is SnappyOutputStream's default block (32 KiB).
	xerialBlockSize = 32 << 10
)

// xerialEncode appends the xerial framing of src to dst.
func xerialEncode(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, xerialVersion)
	dst = binary.BigEndian.AppendUint32(dst, xerialCompat)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		start := len(dst)
		need := 4 + snappy.MaxEncodedLen(n)
		dst = grow(dst, need)[:start+need]
		enc := snappy.Encode(dst[start+4:], src[:n])
		binary.BigEndian.PutUint32(dst[start:], uint32(len(enc)))
		dst = dst[:start+4+len(enc)]
		src = src[n:]
	}
	return dst
}

// unsnappy decodes a xerial stream or, without the magic, a plain block.
func unsnappy(src, dst []byte, limit int) ([]byte, error) {
	out := dst[:0]
	if !bytes.HasPrefix(src, xerialMagic) {
		return appendSnappyBlock(out, src, limit)
	}
	for p := 0; p < len(src); {
		if bytes.HasPrefix(src[p:], xerialMagic) {
			if len(src)-p < xerialHeaderLen {
				return nil, corruptf("xerial header truncated at byte %d", p)
			}
			p += xerialHeaderLen
			continue
		}
		if len(src)-p < 4 {
			return nil, corruptf("xerial block length truncated at byte %d", p)
		}
		n := uint64(binary.BigEndian.Uint32(src[p:]))
		p += 4
		if n > uint64(len(src)-p) {
			return nil, corruptf("xerial block of %d bytes with %d left", n, len(src)-p)
		}
		var err error
		if out, err = appendSnappyBlock(out, src[p:p+int(n)], limit); err != nil {
			return nil, err
		}
		p += int(n)
	}
	return out, nil
}

// appendSnappyBlock decodes one standard snappy block onto out. The decoded
// length is declared up front, so a bomb is refused before any allocation.
func appendSnappyBlock(out, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, corruptf("snappy block: %v", err)
	}
	if n > limit-len(out) {
		return nil, errTooLarge
	}
	start := len(out)
	if cap(out)-start < n {
		// Double for amortised appends, but never past the limit.
		nb := make([]byte, start, max(start+n, min(2*cap(out), limit)))
		copy(nb, out)
		out = nb
	}
	out = out[:start+n]
	// DecodeStrict, not Decode: plain snappy as snappy-java reads it, without
	// the s2 extensions klauspost's fast decoder also accepts.
	if _, err := snappy.DecodeStrict(out[start:], block); err != nil {
		return nil, corruptf("snappy block: %v", err)
	}
	return out, nil
}

// grow returns b with room for n more bytes, doubling to amortise appends.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(len(b)+n, 2*cap(b)))
	copy(nb, b)
	return nb
}
