package record

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// Legacy message formats (LegacyRecord.java), magic 0 (Kafka 0.8–0.9) and 1 (0.10):
//
//	offset      int64   absolute; a compressed wrapper carries its last inner offset
//	messageSize int32   bytes after this field
//	crc         uint32  CRC-32 (IEEE) of magic..end
//	magic       int8    0 or 1
//	attributes  int8    bits 0-2 codec, bit 3 LogAppendTime (magic 1)
//	timestamp   int64   magic 1 only
//	keyLength   int32   -1 = null
//	key
//	valueLength int32   -1 = null
//	value               a compressed wrapper's value is the compressed inner message set
//
// Inner messages of a wrapper carry absolute offsets (magic 0) or offsets
// relative to the first inner message (magic 1); they are never compressed
// themselves (Kafka: "Inner messages must not be compressed").
const (
	MagicV0 = 0
	MagicV1 = 1

	legacyOffsetSize = 12 // offset + messageSize
	// legacyOverheadV0/V1 are LegacyRecord.RECORD_OVERHEAD_V0/V1: crc, magic,
	// attributes, [timestamp], key and value lengths.
	legacyOverheadV0 = 4 + 1 + 1 + 4 + 4
	legacyOverheadV1 = legacyOverheadV0 + 8

	legacyAttrLogAppendTime = 0x08
)

// LegacyMessage is one decoded magic 0 or 1 message. Key and Value are nil
// when null and alias the input (or a decompressed buffer for inner messages).
type LegacyMessage struct {
	Offset     int64
	Magic      int8
	Attributes int8
	Timestamp  int64 // NoTimestamp for magic 0
	Key, Value []byte
}

// Codec is the compression codec of a wrapper message (CodecNone otherwise).
func (m *LegacyMessage) Codec() Codec { return Codec(m.Attributes & 0x07) }

// LogAppendTime reports the magic 1 timestamp-type bit.
func (m *LegacyMessage) LogAppendTime() bool {
	return m.Magic >= MagicV1 && m.Attributes&legacyAttrLogAppendTime != 0
}

// nextLegacy parses the first complete entry of buf. It returns ok=false
// (and no error) when fewer bytes than a complete entry remain: Kafka's
// ByteBufferLogInputStream drops such a tail silently. The CRC is checked.
func nextLegacy(buf []byte) (m LegacyMessage, size int, ok bool, err error) {
	if len(buf) < legacyOffsetSize {
		return m, 0, false, nil
	}
	msgSize := int32(binary.BigEndian.Uint32(buf[8:]))
	if msgSize < legacyOverheadV0 {
		return m, 0, false, corruptf("legacy message size %d is less than the minimum record overhead (%d)", msgSize, legacyOverheadV0)
	}
	if len(buf) < legacyOffsetSize+5 {
		return m, 0, false, nil
	}
	if magic := int8(buf[legacyOffsetSize+4]); magic < 0 || magic > MagicV2 {
		return m, 0, false, corruptf("invalid magic %d", magic)
	}
	end := int64(legacyOffsetSize) + int64(msgSize)
	if int64(len(buf)) < end {
		return m, 0, false, nil
	}
	body := buf[legacyOffsetSize:end]
	m.Offset = int64(binary.BigEndian.Uint64(buf))
	m.Magic = int8(body[4])
	if m.Magic > MagicV1 {
		// A v2 batch in a legacy set: the caller decides (mixed magic).
		return m, int(end), true, nil
	}
	if crc := binary.BigEndian.Uint32(body); crc != crc32.ChecksumIEEE(body[4:]) {
		return m, 0, false, corruptf("legacy message at offset %d: CRC mismatch", m.Offset)
	}
	m.Attributes = int8(body[5])
	p := 6
	m.Timestamp = NoTimestamp
	if m.Magic == MagicV1 {
		if len(body) < legacyOverheadV1 {
			return m, 0, false, corruptf("magic 1 message of %d bytes is shorter than its overhead", len(body))
		}
		m.Timestamp = int64(binary.BigEndian.Uint64(body[p:]))
		p += 8
	}
	if m.Key, p, err = legacyBytes(body, p, "key"); err != nil {
		return m, 0, false, err
	}
	if m.Value, p, err = legacyBytes(body, p, "value"); err != nil {
		return m, 0, false, err
	}
	if p != len(body) {
		return m, 0, false, corruptf("legacy message at offset %d has %d trailing bytes", m.Offset, len(body)-p)
	}
	return m, int(end), true, nil
}

