package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// Log-level producer state tests, named after Kafka's LogTest rules.

// produce appends a client batch of n records for producer pid.
func produce(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int, txn bool) (AppendInfo, error) {
	t.Helper()
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = pid, epoch, seq, txn
	return l.AppendAsLeader(buildBatchOpt(t, n, 16, testNow, opt), 0)
}

func mustProduce(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int, txn bool) AppendInfo {
	t.Helper()
	ai, err := produce(t, l, pid, epoch, seq, n, txn)
	if err != nil {
		t.Fatalf("produce pid %d seq %d: %v", pid, seq, err)
	}
	return ai
}

// endTxn appends a marker as the transaction coordinator does.
func endTxn(t testing.TB, l *Log, pid int64, epoch int16, commit bool, coordEpoch int32) (AppendInfo, error) {
	t.Helper()
	b, err := BuildEndTxnMarker(pid, epoch, commit, coordEpoch, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return l.AppendAsCoordinator(b, 0)
}

func mustEndTxn(t testing.TB, l *Log, pid int64, epoch int16, commit bool, coordEpoch int32) int64 {
	t.Helper()
	ai, err := endTxn(t, l, pid, epoch, commit, coordEpoch)
	if err != nil {
		t.Fatalf("end txn of %d: %v", pid, err)
	}
	return ai.FirstOffset
}

func aborted(t testing.TB, l *Log, from, upper int64) []AbortedTxn {
	t.Helper()
	got, err := l.CollectAbortedTransactions(from, upper)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func producersOf(l *Log) string { return fmt.Sprintf("%+v", l.ActiveProducers()) }

func TestLog_DuplicateAppends(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	var infos []AppendInfo
	for i := range 6 {
		infos = append(infos, mustProduce(t, l, 1, 0, int32(i*3), 3, false))
	}
	leo := l.LogEndOffset()
	// A retry of any of the last 5 batches: success with the original offsets, nothing written.
	for i := 1; i < 6; i++ {
		ai := mustProduce(t, l, 1, 0, int32(i*3), 3, false)
		if !ai.Duplicate || ai.FirstOffset != infos[i].FirstOffset || ai.LastOffset != infos[i].LastOffset {
			t.Fatalf("retry of batch %d: %+v, original %+v", i, ai, infos[i])
		}
		if ai.LogAppendTime != testNow+2 {
			t.Fatalf("retry of batch %d: append time %d, want the original batch's timestamp", i, ai.LogAppendTime)
		}
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO %d after retries, was %d", l.LogEndOffset(), leo)
	}
	// The first batch is no longer retained: its retry is out of order, not a duplicate.
	if _, err := produce(t, l, 1, 0, 0, 3, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of the 6th-last batch: %v", err)
	}
	// After a restart only the last batch is known (snapshots hold one batch per producer).
	dir := filepath.Dir(l.Dir())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	re := openTestLog(t, dir, testConfig(), newFakeClock(testNow), 0, 0, true)
	defer re.Close()
	if ai := mustProduce(t, re, 1, 0, 15, 3, false); !ai.Duplicate || ai.FirstOffset != infos[5].FirstOffset {
		t.Fatalf("retry of the last batch after restart: %+v", ai)
	}
	if _, err := produce(t, re, 1, 0, 12, 3, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of an earlier batch after restart: %v", err)
	}
}

func TestLog_NonSequentialAppend(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 2, false)
	leo := l.LogEndOffset()
	if _, err := produce(t, l, 1, 0, 3, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatal("a refused batch was written")
	}
	mustProduce(t, l, 1, 0, 2, 1, false)
}

func TestLog_OldProducerEpoch(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 1, 0, 1, false)
	if _, err := produce(t, l, 1, 0, 1, 1, false); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	// KIP-360 epoch bump: the new epoch starts at 0 and older batches are forgotten.
	if _, err := produce(t, l, 1, 2, 1, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: %v", err)
	}
	mustProduce(t, l, 1, 2, 0, 1, false)
}

func TestLog_EndTxnWithFencedProducerEpoch(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 1, 0, 1, true)
	if _, err := endTxn(t, l, 1, 0, true, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker with an old epoch: %v", err)
	}
}

