package record

import (
	"fmt"
	"testing"
)

// benchBatch builds a batch of about size bytes from ~100-byte records.
func benchBatch(b *testing.B, size int, c Codec) Batch {
	const valueSize = 80 // + key "key-N", deltas, lengths ≈ 100 bytes per record
	n := max(1, (size-HeaderSize)/100)
	return mustBuild(b, sampleRecords(n, valueSize), optCodec(c))
}

func BenchmarkValidate(b *testing.B) {
	cases := []struct {
		size  int
		codec Codec
	}{
		{1 << 10, CodecNone}, {16 << 10, CodecNone},
		{16 << 10, CodecGzip}, {16 << 10, CodecSnappy}, {16 << 10, CodecLZ4}, {16 << 10, CodecZstd},
	}
	for _, c := range cases {
		batch := benchBatch(b, c.size, c.codec)
		cfg := clientCfg()
		cfg.MaxTimestampDiff = 7 * 24 * 3600 * 1000
		b.Run(fmt.Sprintf("%s/%dKiB/%drecords", c.codec, c.size>>10, batch.NumRecords()), func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, cfg, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSetBaseOffset(b *testing.B) {
	batch := benchBatch(b, 16<<10, CodecNone)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	o := int64(0)
	for b.Loop() {
		batch.SetBaseOffset(o)
		batch.SetPartitionLeaderEpoch(int32(o))
		o++
	}
}

func BenchmarkNext(b *testing.B) {
	var buf []byte
	for i := 0; i < 64; i++ {
		buf = append(buf, benchBatch(b, 1<<10, CodecNone)...)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		for rest := buf; len(rest) > 0; {
			var err error
			if _, rest, err = Next(rest); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	recs := sampleRecords(160, 80)
	batch := mustBuild(b, recs, DefaultBuildOptions())
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(recs, DefaultBuildOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpConvert: a produce v2 (magic 1) message set of ~16 KiB to one v2
// batch, uncompressed and as one compressed wrapper with the producer's codec.
func BenchmarkUpConvert(b *testing.B) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
		msgs := make([]legacyMsg, 163)
		for i := range msgs {
			msgs[i] = legacyMsg{Offset: int64(i), Timestamp: testNow + int64(i), Key: []byte(fmt.Sprintf("key-%d", i)), Value: make([]byte, 80)}
		}
		set := legacySet(b, MagicV1, msgs...)
		if c != CodecNone {
			set = legacySet(b, MagicV1, legacyMsg{Offset: 162, Codec: c, Timestamp: testNow, Inner: msgs})
		}
		b.Run(fmt.Sprintf("magic1/%s/%dmessages", c, len(msgs)), func(b *testing.B) {
			b.SetBytes(int64(len(set)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UpConvert(set, UpConvertOptions{TargetCodec: CodecProducer}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDownConvert: a ~16 KiB v2 batch to magic 0 and 1 (fetch v0–v3).
func BenchmarkDownConvert(b *testing.B) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
		batch := benchBatch(b, 16<<10, c)
		for _, magic := range []int8{MagicV0, MagicV1} {
			b.Run(fmt.Sprintf("magic%d/%s/%drecords", magic, c, batch.NumRecords()), func(b *testing.B) {
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := DownConvert(batch, magic, 0, 1<<20, 0); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
