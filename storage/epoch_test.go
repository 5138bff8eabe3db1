package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// The cache rules, named after Kafka's LeaderEpochFileCacheTest.

func newTestCache(t *testing.T) *epochCache {
	t.Helper()
	return newEpochCache(filepath.Join(t.TempDir(), LeaderEpochCheckpointFile), testLogger(t))
}

func mustAssign(t *testing.T, c *epochCache, epoch int32, offset int64) {
	t.Helper()
	if err := c.assign(epoch, offset); err != nil {
		t.Fatalf("assign(%d, %d): %v", epoch, offset, err)
	}
}

func wantEntries(t *testing.T, c *epochCache, want ...EpochEntry) {
	t.Helper()
	if got := c.list(); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func wantEndOffset(t *testing.T, c *epochCache, requested int32, leo int64, epoch int32, offset int64) {
	t.Helper()
	if e, o := c.endOffsetFor(requested, leo); e != epoch || o != offset {
		t.Fatalf("endOffsetFor(%d, leo %d) = (%d, %d), want (%d, %d)", requested, leo, e, o, epoch, offset)
	}
}

func TestEpochCache_ShouldAddEpochAndMessageOffsetToCache(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 10)
	if e, ok := c.latest(); !ok || e.Epoch != 2 {
		t.Fatalf("latest %v %v", e, ok)
	}
	wantEntries(t, c, EpochEntry{2, 10})
	wantEndOffset(t, c, 2, 11, 2, 11)
}

func TestEpochCache_ShouldReturnLogEndOffsetIfLatestEpochRequested(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 11)
	mustAssign(t, c, 2, 12)
	wantEndOffset(t, c, 2, 14, 2, 14)
}

func TestEpochCache_ShouldReturnUndefinedOffsetIfUndefinedEpochRequested(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 11)
	mustAssign(t, c, 3, 12)
	wantEndOffset(t, c, UndefinedEpoch, 0, UndefinedEpoch, UndefinedEpochOffset)
}

func TestEpochCache_ShouldNotOverwriteLogEndOffsetForALeaderEpochOnceItHasBeenAssigned(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 9)
	mustAssign(t, c, 2, 10)
	wantEntries(t, c, EpochEntry{2, 9})
}

func TestEpochCache_ShouldEnforceMonotonicallyIncreasingStartOffsets(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 9)
	mustAssign(t, c, 3, 9)
	wantEntries(t, c, EpochEntry{3, 9})
}

func TestEpochCache_ShouldReturnUnsupportedIfNoEpochRecorded(t *testing.T) {
	c := newTestCache(t)
	wantEndOffset(t, c, 0, 0, UndefinedEpoch, UndefinedEpochOffset)
	wantEndOffset(t, c, UndefinedEpoch, 73, UndefinedEpoch, UndefinedEpochOffset)
}

func TestEpochCache_ShouldReturnFirstEpochIfRequestedEpochLessThanFirstEpoch(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 5, 11)
	mustAssign(t, c, 6, 12)
	mustAssign(t, c, 7, 13)
	wantEndOffset(t, c, 4, 0, 4, 11)
}

func TestEpochCache_ShouldTruncateIfMatchingEpochButEarlierStartingOffset(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 5, 11)
	mustAssign(t, c, 6, 12)
	mustAssign(t, c, 7, 13)
	mustAssign(t, c, 7, 12) // epoch 7 starts earlier: epoch 6 had nothing
	wantEndOffset(t, c, 5, 0, 5, 12)
	wantEndOffset(t, c, 6, 0, 5, 12)
}

func TestEpochCache_ShouldGetFirstOffsetOfSubsequentEpochWhenOffsetRequestedForPreviousEpoch(t *testing.T) {
	c := newTestCache(t)
	for _, a := range [][2]int64{{1, 11}, {1, 12}, {2, 13}, {2, 14}, {3, 15}, {3, 16}} {
		mustAssign(t, c, int32(a[0]), a[1])
	}
	wantEndOffset(t, c, 2, 17, 2, 15)
}

