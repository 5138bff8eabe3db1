package txn

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var (
	tpA0 = TopicPartition{Topic: "a", Partition: 0}
	tpA1 = TopicPartition{Topic: "a", Partition: 1}
	tpB0 = TopicPartition{Topic: "b", Partition: 0}
)

func coordinatorWithLeaders(t testing.TB) *testCoordinator {
	tc := newTestCoordinator(t, nil)
	tc.transport.setLeader(tpA0, 1)
	tc.transport.setLeader(tpA1, 2)
	tc.transport.setLeader(tpB0, 1)
	tc.elect(5)
	return tc
}

// InitProducerId for a new transactional id: a fresh producer id at epoch 0, state Empty written to the
// log (reference 06 §4.4).
func TestInitProducerIDNewTransactionalID(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 60000)
	if pid != 1000 || epoch != 0 {
		t.Fatalf("pid %d epoch %d", pid, epoch)
	}
	s := tc.describe("tx")
	if s.State != Empty || s.TimeoutMs != 60000 || s.StartMs != -1 {
		t.Fatalf("%+v", s)
	}
	recs := tc.parts.records(t, 0)
	if len(recs) != 1 || recs[0].id != "tx" || recs[0].value.State != Empty || recs[0].value.Partitions != nil {
		t.Fatalf("log: %+v", recs)
	}
}

func TestInitProducerIDRejectsBadInput(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	for name, c := range map[string]struct {
		id      string
		timeout int32
		want    error
	}{
		"empty transactional id":   {"", 1000, kerr.InvalidRequest},
		"zero timeout":             {"tx", 0, kerr.InvalidTransactionTimeout},
		"above the max timeout":    {"tx", 900001, kerr.InvalidTransactionTimeout},
		"at the max timeout is ok": {"tx", 900000, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := tc.InitProducerID(ctx, c.id, c.timeout, nil)
			wantErr(t, err, c.want)
		})
	}
}

// A second InitProducerId bumps the epoch, which fences the first producer: its requests get PRODUCER_FENCED.
func TestInitProducerIDBumpsEpochAndFencesOldProducer(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, e0 := tc.initPID("tx", 60000)
	pid2, e1 := tc.initPID("tx", 60000)
	if pid2 != pid || e1 != e0+1 {
		t.Fatalf("second init: pid %d epoch %d", pid2, e1)
	}
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, e0, []TopicPartition{tpA0}), kerr.ProducerFenced)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, e0, true), kerr.ProducerFenced)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid+1, e1, []TopicPartition{tpA0}), kerr.InvalidProducerIDMapping)
	wantErr(t, tc.AddPartitions(ctx, "unknown", pid, e1, []TopicPartition{tpA0}), kerr.InvalidProducerIDMapping)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, e1, []TopicPartition{tpA0}), nil)
}

// AddPartitions moves Empty to Ongoing (start = now); adding partitions already in the transaction is
// answered without a write.
func TestAddPartitionsStartsTransactionAndSkipsKnownPartitions(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 60000)
	start := tc.clock.Now().UnixMilli()
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0, tpB0}), nil)
	s := tc.describe("tx")
	if s.State != Ongoing || s.StartMs != start || !slices.Equal(s.Partitions, []TopicPartition{tpA0, tpB0}) {
		t.Fatalf("%+v", s)
	}
	n := tc.parts.appendCount()
	tc.clock.advance(time.Second)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpB0}), nil)
	if tc.parts.appendCount() != n {
		t.Fatal("adding known partitions wrote a record")
	}
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA1}), nil)
	if s := tc.describe("tx"); s.StartMs != start || len(s.Partitions) != 3 {
		t.Fatalf("after adding more: %+v", s)
	}
}

// EndTxn(commit): NONE once PrepareCommit is durable; COMMIT markers go to each partition's leader
// (grouped per broker, with the coordinator epoch); then CompleteCommit with no partitions.
func TestEndTxnCommitWritesMarkersThenCompletes(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 60000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0, tpA1, tpB0}), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
	tc.waitState("tx", CompleteCommit)
	got := map[int32][]TopicPartition{}
	for _, m := range tc.transport.markers() {
		if !m.commit || m.producerID != pid || m.epoch != epoch || m.coordEpoch != 5 {
			t.Fatalf("marker %+v", m)
		}
		got[m.broker] = append(got[m.broker], m.partitions...)
	}
	if !slices.Equal(got[1], []TopicPartition{tpA0, tpB0}) || !slices.Equal(got[2], []TopicPartition{tpA1}) {
		t.Fatalf("markers by broker %v", got)
	}
	var states []State
	for _, r := range tc.parts.records(t, 0) {
		states = append(states, r.value.State)
	}
	if want := []State{Empty, Ongoing, PrepareCommit, CompleteCommit}; !slices.Equal(states, want) {
		t.Fatalf("log states %v, want %v", states, want)
	}
	if s := tc.describe("tx"); len(s.Partitions) != 0 {
		t.Fatalf("partitions left: %+v", s)
	}
	// A retried commit is NONE; an abort now, or an EndTxn from Empty, is INVALID_TXN_STATE.
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, false), kerr.InvalidTxnState)
	pid2, e2 := tc.initPID("tx2", 60000)
	wantErr(t, tc.EndTxn(ctx, "tx2", pid2, e2, true), kerr.InvalidTxnState)
}

