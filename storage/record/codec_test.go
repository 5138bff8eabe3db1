package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/snappy/xerial"
)

// codecInputs covers empty, tiny, block-boundary and multi-block inputs
// (xerial blocks are 32 KiB, our LZ4 blocks 64 KiB).
func codecInputs() map[string][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rnd.IntN(256))
	}
	text := bytes.Repeat([]byte("kafka record batch "), 10_000)
	return map[string][]byte{
		"empty":         {},
		"one byte":      {42},
		"32 KiB":        text[:32<<10],
		"32 KiB + 1":    text[:32<<10+1],
		"text 190 KiB":  text,
		"random 200KiB": random,
	}
}

func TestCodec_RoundTripEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		for name, in := range codecInputs() {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				comp, err := Compress(c, in)
				if err != nil {
					t.Fatal(err)
				}
				out, err := Decompress(c, comp, len(in)+1)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d", len(in), len(out))
				}
			})
		}
	}
}

func TestDecompress_StopsAtLimit(t *testing.T) {
	in := bytes.Repeat([]byte("0123456789"), 10_000)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, in)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := Decompress(c, comp, len(in)); err != nil || len(out) != len(in) {
				t.Fatalf("limit == size: %d bytes, %v", len(out), err)
			}
			out, err := Decompress(c, comp, len(in)-1)
			if !errors.Is(err, ErrCorrupt) || out != nil {
				t.Fatalf("limit == size-1: %d bytes, err %v, want ErrCorrupt", len(out), err)
			}
		})
	}
}

func TestDecompress_UnknownCodecIsUnsupported(t *testing.T) {
	for _, c := range []Codec{5, 6, 7, -1} {
		if _, err := Decompress(c, []byte{1}, 10); !errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("codec %d: %v", c, err)
		}
		if _, err := Compress(c, []byte{1}); !errors.Is(err, ErrUnsupportedCompression) {
			t.Errorf("codec %d: %v", c, err)
		}
	}
}

// A xerial stream written by hand, snappy blocks included: "hello" as a
// literal-only block (varint length 5, tag (5-1)<<2), then " world" as a
// second block, as SnappyOutputStream would frame them.
func TestSnappy_DecodesHandMadeXerialStream(t *testing.T) {
	stream := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	stream = append(stream, 0, 0, 0, 7, 5, 4<<2, 'h', 'e', 'l', 'l', 'o')
	stream = append(stream, 0, 0, 0, 8, 6, 5<<2, ' ', 'w', 'o', 'r', 'l', 'd')
	out, err := Decompress(CodecSnappy, stream, 100)
	if err != nil || string(out) != "hello world" {
		t.Fatalf("got %q, %v", out, err)
	}

	// snappy-java also reads streams written one after another.
	twice := append(append([]byte(nil), stream...), stream...)
	if out, err := Decompress(CodecSnappy, twice, 100); err != nil || string(out) != "hello worldhello world" {
		t.Fatalf("concatenated: %q, %v", out, err)
	}

	// Without the magic the input is one plain snappy block.
	if out, err := Decompress(CodecSnappy, stream[16+4:16+11], 100); err != nil || string(out) != "hello" {
		t.Fatalf("plain block: %q, %v", out, err)
	}

	// A header alone is an empty stream.
	if out, err := Decompress(CodecSnappy, stream[:16], 100); err != nil || len(out) != 0 {
		t.Fatalf("header only: %q, %v", out, err)
	}

	bad := map[string][]byte{
		"block length past end":   append(append([]byte(nil), stream[:16]...), 0, 0, 0, 99, 5),
		"truncated block length":  append(append([]byte(nil), stream[:16]...), 0, 0),
		"truncated header":        stream[:12],
		"negative block length":   append(append([]byte(nil), stream[:16]...), 0xff, 0xff, 0xff, 0xff),
		"block lies about length": append(append([]byte(nil), stream[:16]...), 0, 0, 0, 7, 9, 4<<2, 'h', 'e', 'l', 'l', 'o'),
		"empty block":             append(append([]byte(nil), stream[:16]...), 0, 0, 0, 0),
		"empty input":             {},
	}
	for name, in := range bad {
		if _, err := Decompress(CodecSnappy, in, 100); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err %v, want ErrCorrupt", name, err)
		}
	}
}

// TestSnappy_InteroperatesWithIndependentXerialCodec checks our framing
// against klauspost/compress/snappy/xerial, the codec Sarama uses.
func TestSnappy_InteroperatesWithIndependentXerialCodec(t *testing.T) {
	for name, in := range codecInputs() {
		t.Run(name, func(t *testing.T) {
			ours, _ := Compress(CodecSnappy, in)
			theirs, err := xerial.Decode(ours)
			if err != nil || !bytes.Equal(theirs, in) {
				t.Fatalf("xerial.Decode(ours): %d bytes, %v", len(theirs), err)
			}
			out, err := Decompress(CodecSnappy, xerial.Encode(nil, in), len(in))
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("Decompress(xerial.Encode): %d bytes, %v", len(out), err)
			}
			if !bytes.Equal(ours[:16], theirs16()) {
				t.Fatalf("header % x", ours[:16])
			}
		})
	}
}

func theirs16() []byte { return xerial.Encode(nil, []byte{1})[:16] }

func TestSnappy_BlockDeclaringHugeLengthIsRefusedBeforeAllocating(t *testing.T) {
	// A plain block whose varint says 1 GiB.
	block := binary.AppendUvarint(nil, 1<<30)
	block = append(block, 0)
	if _, err := Decompress(CodecSnappy, block, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v", err)
	}
	// TotalAlloc is process-wide: average over many calls so a background allocation between two
	// readings cannot fail the test, while a 1 GiB (or even 1 MiB) allocation per call still would.
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		_, _ = Decompress(CodecSnappy, block, 1<<20)
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / n; perCall > 4<<10 {
		t.Fatalf("%d bytes allocated per refused block", perCall)
	}
}

// FuzzDecompress: any input, any codec, 1 MiB cap: no panic, never more
// output than the cap, and only our error kinds.
func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		for _, in := range [][]byte{nil, []byte("hello hello hello hello"), bytes.Repeat([]byte{0}, 4096)} {
			comp, err := Compress(c, in)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(c), comp)
		}
		f.Add(uint8(c), []byte{})
	}
	f.Add(uint8(CodecSnappy), []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 5, 16, 'h', 'e', 'l', 'l', 'o'})
	f.Add(uint8(CodecZstd), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x09, 0x00, 0x00, 'x'})
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		c := Codec(codec % 8)
		out, err := Decompress(c, data, limit)
		if err != nil {
			if out != nil {
				t.Fatalf("output with error")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedCompression) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes past the %d cap", len(out), limit)
		}
		if c == CodecNone {
			return
		}
		// What decodes must survive our own encoder and decoder.
		comp, err := Compress(c, out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decompress(c, comp, limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("re-encode round trip failed: %v", err)
		}
	})
}
