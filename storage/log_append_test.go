package storage

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/storage/record"
)

// LogValidator's in-place path: offsets from the LEO and the leader epoch are written into the
// caller's batch without re-encoding, and the CRC stays valid.
func TestAppendAsLeader_AssignsOffsetsInPlaceFromLogEndOffset(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	var want [][2]int64
	var sent [][]byte
	next := int64(0)
	for _, n := range []int{5, 3, 10} {
		ai, b := mustAppend(t, l, n, 20, testNow)
		want = append(want, [2]int64{next, next + int64(n) - 1})
		if ai.FirstOffset != next || ai.LastOffset != next+int64(n)-1 || ai.NumRecords != int32(n) || ai.Size != len(b) {
			t.Fatalf("append info %+v, want offsets %d-%d", ai, next, next+int64(n)-1)
		}
		batch := record.Batch(b)
		if batch.BaseOffset() != next || batch.PartitionLeaderEpoch() != 7 || !batch.CRCValid() {
			t.Fatalf("caller's batch not rewritten in place: base %d epoch %d crc ok %v", batch.BaseOffset(), batch.PartitionLeaderEpoch(), batch.CRCValid())
		}
		sent = append(sent, b)
		next += int64(n)
	}
	if l.LogEndOffset() != next {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), next)
	}
	got, _ := readBytes(t, l, 0, 1<<20, -1, false)
	if !bytes.Equal(got, bytes.Join(sent, nil)) {
		t.Fatal("log bytes differ from the appended batches")
	}
}

func TestAppendAsLeader_LogAppendTimeStampsBrokerTime(t *testing.T) {
	cfg := testConfig()
	cfg.MessageTimestampType = "LogAppendTime"
	l, clock, _ := newTestLog(t, cfg)
	clock.set(testNow + 12345)
	ai, b := mustAppend(t, l, 4, 10, testNow)
	batch := record.Batch(b)
	if !batch.LogAppendTime() || batch.MaxTimestamp() != testNow+12345 || !batch.CRCValid() {
		t.Fatalf("batch LogAppendTime %v max ts %d crc ok %v", batch.LogAppendTime(), batch.MaxTimestamp(), batch.CRCValid())
	}
	if ai.LogAppendTime != testNow+12345 || ai.MaxTimestamp != testNow+12345 || ai.OffsetOfMaxTimestamp != ai.LastOffset {
		t.Fatalf("append info %+v", ai)
	}
}