// While markers are being written the transaction is PrepareCommit with CompleteCommit pending: requests
// get CONCURRENT_TRANSACTIONS (the client retries) or INVALID_TXN_STATE for the other outcome.
func TestRequestsWhileCompletingGetConcurrentTransactions(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	hold := make(chan struct{})
	tc.transport.hold = hold
	pid, epoch := tc.initPID("tx", 60000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), kerr.ConcurrentTransactions)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA1}), kerr.ConcurrentTransactions)
	_, _, err := tc.InitProducerID(ctx, "tx", 60000, nil)
	wantErr(t, err, kerr.ConcurrentTransactions)
	close(hold)
	tc.waitState("tx", CompleteCommit)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA1}), nil)
}

// InitProducerId while a transaction is open fences it: the epoch is bumped, the transaction aborted with
// markers carrying the bumped epoch, and the caller told CONCURRENT_TRANSACTIONS; its retry gets the epoch
// bumped once more.
func TestInitProducerIDAbortsOngoingTransactionWithBumpedEpoch(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 60000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
	_, _, err := tc.InitProducerID(ctx, "tx", 60000, nil)
	wantErr(t, err, kerr.ConcurrentTransactions)
	tc.waitState("tx", CompleteAbort)
	ms := tc.transport.markers()
	if len(ms) != 1 || ms[0].commit || ms[0].epoch != epoch+1 {
		t.Fatalf("markers %+v", ms)
	}
	pid2, e2 := tc.initPID("tx", 60000)
	if pid2 != pid || e2 != epoch+2 {
		t.Fatalf("after fencing: pid %d epoch %d", pid2, e2)
	}
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, false), kerr.ProducerFenced)
}

// Transactions Ongoing past transaction.timeout.ms are fenced (epoch + 1) and aborted by the periodic task;
// the old producer is then fenced (reference 06 §4.8).
func TestTimedOutTransactionIsFencedAndAborted(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 1000)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0, tpA1}), nil)
	tc.clock.advance(1000 * time.Millisecond)
	if n := tc.AbortTimedOutTransactions(); n != 0 {
		t.Fatalf("aborted %d at exactly the timeout", n)
	}
	tc.clock.advance(time.Millisecond)
	if n := tc.AbortTimedOutTransactions(); n != 1 {
		t.Fatalf("aborted %d after the timeout", n)
	}
	tc.waitState("tx", CompleteAbort)
	for _, m := range tc.transport.markers() {
		if m.commit || m.epoch != epoch+1 {
			t.Fatalf("marker %+v", m)
		}
	}
	if s := tc.describe("tx"); s.ProducerEpoch != epoch+1 {
		t.Fatalf("epoch %d", s.ProducerEpoch)
	}
	wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), kerr.ProducerFenced)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), kerr.ProducerFenced)
	if n := tc.AbortTimedOutTransactions(); n != 0 {
		t.Fatalf("aborted %d again", n)
	}
}

// transactional.id.expiration.ms: ids at rest and idle that long get a tombstone and are forgotten; an
// open transaction is never expired.
func TestTransactionalIDExpiry(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	tc.initPID("idle", 60000)
	pid, epoch := tc.initPID("busy", 900000)
	wantErr(t, tc.AddPartitions(ctx, "busy", pid, epoch, []TopicPartition{tpA0}), nil)
	tc.clock.advance(7*24*time.Hour - time.Millisecond)
	if got := tc.RemoveExpiredTransactionalIDs(); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	tc.clock.advance(time.Millisecond)
	if got := tc.RemoveExpiredTransactionalIDs(); !slices.Equal(got, []string{"idle"}) {
		t.Fatalf("expired %v", got)
	}
	if _, err := tc.Describe("idle"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("idle still known: %v", err)
	}
	recs := tc.parts.records(t, 0)
	if last := recs[len(recs)-1]; last.id != "idle" || last.value != nil {
		t.Fatalf("last record %+v, want a tombstone for idle", last)
	}
	// A new InitProducerId starts over with a new producer id.
	pid2, e2 := tc.initPID("idle", 60000)
	if pid2 == 1000 || e2 != 0 {
		t.Fatalf("re-created: pid %d epoch %d", pid2, e2)
	}
}

// A failed state write maps to a coordinator error (reference 06 §4.3) and leaves nothing pending.
func TestAppendErrorsMapToCoordinatorErrors(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, epoch := tc.initPID("tx", 60000)
	for _, c := range []struct {
		appendErr error
		want      error
	}{
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{kerr.NotEnoughReplicasAfterAppend, kerr.CoordinatorNotAvailable},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator},
		{kerr.KafkaStorageError, kerr.NotCoordinator},
		{kerr.MessageTooLarge, kerr.UnknownServerError},
	} {
		tc.parts.setFail(c.appendErr)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), c.want)
		if s := tc.describe("tx"); s.Pending || s.State != Empty {
			t.Fatalf("after %v: %+v", c.appendErr, s)
		}
	}
	tc.parts.setFail(nil)
	wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
}

