package storage

import (
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// Tests named after Kafka's ProducerStateManagerTest, run against producerState directly.

// pbatch builds a data batch of n records for producer pid at baseOffset.
func pbatch(t testing.TB, pid int64, epoch int16, seq int32, n int, baseOffset int64, txn bool, ts int64) record.Batch {
	t.Helper()
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = pid, epoch, seq, txn
	opt.BaseOffset = baseOffset
	b := buildBatchOpt(t, n, 8, ts, opt)
	return record.Batch(b)
}

// pmarker builds a COMMIT/ABORT marker at offset.
func pmarker(t testing.TB, pid int64, epoch int16, commit bool, coordEpoch int32, offset, ts int64) record.Batch {
	t.Helper()
	b, err := BuildEndTxnMarker(pid, epoch, commit, coordEpoch, ts)
	if err != nil {
		t.Fatal(err)
	}
	record.Batch(b).SetBaseOffset(offset)
	return record.Batch(b)
}

func newTestProducerState(t testing.TB) *producerState {
	return newProducerState(t.TempDir(), DefaultProducerIDExpirationMs, testLogger(t))
}

// applyBatch validates b as origin and, when accepted, applies it the way an append does (without
// a transaction index); it returns the transactions b completed.
func applyBatch(ps *producerState, b record.Batch, origin appendOrigin) ([]completedTxn, error) {
	var pu producerUpdate
	if err := pu.add(ps, b, origin); err != nil {
		return nil, err
	}
	pu.each(ps.update)
	for _, ct := range pu.completed {
		ps.completeTxn(ct)
	}
	ps.mapEndOffset = b.LastOffset() + 1
	return pu.completed, nil
}

func mustApply(t testing.TB, ps *producerState, b record.Batch, origin appendOrigin) []completedTxn {
	t.Helper()
	ct, err := applyBatch(ps, b, origin)
	if err != nil {
		t.Fatalf("apply batch at %d: %v", b.BaseOffset(), err)
	}
	return ct
}

func TestProducerState_BasicIdMapping(t *testing.T) {
	ps := newTestProducerState(t)
	const pid = 1
	mustApply(t, ps, pbatch(t, pid, 0, 0, 1, 0, false, testNow), originClient)
	mustApply(t, ps, pbatch(t, pid, 0, 1, 1, 1, false, testNow), originClient)
	if _, err := applyBatch(ps, pbatch(t, pid, 0, 3, 1, 2, false, testNow), originClient); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: got %v, want ErrOutOfOrderSequence", err)
	}
	// A new epoch must start at sequence 0.
	if _, err := applyBatch(ps, pbatch(t, pid, 3, 1, 1, 2, false, testNow), originClient); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch at 1: got %v, want ErrOutOfOrderSequence", err)
	}
	mustApply(t, ps, pbatch(t, pid, 3, 0, 1, 2, false, testNow), originClient)
	e := ps.producers[pid]
	if e.epoch != 3 || e.lastSeq() != 0 || len(e.batches) != 1 {
		t.Fatalf("after the epoch bump: epoch %d last seq %d batches %d", e.epoch, e.lastSeq(), len(e.batches))
	}
	// Fenced: an epoch below the producer's.
	if _, err := applyBatch(ps, pbatch(t, pid, 2, 1, 1, 3, false, testNow), originClient); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: got %v, want ErrInvalidProducerEpoch", err)
	}
}

func TestProducerState_UnknownProducerAcceptsAnySequence(t *testing.T) {
	// Kafka 2.8 never answers UNKNOWN_PRODUCER_ID on produce: a producer this partition does not
	// know (new, expired, or its batches deleted) starts wherever it is.
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 9, 4, 1234, 2, 0, false, testNow), originClient)
	if got := ps.producers[9].lastSeq(); got != 1235 {
		t.Fatalf("last seq %d", got)
	}
}

func TestProducerState_ProducerSequenceWrapAround(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, math.MaxInt32-1, 2, 0, false, testNow), originClient)
	if got := ps.producers[1].lastSeq(); got != math.MaxInt32 {
		t.Fatalf("last seq %d", got)
	}
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 2, false, testNow), originClient)
}