func TestEpochCache_ShouldReturnNextAvailableEpochIfThereIsNoExactEpochForTheOneRequested(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 0, 10)
	mustAssign(t, c, 2, 13)
	mustAssign(t, c, 4, 17)
	wantEndOffset(t, c, 1, 0, 0, 13)
	wantEndOffset(t, c, 2, 0, 2, 17)
	wantEndOffset(t, c, 3, 0, 2, 17)
}

func TestEpochCache_ShouldReturnInvalidOffsetIfEpochIsRequestedWhichIsNotCurrentlyTracked(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 100)
	wantEndOffset(t, c, 3, 100, UndefinedEpoch, UndefinedEpochOffset)
}

func TestEpochCache_ShouldPersistEpochsBetweenInstances(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 6)
	c2 := newEpochCache(c.path, testLogger(t))
	if found, err := c2.load(); !found || err != nil {
		t.Fatalf("load: %v %v", found, err)
	}
	wantEntries(t, c2, EpochEntry{2, 6})
}

func TestEpochCache_ShouldEnforceMonotonicallyIncreasingEpochs(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 1, 5)
	mustAssign(t, c, 2, 6)
	mustAssign(t, c, 1, 7) // an epoch from the past with a later offset: later epochs go
	if e, _ := c.latest(); e.Epoch != 1 {
		t.Fatalf("latest %v", e)
	}
	wantEndOffset(t, c, 1, 8, 1, 8)
	wantEndOffset(t, c, 2, 8, UndefinedEpoch, UndefinedEpochOffset)
	wantEntries(t, c, EpochEntry{1, 7})
}

func TestEpochCache_ShouldEnforceOffsetsIncreaseMonotonically(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 2, 6)
	mustAssign(t, c, 3, 5)
	wantEntries(t, c, EpochEntry{3, 5})
}

func TestEpochCache_ShouldIncreaseAndTrackEpochsAsLeadersChangeManyTimes(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 0, 0)
	mustAssign(t, c, 1, 0)
	wantEndOffset(t, c, 1, 0, 1, 0)
	wantEndOffset(t, c, 0, 0, 0, 0)
	wantEndOffset(t, c, 1, 5, 1, 5)
	mustAssign(t, c, 2, 5)
	wantEndOffset(t, c, 2, 10, 2, 10)
	wantEndOffset(t, c, 1, 10, 1, 5)
	wantEndOffset(t, c, 0, 10, 0, 0)
}

func TestEpochCache_ShouldIncreaseAndTrackEpochsAsFollowerReceivesManyMessages(t *testing.T) {
	c := newTestCache(t)
	for o := int64(0); o < 9; o++ {
		mustAssign(t, c, int32(o/3), o)
	}
	wantEntries(t, c, EpochEntry{0, 0}, EpochEntry{1, 3}, EpochEntry{2, 6})
	wantEndOffset(t, c, 2, 9, 2, 9)
	wantEndOffset(t, c, 0, 9, 0, 3)
	wantEndOffset(t, c, 1, 9, 1, 6)
}

func threeEpochs(t *testing.T) *epochCache {
	c := newTestCache(t)
	mustAssign(t, c, 2, 6)
	mustAssign(t, c, 3, 8)
	mustAssign(t, c, 4, 11)
	return c
}

func TestEpochCache_TruncateFromEnd(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int64
		want   []EpochEntry
	}{
		{"ShouldDropEntriesOnEpochBoundaryWhenRemovingLatestEntries", 8, []EpochEntry{{2, 6}}},
		{"ShouldDropEntriesBetweenEpochBoundaryWhenRemovingNewest", 9, []EpochEntry{{2, 6}, {3, 8}}},
		{"ShouldClearAllEntries", 0, []EpochEntry{}},
		{"ShouldNotResetEpochHistoryTailIfUndefinedPassed", UndefinedEpochOffset, []EpochEntry{{2, 6}, {3, 8}, {4, 11}}},
		{"ShouldNotClearAnythingIfOffsetAfterLatest", 12, []EpochEntry{{2, 6}, {3, 8}, {4, 11}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := threeEpochs(t)
			if err := c.truncateFromEnd(tc.offset); err != nil {
				t.Fatal(err)
			}
			wantEntries(t, c, tc.want...)
		})
	}
}