// Kafka recomputes maxTimestamp for CreateTime batches from the records.
func TestAppendAsLeader_CreateTimeMaxTimestampTakenFromRecords(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	b := buildBatch(t, 3, 10, testNow)
	record.Batch(b).SetMaxTimestamp(testNow - 99)
	ai, err := l.AppendAsLeader(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ai.MaxTimestamp != testNow+2 || record.Batch(b).MaxTimestamp() != testNow+2 || !record.Batch(b).CRCValid() {
		t.Fatalf("max timestamp %d (batch %d), want %d", ai.MaxTimestamp, record.Batch(b).MaxTimestamp(), testNow+2)
	}
	if ai.LogAppendTime != -1 || ai.OffsetOfMaxTimestamp != 2 {
		t.Fatalf("append info %+v", ai)
	}
}

// A rejected produce writes nothing: validation happens before the write.
func TestAppendAsLeader_RejectedBatchWritesNothing(t *testing.T) {
	good := func(t *testing.T) []byte { return buildBatch(t, 3, 10, testNow) }
	cases := []struct {
		name  string
		cfg   func(*Config)
		batch func(t *testing.T) []byte
		want  error
	}{
		{"corrupt crc", nil, func(t *testing.T) []byte { b := good(t); b[len(b)-1] ^= 0xff; return b }, record.ErrCorrupt},
		{"client base offset not zero", nil, func(t *testing.T) []byte { b := good(t); record.Batch(b).SetBaseOffset(5); return b }, record.ErrInvalidRecord},
		{"above max.message.bytes", func(c *Config) { c.MaxMessageBytes = 50 }, good, record.ErrMessageTooLarge},
		{"two batches", nil, func(t *testing.T) []byte { return append(good(t), good(t)...) }, record.ErrInvalidRecord},
		{"control batch from client", nil, func(t *testing.T) []byte {
			o := record.DefaultBuildOptions()
			o.Control, o.Transactional, o.ProducerID, o.ProducerEpoch = true, true, 1, 0
			return buildBatchOpt(t, 1, 6, testNow, o)
		}, record.ErrInvalidRecord},
		{"timestamp out of range", func(c *Config) { c.MessageTimestampDifferenceMaxMs = 1000 }, func(t *testing.T) []byte { return buildBatch(t, 2, 5, testNow-5000) }, record.ErrInvalidTimestamp},
		{"above segment.bytes", func(c *Config) { c.SegmentBytes = 100 }, func(t *testing.T) []byte { return buildBatch(t, 3, 100, testNow) }, ErrRecordListTooLarge},
		{"garbage length", nil, func(t *testing.T) []byte { b := good(t); b[8], b[9] = 0xff, 0xff; return b }, record.ErrCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			l, _, _ := newTestLog(t, cfg)
			_, err := l.AppendAsLeader(tc.batch(t), 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			st, serr := os.Stat(segmentFile(l.Dir(), 0, logSuffix))
			if serr != nil || st.Size() != 0 || l.LogEndOffset() != 0 {
				t.Fatalf("rejected append left LEO %d, file size %v (%v)", l.LogEndOffset(), st.Size(), serr)
			}
		})
	}
}

// Log.analyzeAndValidateRecords drops trailing bytes that are not a whole batch.
func TestAppendAsLeader_TrailingPartialBytesIgnored(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	b := buildBatch(t, 2, 10, testNow)
	ai, err := l.AppendAsLeader(append(b, 0, 0, 0, 0, 0), 0)
	if err != nil || ai.Size != len(b) || l.Size() != int64(len(b)) {
		t.Fatalf("append %+v err %v size %d", ai, err, l.Size())
	}
	ai, err = l.AppendAsLeader(nil, 0)
	if err != nil || ai.FirstOffset != -1 {
		t.Fatalf("empty append %+v err %v", ai, err)
	}
}

// The append path must not copy record bytes into the heap: the caller's buffer goes to pwrite.
func TestAppendAsLeader_DoesNotCopyBatchIntoHeap(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 20
	l, _, _ := newTestLog(t, cfg)
	b := buildBatch(t, 16, 1000, testNow)
	const n = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		record.Batch(b).SetBaseOffset(0)
		if _, err := l.AppendAsLeader(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	perAppend := (after.TotalAlloc - before.TotalAlloc) / n
	if perAppend > uint64(len(b))/4 {
		t.Fatalf("%d heap bytes per append of a %d-byte batch", perAppend, len(b))
	}
}

// LogSegment.append: an index entry maps the append's last offset to its start position when
// more than index.interval.bytes were appended since the last entry (checked before the append).
func TestAppend_SparseIndexEntryAfterMoreThanIndexIntervalBytes(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 500
	cfg.SegmentBytes = 1 << 20
	l, _, _ := newTestLog(t, cfg)
	var positions []int64
	var lasts []int64
	pos := int64(0)
	for i := 0; i < 12; i++ {
		ai, b := mustAppend(t, l, 2, 100, testNow+int64(i))
		positions = append(positions, pos)
		lasts = append(lasts, ai.LastOffset)
		pos += int64(len(b))
	}
	size := positions[1] // every batch has the same size
	var want [][2]int64
	since := int64(0)
	for i := range positions {
		if since > 500 {
			want = append(want, [2]int64{lasts[i], positions[i]})
			since = 0
		}
		since += size
	}
	s := l.view.Load().active()
	if s.oidx.Entries() != len(want) || len(want) == 0 {
		t.Fatalf("%d index entries, want %d", s.oidx.Entries(), len(want))
	}
	for i, w := range want {
		o, p := s.oidx.Entry(i)
		if o != w[0] || int64(p) != w[1] {
			t.Fatalf("entry %d = (%d, %d), want %v", i, o, p, w)
		}
	}
	checkIndexesAgreeWithLog(t, l)
}

func TestRoll_OnSegmentBytes(t *testing.T) {
	cfg := testConfig()
	l, _, _ := newTestLog(t, cfg)
	for i := 0; i < 60; i++ {
		mustAppend(t, l, 3, 300, testNow)
	}
	v := l.view.Load()
	if len(v.segs) < 4 {
		t.Fatalf("%d segments, want several", len(v.segs))
	}
	for _, s := range v.segs {
		if s.size.Load() > cfg.SegmentBytes {
			t.Fatalf("segment %d holds %d bytes > segment.bytes", s.base, s.size.Load())
		}
		if !fileExists(segmentFile(l.Dir(), s.base, logSuffix)) {
			t.Fatalf("no file %s", segmentFile(l.Dir(), s.base, logSuffix))
		}
		first, _ := readFirstBatch(t, l, s.base)
		if first.BaseOffset() != s.base {
			t.Fatalf("segment %d starts with batch %d", s.base, first.BaseOffset())
		}
	}
	checkIndexesAgreeWithLog(t, l)
}

func readFirstBatch(t testing.TB, l *Log, offset int64) (record.Batch, ReadResult) {
	t.Helper()
	data, res := readBytes(t, l, offset, 1, -1, true)
	bs := splitBatches(t, data)
	if len(bs) == 0 {
		t.Fatalf("no batch at offset %d", offset)
	}
	return bs[0], res
}

// LogSegment.shouldRoll: segment.ms counts from the first batch's timestamp when it has one.
func TestRoll_OnSegmentMsFromFirstBatchTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	cfg.SegmentBytes = 1 << 20
	l, _, _ := newTestLog(t, cfg)
	mustAppend(t, l, 1, 10, testNow)
	mustAppend(t, l, 1, 10, testNow+1000)
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("rolled after exactly segment.ms: %d segments", n)
	}
	mustAppend(t, l, 1, 10, testNow+1001)
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments after segment.ms passed, want 2", n)
	}
	if l.view.Load().active().base != 2 {
		t.Fatalf("new segment base %d, want 2", l.view.Load().active().base)
	}
}