func TestProducerState_ProducerSequenceWithWrapAroundBatchRecord(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, math.MaxInt32-1, 1, 0, false, testNow), originClient)
	// A batch running across the wrap: MaxInt32, 0, 1.
	mustApply(t, ps, pbatch(t, 1, 0, math.MaxInt32, 3, 1, false, testNow), originClient)
	e := ps.producers[1]
	if e.lastSeq() != 1 || e.batches[1].firstSeq() != math.MaxInt32 {
		t.Fatalf("last seq %d first seq %d", e.lastSeq(), e.batches[1].firstSeq())
	}
	if _, ok := e.findDuplicate(0, math.MaxInt32, 1); !ok {
		t.Fatal("the wrapping batch is not found as a duplicate")
	}
}

func TestProducerState_ProducerSequenceInvalidWrapAround(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, math.MaxInt32-2, 1, 0, false, testNow), originClient)
	if _, err := applyBatch(ps, pbatch(t, 1, 0, 0, 1, 1, false, testNow), originClient); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("got %v", err)
	}
}

func TestProducerState_NoValidationOnFirstEntryWhenLoadingLog(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 5, 17, 1, 0, false, testNow), originReplication)
	e := ps.producers[1]
	if e.epoch != 5 || e.lastSeq() != 17 || e.lastDataOffset() != 0 {
		t.Fatalf("entry %+v", e)
	}
}

func TestProducerState_ReplicationDoesNotValidate(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 5, 0, 1, 0, false, testNow), originReplication)
	// A gap and an old epoch: both taken as they come (the leader validated).
	mustApply(t, ps, pbatch(t, 1, 5, 10, 1, 1, false, testNow), originReplication)
	mustApply(t, ps, pbatch(t, 1, 4, 3, 1, 2, false, testNow), originReplication)
	if e := ps.producers[1]; e.epoch != 4 || e.lastSeq() != 3 {
		t.Fatalf("entry %+v", e)
	}
}

func TestProducerState_DuplicateOfRetainedBatches(t *testing.T) {
	ps := newTestProducerState(t)
	for i := range 7 {
		mustApply(t, ps, pbatch(t, 1, 0, int32(i*2), 2, int64(i*2), false, testNow+int64(i)), originClient)
	}
	// The last 5 (seq 4..13) are retained; a retry of each is found with its original offsets.
	for i := 2; i < 7; i++ {
		b := pbatch(t, 1, 0, int32(i*2), 2, 100, false, testNow)
		dup, ok := ps.duplicateOf(b)
		if !ok || dup.firstOffset() != int64(i*2) || dup.lastOffset != int64(i*2+1) || dup.timestamp != testNow+int64(i)+1 {
			t.Fatalf("retry of batch %d: %+v %v", i, dup, ok)
		}
	}
	if _, ok := ps.duplicateOf(pbatch(t, 1, 0, 2, 2, 100, false, testNow)); ok {
		t.Fatal("a batch older than the last 5 counts as a duplicate")
	}
	// The sequence range must match exactly, and the epoch.
	if _, ok := ps.duplicateOf(pbatch(t, 1, 0, 4, 1, 100, false, testNow)); ok {
		t.Fatal("a partial range counts as a duplicate")
	}
	if _, ok := ps.duplicateOf(pbatch(t, 1, 1, 4, 2, 100, false, testNow)); ok {
		t.Fatal("another epoch counts as a duplicate")
	}
}

func TestProducerState_ControlRecordBumpsProducerEpoch(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, true, testNow), originClient)
	ct := mustApply(t, ps, pmarker(t, 1, 1, false, 1, 1, testNow), originCoordinator)
	if len(ct) != 1 || !ct[0].aborted || ct[0].firstOffset != 0 || ct[0].lastOffset != 1 {
		t.Fatalf("completed %+v", ct)
	}
	e := ps.producers[1]
	if e.epoch != 1 || e.currentTxnFirstOffset != -1 || e.coordinatorEpoch != 1 || len(e.batches) != 0 {
		t.Fatalf("entry %+v", e)
	}
	// The bumped epoch starts at sequence 0.
	mustApply(t, ps, pbatch(t, 1, 1, 0, 1, 2, false, testNow), originClient)
}

func TestProducerState_OldEpochForControlRecord(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 3, 0, 1, 0, true, testNow), originClient)
	if _, err := applyBatch(ps, pmarker(t, 1, 2, true, 0, 1, testNow), originCoordinator); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("got %v", err)
	}
}