func TestEpochCache_TruncateFromStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int64
		want   []EpochEntry
	}{
		{"ShouldPreserveResetOffsetOnClearEarliestIfOneExists", 8, []EpochEntry{{3, 8}, {4, 11}}},
		{"ShouldUpdateSavedOffsetWhenOffsetToClearToIsBetweenEpochs", 9, []EpochEntry{{3, 9}, {4, 11}}},
		{"ShouldNotClearAnythingIfOffsetToEarly", 1, []EpochEntry{{2, 6}, {3, 8}, {4, 11}}},
		{"ShouldNotClearAnythingIfOffsetToFirstOffset", 6, []EpochEntry{{2, 6}, {3, 8}, {4, 11}}},
		{"ShouldRetainLatestEpochOnClearAllEarliest", 11, []EpochEntry{{4, 11}}},
		{"ShouldRetainLatestEpochOnClearAllEarliestAndUpdateItsOffset", 15, []EpochEntry{{4, 15}}},
		{"ShouldNotResetEpochHistoryHeadIfUndefinedPassed", UndefinedEpochOffset, []EpochEntry{{2, 6}, {3, 8}, {4, 11}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := threeEpochs(t)
			if err := c.truncateFromStart(tc.offset); err != nil {
				t.Fatal(err)
			}
			wantEntries(t, c, tc.want...)
		})
	}
}

func TestEpochCache_EmptyCache(t *testing.T) {
	c := newTestCache(t)
	if _, ok := c.latest(); ok {
		t.Fatal("ShouldFetchLatestEpochOfEmptyCache: an empty cache has no latest epoch")
	}
	wantEndOffset(t, c, 7, 0, UndefinedEpoch, UndefinedEpochOffset) // ShouldFetchEndOffsetOfEmptyCache
	if err := c.truncateFromStart(7); err != nil {                  // ShouldClearEarliestOnEmptyCache
		t.Fatal(err)
	}
	if err := c.truncateFromEnd(7); err != nil { // ShouldClearLatestOnEmptyCache
		t.Fatal(err)
	}
	wantEntries(t, c)
	if fileExists(c.path) {
		t.Fatal("no-op truncations of an empty cache must not write the file")
	}
}

// The file format of reference 04 §11.2.

func TestLeaderEpochCheckpoint_KafkaTextFormat(t *testing.T) {
	c := newTestCache(t)
	mustAssign(t, c, 0, 0)
	mustAssign(t, c, 3, 15230)
	data, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "0\n2\n0 0\n3 15230\n" {
		t.Fatalf("file %q", data)
	}
	if fileExists(c.path + ".tmp") {
		t.Fatal("the temporary file of the atomic write was left behind")
	}
	if err := c.clear(); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(c.path); string(data) != "0\n0\n" {
		t.Fatalf("cleared file %q", data)
	}
}