// Without record timestamps segment age is wall time since the segment was created.
func TestRoll_OnSegmentMsFromCreationWithoutTimestamps(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	l, clock, _ := newTestLog(t, cfg)
	mustAppend(t, l, 1, 10, -1)
	clock.advance(1001)
	mustAppend(t, l, 1, 10, -1)
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
}

func TestRoll_OnIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 0
	cfg.SegmentIndexBytes = 36 // 4 offset entries, 3 time entries (2 usable + final)
	cfg.SegmentBytes = 1 << 20
	l, _, _ := newTestLog(t, cfg)
	for i := 0; i < 20; i++ {
		mustAppend(t, l, 1, 10, testNow+int64(i))
	}
	v := l.view.Load()
	if len(v.segs) < 5 {
		t.Fatalf("%d segments, want rolls on full index", len(v.segs))
	}
	for _, s := range v.segs {
		if s.tidx.Entries() > 3 || s.oidx.Entries() > 4 {
			t.Fatalf("segment %d: %d offset, %d time entries", s.base, s.oidx.Entries(), s.tidx.Entries())
		}
	}
	checkIndexesAgreeWithLog(t, l)
}

func TestRoll_OnRelativeOffsetOverflow(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	if _, err := l.AppendAsFollower(followerBatch(t, 0, 2)); err != nil {
		t.Fatal(err)
	}
	far := int64(math.MaxInt32) + 10
	if _, err := l.AppendAsFollower(followerBatch(t, far, 2)); err != nil {
		t.Fatal(err)
	}
	v := l.view.Load()
	if len(v.segs) != 2 || v.segs[1].base != far || v.leo != far+2 {
		t.Fatalf("segments %d, active base %d, LEO %d", len(v.segs), v.active().base, v.leo)
	}
}

