package storage

import (
	"errors"
	"os"
	"testing"
	"time"
)

// fillSegments appends batches of 5 records with timestamp ts until the log has n segments.
func fillSegments(t *testing.T, l *Log, n int, ts func(i int) int64) {
	for i := 0; l.NumSegments() < n; i++ {
		mustAppend(t, l, 5, 400, ts(i))
	}
}

func segBases(l *Log) []int64 {
	var out []int64
	for _, s := range l.view.Load().segs {
		out = append(out, s.base)
	}
	return out
}

// retention.ms compares now with each segment's largest record timestamp, oldest first.
func TestRetention_MsBySegmentLargestTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 1000
	l, _, _ := newTestLog(t, cfg)
	fillSegments(t, l, 5, func(i int) int64 { return testNow + int64(i)*100 })
	before := l.view.Load().segs
	cut := before[2].largestTimestamp() + 1000 // segments 0 and 1 are older than this by > retention.ms
	n, err := l.DeleteOldSegments(cut, l.LogEndOffset())
	if err != nil || n != 2 {
		t.Fatalf("deleted %d segments, err %v", n, err)
	}
	if l.LogStartOffset() != before[2].base || segBases(l)[0] != before[2].base {
		t.Fatalf("log start %d, segments %v", l.LogStartOffset(), segBases(l))
	}
}

// retention.bytes: delete oldest segments while the log stays at or above the limit without them.
func TestRetention_BytesDeletesOldestWhileOverLimit(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = -1
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 6, func(int) int64 { return testNow })
	segs := l.view.Load().segs
	cfg.RetentionBytes = l.Size() - segs[0].size.Load() - segs[1].size.Load() - 1 // 2 must go, the 3rd would overshoot
	l.SetConfig(cfg)
	n, err := l.DeleteOldSegments(clock.now(), l.LogEndOffset())
	if err != nil || n != 2 || l.Size() < cfg.RetentionBytes {
		t.Fatalf("deleted %d, size %d, limit %d, err %v", n, l.Size(), cfg.RetentionBytes, err)
	}
}

// Log.deletableSegments: a segment is deletable only if the HW is at or above its upper bound.
func TestRetention_NeverDeletesAtOrAboveHighWatermark(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 0
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 4, func(int) int64 { return testNow - 1e6 })
	bases := segBases(l)
	n, err := l.DeleteOldSegments(clock.now(), bases[2]-1)
	if err != nil || n != 1 || segBases(l)[0] != bases[1] {
		t.Fatalf("hw below segment 1's end: deleted %d, segments %v, err %v", n, segBases(l), err)
	}
	n, _ = l.DeleteOldSegments(clock.now(), bases[2])
	if n != 1 || segBases(l)[0] != bases[2] {
		t.Fatalf("hw at segment 2's base: deleted %d, segments %v", n, segBases(l))
	}
}

func TestRetention_NeverDeletesEmptyActiveSegment(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 0
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 3, func(int) int64 { return testNow - 1e6 })
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	n, err := l.DeleteOldSegments(clock.now()+1e6, leo)
	if err != nil || n != 3 || l.NumSegments() != 1 || l.view.Load().active().base != leo || l.LogStartOffset() != leo {
		t.Fatalf("deleted %d, segments %v, err %v", n, segBases(l), err)
	}
}

// Log.deleteSegments: when every segment goes, a new empty one is rolled first.
func TestRetention_RollsNewSegmentWhenAllAreDeletable(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 0
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 2, func(int) int64 { return testNow - 1e6 })
	leo := l.LogEndOffset()
	n, err := l.DeleteOldSegments(clock.now(), leo)
	if err != nil || n != 2 || l.NumSegments() != 1 || l.Size() != 0 || l.LogStartOffset() != leo || l.LogEndOffset() != leo {
		t.Fatalf("deleted %d, segments %v, size %d, err %v", n, segBases(l), l.Size(), err)
	}
	mustAppend(t, l, 1, 1, testNow)
	if l.LogEndOffset() != leo+1 {
		t.Fatal("append after deleting everything")
	}
}

// The log-start-offset rule applies whatever the cleanup policy: a segment goes when the next
// segment's base is at or below the log start offset.
func TestRetention_LogStartOffsetBreachDeletesSegmentsForCompactedTopics(t *testing.T) {
	cfg := testConfig()
	cfg.CleanupPolicy = "compact"
	cfg.RetentionMs = 0
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 4, func(int) int64 { return testNow - 1e6 })
	bases := segBases(l)
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteRecordsBefore(bases[2] + 1); err != nil {
		t.Fatal(err)
	}
	n, err := l.DeleteOldSegments(clock.now(), l.LogEndOffset())
	if err != nil || n != 2 || segBases(l)[0] != bases[2] || l.LogStartOffset() != bases[2]+1 {
		t.Fatalf("deleted %d, segments %v, start %d, err %v", n, segBases(l), l.LogStartOffset(), err)
	}
}