func TestProducerState_CoordinatorFencing(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, true, testNow), originClient)
	mustApply(t, ps, pmarker(t, 1, 0, true, 5, 1, testNow), originCoordinator)
	mustApply(t, ps, pbatch(t, 1, 0, 1, 1, 2, true, testNow), originClient)
	if _, err := applyBatch(ps, pmarker(t, 1, 0, true, 4, 3, testNow), originCoordinator); !errors.Is(err, ErrTransactionCoordinatorFenced) {
		t.Fatalf("got %v", err)
	}
	// Replication only logs it.
	mustApply(t, ps, pmarker(t, 1, 0, true, 4, 3, testNow), originReplication)
}

func TestProducerState_AppendTxnMarkerWithNoProducerState(t *testing.T) {
	ps := newTestProducerState(t)
	ct := mustApply(t, ps, pmarker(t, 7, 2, true, 3, 0, testNow), originCoordinator)
	if len(ct) != 0 {
		t.Fatalf("a marker without a transaction completed %+v", ct)
	}
	e := ps.producers[7]
	if e.epoch != 2 || e.coordinatorEpoch != 3 || e.lastDataOffset() != -1 {
		t.Fatalf("entry %+v", e)
	}
}

func TestProducerState_NonTransactionalAppendWithOngoingTransaction(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, true, testNow), originClient)
	if _, err := applyBatch(ps, pbatch(t, 1, 0, 1, 1, 1, false, testNow), originClient); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("got %v", err)
	}
}

func TestProducerState_SequenceNotValidatedForCoordinatorAppends(t *testing.T) {
	// Kafka's testSequenceNotValidatedForGroupMetadataTopic: transactional offset commits come from
	// the group coordinator without meaningful sequences.
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 99, 1, 0, true, testNow), originCoordinator)
	mustApply(t, ps, pbatch(t, 1, 0, 5, 1, 1, true, testNow), originCoordinator)
}

func TestProducerState_PrepareUpdateDoesNotMutate(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, false, testNow), originClient)
	var pu producerUpdate
	if err := pu.add(ps, pbatch(t, 1, 0, 1, 1, 1, true, testNow), originClient); err != nil {
		t.Fatal(err)
	}
	e := ps.producers[1]
	if e.lastSeq() != 0 || e.currentTxnFirstOffset != -1 || len(ps.ongoing) != 0 {
		t.Fatalf("validation changed the state: %+v", e)
	}
}

func TestProducerState_FirstUnstableOffset(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 2, 0, true, testNow), originClient)
	mustApply(t, ps, pbatch(t, 2, 0, 0, 2, 2, true, testNow), originClient)
	if fu, ok := ps.firstUnstableOffset(); !ok || fu != 0 {
		t.Fatalf("first unstable %d %v", fu, ok)
	}
	// Producer 1 commits at 4: its transaction stays unstable until the HW passes 4.
	ct := mustApply(t, ps, pmarker(t, 1, 0, true, 0, 4, testNow), originCoordinator)
	if lso := ps.lastStableOffsetFor(ct[0]); lso != 2 {
		t.Fatalf("LSO for the index %d, want producer 2's first offset 2", lso)
	}
	if fu, _ := ps.firstUnstableOffset(); fu != 0 {
		t.Fatalf("first unstable %d before the HW passes the marker", fu)
	}
	ps.removeUnreplicatedBelow(5)
	if fu, ok := ps.firstUnstableOffset(); !ok || fu != 2 {
		t.Fatalf("first unstable %d %v after the HW passed the marker", fu, ok)
	}
	if fu, _ := ps.firstUndecidedOffset(); fu != 2 {
		t.Fatalf("first undecided %d", fu)
	}
	ct = mustApply(t, ps, pmarker(t, 2, 0, false, 0, 5, testNow), originCoordinator)
	if lso := ps.lastStableOffsetFor(ct[0]); lso != 6 {
		t.Fatalf("LSO for the index %d, want marker+1", lso)
	}
	ps.removeUnreplicatedBelow(6)
	if _, ok := ps.firstUnstableOffset(); ok {
		t.Fatal("unstable offset left after both transactions ended")
	}
}