// Log.roll schedules a flush of everything below the new segment; the recovery point follows.
func TestRoll_FlushesOldSegmentAndAdvancesRecoveryPoint(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	for l.NumSegments() < 3 {
		mustAppend(t, l, 3, 500, testNow)
	}
	base := l.view.Load().active().base
	eventually(t, 5*time.Second, "recovery point at the active segment", func() bool { return l.RecoveryPoint() == base })
	old := l.view.Load().segs[0]
	if st, _ := os.Stat(old.oidx.Path()); st.Size() != int64(old.oidx.Entries()*8) {
		t.Fatalf("rolled segment's offset index not trimmed: %d bytes, %d entries", st.Size(), old.oidx.Entries())
	}
}

func followerBatch(t testing.TB, base int64, n int) []byte {
	o := record.DefaultBuildOptions()
	o.BaseOffset = base
	o.PartitionLeaderEpoch = 4
	return buildBatchOpt(t, n, 20, testNow+base, o)
}

func TestAppendAsFollower_KeepsLeaderOffsets(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	in := append(followerBatch(t, 0, 3), followerBatch(t, 3, 2)...)
	in = append(in, followerBatch(t, 10, 4)...) // a gap, as compaction leaves
	partial := followerBatch(t, 14, 2)
	ai, err := l.AppendAsFollower(append(in, partial[:30]...))
	if err != nil {
		t.Fatal(err)
	}
	if ai.FirstOffset != 0 || ai.LastOffset != 13 || ai.NumRecords != 9 || ai.Size != len(in) || l.LogEndOffset() != 14 {
		t.Fatalf("append info %+v LEO %d", ai, l.LogEndOffset())
	}
	got, _ := readBytes(t, l, 0, 1<<20, -1, false)
	if !bytes.Equal(got, in) {
		t.Fatal("follower bytes changed")
	}
	first, res := readFirstBatch(t, l, 5)
	if first.BaseOffset() != 10 {
		t.Fatalf("read at offset 5 (in the gap) starts at %d, want the next batch 10", first.BaseOffset())
	}
	res.Release()
}

func TestAppendAsFollower_RejectsOffsetsBelowLogEndOrOutOfOrder(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	if _, err := l.AppendAsFollower(followerBatch(t, 0, 5)); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"below LEO":    followerBatch(t, 4, 2),
		"out of order": append(followerBatch(t, 10, 5), followerBatch(t, 12, 2)...),
	}
	for name, in := range cases {
		if _, err := l.AppendAsFollower(in); !errors.Is(err, ErrUnexpectedAppendOffset) {
			t.Fatalf("%s: error %v", name, err)
		}
	}
	bad := followerBatch(t, 5, 2)
	bad[len(bad)-1] ^= 1
	if _, err := l.AppendAsFollower(bad); !errors.Is(err, record.ErrCorrupt) {
		t.Fatalf("bad crc: error %v", err)
	}
	if l.LogEndOffset() != 5 {
		t.Fatalf("LEO %d after rejected appends", l.LogEndOffset())
	}
}

func TestFlush_FlushMessagesFsyncsAfterAppends(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 4
	l, _, _ := newTestLog(t, cfg)
	mustAppend(t, l, 2, 10, testNow)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d after 2 messages", rp)
	}
	mustAppend(t, l, 2, 10, testNow)
	if rp := l.RecoveryPoint(); rp != 4 {
		t.Fatalf("recovery point %d after 4 messages, want 4", rp)
	}
}

func TestFlush_FlushMsFlushesWhenDue(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMs = 1000
	l, clock, _ := newTestLog(t, cfg)
	mustAppend(t, l, 2, 10, testNow)
	if err := l.FlushIfDue(clock.now() + 999); err != nil || l.RecoveryPoint() != 0 {
		t.Fatalf("flushed early: rp %d err %v", l.RecoveryPoint(), err)
	}
	if err := l.FlushIfDue(clock.now() + 1000); err != nil || l.RecoveryPoint() != 2 {
		t.Fatalf("not flushed when due: rp %d err %v", l.RecoveryPoint(), err)
	}
}

func TestClose_ThenOperationsFailWithErrLogClosed(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustAppend(t, l, 2, 10, testNow)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(buildBatch(t, 1, 1, testNow), 0); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 100, -1, true); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if err := l.Delete(); err != nil || fileExists(l.Dir()) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(l.Dir())); err != nil {
		t.Fatal(err)
	}
}
