package txn

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator failover (reference 06 §4.9): a new coordinator rebuilds every transactional id from the log
// (last value wins, tombstones remove), leaves Ongoing transactions to their producer or their timeout,
// and completes prepared ones by resending their markers with its own coordinator epoch.
func TestLoadRebuildsStateAndCompletesPreparedTransactions(t *testing.T) {
	parts := newFakeParts(t)
	old := newTestCoordinator(t, parts)
	for _, tp := range []TopicPartition{tpA0, tpA1, tpB0} {
		old.transport.setLeader(tp, 1)
	}
	old.elect(5)

	pid1, e1 := old.initPID("done", 60000)
	wantErr(t, old.AddPartitions(ctx, "done", pid1, e1, []TopicPartition{tpA0}), nil)
	wantErr(t, old.EndTxn(ctx, "done", pid1, e1, true), nil)
	old.waitState("done", CompleteCommit)

	pid2, e2 := old.initPID("open", 60000)
	wantErr(t, old.AddPartitions(ctx, "open", pid2, e2, []TopicPartition{tpA1, tpB0}), nil)

	old.initPID("expired", 60000)
	old.clock.advance(7 * 24 * time.Hour)
	// Only "expired" is at rest and old enough ("done" completed at the same time, so it goes too).
	if got := old.RemoveExpiredTransactionalIDs(); !slices.Contains(got, "expired") {
		t.Fatalf("expired %v", got)
	}

	old.transport.mu.Lock()
	old.transport.hold = make(chan struct{}) // the old coordinator dies before its markers get through
	old.transport.mu.Unlock()
	pid3, e3 := old.initPID("prepared", 60000)
	wantErr(t, old.AddPartitions(ctx, "prepared", pid3, e3, []TopicPartition{tpA0, tpB0}), nil)
	wantErr(t, old.EndTxn(ctx, "prepared", pid3, e3, true), nil)
	old.Stop()

	neu := newTestCoordinator(t, parts)
	for _, tp := range []TopicPartition{tpA0, tpA1, tpB0} {
		neu.transport.setLeader(tp, 2)
	}
	neu.elect(6)

	if s := neu.describe("open"); s.State != Ongoing || s.ProducerID != pid2 || s.ProducerEpoch != e2 ||
		!slices.Equal(s.Partitions, []TopicPartition{tpA1, tpB0}) || s.TimeoutMs != 60000 {
		t.Fatalf("open: %+v", s)
	}
	if _, err := neu.Describe("expired"); err == nil {
		t.Fatal("the tombstoned id came back")
	}
	neu.waitState("prepared", CompleteCommit)
	ms := neu.transport.markers()
	if len(ms) != 1 || !ms[0].commit || ms[0].producerID != pid3 || ms[0].epoch != e3 || ms[0].coordEpoch != 6 ||
		!slices.Equal(ms[0].partitions, []TopicPartition{tpA0, tpB0}) {
		t.Fatalf("markers resent %+v", ms)
	}
	// The loaded open transaction still belongs to its producer.
	wantErr(t, neu.EndTxn(ctx, "open", pid2, e2, false), nil)
	neu.waitState("open", CompleteAbort)
}

// While a partition loads, its ids answer COORDINATOR_LOAD_IN_PROGRESS; ids of partitions not led here
// NOT_COORDINATOR.
func TestLoadInProgressThenServed(t *testing.T) {
	parts := newFakeParts(t)
	tc := newTestCoordinator(t, parts)
	_, _, err := tc.InitProducerID(ctx, "tx", 1000, nil)
	wantErr(t, err, kerr.NotCoordinator)

	parts.log(t, 0)
	gate := make(chan struct{})
	parts.mu.Lock()
	parts.gate = gate
	parts.mu.Unlock()
	tc.OnElection(0, 1)
	_, _, err = tc.InitProducerID(ctx, "tx", 1000, nil)
	wantErr(t, err, kerr.CoordinatorLoadInProgress)
	wantErr(t, tc.AddPartitions(ctx, "tx", 1, 0, nil), kerr.CoordinatorLoadInProgress)
	close(gate)
	eventually(t, 5*time.Second, "loaded", func() bool {
		_, _, err := tc.InitProducerID(ctx, "tx", 1000, nil)
		return err == nil
	})
}

// Resigning (LeaderAndIsr to follower, StopReplica) answers NOT_COORDINATOR at once and drops the cache;
// a stale resignation or election (older epoch) is ignored; a newer election reloads.
func TestResignationAndStaleLeadershipChanges(t *testing.T) {
	tc := coordinatorWithLeaders(t) // elected at 5
	tc.initPID("tx", 60000)

	tc.OnResignation(0, 4) // older than the election: ignored
	tc.describe("tx")
	tc.OnElection(0, 5) // not newer: ignored
	tc.describe("tx")

	tc.OnResignation(0, 5)
	_, _, err := tc.InitProducerID(ctx, "tx", 60000, nil)
	wantErr(t, err, kerr.NotCoordinator)
	eventually(t, 5*time.Second, "cache dropped", func() bool {
		tc.state.mu.RLock()
		defer tc.state.mu.RUnlock()
		return tc.state.cache[0] == nil
	})

	tc.elect(7)
	if s := tc.describe("tx"); s.ProducerEpoch != 0 || s.State != Empty {
		t.Fatalf("reloaded: %+v", s)
	}
	// Re-election at a newer epoch while leading reloads with the new coordinator epoch.
	tc.elect(8)
	pid, epoch := tc.initPID("tx", 60000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
	tc.waitState("tx", CompleteCommit)
	if ms := tc.transport.markers(); ms[len(ms)-1].coordEpoch != 8 {
		t.Fatalf("markers %+v", ms)
	}
}

// A resignation while the markers of a transaction are in flight stops that work: the next coordinator
// finishes the transaction from the log.
func TestResignationCancelsPendingCompletion(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	hold := make(chan struct{})
	tc.transport.mu.Lock()
	tc.transport.hold = hold
	tc.transport.mu.Unlock()
	pid, epoch := tc.initPID("tx", 60000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
	tc.OnResignation(0, 5)
	close(hold)
	eventually(t, 5*time.Second, "cache dropped", func() bool {
		tc.state.mu.RLock()
		defer tc.state.mu.RUnlock()
		return tc.state.cache[0] == nil
	})
	eventually(t, 5*time.Second, "completion dropped", func() bool {
		tc.markers.mu.Lock()
		defer tc.markers.mu.Unlock()
		return len(tc.markers.pending) == 0 && len(tc.markers.inflight) == 0
	})
	recs := tc.parts.records(t, 0)
	if last := recs[len(recs)-1]; last.value.State != PrepareCommit {
		t.Fatalf("a deposed coordinator wrote %s", last.value.State)
	}
}