func TestLog_ZombieCoordinatorFenced(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 1, true)
	mustEndTxn(t, l, 1, 0, false, 1)
	mustProduce(t, l, 1, 0, 1, 1, true)
	leo := l.LogEndOffset()
	if _, err := endTxn(t, l, 1, 0, true, 0); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("zombie coordinator: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatal("a fenced marker was written")
	}
	mustEndTxn(t, l, 1, 0, true, 1)
}

func TestLog_NonTransactionalAppendInsideTransaction(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 1, true)
	if _, err := produce(t, l, 1, 0, 1, 1, false); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("got %v", err)
	}
}

func TestLog_LastStableOffsetWithOpenCommittedAndAbortedTransactions(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 9, 0, 0, 3, false) // 0-2: idempotent, never unstable
	mustProduce(t, l, 1, 0, 0, 2, true)  // 3-4: producer 1's transaction
	mustProduce(t, l, 2, 0, 0, 2, true)  // 5-6: producer 2's transaction
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 3 {
		t.Fatalf("LSO %d with two open transactions, want 3", got)
	}
	if fu, ok := l.FirstUnstableOffset(); !ok || fu != 3 {
		t.Fatalf("first unstable %d %v", fu, ok)
	}
	// The HW bounds the LSO.
	l.SetHighWatermark(2)
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO %d above the HW", got)
	}
	commit := mustEndTxn(t, l, 1, 0, true, 0) // 7
	l.SetHighWatermark(commit)
	if got := l.LastStableOffset(); got != 3 {
		t.Fatalf("LSO %d before the HW passes the commit marker", got)
	}
	l.SetHighWatermark(commit + 1)
	if got := l.LastStableOffset(); got != 5 {
		t.Fatalf("LSO %d after the commit is replicated, want producer 2's first offset 5", got)
	}
	abort := mustEndTxn(t, l, 2, 0, false, 0) // 8
	l.SetHighWatermark(l.LogEndOffset())
	if got, fu := l.LastStableOffset(), l.firstUnstable.Load(); got != abort+1 || fu != -1 {
		t.Fatalf("LSO %d (first unstable %d) after both ended, want the HW %d", got, fu, abort+1)
	}
	if got := aborted(t, l, 0, l.LogEndOffset()); !slices.Equal(got, []AbortedTxn{{ProducerID: 2, FirstOffset: 5}}) {
		t.Fatalf("aborted %v", got)
	}
	// The .txnindex entry: LSO at the abort = marker+1 (no other transaction open).
	es, _ := l.view.Load().active().txn.entries()
	if !slices.Equal(es, []txnEntry{{producerID: 2, firstOffset: 5, lastOffset: abort, lastStableOffset: abort + 1}}) {
		t.Fatalf("txnindex %v", es)
	}
}

func TestLog_LastStableOffsetDoesNotExceedLogStartOffsetMidSegment(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 3, true) // 0-2 open
	mustProduce(t, l, 2, 0, 0, 3, false)
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if fu, _ := l.FirstUnstableOffset(); fu != 4 {
		t.Fatalf("first unstable %d, want it clamped to the log start 4", fu)
	}
	if got := l.LastStableOffset(); got != 4 {
		t.Fatalf("LSO %d", got)
	}
}

func TestLog_TransactionIndexUpdatedAcrossSegments(t *testing.T) {
	cfg := testConfig()
	l, _, _ := newTestLog(t, cfg)
	// Producer 1 opens a transaction; producer 2 aborts one while 1's is open; then 1 aborts
	// after a roll, so its entry lands in the later segment.
	mustProduce(t, l, 1, 0, 0, 2, true) // 0-1
	mustProduce(t, l, 2, 0, 0, 2, true) // 2-3
	a2 := mustEndTxn(t, l, 2, 0, false, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, l, 1, 0, 2, 2, true)
	a1 := mustEndTxn(t, l, 1, 0, false, 0)
	v := l.view.Load()
	first, _ := v.segs[0].txn.entries()
	second, _ := v.segs[1].txn.entries()
	if !slices.Equal(first, []txnEntry{{2, 2, a2, 0}}) || !slices.Equal(second, []txnEntry{{1, 0, a1, a1 + 1}}) {
		t.Fatalf("txnindexes %v / %v", first, second)
	}
	// A fetch from the second segment still learns of producer 1's transaction started in the first.
	if got := aborted(t, l, v.segs[1].base, l.LogEndOffset()); !slices.Equal(got, []AbortedTxn{{1, 0}}) {
		t.Fatalf("aborted from the second segment: %v", got)
	}
	if got := aborted(t, l, 0, l.LogEndOffset()); !slices.Equal(got, []AbortedTxn{{2, 2}, {1, 0}}) {
		t.Fatalf("aborted from 0: %v", got)
	}
}

