package record

import (
	"errors"
	"io"
	"math"
	"testing"
)

func TestBatch_HeaderFieldsMatchBuildOptions(t *testing.T) {
	recs := sampleRecords(5, 10)
	recs[2].Timestamp = testNow + 100 // max is not the last record
	opt := BuildOptions{BaseOffset: 42, ProducerID: 7, ProducerEpoch: 3, BaseSequence: 11,
		Transactional: true, PartitionLeaderEpoch: 9, Codec: CodecLZ4}
	b := mustBuild(t, recs, opt)

	checks := []struct {
		name      string
		got, want any
	}{
		{"BaseOffset", b.BaseOffset(), int64(42)},
		{"LastOffsetDelta", b.LastOffsetDelta(), int32(4)},
		{"LastOffset", b.LastOffset(), int64(46)},
		{"NextOffset", b.NextOffset(), int64(47)},
		{"Size", b.Size(), len(b)},
		{"BatchLength", int(b.BatchLength()), len(b) - LogOverhead},
		{"PartitionLeaderEpoch", b.PartitionLeaderEpoch(), int32(9)},
		{"Magic", b.Magic(), int8(2)},
		{"Compression", b.Compression(), CodecLZ4},
		{"LogAppendTime", b.LogAppendTime(), false},
		{"IsTransactional", b.IsTransactional(), true},
		{"IsControl", b.IsControl(), false},
		{"FirstTimestamp", b.FirstTimestamp(), testNow},
		{"MaxTimestamp", b.MaxTimestamp(), testNow + 100},
		{"ProducerID", b.ProducerID(), int64(7)},
		{"ProducerEpoch", b.ProducerEpoch(), int16(3)},
		{"BaseSequence", b.BaseSequence(), int32(11)},
		{"LastSequence", b.LastSequence(), int32(15)},
		{"NumRecords", b.NumRecords(), int32(5)},
		{"CRCValid", b.CRCValid(), true},
		{"Attributes", b.Attributes(), int16(CodecLZ4) | attrTransactional},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestBatch_LastSequenceWrapsPastMaxInt32ToZero(t *testing.T) {
	cases := []struct {
		name      string
		base, lod int32
		want      int32
	}{
		{"no sequence", NoSequence, 4, NoSequence},
		{"plain", 10, 4, 14},
		{"exactly max", math.MaxInt32 - 4, 4, math.MaxInt32},
		{"wraps to zero", math.MaxInt32 - 3, 4, 0},
		{"wraps further", math.MaxInt32, 2, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := rawBatch(simpleRecord(0, nil), 1, c.lod, 0)
			b = restamp(b, func(b Batch) {
				putU32(b[offBaseSequence:], uint32(c.base))
			})
			if got := b.LastSequence(); got != c.want {
				t.Fatalf("LastSequence = %d, want %d", got, c.want)
			}
		})
	}
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func TestBatch_CRCCoversAttributesToEnd(t *testing.T) {
	b := mustBuild(t, sampleRecords(3, 5), DefaultBuildOptions())
	for i := range b {
		c := append(Batch(nil), b...)
		c[i] ^= 0x01
		// Bytes before the CRC field are outside it; the CRC field itself
		// and everything from the attributes on must be detected.
		if want := i < offCRC; c.CRCValid() != want {
			t.Errorf("flipping byte %d: CRCValid = %v, want %v", i, c.CRCValid(), want)
		}
	}
}

func TestBatch_LeaderStampsOffsetAndEpochWithoutTouchingCRC(t *testing.T) {
	b := mustBuild(t, sampleRecords(3, 5), DefaultBuildOptions())
	crc := b.CRC()
	b.SetBaseOffset(1 << 40)
	b.SetPartitionLeaderEpoch(77)
	if b.BaseOffset() != 1<<40 || b.PartitionLeaderEpoch() != 77 {
		t.Fatalf("got offset %d epoch %d", b.BaseOffset(), b.PartitionLeaderEpoch())
	}
	if b.CRC() != crc || !b.CRCValid() {
		t.Fatalf("CRC changed or invalid after stamping fields outside it")
	}
}

func TestBatch_SetLogAppendTimeSetsBitAndMaxTimestampAndCRC(t *testing.T) {
	b := mustBuild(t, sampleRecords(3, 5), optCodec(CodecGzip))
	b.SetLogAppendTime(testNow + 5000)
	if !b.LogAppendTime() || b.MaxTimestamp() != testNow+5000 || b.Compression() != CodecGzip {
		t.Fatalf("attrs %x max %d", b.Attributes(), b.MaxTimestamp())
	}
	if !b.CRCValid() {
		t.Fatal("CRC not recomputed")
	}
	err := b.Records(0, func(r Record) error {
		if r.Timestamp != testNow+5000 {
			t.Errorf("record %d timestamp %d, want the append time", r.OffsetDelta, r.Timestamp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatch_SetMaxTimestampRecomputesCRC(t *testing.T) {
	b := mustBuild(t, sampleRecords(3, 5), DefaultBuildOptions())
	b.SetMaxTimestamp(testNow + 99)
	if b.MaxTimestamp() != testNow+99 || !b.CRCValid() || b.LogAppendTime() {
		t.Fatalf("max %d crc valid %v", b.MaxTimestamp(), b.CRCValid())
	}
}

func TestCodec_StringUsesKafkaNames(t *testing.T) {
	want := map[Codec]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd", 5: "unknown"}
	for c, s := range want {
		if c.String() != s {
			t.Errorf("Codec(%d).String() = %q, want %q", c, c.String(), s)
		}
	}
}

func TestNext_SplitsConcatenatedBatches(t *testing.T) {
	var buf []byte
	var want []int64
	for i, c := range allCodecs {
		o := optCodec(c)
		o.BaseOffset = int64(i * 10)
		buf = append(buf, mustBuild(t, sampleRecords(i+1, 20), o)...)
		want = append(want, o.BaseOffset)
	}
	var got []int64
	for {
		b, rest, err := Next(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if cap(b) != len(b) {
			t.Errorf("batch view has spare capacity %d", cap(b)-len(b))
		}
		got = append(got, b.BaseOffset())
		buf = rest
	}
	if len(got) != len(want) {
		t.Fatalf("got offsets %v, want %v", got, want)
	}
}

func TestNext_TornTailIsTruncatedNotCorrupt(t *testing.T) {
	b := mustBuild(t, sampleRecords(4, 20), DefaultBuildOptions())
	for n := 1; n < len(b); n++ {
		_, rest, err := Next(b[:n])
		if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix of %d bytes: err %v, want ErrTruncated", n, err)
		}
		if len(rest) != n {
			t.Fatalf("prefix of %d bytes: rest has %d bytes", n, len(rest))
		}
	}
}

func TestNext_GarbageIsCorrupt(t *testing.T) {
	good := mustBuild(t, sampleRecords(1, 1), DefaultBuildOptions())
	cases := map[string][]byte{
		"zeroed preallocation": make([]byte, 64),
		"negative length":      restamp(good, func(b Batch) { putU32(b[offBatchLength:], 0xfffffff0) }),
		"length below header":  restamp(good, func(b Batch) { putU32(b[offBatchLength:], minBatchLength-1) }),
		"magic 1":              restamp(good, func(b Batch) { b[offMagic] = 1 }),
		"magic 3, huge length": restamp(good, func(b Batch) { b[offMagic] = 3; putU32(b[offBatchLength:], 1<<30) }),
	}
	for name, buf := range cases {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Next(buf); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestPeekHeader_ReadsOffsetSizeMagicFrom17Bytes(t *testing.T) {
	o := DefaultBuildOptions()
	o.BaseOffset = 1234
	b := mustBuild(t, sampleRecords(2, 3), o)
	off, size, magic, err := PeekHeader(b[:17])
	if err != nil || off != 1234 || size != len(b) || magic != 2 {
		t.Fatalf("PeekHeader = %d %d %d %v", off, size, magic, err)
	}
	if _, _, _, err := PeekHeader(b[:16]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("16 bytes: err %v, want ErrTruncated", err)
	}
	bad := restamp(b, func(b Batch) { b[offMagic] = 0 })
	if _, _, m, err := PeekHeader(bad); !errors.Is(err, ErrCorrupt) || m != 0 {
		t.Fatalf("magic 0: magic %d err %v, want ErrCorrupt", m, err)
	}
	short := restamp(b, func(b Batch) { putU32(b[offBatchLength:], 10) })
	if _, _, _, err := PeekHeader(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short length: err %v, want ErrCorrupt", err)
	}
}