// Marker answers (TransactionMarkerRequestCompletionHandler): retriable errors resend to the current
// leader, UNKNOWN partitions (deleted topics) leave the transaction, fencing errors stop the sending.
func TestMarkerErrorsRetryOrStop(t *testing.T) {
	t.Run("not leader then moved", func(t *testing.T) {
		tc := coordinatorWithLeaders(t)
		tc.transport.setAnswer(func(broker int32, tp TopicPartition) (int16, error) {
			if broker == 1 {
				tc.transport.setLeader(tpA0, 3) // the leader moved meanwhile
				return kerr.NotLeaderForPartition.Code, nil
			}
			return 0, nil
		})
		pid, epoch := tc.initPID("tx", 60000)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
		wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, false), nil)
		tc.waitState("tx", CompleteAbort)
		ms := tc.transport.markers()
		if last := ms[len(ms)-1]; last.broker != 3 || !slices.Equal(last.partitions, []TopicPartition{tpA0}) {
			t.Fatalf("markers %+v", ms)
		}
	})
	t.Run("connection errors resend", func(t *testing.T) {
		tc := coordinatorWithLeaders(t)
		failures := 2
		tc.transport.setAnswer(func(int32, TopicPartition) (int16, error) {
			if failures > 0 {
				failures--
				return 0, errors.New("connection reset")
			}
			return 0, nil
		})
		pid, epoch := tc.initPID("tx", 60000)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
		wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
		tc.waitState("tx", CompleteCommit)
	})
	t.Run("deleted partition is dropped", func(t *testing.T) {
		tc := coordinatorWithLeaders(t)
		gone := TopicPartition{Topic: "deleted", Partition: 0}
		pid, epoch := tc.initPID("tx", 60000)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0, gone}), nil)
		wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
		tc.waitState("tx", CompleteCommit)
	})
	t.Run("leader unknown for a while", func(t *testing.T) {
		tc := coordinatorWithLeaders(t)
		tc.transport.setLeader(tpA0, -1)
		pid, epoch := tc.initPID("tx", 60000)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
		wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
		calls := tc.transport.leaderCalls()
		eventually(t, 5*time.Second, "several leader lookups", func() bool { return tc.transport.leaderCalls() >= calls+3 })
		if s := tc.describe("tx"); s.State != PrepareCommit {
			t.Fatalf("completed without a leader: %+v", s)
		}
		tc.transport.setLeader(tpA0, 2)
		tc.waitState("tx", CompleteCommit)
	})
	t.Run("fenced marker stops sending", func(t *testing.T) {
		tc := coordinatorWithLeaders(t)
		tc.transport.setAnswer(func(int32, TopicPartition) (int16, error) { return kerr.InvalidProducerEpoch.Code, nil })
		pid, epoch := tc.initPID("tx", 60000)
		wantErr(t, tc.AddPartitions(ctx, "tx", pid, epoch, []TopicPartition{tpA0}), nil)
		wantErr(t, tc.EndTxn(ctx, "tx", pid, epoch, true), nil)
		eventually(t, 5*time.Second, "the completion dropped", func() bool {
			tc.markers.mu.Lock()
			defer tc.markers.mu.Unlock()
			_, pending := tc.markers.pending["tx"]
			queued := 0
			for _, q := range tc.markers.queues {
				queued += len(q)
			}
			return !pending && queued == 0 && len(tc.markers.inflight) == 0
		})
		if n := len(tc.transport.markers()); n != 1 {
			t.Fatalf("%d markers after a fencing answer", n)
		}
		if s := tc.describe("tx"); s.State != PrepareCommit {
			t.Fatalf("%+v", s)
		}
	})
}

// Producer epochs running out (KIP-360): InitProducerId hands out a new producer id at epoch 0; a retry
// naming the old id and its exhausted epoch gets the same answer again.
func TestExhaustedEpochRotatesProducerID(t *testing.T) {
	tc := coordinatorWithLeaders(t)
	pid, _ := tc.initPID("tx", 60000)
	_, md, _ := tc.state.lookup("tx", nil)
	md.mu.Lock()
	md.producerEpoch = 32766
	md.mu.Unlock()
	old := &ProducerIDAndEpoch{ProducerID: pid, Epoch: 32766}
	pid2, e2, err := tc.InitProducerID(ctx, "tx", 60000, old)
	if err != nil || pid2 == pid || e2 != 0 {
		t.Fatalf("pid %d epoch %d %v, want a new pid at epoch 0", pid2, e2, err)
	}
	pid3, e3, err := tc.InitProducerID(ctx, "tx", 60000, old)
	if err != nil || pid3 != pid2 || e3 != 0 {
		t.Fatalf("retry: pid %d epoch %d %v", pid3, e3, err)
	}
	_, _, err = tc.InitProducerID(ctx, "tx", 60000, &ProducerIDAndEpoch{ProducerID: pid, Epoch: 3})
	wantErr(t, err, kerr.ProducerFenced)
}
