package record

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompress returns the decompressed form of src, at most limit bytes
// (limit <= 0 means DefaultMaxUncompressed). Output beyond the limit is never
// produced: decoding stops and an error wrapping ErrCorrupt is returned.
// Malformed input also yields ErrCorrupt; codec ids 5-7 yield
// ErrUnsupportedCompression. For CodecNone src itself is returned.
// Snappy accepts Kafka's xerial framing and, like Java's SnappyInputStream,
// a plain snappy block when the xerial magic is absent.
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	return decompress(c, src, nil, limit)
}

// decompress appends the output to dst[:0] (growing it as needed), so
// Validate can recycle buffers.
func decompress(c Codec, src, dst []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxUncompressed
	}
	var (
		out []byte
		err error
	)
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, errTooLarge
		}
		return src, nil
	case CodecGzip:
		out, err = gunzip(src, dst, limit)
	case CodecSnappy:
		out, err = unsnappy(src, dst, limit)
	case CodecLZ4:
		out, err = unlz4(src, dst, limit)
	case CodecZstd:
		out, err = unzstd(src, dst, limit)
	default:
		return nil, unsupportedCodec(c)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %v: %w", c, err)
	}
	return out, nil
}

// readCapped reads r to EOF into dst[:0], failing with errTooLarge as soon as
// more than limit bytes arrive. Its buffer never grows past limit+1 bytes
// (or dst's existing capacity); it starts at hint and doubles, so a small
// batch costs a small buffer and the total allocated stays below 2*limit.
func readCapped(r io.Reader, dst []byte, limit, hint int) ([]byte, error) {
	dst = dst[:0]
	if cap(dst) == 0 {
		dst = make([]byte, 0, min(max(hint, 512), limit+1))
	}
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return nil, errTooLarge
			}
			grown := make([]byte, len(dst), min(2*cap(dst), limit+1))
			copy(grown, dst)
			dst = grown
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return nil, errTooLarge
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return nil, corruptf("%v", err)
		}
	}
}

// Reader pools: gzip and lz4 readers carry tens of KiB of state; reusing
// them keeps Validate of compressed batches cheap.
var (
	gzipPool = sync.Pool{}
	lz4Pool  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
)

// zstdMaxWindow bounds the history a zstd frame may ask us to keep. Java
// producers (zstd-jni, level 3) use 2 MiB windows, Go clients 8 MiB at most;
// libzstd's default limit is 128 MiB, which we refuse as a memory hazard.
const zstdMaxWindow = 16 << 20

// zstdKeepWindow: decoders that handled a frame with a larger window are not
// kept, so hostile frames cannot pin 4*16 MiB of history rings (4*8 MiB is
// the most the free list holds).
const zstdKeepWindow = 8 << 20

// zstdFree is a bounded free list of stream decoders. A decoder allocates a
// history ring of window+256 KiB for each frame unless its previous ring is
// big enough, so reuse matters; sync.Pool is per-P and cleared by every GC,
// which made reuse a coin toss.
var zstdFree = make(chan *zstd.Decoder, 4)

func getZstd() (*zstd.Decoder, error) {
	select {
	case d := <-zstdFree:
		return d, nil
	default:
	}
	d, err := zstd.NewReader(nil,
		// One block in flight: synchronous decoding and no goroutines, so
		// a dropped decoder is reclaimed by the GC without Close.
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("record: zstd decoder: %w", err)
	}
	return d, nil
}

func putZstd(d *zstd.Decoder, window uint64) {
	_ = d.Reset(nil) // drop the reference to the input
	if window > zstdKeepWindow {
		return
	}
	select {
	case zstdFree <- d:
	default:
	}
}

func gunzip(src, dst []byte, limit int) ([]byte, error) {
	zr, _ := gzipPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if zr != nil {
		defer gzipPool.Put(zr)
	}
	if err != nil {
		return nil, corruptf("gzip header: %v", err)
	}
	return readCapped(zr, dst, limit, 4*len(src))
}

func unlz4(src, dst []byte, limit int) ([]byte, error) {
	zr := lz4Pool.Get().(*lz4.Reader)
	zr.Reset(bytes.NewReader(src))
	defer func() {
		zr.Reset(nil)
		lz4Pool.Put(zr)
	}()
	return readCapped(zr, dst, limit, 4*len(src))
}

func unzstd(src, dst []byte, limit int) ([]byte, error) {
	var h zstd.Header
	if err := h.Decode(src); err == nil && h.WindowSize > zstdMaxWindow {
		// Refused before a decoder (and its ring) is even touched.
		return nil, corruptf("zstd window of %d bytes exceeds %d", h.WindowSize, zstdMaxWindow)
	}
	zr, err := getZstd()
	if err != nil {
		return nil, err
	}
	defer putZstd(zr, h.WindowSize)
	if err := zr.Reset(bytes.NewReader(src)); err != nil {
		return nil, corruptf("zstd: %v", err)
	}
	return readCapped(zr, dst, limit, 4*len(src))
}

// Compress encodes raw with codec c the way Kafka's Java producer does
// (gzip stream; xerial snappy in 32 KiB blocks; LZ4 frame with 64 KiB
// independent blocks and no checksums; zstd frame). It is for tests, tools,
// broker-built batches and batches the log cleaner rebuilds (Batch.Rebuild);
// the produce path never recompresses client data.
func Compress(c Codec, raw []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append([]byte(nil), raw...), nil
	case CodecGzip:
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		return xerialEncode(nil, raw), nil
	case CodecLZ4:
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false),
			lz4.BlockChecksumOption(false)); err != nil {
			return nil, fmt.Errorf("lz4 options: %w", err)
		}
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, err
		}
		return enc.EncodeAll(raw, nil), nil
	}
	return nil, unsupportedCodec(c)
}

// zstdEncoder is shared: EncodeAll is safe for concurrent use and starts no
// goroutines.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return enc, nil
})
