package record

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func collect(t *testing.T, b Batch) []Record {
	t.Helper()
	var out []Record
	if err := b.Records(0, func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("Records: %v", err)
	}
	return out
}

func sameRecords(t *testing.T, got []Record, want []BuildRecord, base int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if (r.Key == nil) != (w.Key == nil) || !bytes.Equal(r.Key, w.Key) ||
			(r.Value == nil) != (w.Value == nil) || !bytes.Equal(r.Value, w.Value) ||
			r.Timestamp != w.Timestamp || r.OffsetDelta != int32(i) || r.Offset != base+int64(i) ||
			r.TimestampDelta != w.Timestamp-want[0].Timestamp || r.Attributes != 0 ||
			len(r.Headers) != len(w.Headers) {
			t.Fatalf("record %d = %+v, want %+v", i, r, w)
		}
		for j, h := range r.Headers {
			wh := w.Headers[j]
			if h.Key != wh.Key || (h.Value == nil) != (wh.Value == nil) || !bytes.Equal(h.Value, wh.Value) {
				t.Fatalf("record %d header %d = %+v, want %+v", i, j, h, wh)
			}
		}
	}
}

func TestBuild_RoundTripsThroughValidateAndRecordsForEveryCodec(t *testing.T) {
	recs := sampleRecords(30, 40)
	recs[3].Key = nil                               // null key
	recs[4].Value = nil                             // tombstone
	recs[5].Key, recs[5].Value = []byte{}, []byte{} // empty, not null
	recs[6].Timestamp = testNow - 500               // earlier than the first: negative delta
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := mustBuild(t, recs, optCodec(c))
			info := mustValidate(t, b, clientCfg())
			if info.NumRecords != 30 || info.Codec != c || info.MaxTimestamp != testNow+29 {
				t.Fatalf("Info = %+v", info)
			}
			if b.FirstTimestamp() != testNow || b.MaxTimestamp() != testNow+29 {
				t.Fatalf("first %d max %d", b.FirstTimestamp(), b.MaxTimestamp())
			}
			sameRecords(t, collect(t, b), recs, 0)
		})
	}
}

func TestBuild_ControlBatchForTransactionMarker(t *testing.T) {
	o := DefaultBuildOptions()
	o.ProducerID, o.ProducerEpoch, o.Transactional, o.Control = 4000, 2, true, true
	o.BaseOffset, o.PartitionLeaderEpoch = 77, 3
	commit := BuildRecord{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 5}, Timestamp: testNow}
	b := mustBuild(t, []BuildRecord{commit}, o)
	if !b.IsControl() || !b.IsTransactional() || b.BaseSequence() != NoSequence || b.LastOffset() != 77 {
		t.Fatalf("attrs %x seq %d last %d", b.Attributes(), b.BaseSequence(), b.LastOffset())
	}
	cfg := clientCfg()
	cfg.FromClient = false
	mustValidate(t, b, cfg)
	sameRecords(t, collect(t, b), []BuildRecord{commit}, 77)
}

func TestBuild_RejectsEmptyAndUnknownCodec(t *testing.T) {
	if _, err := Build(nil, DefaultBuildOptions()); err == nil {
		t.Fatal("empty batch built")
	}
	if _, err := Build(sampleRecords(1, 1), optCodec(6)); !errors.Is(err, ErrUnsupportedCompression) {
		t.Fatalf("codec 6: %v", err)
	}
}

func TestRecords_StopsAtCallbackError(t *testing.T) {
	b := mustBuild(t, sampleRecords(5, 5), DefaultBuildOptions())
	stop := errors.New("stop")
	n := 0
	err := b.Records(0, func(Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestRecords_ObeysUncompressedLimit(t *testing.T) {
	b := mustBuild(t, sampleRecords(100, 100), optCodec(CodecZstd))
	if err := b.Records(1000, func(Record) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v", err)
	}
}

// TestBuild_KmsgParsesOurBatches is a differential check against franz-go's
// independent kmsg decoder: header fields and every record.
func TestBuild_KmsgParsesOurBatches(t *testing.T) {
	recs := sampleRecords(12, 30)
	recs[2].Key = nil
	o := BuildOptions{BaseOffset: 9, ProducerID: 33, ProducerEpoch: 1, BaseSequence: 100, PartitionLeaderEpoch: 4}
	b := mustBuild(t, recs, o)

	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if kb.FirstOffset != 9 || int(kb.Length) != len(b)-12 || kb.PartitionLeaderEpoch != 4 || kb.Magic != 2 ||
		uint32(kb.CRC) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) ||
		kb.Attributes != 0 || kb.LastOffsetDelta != 11 || kb.FirstTimestamp != testNow ||
		kb.MaxTimestamp != testNow+11 || kb.ProducerID != 33 || kb.ProducerEpoch != 1 ||
		kb.FirstSequence != 100 || kb.NumRecords != 12 {
		t.Fatalf("kmsg sees %+v", kb)
	}
	rest := kb.Records
	for i := range recs {
		l, n := readVarint32(rest)
		var kr kmsg.Record
		if err := kr.ReadFrom(rest[:n+int(l)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		rest = rest[n+int(l):]
		if kr.OffsetDelta != int32(i) || kr.TimestampDelta64 != recs[i].Timestamp-testNow ||
			!bytes.Equal(kr.Key, recs[i].Key) || (kr.Key == nil) != (recs[i].Key == nil) ||
			!bytes.Equal(kr.Value, recs[i].Value) || len(kr.Headers) != len(recs[i].Headers) {
			t.Fatalf("record %d: kmsg sees %+v", i, kr)
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the records", len(rest))
	}
}

// TestValidate_AcceptsKmsgEncodedBatches builds batches with kmsg's encoder
// (an independent implementation of the layout) and validates them.
func TestValidate_AcceptsKmsgEncodedBatches(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			var raw []byte
			for i := 0; i < 7; i++ {
				r := kmsg.Record{TimestampDelta64: int64(i * 3), OffsetDelta: int32(i),
					Key: []byte{byte('a' + i)}, Value: bytes.Repeat([]byte{byte(i)}, 20),
					Headers: []kmsg.Header{{Key: "trace", Value: []byte("x")}}}
				body := r.AppendTo(nil) // Length 0 occupies one byte
				r.Length = int32(len(body) - 1)
				raw = r.AppendTo(raw)
			}
			section := raw
			if c != CodecNone {
				var err error
				if section, err = Compress(c, raw); err != nil {
					t.Fatal(err)
				}
			}
			kb := kmsg.RecordBatch{FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2,
				Attributes: int16(c), LastOffsetDelta: 6, FirstTimestamp: testNow, MaxTimestamp: testNow + 18,
				ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 7, Records: section}
			kb.Length = int32(HeaderSize - LogOverhead + len(section))
			enc := kb.AppendTo(nil)
			kb.CRC = int32(crc32.Checksum(enc[21:], crc32.MakeTable(crc32.Castagnoli)))
			enc = kb.AppendTo(nil)

			info := mustValidate(t, enc, clientCfg())
			if info.MaxTimestamp != testNow+18 || info.OffsetOfMaxTimestampDelta != 6 || info.Size != len(enc) {
				t.Fatalf("Info = %+v", info)
			}
			got := collect(t, enc)
			if len(got) != 7 || string(got[6].Key) != "g" || got[6].Headers[0].Key != "trace" {
				t.Fatalf("records %+v", got)
			}
		})
	}
}