// Deleted segments are renamed .deleted and removed after file.delete.delay.ms.
func TestRetention_DeletedSegmentsRenamedThenRemovedAfterDelay(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = 0
	cfg.FileDeleteDelayMs = 300
	l, clock, _ := newTestLog(t, cfg)
	fillSegments(t, l, 3, func(int) int64 { return testNow - 1e6 })
	if _, err := l.DeleteOldSegments(clock.now(), segBases(l)[1]); err != nil {
		t.Fatal(err)
	}
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		p := segmentFile(l.Dir(), 0, suf)
		if fileExists(p) || !fileExists(p+deletedSuffix) {
			t.Fatalf("%s not renamed %s", p, deletedSuffix)
		}
	}
	start := time.Now()
	eventually(t, 5*time.Second, ".deleted files removed", func() bool {
		return !fileExists(segmentFile(l.Dir(), 0, logSuffix+deletedSuffix)) &&
			!fileExists(segmentFile(l.Dir(), 0, indexSuffix+deletedSuffix)) &&
			!fileExists(segmentFile(l.Dir(), 0, timeIndexSuffix+deletedSuffix))
	})
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("removed after %v, before file.delete.delay.ms", el)
	}
}

func TestDeleteRecordsBefore_AboveHighWatermarkIsOutOfRange(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	appendBatchesOf5(t, l, 4)
	l.SetHighWatermark(10)
	if _, err := l.DeleteRecordsBefore(11); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("above HW: %v", err)
	}
	if ls, err := l.DeleteRecordsBefore(10); err != nil || ls != 10 || l.LogStartOffset() != 10 {
		t.Fatalf("at HW: %d %v", ls, err)
	}
	if ls, err := l.DeleteRecordsBefore(3); err != nil || ls != 10 {
		t.Fatalf("backwards: %d %v", ls, err)
	}
}

// Log.truncateTo: later segments go, the batch containing the offset and everything after it is
// cut from its segment, LEO becomes the offset and appends continue there.
func TestTruncateTo_RemovesBatchContainingOffsetAndLaterSegments(t *testing.T) {
	cfg := testConfig()
	l, _, _ := newTestLog(t, cfg)
	fillSegments(t, l, 4, func(i int) int64 { return testNow + int64(i) })
	l.SetHighWatermark(l.LogEndOffset())
	bases := segBases(l)
	target := bases[1] + 10 // a batch boundary: batches hold 5 records
	keep, _ := readBytes(t, l, bases[1], 1<<20, target, false)
	if err := l.TruncateTo(target); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != target || l.NumSegments() != 2 || l.HighWatermark() != target || l.RecoveryPoint() > target {
		t.Fatalf("LEO %d, segments %v, HW %d, rp %d", l.LogEndOffset(), segBases(l), l.HighWatermark(), l.RecoveryPoint())
	}
	got, _ := readBytes(t, l, bases[1], 1<<20, -1, false)
	if string(got) != string(keep) {
		t.Fatalf("segment after truncation has %d bytes, want %d", len(got), len(keep))
	}
	if _, err := l.Read(target+1, 100, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read above truncation: %v", err)
	}
	checkIndexesAgreeWithLog(t, l)
	for l.NumSegments() < 4 {
		ai, _ := mustAppend(t, l, 5, 400, testNow)
		if ai.FirstOffset < target {
			t.Fatalf("append after truncation at %d", ai.FirstOffset)
		}
	}
	checkIndexesAgreeWithLog(t, l)
}

func TestTruncateTo_AtOrAboveLogEndIsNoop(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	appendBatchesOf5(t, l, 2)
	if err := l.TruncateTo(10); err != nil || l.LogEndOffset() != 10 || l.Size() == 0 {
		t.Fatalf("LEO %d err %v", l.LogEndOffset(), err)
	}
}

func TestTruncateFullyAndStartAt_EmptiesLogAtOffset(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	fillSegments(t, l, 3, func(int) int64 { return testNow })
	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.NumSegments() != 1 || l.Size() != 0 ||
		l.RecoveryPoint() != 1000 || l.HighWatermark() != 1000 {
		t.Fatalf("start %d end %d segments %v", l.LogStartOffset(), l.LogEndOffset(), segBases(l))
	}
	if !fileExists(segmentFile(l.Dir(), 1000, logSuffix)) {
		t.Fatal("no segment file at the new offset")
	}
	ai, _ := mustAppend(t, l, 2, 1, testNow)
	if ai.FirstOffset != 1000 {
		t.Fatalf("first offset %d", ai.FirstOffset)
	}
	// Truncating fully at the current base offset reuses the file names.
	if err := l.TruncateFullyAndStartAt(1000); err != nil || l.Size() != 0 {
		t.Fatalf("truncate at own base: %v size %d", err, l.Size())
	}
	if err := l.TruncateTo(5); err != nil || l.LogEndOffset() != 5 || l.LogStartOffset() != 5 {
		t.Fatalf("truncate below first segment: %v, LEO %d", err, l.LogEndOffset())
	}
	entries, _ := os.ReadDir(l.Dir())
	for _, e := range entries {
		if e.Name() == "00000000000000001000.log" {
			t.Fatal("old segment not deleted")
		}
	}
}