func TestLeaderEpochCheckpoint_Parse(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want []EpochEntry
		bad  bool
	}{
		{"empty file", "", nil, false},
		{"entries", "0\n2\n0 0\n3 15230\n", []EpochEntry{{0, 0}, {3, 15230}}, false},
		{"any whitespace and CRLF", "0\r\n1\r\n5\t\t99\r\n", []EpochEntry{{5, 99}}, false},
		{"no trailing newline", "0\n1\n5 99", []EpochEntry{{5, 99}}, false},
		{"wrong version", "1\n0\n", nil, true},
		{"count mismatch", "0\n2\n5 99\n", nil, true},
		{"garbage line", "0\n1\nfive 99\n", nil, true},
		{"three fields", "0\n1\n5 99 1\n", nil, true},
		{"negative epoch", "0\n1\n-1 99\n", nil, true},
		{"missing count", "0\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEpochCheckpoint([]byte(tc.data))
			if (err != nil) != tc.bad {
				t.Fatalf("err %v, want error %v", err, tc.bad)
			}
			if !tc.bad && !slices.Equal(got, tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLeaderEpochCheckpoint_NonMonotonicFileLoadsAsAssigned(t *testing.T) {
	c := newTestCache(t)
	if err := os.WriteFile(c.path, []byte("0\n3\n1 10\n3 5\n2 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.load(); err != nil {
		t.Fatal(err)
	}
	wantEntries(t, c, EpochEntry{2, 20})
}

// The Log's use of the cache (Kafka's LogTest cases on leader epochs).

// epochBatch builds a batch as a leader would have stored it: offsets from base, leader epoch set.
func epochBatch(t *testing.T, base int64, n int, epoch int32) []byte {
	t.Helper()
	opt := record.DefaultBuildOptions()
	opt.BaseOffset, opt.PartitionLeaderEpoch = base, epoch
	return buildBatchOpt(t, n, 10, testNow, opt)
}

func followerAppend(t *testing.T, l *Log, batches ...[]byte) {
	t.Helper()
	var all []byte
	for _, b := range batches {
		all = append(all, b...)
	}
	if _, err := l.AppendAsFollower(all); err != nil {
		t.Fatalf("follower append: %v", err)
	}
}

func wantLogEpochs(t *testing.T, l *Log, want ...EpochEntry) {
	t.Helper()
	if got := l.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("epoch entries %v, want %v", got, want)
	}
}

func TestLog_AppendAsLeaderAssignsEpochAtBaseOffset(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustAppend(t, l, 3, 10, testNow) // epoch 7 (mustAppend)
	mustAppend(t, l, 2, 10, testNow)
	if _, err := l.AppendAsLeader(buildBatch(t, 1, 10, testNow), 9); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l, EpochEntry{7, 0}, EpochEntry{9, 5})
	if e, ok := l.LatestEpoch(); !ok || e != 9 {
		t.Fatalf("latest epoch %d %v", e, ok)
	}
	if e, o := l.EndOffsetForEpoch(7); e != 7 || o != 5 {
		t.Fatalf("end offset for 7: (%d, %d)", e, o)
	}
	if e, o := l.EndOffsetForEpoch(9); e != 9 || o != 6 {
		t.Fatalf("end offset for 9: (%d, %d), want the LEO", e, o)
	}
}

func TestLog_AppendAsFollowerAssignsEveryBatchEpoch(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 2, 1), epochBatch(t, 2, 2, 1), epochBatch(t, 4, 1, 3), epochBatch(t, 5, 1, 4))
	wantLogEpochs(t, l, EpochEntry{1, 0}, EpochEntry{3, 4}, EpochEntry{4, 5})
	if e, o := l.EndOffsetForEpoch(2); e != 1 || o != 4 {
		t.Fatalf("KIP-279: end offset for the unknown epoch 2 is (1, 4), got (%d, %d)", e, o)
	}
	for off, want := range map[int64]int32{0: 1, 3: 1, 4: 3, 5: 4, 99: 4} {
		if got := l.EpochForOffset(off); got != want {
			t.Fatalf("EpochForOffset(%d) = %d, want %d", off, got, want)
		}
	}
}

func TestLog_ShouldTruncateLeaderEpochCheckpointFileWhenTruncatingLog(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 5, 0), epochBatch(t, 5, 5, 1), epochBatch(t, 10, 5, 2))
	if err := l.TruncateTo(10); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5})
	data, _ := os.ReadFile(filepath.Join(l.Dir(), LeaderEpochCheckpointFile))
	if string(data) != "0\n2\n0 0\n1 5\n" {
		t.Fatalf("checkpoint after truncation %q", data)
	}
}

func TestLog_TruncateToAtLogEndTrimsEpochAssignedWithoutData(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 5, 0))
	// Elected leader at the LEO, then replaced before writing anything in epoch 1.
	if err := l.AssignEpochStartOffset(1, 5); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5})
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l, EpochEntry{0, 0})
}

func TestLog_TruncateFullyAndStartAtClearsEpochCache(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 5, 0), epochBatch(t, 5, 5, 1))
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l)
	if _, ok := l.LatestEpoch(); ok {
		t.Fatal("latest epoch after a full truncation")
	}
}

