package record

import (
	"bytes"
	"fmt"
	"testing"
)

// MemoryRecords.buildRetainedRecordsInto: a filtered v2 batch keeps its base offset, last offset
// delta (so the producer's last sequence survives), producer fields, codec and leader epoch; the
// kept records keep their offsets, timestamps, keys, values and headers.
func TestRebuild_KeepsOffsetsAndHeaderFieldsOfFilteredBatch(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			opt := optCodec(c)
			opt.BaseOffset = 1000
			opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = 42, 3, 17
			opt.PartitionLeaderEpoch = 9
			orig := mustBuild(t, sampleRecords(10, 20), opt)
			all := collect(t, orig)
			var keep []Record
			for i, r := range all {
				if i%3 == 1 { // drops the first record: the first timestamp must move
					keep = append(keep, r)
				}
			}
			out, err := orig.Rebuild(keep)
			if err != nil {
				t.Fatalf("Rebuild: %v", err)
			}
			nb := Batch(out)
			if len(out) != nb.Size() || !nb.CRCValid() {
				t.Fatalf("rebuilt batch: size %d/%d crc valid %v", len(out), nb.Size(), nb.CRCValid())
			}
			if nb.BaseOffset() != 1000 || nb.LastOffsetDelta() != 9 || nb.ProducerID() != 42 || nb.ProducerEpoch() != 3 ||
				nb.BaseSequence() != 17 || nb.LastSequence() != orig.LastSequence() || nb.PartitionLeaderEpoch() != 9 ||
				nb.Compression() != c || nb.NumRecords() != int32(len(keep)) {
				t.Fatalf("header not kept: base %d lastDelta %d pid %d epoch %d seq %d ple %d codec %v n %d",
					nb.BaseOffset(), nb.LastOffsetDelta(), nb.ProducerID(), nb.ProducerEpoch(), nb.BaseSequence(),
					nb.PartitionLeaderEpoch(), nb.Compression(), nb.NumRecords())
			}
			if nb.FirstTimestamp() != keep[0].Timestamp || nb.MaxTimestamp() != keep[len(keep)-1].Timestamp {
				t.Fatalf("timestamps first %d max %d, want %d %d", nb.FirstTimestamp(), nb.MaxTimestamp(), keep[0].Timestamp, keep[len(keep)-1].Timestamp)
			}
			got := collect(t, nb)
			if len(got) != len(keep) {
				t.Fatalf("%d records, want %d", len(got), len(keep))
			}
			for i := range got {
				w := keep[i]
				g := got[i]
				if g.Offset != w.Offset || g.OffsetDelta != w.OffsetDelta || g.Timestamp != w.Timestamp ||
					!bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || fmt.Sprint(g.Headers) != fmt.Sprint(w.Headers) {
					t.Fatalf("record %d: got %+v want %+v", i, g, w)
				}
			}
		})
	}
}

func TestRebuild_LogAppendTimeKeepsBatchTime(t *testing.T) {
	orig := mustBuild(t, sampleRecords(4, 5), DefaultBuildOptions())
	orig.SetLogAppendTime(testNow + 1000)
	all := collect(t, orig)
	out, err := orig.Rebuild(all[2:])
	if err != nil {
		t.Fatal(err)
	}
	nb := Batch(out)
	if !nb.LogAppendTime() || nb.MaxTimestamp() != testNow+1000 {
		t.Fatalf("log append time lost: %v %d", nb.LogAppendTime(), nb.MaxTimestamp())
	}
	for _, r := range collect(t, nb) {
		if r.Timestamp != testNow+1000 {
			t.Fatalf("record timestamp %d", r.Timestamp)
		}
	}
}

func TestRebuild_RejectsRecordsOutOfOrderOrOutsideBatch(t *testing.T) {
	orig := mustBuild(t, sampleRecords(3, 5), DefaultBuildOptions())
	all := collect(t, orig)
	if _, err := orig.Rebuild(nil); err == nil {
		t.Fatal("no records accepted")
	}
	if _, err := orig.Rebuild([]Record{all[1], all[0]}); err == nil {
		t.Fatal("out of order accepted")
	}
	bad := all[2]
	bad.OffsetDelta = 3
	if _, err := orig.Rebuild([]Record{bad}); err == nil {
		t.Fatal("offset delta past lastOffsetDelta accepted")
	}
}

// DefaultRecordBatch.writeEmptyHeader: offsets, producer state, max timestamp and flags stay; no
// records, no compression, first timestamp -1.
func TestEmptyCopy_IsHeaderOnlyBatchWithSameOffsetsAndProducer(t *testing.T) {
	opt := optCodec(CodecZstd)
	opt.BaseOffset = 77
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = 5, 1, 100
	opt.Transactional = true
	orig := mustBuild(t, sampleRecords(6, 5), opt)
	e := Batch(orig.EmptyCopy())
	if len(e) != HeaderSize || e.Size() != HeaderSize || !e.CRCValid() {
		t.Fatalf("empty copy: len %d size %d crc %v", len(e), e.Size(), e.CRCValid())
	}
	if e.BaseOffset() != 77 || e.LastOffset() != orig.LastOffset() || e.NumRecords() != 0 || e.Compression() != CodecNone ||
		e.FirstTimestamp() != NoTimestamp || e.MaxTimestamp() != orig.MaxTimestamp() || !e.IsTransactional() ||
		e.ProducerID() != 5 || e.ProducerEpoch() != 1 || e.LastSequence() != orig.LastSequence() {
		t.Fatalf("empty copy header wrong: %+v", []any{e.BaseOffset(), e.LastOffset(), e.NumRecords(), e.Compression(), e.FirstTimestamp()})
	}
	if got := collect(t, e); len(got) != 0 {
		t.Fatalf("%d records", len(got))
	}
	if _, rest, err := Next(e); err != nil || len(rest) != 0 {
		t.Fatalf("Next: %v", err)
	}
}