func TestProducerState_PidExpirationTimeout(t *testing.T) {
	ps := newProducerState(t.TempDir(), 1000, testLogger(t))
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, false, testNow), originClient)
	mustApply(t, ps, pbatch(t, 2, 0, 0, 1, 1, true, testNow), originClient)
	if n := ps.removeExpired(testNow + 999); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	// Producer 2 has an open transaction: it never expires.
	if n := ps.removeExpired(testNow + 1000); n != 1 || ps.producers[1] != nil || ps.producers[2] == nil {
		t.Fatalf("expired %d; producers %v", n, ps.producers)
	}
	// Expired producers are new again: any sequence goes.
	mustApply(t, ps, pbatch(t, 1, 0, 40, 1, 2, false, testNow), originClient)
}

// The snapshot format, byte for byte (reference 04 §7). The expected bytes were assembled by hand;
// the CRC is CRC-32C over bytes 6..end, computed independently of the package's table.
func TestProducerSnapshot_FormatByteExact(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 0x0102030405060708, 3, 10, 2, 5, false, 1000), originClient)
	mustApply(t, ps, pbatch(t, 2, 1, 0, 1, 7, true, 2000), originClient)
	mustApply(t, ps, pmarker(t, 9, 4, true, 6, 8, 3000), originCoordinator)
	got := encodeSnapshot(ps.producers)
	body := "00000003" + // count, then the entries in producer id order:
		// producer 2: epoch 1, last seq 0, last offset 7, delta 0, ts 2000, no coordinator epoch, txn at 7
		"0000000000000002" + "0001" + "00000000" + "0000000000000007" + "00000000" + "00000000000007d0" + "ffffffff" + "0000000000000007" +
		// producer 9: only a marker: no data batch
		"0000000000000009" + "0004" + "ffffffff" + "ffffffffffffffff" + "00000000" + "0000000000000bb8" + "00000006" + "ffffffffffffffff" +
		// producer 0x0102...: epoch 3, seq 10..11, offsets 5..6, ts 1001 (max of the batch)
		"0102030405060708" + "0003" + "0000000b" + "0000000000000006" + "00000001" + "00000000000003e9" + "ffffffff" + "ffffffffffffffff"
	bodyBytes, err := hex.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	crc := bitwiseCRC32C(bodyBytes)
	wantBytes := append([]byte{0, 1, byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)}, bodyBytes...)
	if hex.EncodeToString(got) != hex.EncodeToString(wantBytes) {
		t.Fatalf("snapshot bytes\n got %x\nwant %x", got, wantBytes)
	}
}

// bitwiseCRC32C is CRC-32C (reflected polynomial 0x82F63B78) bit by bit, a reference independent
// of hash/crc32's tables.
func bitwiseCRC32C(b []byte) uint32 {
	crc := ^uint32(0)
	for _, c := range b {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x82F63B78
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestProducerSnapshot_RoundTrip(t *testing.T) {
	ps := newTestProducerState(t)
	for i := range 6 {
		mustApply(t, ps, pbatch(t, 1, 2, int32(i), 1, int64(i), false, testNow), originClient)
	}
	mustApply(t, ps, pbatch(t, 2, 0, 0, 3, 6, true, testNow), originClient)
	mustApply(t, ps, pmarker(t, 3, 1, false, 9, 9, testNow), originCoordinator)
	if err := ps.takeSnapshot(); err != nil {
		t.Fatal(err)
	}
	if !fileExists(snapshotFile(ps.dir, 10)) {
		t.Fatal("no snapshot named by the map end offset 10")
	}
	loaded := newProducerState(ps.dir, DefaultProducerIDExpirationMs, testLogger(t))
	loaded.snapshots, _ = listSnapshots(ps.dir)
	if err := loaded.loadLatestSnapshot(10, 0, testNow); err != nil {
		t.Fatal(err)
	}
	if loaded.mapEndOffset != 10 {
		t.Fatalf("map end offset %d", loaded.mapEndOffset)
	}
	for pid, e := range ps.producers {
		l := loaded.producers[pid]
		if l == nil || l.epoch != e.epoch || l.lastSeq() != e.lastSeq() || l.lastDataOffset() != e.lastDataOffset() ||
			l.lastOffsetDelta() != e.lastOffsetDelta() || l.lastTimestamp != e.lastTimestamp ||
			l.coordinatorEpoch != e.coordinatorEpoch || l.currentTxnFirstOffset != e.currentTxnFirstOffset {
			t.Fatalf("producer %d: loaded %+v, had %+v", pid, l, e)
		}
		if len(l.batches) > 1 {
			t.Fatalf("producer %d: %d batches loaded, a snapshot holds only the last", pid, len(l.batches))
		}
	}
	// The open transaction of producer 2 is open again.
	if fu, ok := loaded.firstUnstableOffset(); !ok || fu != 6 {
		t.Fatalf("first unstable %d %v", fu, ok)
	}
}

func TestProducerSnapshot_SkipSnapshotIfOffsetUnchanged(t *testing.T) {
	ps := newTestProducerState(t)
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, false, testNow), originClient)
	if err := ps.takeSnapshot(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(snapshotFile(ps.dir, 1)); err != nil {
		t.Fatal(err)
	}
	if err := ps.takeSnapshot(); err != nil {
		t.Fatal(err)
	}
	if fileExists(snapshotFile(ps.dir, 1)) {
		t.Fatal("a second snapshot at the same offset was written")
	}
}

func TestProducerSnapshot_LoadFromCorruptSnapshotFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"empty file", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped byte", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"unknown version", func(b []byte) []byte { b[1] = 2; return b }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := newTestProducerState(t)
			mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, false, testNow), originClient)
			if err := ps.takeSnapshot(); err != nil {
				t.Fatal(err)
			}
			mustApply(t, ps, pbatch(t, 2, 0, 0, 1, 1, false, testNow), originClient)
			if err := ps.takeSnapshot(); err != nil {
				t.Fatal(err)
			}
			p := snapshotFile(ps.dir, 2)
			data, _ := os.ReadFile(p)
			if err := os.WriteFile(p, tc.corrupt(data), 0o644); err != nil {
				t.Fatal(err)
			}
			loaded := newProducerState(ps.dir, DefaultProducerIDExpirationMs, testLogger(t))
			loaded.snapshots, _ = listSnapshots(ps.dir)
			if err := loaded.loadLatestSnapshot(10, 0, testNow); err != nil {
				t.Fatal(err)
			}
			// The corrupt newest snapshot is deleted and the older one used.
			if fileExists(p) || loaded.mapEndOffset != 1 || len(loaded.producers) != 1 || loaded.producers[1] == nil {
				t.Fatalf("exists %v, map end %d, producers %v", fileExists(p), loaded.mapEndOffset, loaded.producers)
			}
		})
	}
}