func TestLog_ShouldUpdateOffsetForLeaderEpochsWhenDeletingRecords(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 5, 0), epochBatch(t, 5, 5, 1), epochBatch(t, 10, 5, 2))
	l.SetHighWatermark(15)
	if _, err := l.DeleteRecordsBefore(7); err != nil {
		t.Fatal(err)
	}
	wantLogEpochs(t, l, EpochEntry{1, 7}, EpochEntry{2, 10})
	moved, err := l.MaybeIncrementLogStartOffset(12)
	if err != nil || !moved {
		t.Fatalf("raise to the leader's log start: %v %v", moved, err)
	}
	wantLogEpochs(t, l, EpochEntry{2, 12})
}

func TestLog_MaybeIncrementLogStartOffsetStopsAtHighWatermark(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	followerAppend(t, l, epochBatch(t, 0, 10, 0))
	l.SetHighWatermark(4)
	if _, err := l.MaybeIncrementLogStartOffset(8); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 4 {
		t.Fatalf("log start %d, want the HW 4", l.LogStartOffset())
	}
	if moved, _ := l.MaybeIncrementLogStartOffset(2); moved {
		t.Fatal("the log start offset moved backwards")
	}
}

func TestLog_ShouldTruncateLeaderEpochsWhenDeletingSegments(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 200 // one batch per segment
	cfg.RetentionBytes = 0
	l, clock, _ := newTestLog(t, cfg)
	for i := int64(0); i < 4; i++ {
		followerAppend(t, l, epochBatch(t, i*5, 5, int32(i)))
	}
	if l.NumSegments() < 3 {
		t.Fatalf("%d segments; the test needs several", l.NumSegments())
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteOldSegments(clock.now(), l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	ls := l.LogStartOffset()
	if ls == 0 {
		t.Fatal("retention deleted nothing")
	}
	got := l.EpochEntries()
	if len(got) == 0 || got[0].StartOffset != ls {
		t.Fatalf("after retention the first epoch entry must start at the log start %d: %v", ls, got)
	}
}

func TestLog_LogRecoversForLeaderEpoch(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	l := openTestLog(t, dir, testConfig(), clock, 0, 0, false)
	followerAppend(t, l, epochBatch(t, 0, 5, 0), epochBatch(t, 5, 5, 1), epochBatch(t, 10, 5, 2))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, testTP.dirName(), LeaderEpochCheckpointFile)

	t.Run("missing file is rebuilt from the batches", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, testConfig(), clock, 0, 0, true)
		defer l.Close()
		wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5}, EpochEntry{2, 10})
	})
	t.Run("garbled file is rebuilt from the batches", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("0\n9\nxx\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, testConfig(), clock, 0, 0, true)
		defer l.Close()
		wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5}, EpochEntry{2, 10})
	})
	t.Run("entries past the log end are dropped at load", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("0\n4\n0 0\n1 5\n2 10\n3 15\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, testConfig(), clock, 0, 0, true)
		defer l.Close()
		wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5}, EpochEntry{2, 10})
		data, _ := os.ReadFile(path)
		if string(data) != "0\n3\n0 0\n1 5\n2 10\n" {
			t.Fatalf("checkpoint not rewritten: %q", data)
		}
	})
	t.Run("recovery assigns epochs newer than the cache", func(t *testing.T) {
		if err := os.WriteFile(path, []byte("0\n1\n0 0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, testConfig(), clock, 0, 0, false) // unclean: everything recovered
		defer l.Close()
		wantLogEpochs(t, l, EpochEntry{0, 0}, EpochEntry{1, 5}, EpochEntry{2, 10})
	})
	t.Run("log start from the checkpoint moves the first entry", func(t *testing.T) {
		l := openTestLog(t, dir, testConfig(), clock, 0, 7, true)
		defer l.Close()
		wantLogEpochs(t, l, EpochEntry{1, 7}, EpochEntry{2, 10})
	})
}

func TestLog_NewLogWritesNoEpochFileUntilAnEpochIsAssigned(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	path := filepath.Join(l.Dir(), LeaderEpochCheckpointFile)
	if fileExists(path) {
		t.Fatal("a new log wrote an epoch checkpoint")
	}
	mustAppend(t, l, 1, 10, testNow)
	if !fileExists(path) {
		t.Fatal("the first epoch did not create the checkpoint")
	}
}