func TestLog_AbortedTransactionsForRead(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	l, _, _ := newTestLog(t, cfg)
	mustProduce(t, l, 1, 0, 0, 2, true)
	mustEndTxn(t, l, 1, 0, false, 0) // 2
	mustProduce(t, l, 2, 0, 0, 2, true)
	mustProduce(t, l, 3, 0, 0, 2, false) // 5-6
	mustEndTxn(t, l, 2, 0, false, 0)     // 7
	l.SetHighWatermark(l.LogEndOffset())
	res, err := l.Read(0, 1<<20, l.LastStableOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	got, err := l.AbortedTransactions(0, res.Ranges[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []AbortedTxn{{1, 0}, {2, 3}}) {
		t.Fatalf("whole read: %v", got)
	}
	// A read of the first batch only: the upper bound is the offset of the first index entry at
	// or past its end, the marker's (2), which excludes producer 2's transaction (from 3).
	first := res.Ranges[0]
	bs := splitBatches(t, mustBytes(t, first))
	short := first
	short.Length = int64(len(bs[0]))
	if got, _ := l.AbortedTransactions(0, short); !slices.Equal(got, []AbortedTxn{{1, 0}}) {
		t.Fatalf("short read: %v", got)
	}
}

func mustBytes(t testing.TB, fr FileRange) []byte {
	t.Helper()
	b, err := fr.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLog_TransactionIndexUpdatedThroughReplication(t *testing.T) {
	leader, _, _ := newTestLog(t, testConfig())
	follower, _, _ := newTestLog(t, testConfig())
	mustProduce(t, leader, 1, 0, 0, 3, true)
	mustProduce(t, leader, 2, 0, 0, 1, false)
	mustEndTxn(t, leader, 1, 0, false, 4)
	mustProduce(t, leader, 3, 5, 7, 2, true)
	// Followers replay without validation, in whatever chunks the fetches bring.
	data, _ := readBytes(t, leader, 0, 1<<20, -1, true)
	bs := splitBatches(t, data)
	for _, chunk := range [][]record.Batch{bs[:2], bs[2:]} {
		var buf []byte
		for _, b := range chunk {
			buf = append(buf, b...)
		}
		if _, err := follower.AppendAsFollower(buf); err != nil {
			t.Fatal(err)
		}
	}
	if producersOf(follower) != producersOf(leader) {
		t.Fatalf("follower producers %s\nleader producers %s", producersOf(follower), producersOf(leader))
	}
	if got := aborted(t, follower, 0, follower.LogEndOffset()); !slices.Equal(got, aborted(t, leader, 0, leader.LogEndOffset())) || len(got) != 1 {
		t.Fatalf("follower aborted %v", got)
	}
	follower.SetHighWatermark(follower.LogEndOffset())
	leader.SetHighWatermark(leader.LogEndOffset())
	if follower.LastStableOffset() != leader.LastStableOffset() || follower.LastStableOffset() != 5 {
		t.Fatalf("LSO follower %d leader %d", follower.LastStableOffset(), leader.LastStableOffset())
	}
	// Once the follower is promoted, the replayed state is what validation uses.
	if ai := mustProduce(t, follower, 2, 0, 0, 1, false); !ai.Duplicate {
		t.Fatalf("retry on the new leader was not detected: %+v", ai)
	}
}

func TestLog_ProducerSnapshotAfterSegmentRollOnAppend(t *testing.T) {
	cfg := testConfig()
	l, _, _ := newTestLog(t, cfg)
	mustProduce(t, l, 1, 0, 0, 1, false)
	for l.NumSegments() < 3 {
		mustProduce(t, l, 2, 0, int32(l.LogEndOffset()-1), 1, false)
	}
	v := l.view.Load()
	snaps, _ := listSnapshots(l.Dir())
	if !slices.Equal(snaps, []int64{v.segs[1].base, v.segs[2].base}) {
		t.Fatalf("snapshots %v, segments %d %d", snaps, v.segs[1].base, v.segs[2].base)
	}
	// The snapshot at a roll holds the state before the new segment.
	data, _ := os.ReadFile(snapshotFile(l.Dir(), v.segs[1].base))
	es, err := decodeSnapshot(data)
	if err != nil || len(es) != 2 || es[1].lastDataOffset() != v.segs[1].base-1 {
		t.Fatalf("snapshot entries %+v, %v", es, err)
	}
}

func TestLog_TakeSnapshotOnRollAndDeleteSnapshotOnRecoveryPointCheckpoint(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	for range 5 {
		mustProduce(t, l, 1, 0, int32(l.LogEndOffset()), 1, false)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	v := l.view.Load()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.deleteSnapshotsAfterRecoveryPointCheckpoint(); err != nil {
		t.Fatal(err)
	}
	// The recovery point is the LEO: the last two segments' snapshots stay.
	snaps, _ := listSnapshots(l.Dir())
	if want := []int64{v.segs[len(v.segs)-2].base, v.segs[len(v.segs)-1].base}; !slices.Equal(snaps, want) {
		t.Fatalf("snapshots %v, want %v", snaps, want)
	}
}

func TestLog_RetentionDeletesSnapshotsWithSegments(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	for range 4 {
		mustProduce(t, l, 1, 0, int32(l.LogEndOffset()), 1, false)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteOldSegments(testNow, l.HighWatermark()); err != nil || n != 2 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	snaps, _ := listSnapshots(l.Dir())
	if !slices.Equal(snaps, []int64{2, 3, 4}) {
		t.Fatalf("snapshots %v", snaps)
	}
	// Producer state outlives the deleted batches (KIP-360).
	if ps := l.ActiveProducers(); len(ps) != 1 || ps[0].LastSequence != 3 {
		t.Fatalf("producers %+v", ps)
	}
}

func TestLog_ProducerIdMapTruncateTo(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 1, false) // 0
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, l, 1, 0, 1, 1, false) // 1
	mustProduce(t, l, 2, 0, 0, 1, true)  // 2
	mustEndTxn(t, l, 2, 0, false, 0)     // 3
	mustProduce(t, l, 1, 0, 2, 1, false) // 4
	before := producersOf(l)
	if err := l.TruncateTo(3); err != nil {
		t.Fatal(err)
	}
	// Producer 1 is back at sequence 1, producer 2's transaction open again, its abort unindexed.
	ps := l.ActiveProducers()
	if len(ps) != 2 || ps[0].LastSequence != 1 || ps[1].CurrentTxnFirstOffset != 2 {
		t.Fatalf("after truncation to 3: %+v (before %s)", ps, before)
	}
	l.SetHighWatermark(3)
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO %d with the transaction open again", got)
	}
	if got := aborted(t, l, 0, 10); len(got) != 0 {
		t.Fatalf("aborted %v after the marker was truncated", got)
	}
	if snaps, _ := listSnapshots(l.Dir()); !slices.Equal(snaps, []int64{1, 3}) {
		t.Fatalf("snapshots %v", snaps)
	}
	mustProduce(t, l, 1, 0, 2, 1, false)
	if err := l.TruncateTo(1); err != nil {
		t.Fatal(err)
	}
	if ps := l.ActiveProducers(); len(ps) != 1 || ps[0].LastSequence != 0 {
		t.Fatalf("after truncation to 1: %+v", ps)
	}
	if err := l.TruncateFullyAndStartAt(50); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := listSnapshots(l.Dir()); len(snaps) != 0 || len(l.ActiveProducers()) != 0 {
		t.Fatalf("after a full truncation: snapshots %v producers %+v", snaps, l.ActiveProducers())
	}
}

// txnWorkload writes interleaved transactions over several segments and returns the log.
func txnWorkload(t *testing.T, l *Log) {
	t.Helper()
	seq := map[int64]int32{}
	epoch := map[int64]int16{}
	open := map[int64]bool{}
	for round := range 40 {
		for pid := int64(1); pid <= 3; pid++ {
			if round%5 == 4 && open[pid] {
				commit := (round+int(pid))%2 == 0
				mustEndTxn(t, l, pid, epoch[pid], commit, 0)
				open[pid] = false
				continue
			}
			mustProduce(t, l, pid, epoch[pid], seq[pid], 2, true)
			seq[pid] += 2
			open[pid] = true
		}
		mustProduce(t, l, 10, 0, seq[10], 3, false)
		seq[10] += 3
	}
}

func TestLog_RecoveryRebuildsProducerStateAfterUncleanStop(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l, clock, dir := newTestLog(t, cfg)
	txnWorkload(t, l)
	if l.NumSegments() < 4 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	l.SetHighWatermark(l.LogEndOffset())
	wantProducers, wantLSO := producersOf(l), l.LastStableOffset()
	wantAborted := aborted(t, l, 0, l.LogEndOffset())
	if len(wantAborted) == 0 {
		t.Fatal("the workload aborted nothing")
	}
	var wantIdx [][]txnEntry
	for _, s := range l.view.Load().segs {
		es, _ := s.txn.entries()
		wantIdx = append(wantIdx, es)
	}
	check := func(t *testing.T, re *Log) {
		t.Helper()
		re.SetHighWatermark(re.LogEndOffset())
		if got := producersOf(re); got != wantProducers {
			t.Fatalf("producers\n got %s\nwant %s", got, wantProducers)
		}
		if re.LastStableOffset() != wantLSO {
			t.Fatalf("LSO %d, want %d", re.LastStableOffset(), wantLSO)
		}
		if got := aborted(t, re, 0, re.LogEndOffset()); !slices.Equal(got, wantAborted) {
			t.Fatalf("aborted %v, want %v", got, wantAborted)
		}
		for i, s := range re.view.Load().segs {
			es, _ := s.txn.entries()
			if !slices.Equal(es, wantIdx[i]) {
				t.Fatalf("segment %d txnindex %v, want %v", s.base, es, wantIdx[i])
			}
		}
	}
	// Unclean stop: the files as they are while the log is open, recovered from 0.
	for _, tc := range []struct {
		name  string
		prune func(pdir string)
	}{
		{"with snapshots", func(string) {}},
		{"without snapshots", func(pdir string) {
			snaps, _ := listSnapshots(pdir)
			for _, off := range snaps {
				os.Remove(snapshotFile(pdir, off))
			}
		}},
		{"without snapshots or txnindexes", func(pdir string) {
			snaps, _ := listSnapshots(pdir)
			for _, off := range snaps {
				os.Remove(snapshotFile(pdir, off))
			}
			ents, _ := os.ReadDir(pdir)
			for _, e := range ents {
				if filepath.Ext(e.Name()) == txnIndexSuffix {
					os.Remove(filepath.Join(pdir, e.Name()))
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			image := t.TempDir()
			copyDir(t, dir, image)
			tc.prune(filepath.Join(image, testTP.dirName()))
			re := openTestLog(t, image, cfg, clock, 0, 0, false)
			defer re.Close()
			check(t, re)
			if snaps, _ := listSnapshots(re.Dir()); len(snaps) == 0 || snaps[len(snaps)-1] != re.LogEndOffset() {
				t.Fatalf("snapshots after recovery %v, want one at the LEO %d", snaps, re.LogEndOffset())
			}
		})
	}
	t.Run("clean restart loads the snapshot at the LEO", func(t *testing.T) {
		image := t.TempDir()
		copyDir(t, dir, image)
		re := openTestLog(t, image, cfg, clock, 0, 0, true)
		if err := re.Close(); err != nil {
			t.Fatal(err)
		}
		pdir := filepath.Join(image, testTP.dirName())
		snaps, _ := listSnapshots(pdir)
		if snaps[len(snaps)-1] != re.LogEndOffset() {
			t.Fatalf("no snapshot at the LEO: %v", snaps)
		}
		lg, hook := logtest.NewNullLogger()
		re, err := openLog(pdir, testTP, cfg, re.LogEndOffset(), 0, true, logrus.NewEntry(lg), clock.fn())
		if err != nil {
			t.Fatal(err)
		}
		defer re.Close()
		check(t, re)
		for _, e := range hook.AllEntries() {
			if e.Message == "rebuilding producer state from the log" {
				t.Fatalf("a clean restart replayed the log: %v", e.Data)
			}
		}
	})
}

func TestLog_TornTailRecoveryTruncatesTxnIndexAndProducerState(t *testing.T) {
	cfg := testConfig()
	l, clock, dir := newTestLog(t, cfg)
	mustProduce(t, l, 1, 0, 0, 2, true)
	mustEndTxn(t, l, 1, 0, false, 0)
	mustProduce(t, l, 1, 0, 0, 2, true) // 3-4: a new transaction
	abort := mustEndTxn(t, l, 1, 0, false, 0)
	image := t.TempDir()
	copyDir(t, dir, image)
	// Tear the last marker off the copy.
	p := segmentFile(filepath.Join(image, testTP.dirName()), 0, logSuffix)
	st, _ := os.Stat(p)
	if err := os.Truncate(p, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	re := openTestLog(t, image, cfg, clock, 0, 0, false)
	defer re.Close()
	if re.LogEndOffset() != abort {
		t.Fatalf("LEO %d, want %d", re.LogEndOffset(), abort)
	}
	if got := aborted(t, re, 0, 100); !slices.Equal(got, []AbortedTxn{{1, 0}}) {
		t.Fatalf("aborted %v", got)
	}
	re.SetHighWatermark(re.LogEndOffset())
	if got := re.LastStableOffset(); got != 3 {
		t.Fatalf("LSO %d: the torn marker's transaction must be open", got)
	}
}

func TestLog_PeriodicProducerIdExpiration(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	mustProduce(t, l, 1, 0, 0, 1, false)
	mustProduce(t, l, 2, 0, 0, 1, true)
	if n := l.RemoveExpiredProducers(testNow + DefaultProducerIDExpirationMs - 1); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	if n := l.RemoveExpiredProducers(testNow + DefaultProducerIDExpirationMs); n != 1 {
		t.Fatalf("expired %d", n)
	}
	if ps := l.ActiveProducers(); len(ps) != 1 || ps[0].ProducerID != 2 {
		t.Fatalf("producers %+v", ps)
	}
}

func TestLog_CleanerKeepsTransactionIndex(t *testing.T) {
	cfg := compactConfig()
	l, clock, _ := newTestLog(t, cfg)
	_ = clock
	mustProduce(t, l, 1, 0, 0, 2, true)
	abort := mustEndTxn(t, l, 1, 0, false, 0)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, l, 2, 0, 0, 2, false)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, l, 2, 0, 2, 2, false)
	l.SetHighWatermark(l.LogEndOffset())
	cleanOnce(t, l, testWorker(t), 0, testNow, DefaultCompactionConfig())
	if got := aborted(t, l, 0, l.LogEndOffset()); !slices.Equal(got, []AbortedTxn{{1, 0}}) {
		t.Fatalf("aborted after cleaning %v", got)
	}
	es, _ := l.view.Load().segs[0].txn.entries()
	if len(es) != 1 || es[0].lastOffset != abort {
		t.Fatalf("cleaned segment's txnindex %v", es)
	}
}

func TestLog_RebuildTransactionalStateAcrossLargeBatches(t *testing.T) {
	// The replay reads 64 KiB chunks: batches larger than a chunk and markers straddling chunk ends
	// must come out whole.
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 20
	l, clock, dir := newTestLog(t, cfg)
	big := func(pid int64, seq int32) {
		opt := record.DefaultBuildOptions()
		opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = pid, 0, seq, true
		if _, err := l.AppendAsLeader(buildBatchOpt(t, 1, 100<<10+int(seq)*977, testNow, opt), 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		big(1, int32(i))
		big(2, int32(i))
		mustEndTxn(t, l, 1, 0, i%2 == 0, 0)
		if i%3 == 2 {
			mustEndTxn(t, l, 2, 0, false, 0)
		}
	}
	want, wantAborted := producersOf(l), aborted(t, l, 0, l.LogEndOffset())
	image := t.TempDir()
	copyDir(t, dir, image)
	pdir := filepath.Join(image, testTP.dirName())
	snaps, _ := listSnapshots(pdir)
	for _, off := range snaps {
		os.Remove(snapshotFile(pdir, off))
	}
	os.Remove(segmentFile(pdir, 0, txnIndexSuffix))
	re := openTestLog(t, image, cfg, clock, 0, 0, false)
	defer re.Close()
	if got := producersOf(re); got != want {
		t.Fatalf("producers\n got %s\nwant %s", got, want)
	}
	if got := aborted(t, re, 0, re.LogEndOffset()); !slices.Equal(got, wantAborted) || len(got) != 5 {
		t.Fatalf("aborted %v, want %v", got, wantAborted)
	}
}