func TestProducerSnapshot_LoadFromSnapshotRetainsNonExpiredProducers(t *testing.T) {
	ps := newProducerState(t.TempDir(), 1000, testLogger(t))
	mustApply(t, ps, pbatch(t, 1, 0, 0, 1, 0, false, testNow), originClient)
	mustApply(t, ps, pbatch(t, 2, 0, 0, 1, 1, false, testNow+500), originClient)
	if err := ps.takeSnapshot(); err != nil {
		t.Fatal(err)
	}
	loaded := newProducerState(ps.dir, 1000, testLogger(t))
	loaded.snapshots, _ = listSnapshots(ps.dir)
	if err := loaded.loadLatestSnapshot(2, 0, testNow+1200); err != nil {
		t.Fatal(err)
	}
	if loaded.producers[1] != nil || loaded.producers[2] == nil {
		t.Fatalf("producers %v", loaded.producers)
	}
}

func TestProducerSnapshot_RemoveStraySnapshotsKeepCleanShutdownSnapshot(t *testing.T) {
	ps := newTestProducerState(t)
	for _, off := range []int64{5, 10, 20, 30, 42} {
		ps.mapEndOffset = off
		if err := ps.takeSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	// Segments at 0, 10, 30: 5 and 20 are strays; 42 is above every segment (a clean shutdown's).
	if err := ps.removeStraySnapshots([]int64{0, 10, 30}); err != nil {
		t.Fatal(err)
	}
	got, _ := listSnapshots(ps.dir)
	if !slices.Equal(got, []int64{10, 30, 42}) || !slices.Equal(ps.snapshots, got) {
		t.Fatalf("snapshots on disk %v, known %v", got, ps.snapshots)
	}
	// A stray below the largest segment goes too.
	if err := ps.removeStraySnapshots([]int64{0, 10, 30, 50}); err != nil {
		t.Fatal(err)
	}
	if got, _ := listSnapshots(ps.dir); !slices.Equal(got, []int64{10, 30}) {
		t.Fatalf("snapshots %v", got)
	}
}

func TestProducerSnapshot_FileName(t *testing.T) {
	if got := filepath.Base(snapshotFile("d", 368769)); got != "00000000000000368769.snapshot" {
		t.Fatalf("name %q", got)
	}
}