func legacyBytes(body []byte, p int, what string) ([]byte, int, error) {
	if len(body)-p < 4 {
		return nil, 0, corruptf("legacy message ends before its %s length", what)
	}
	n := int32(binary.BigEndian.Uint32(body[p:]))
	p += 4
	switch {
	case n == -1:
		return nil, p, nil
	case n < -1 || int64(n) > int64(len(body)-p):
		return nil, 0, corruptf("legacy message %s length %d out of range", what, n)
	}
	return body[p : p+int(n) : p+int(n)], p + int(n), nil
}

// WalkLegacy iterates a legacy message set deeply, as Kafka's
// AbstractLegacyRecordBatch iterators do: uncompressed messages are handed to
// fn as they are; a compressed wrapper is decompressed (all wrappers of the
// set together at most maxUncompressed bytes; <= 0 means
// DefaultMaxUncompressed) and its inner messages are handed to fn with
// absolute offsets (magic 1: wrapper offset - last relative offset +
// relative offset) and the wrapper's timestamp when it is LogAppendTime.
// wrapper is the shallow entry the message came from (the message itself
// when uncompressed). A trailing incomplete entry is ignored.
//
// Errors: bad CRC (shallow or inner), bad lengths, undecodable or oversized
// compressed data: ErrCorrupt. An entry of magic 2, an inner message of
// another magic than its wrapper, a compressed inner message (nesting is
// limited to one level) or a wrapper without inner messages:
// ErrInvalidRecord (Kafka's InvalidRecordException).
func WalkLegacy(set []byte, maxUncompressed int, fn func(wrapper, m *LegacyMessage) error) error {
	if maxUncompressed <= 0 {
		maxUncompressed = DefaultMaxUncompressed
	}
	budget := maxUncompressed
	for {
		w, size, ok, err := nextLegacy(set)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		set = set[size:]
		if w.Magic > MagicV1 {
			return invalidf("record batch of magic %d inside a legacy message set", w.Magic)
		}
		c := w.Codec()
		if c == CodecNone {
			if err := fn(&w, &w); err != nil {
				return err
			}
			continue
		}
		if err := walkWrapper(&w, &budget, fn); err != nil {
			return err
		}
	}
}

// walkWrapper decompresses one wrapper and calls fn for each inner message.
func walkWrapper(w *LegacyMessage, budget *int, fn func(wrapper, m *LegacyMessage) error) error {
	c := w.Codec()
	if c == CodecZstd || !c.Valid() {
		// Kafka: ZSTD requires magic 2; 5-7 are unknown.
		return unsupportedCodec(c)
	}
	if w.Value == nil {
		return invalidf("compressed legacy message at offset %d has a null value", w.Offset)
	}
	src := w.Value
	if c == CodecLZ4 && w.Magic == MagicV0 {
		src = fixLegacyLZ4Header(src)
	}
	inner, err := decompress(c, src, nil, *budget)
	if err != nil {
		return err
	}
	*budget -= len(inner)
	var msgs []LegacyMessage
	for {
		m, size, ok, err := nextLegacy(inner)
		if err != nil {
			return err
		}
		if !ok {
			if len(inner) > 0 {
				return corruptf("compressed legacy message at offset %d ends inside an inner message", w.Offset)
			}
			break
		}
		inner = inner[size:]
		if m.Magic != w.Magic {
			return invalidf("inner message of magic %d inside a magic %d wrapper", m.Magic, w.Magic)
		}
		if m.Codec() != CodecNone {
			return invalidf("inner messages must not be compressed")
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return invalidf("found invalid compressed record set with no inner records")
	}
	lastRel := msgs[len(msgs)-1].Offset
	for i := range msgs {
		m := &msgs[i]
		if w.Magic == MagicV1 {
			m.Offset = w.Offset - lastRel + m.Offset
			if w.LogAppendTime() {
				m.Timestamp = w.Timestamp
			}
		}
		if err := fn(w, m); err != nil {
			return err
		}
	}
	return nil
}

// appendLegacy appends one message (offset, size, crc, ...) to dst.
func appendLegacy(dst []byte, offset int64, magic, attrs int8, ts int64, key, value []byte) []byte {
	size := legacyOverheadV0 + len(key) + len(value)
	if magic == MagicV1 {
		size += 8
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(offset))
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	crcAt := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(magic), byte(attrs))
	if magic == MagicV1 {
		dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	}
	dst = appendLegacyBytes(dst, key)
	dst = appendLegacyBytes(dst, value)
	binary.BigEndian.PutUint32(dst[crcAt:], crc32.ChecksumIEEE(dst[crcAt+4:]))
	return dst
}

func appendLegacyBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.BigEndian.AppendUint32(dst, ^uint32(0))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// legacySize is the encoded size of one message with its offset and size.
func legacySize(magic int8, key, value []byte) int {
	n := legacyOffsetSize + legacyOverheadV0 + len(key) + len(value)
	if magic == MagicV1 {
		n += 8
	}
	return n
}

// Kafka 0.8.2–0.9 wrote LZ4 frames for magic 0 messages with a wrong header
// checksum: the xxhash32 ran over the frame magic too (KafkaLZ4BlockOutputStream,
// KAFKA-3160). Readers ignore the byte for magic 0 and writers reproduce the
// bug so old consumers can read what they get.
const lz4FrameMagic = 0x184D2204

// lz4DescriptorEnd returns the index of the header checksum byte, or -1.
func lz4DescriptorEnd(frame []byte) int {
	if len(frame) < 7 || binary.LittleEndian.Uint32(frame) != lz4FrameMagic {
		return -1
	}
	flg := frame[4]
	end := 6 // magic, FLG, BD
	if flg&0x08 != 0 {
		end += 8 // content size
	}
	if flg&0x01 != 0 {
		end += 4 // dictionary id
	}
	if len(frame) <= end {
		return -1
	}
	return end
}

// fixLegacyLZ4Header returns frame with a correct header checksum (a copy
// when it had to change), so the standard reader accepts a magic 0 frame.
func fixLegacyLZ4Header(frame []byte) []byte {
	end := lz4DescriptorEnd(frame)
	if end < 0 {
		return frame
	}
	want := byte(xxh32(frame[4:end]) >> 8)
	if frame[end] == want {
		return frame
	}
	fixed := append([]byte(nil), frame...)
	fixed[end] = want
	return fixed
}

// breakLegacyLZ4Header rewrites frame's header checksum the way Kafka's magic
// 0 writer computes it (over the frame magic and the descriptor).
func breakLegacyLZ4Header(frame []byte) {
	if end := lz4DescriptorEnd(frame); end >= 0 {
		frame[end] = byte(xxh32(frame[:end]) >> 8)
	}
}

// xxh32 is XXH32 with seed 0, for the few bytes of an LZ4 frame descriptor.
func xxh32(b []byte) uint32 {
	const (
		p1 uint32 = 2654435761
		p2 uint32 = 2246822519
		p3 uint32 = 3266489917
		p4 uint32 = 668265263
		p5 uint32 = 374761393
	)
	var h uint32
	n := len(b)
	if n >= 16 {
		prime1, prime2 := p1, p2 // variables: the seed sums wrap around
		v1, v2, v3, v4 := prime1+prime2, prime2, uint32(0), 0-prime1
		round := func(v, in uint32) uint32 { return bits.RotateLeft32(v+in*p2, 13) * p1 }
		for len(b) >= 16 {
			v1 = round(v1, binary.LittleEndian.Uint32(b))
			v2 = round(v2, binary.LittleEndian.Uint32(b[4:]))
			v3 = round(v3, binary.LittleEndian.Uint32(b[8:]))
			v4 = round(v4, binary.LittleEndian.Uint32(b[12:]))
			b = b[16:]
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = p5
	}
	h += uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * p3
		h = bits.RotateLeft32(h, 17) * p4
	}
	for ; len(b) > 0; b = b[1:] {
		h += uint32(b[0]) * p5
		h = bits.RotateLeft32(h, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}
