package replica

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// ISR shrink and expand on the leader (reference 03 §5), with the manager's clock under test control and
// the fake controller answering AlterIsr. Followers are driven by hand with follower fetches (no fetcher
// runs: the followers are not started), so every decision happens at a known time.

// followerFetch makes broker id's leader record a fetch by follower at offset, at the leader's clock.
func (c *testCluster) followerFetch(leader, follower int32, x storage.TopicPartition, offset int64) FetchResult {
	c.t.Helper()
	res := c.brokers[leader].m.FetchMessages(c.ctx, FetchParams{ReplicaID: follower, MaxBytes: 1 << 20, Isolation: IsolationLogEnd,
		FetchOnlyFromLeader: true, Partitions: []FetchPartition{{TopicPartition: x, FetchOffset: offset, LogStartOffset: 0,
			MaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}}})
	res[0].Release()
	return res[0]
}

func (c *testCluster) partitionState(id int32, x storage.TopicPartition) State {
	p, ok := c.brokers[id].m.Partition(x)
	if !ok {
		c.t.Fatalf("broker %d does not host %s", id, x)
	}
	return p.State()
}

// leaderOnly starts broker 1 leading x with replicas 1,2,3 and the given ISR; brokers 2 and 3 are never
// started.
func leaderOnly(t *testing.T, isr ...int32) (*testCluster, storage.TopicPartition) {
	c := newTestCluster(t, Config{ReplicaLagTimeMaxMs: 10_000}, 1)
	x := tp("orders", 0)
	c.lair(x, 1, 5, isr, []int32{1, 2, 3}, 1)
	return c, x
}

func TestISR_ShrinkRemovesFollowerNotCaughtUpForLagTime(t *testing.T) {
	c, x := leaderOnly(t, 1, 2, 3)
	leader := c.brokers[1]
	c.produce(1, x, 2, 1, time.Second)
	c.followerFetch(1, 2, x, 2) // broker 2 caught up; broker 3 never fetched
	leader.now.Add(10_000)
	leader.m.maybeShrinkISRs()
	if c.ctrl.numRequests() != 0 {
		t.Fatal("shrank at exactly replica.lag.time.max.ms: the rule is strictly more")
	}
	leader.now.Add(1)
	c.produce(1, x, 1, 1, time.Second)
	c.followerFetch(1, 2, x, 3) // broker 2 keeps up
	leader.m.maybeShrinkISRs()
	waitFor(t, "ISR shrink committed", func() bool { return slices.Equal(c.partitionState(1, x).ISR, []int32{1, 2}) })
	if got := c.ctrl.isr(x); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("controller ISR %v", got)
	}
	st := c.partitionState(1, x)
	if st.ZKVersion != 2 || st.LeaderEpoch != 5 {
		t.Fatalf("after AlterIsr: zkVersion %d (want the controller's 2), leader epoch %d (unchanged)", st.ZKVersion, st.LeaderEpoch)
	}
	req := c.ctrl.requests[0]
	if req.Version != 0 || req.BrokerID != 1 || req.BrokerEpoch != 100 || req.Topics[0].Partitions[0].LeaderEpoch != 5 ||
		req.Topics[0].Partitions[0].PartitionEpoch != 1 {
		t.Fatalf("AlterIsr request %+v", req)
	}
}

func TestISR_FollowerAtLeaderLogEndIsNeverRemoved(t *testing.T) {
	c, x := leaderOnly(t, 1, 2)
	c.produce(1, x, 2, 1, time.Second)
	c.followerFetch(1, 2, x, 2)
	c.brokers[1].now.Add(60_000) // idle partition: nothing new to fetch
	c.brokers[1].m.maybeShrinkISRs()
	if c.ctrl.numRequests() != 0 || !slices.Equal(c.partitionState(1, x).ISR, []int32{1, 2}) {
		t.Fatalf("a follower at the LEO left the ISR: %v", c.partitionState(1, x).ISR)
	}
}

func TestISR_ExpandWhenFollowerReachesHighWatermark(t *testing.T) {
	c, x := leaderOnly(t, 1, 2)
	c.produce(1, x, 3, 1, time.Second)
	c.followerFetch(1, 2, x, 3) // HW 3
	c.followerFetch(1, 3, x, 2) // broker 3 below the HW: not yet
	if c.ctrl.numRequests() != 0 {
		t.Fatal("expanded with a follower below the HW")
	}
	c.followerFetch(1, 3, x, 3)
	waitFor(t, "ISR expansion committed", func() bool { return slices.Equal(c.partitionState(1, x).ISR, []int32{1, 2, 3}) })
	if got := c.ctrl.isr(x); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("controller ISR %v", got)
	}
}

func TestISR_ExpandNeedsTheStartOfTheLeaderEpoch(t *testing.T) {
	c := newTestCluster(t, Config{}, 1)
	x := tp("orders", 0)
	c.host(x, 1)
	c.appendEpochs(1, x, [3]int64{0, 4, 0}) // LEO 4 when broker 1 becomes leader: its epoch starts at 4
	c.lair(x, 1, 1, []int32{1}, []int32{1, 2}, 1)
	c.followerFetch(1, 2, x, 2) // at the HW (0 -> 2) but below the epoch start
	if c.ctrl.numRequests() != 0 {
		t.Fatal("expanded with a follower below the leader epoch's start offset")
	}
	c.followerFetch(1, 2, x, 4)
	waitFor(t, "ISR expansion", func() bool { return slices.Equal(c.partitionState(1, x).ISR, []int32{1, 2}) })
}

func TestISR_PendingExpandCountsForHighWatermarkAndBlocksOtherChanges(t *testing.T) {
	c, x := leaderOnly(t, 1)
	hold := make(chan struct{})
	c.ctrl.mu.Lock()
	c.ctrl.hold = hold
	c.ctrl.mu.Unlock()
	defer close(hold)
	c.produce(1, x, 2, 1, time.Second) // HW 2 (ISR is the leader)
	c.followerFetch(1, 2, x, 2)
	p, _ := c.brokers[1].m.Partition(x)
	p.mu.RLock()
	pending, maximal := p.isr.pending, slices.Clone(p.isr.maximal)
	p.mu.RUnlock()
	if pending == nil || !pending.expand || !slices.Equal(maximal, []int32{1, 2}) || !slices.Equal(p.State().ISR, []int32{1}) {
		t.Fatalf("pending %+v maximal %v committed %v", pending, maximal, p.State().ISR)
	}
	// The maximal ISR holds the HW: a new record waits for broker 2 even though the committed ISR is {1}.
	c.produce(1, x, 1, 1, time.Second)
	if hw := c.log(1, x).HighWatermark(); hw != 2 {
		t.Fatalf("HW %d moved past the pending ISR member", hw)
	}
	c.followerFetch(1, 3, x, 3) // broker 3 at the HW: no second proposal while one is pending
	p.mu.RLock()
	same := p.isr.pending == pending
	p.mu.RUnlock()
	if !same {
		t.Fatal("a second ISR change was proposed while one was pending")
	}
}

func TestISR_PendingShrinkKeepsTheOldISRForHighWatermark(t *testing.T) {
	c, x := leaderOnly(t, 1, 2)
	hold := make(chan struct{})
	c.ctrl.mu.Lock()
	c.ctrl.hold = hold
	c.ctrl.mu.Unlock()
	c.produce(1, x, 2, 1, time.Second)
	c.brokers[1].now.Add(20_000)
	c.brokers[1].m.maybeShrinkISRs()
	if hw := c.log(1, x).HighWatermark(); hw != 0 {
		t.Fatalf("HW %d moved before the shrink was committed", hw)
	}
	close(hold)
	// Committing the shrink moves the HW at once, so a waiting acks=all produce completes.
	waitFor(t, "HW after the committed shrink", func() bool { return c.log(1, x).HighWatermark() == 2 })
}

func TestISR_RefusedUpdateStaysPendingUntilLeaderAndIsr(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(c *testCluster, x storage.TopicPartition)
	}{
		{"INVALID_UPDATE_VERSION", func(c *testCluster, x storage.TopicPartition) {
			c.ctrl.mu.Lock()
			c.ctrl.state[x].zkVersion = 42 // someone else wrote the partition state
			c.ctrl.mu.Unlock()
		}},
		{"FENCED_LEADER_EPOCH", func(c *testCluster, x storage.TopicPartition) {
			c.ctrl.mu.Lock()
			c.ctrl.state[x].epoch = 6 // a newer leader epoch is on its way
			c.ctrl.mu.Unlock()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, x := leaderOnly(t, 1, 2)
			tc.setup(c, x)
			c.produce(1, x, 2, 1, time.Second)
			c.brokers[1].now.Add(20_000)
			c.brokers[1].m.maybeShrinkISRs()
			waitFor(t, "the refusal", func() bool { return c.ctrl.numRequests() == 1 })
			p, _ := c.brokers[1].m.Partition(x)
			waitFor(t, "the answer to be applied", func() bool {
				c.brokers[1].m.alterISR.mu.Lock()
				defer c.brokers[1].m.alterISR.mu.Unlock()
				return len(c.brokers[1].m.alterISR.queued) == 0
			})
			p.mu.RLock()
			refused := p.isr.pending
			p.mu.RUnlock()
			c.brokers[1].m.maybeShrinkISRs() // proposes nothing: the refused change is still pending
			p.mu.RLock()
			same := p.isr.pending == refused
			p.mu.RUnlock()
			if refused == nil || !same || !slices.Equal(p.State().ISR, []int32{1, 2}) {
				t.Fatalf("pending %v (unchanged %v), ISR %v", refused, same, p.State().ISR)
			}
			c.lair(x, 1, 7, []int32{1, 2}, []int32{1, 2, 3}, 1) // the controller's LeaderAndIsr resets the state
			c.brokers[1].now.Add(20_000)
			c.brokers[1].m.maybeShrinkISRs()
			waitFor(t, "the shrink to be proposed again and committed", func() bool {
				return slices.Equal(p.State().ISR, []int32{1})
			})
		})
	}
}

func TestISR_AnswerForReplacedStateIsIgnored(t *testing.T) {
	c, x := leaderOnly(t, 1, 2)
	hold := make(chan struct{})
	c.ctrl.mu.Lock()
	c.ctrl.hold = hold
	c.ctrl.mu.Unlock()
	c.produce(1, x, 2, 1, time.Second)
	c.brokers[1].now.Add(20_000)
	c.brokers[1].m.maybeShrinkISRs()
	waitFor(t, "the AlterIsr to be in flight", func() bool { return c.ctrl.held.Load() == 1 })
	c.lair(x, 1, 6, []int32{1, 2, 3}, []int32{1, 2, 3}, 1) // a LeaderAndIsr while the AlterIsr is in flight
	close(hold)
	waitFor(t, "the AlterIsr answer", func() bool { return c.ctrl.numRequests() >= 1 })
	p, _ := c.brokers[1].m.Partition(x)
	waitFor(t, "the manager to drain", func() bool {
		c.brokers[1].m.alterISR.mu.Lock()
		defer c.brokers[1].m.alterISR.mu.Unlock()
		return len(c.brokers[1].m.alterISR.queued) == 0
	})
	if st := p.State(); !slices.Equal(st.ISR, []int32{1, 2, 3}) || st.LeaderEpoch != 6 {
		t.Fatalf("a stale AlterIsr answer overwrote the LeaderAndIsr state: %+v", st)
	}
}

func TestAlterISR_TransportAndTopLevelErrorsAreRetried(t *testing.T) {
	c, x := leaderOnly(t, 1, 2)
	c.ctrl.mu.Lock()
	c.ctrl.failNext = []error{errors.New("connection refused"), errors.New("connection reset")}
	c.ctrl.topErr = []int16{kerr.NotController.Code, kerr.StaleBrokerEpoch.Code}
	c.ctrl.mu.Unlock()
	c.produce(1, x, 2, 1, time.Second)
	c.brokers[1].now.Add(20_000)
	c.brokers[1].m.maybeShrinkISRs()
	waitFor(t, "the shrink to get through", func() bool { return slices.Equal(c.partitionState(1, x).ISR, []int32{1}) })
	if n := c.ctrl.numRequests(); n != 5 {
		t.Fatalf("%d AlterIsr requests, want 2 transport failures + 2 top-level errors + 1 success", n)
	}
}

func TestAlterISR_OneRequestCarriesEveryQueuedPartition(t *testing.T) {
	var requests, sent atomic.Int32
	done := make(chan alterISRResult, 3)
	send := func(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
		requests.Add(1)
		if req.BrokerID != 1 || req.BrokerEpoch != 7 || req.Version != 0 {
			return nil, errors.New("bad request header")
		}
		resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAlterPartitionResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				sent.Add(1)
				rp := kmsg.NewAlterPartitionResponseTopicPartition()
				rp.Partition, rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = p.Partition, 1, p.LeaderEpoch, p.NewISR, p.PartitionEpoch+1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	a := newAlterISRManager(1, func() int64 { return 7 }, send, quietLog())
	for i := int32(0); i < 3; i++ {
		ok := a.submit(&alterISRItem{tp: tp("t", i), leaderEpoch: 1, isr: []int32{1, i + 2}, zkVersion: 3, done: func(r alterISRResult) { done <- r }})
		if !ok {
			t.Fatal("submit refused")
		}
	}
	if a.submit(&alterISRItem{tp: tp("t", 0), done: func(alterISRResult) {}}) {
		t.Fatal("a second item for a queued partition was accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	go func() { a.run(ctx); close(finished) }()
	defer func() { cancel(); <-finished }()
	for i := 0; i < 3; i++ {
		select {
		case r := <-done:
			if r.err != nil || r.zkVersion != 4 {
				t.Fatalf("result %+v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("callbacks not run")
		}
	}
	if requests.Load() != 1 || sent.Load() != 3 {
		t.Fatalf("%d requests carried %d partitions, want 1 carrying 3", requests.Load(), sent.Load())
	}
}

func TestLastOffsetForLeaderEpoch_Answers(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1)
	c.appendEpochs(1, x, [3]int64{0, 3, 0}, [3]int64{3, 4, 2})
	c.lair(x, 1, 4, []int32{1}, []int32{1}, 1) // epoch 4 starts at 7
	m := c.brokers[1].m
	for _, tc := range []struct {
		name           string
		current, epoch int32
		want           EpochEndOffset
		err            *kerr.Error
	}{
		{"known epoch ends where the next starts", -1, 0, EpochEndOffset{0, 3}, nil},
		{"unknown epoch answers the largest below it (KIP-279)", -1, 1, EpochEndOffset{0, 3}, nil},
		{"epoch 3 is unknown too", 4, 3, EpochEndOffset{2, 7}, nil},
		{"current epoch ends at the LEO", 4, 4, EpochEndOffset{4, 7}, nil},
		{"an epoch above the latest is undefined", -1, 9, EpochEndOffset{-1, -1}, nil},
		{"undefined epoch", -1, -1, EpochEndOffset{-1, -1}, nil},
		{"stale current epoch", 3, 0, EpochEndOffset{-1, -1}, kerr.FencedLeaderEpoch},
		{"future current epoch", 5, 0, EpochEndOffset{-1, -1}, kerr.UnknownLeaderEpoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.LastOffsetForLeaderEpoch(x, tc.current, tc.epoch)
			if got != tc.want || (tc.err == nil) != (err == nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := m.LastOffsetForLeaderEpoch(tp("nope", 0), -1, 0); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
	c.lair(x, 2, 5, []int32{2}, []int32{1, 2}, 1) // a follower does not answer
	if _, err := m.LastOffsetForLeaderEpoch(x, -1, 0); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("follower: %v", err)
	}
}

func TestFetch_DivergingEpochForLastFetchedEpoch(t *testing.T) {
	c := newTestCluster(t, Config{}, 1)
	x := tp("orders", 0)
	c.host(x, 1)
	c.appendEpochs(1, x, [3]int64{0, 3, 0}, [3]int64{3, 4, 2})
	c.lair(x, 1, 4, []int32{1}, []int32{1, 2}, 1)
	fetch := func(offset int64, lastEpoch int32) FetchResult {
		res := c.brokers[1].m.FetchMessages(c.ctx, FetchParams{ReplicaID: 2, MaxBytes: 1 << 20, Isolation: IsolationLogEnd,
			FetchOnlyFromLeader: true, Partitions: []FetchPartition{{TopicPartition: x, FetchOffset: offset, LogStartOffset: 0,
				MaxBytes: 1 << 20, CurrentLeaderEpoch: 4, LastFetchedEpoch: lastEpoch}}})
		res[0].Release()
		return res[0]
	}
	for _, tc := range []struct {
		name      string
		offset    int64
		lastEpoch int32
		want      *EpochEndOffset
		err       *kerr.Error
	}{
		{"consistent: epoch 0 ended at 3", 3, 0, nil, nil},
		{"fetch offset past the end of its epoch", 5, 0, &EpochEndOffset{0, 3}, nil},
		{"epoch unknown to the leader", 3, 1, &EpochEndOffset{0, 3}, nil},
		{"current epoch", 7, 4, nil, nil},
		{"epoch the leader cannot place", 7, 9, nil, kerr.OffsetOutOfRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := fetch(tc.offset, tc.lastEpoch)
			if (tc.err == nil) != (res.Err == nil) || (tc.err != nil && !errors.Is(res.Err, tc.err)) {
				t.Fatalf("error %v, want %v", res.Err, tc.err)
			}
			switch {
			case tc.want == nil && res.DivergingEpoch != nil:
				t.Fatalf("unexpected diverging epoch %+v", *res.DivergingEpoch)
			case tc.want != nil && (res.DivergingEpoch == nil || *res.DivergingEpoch != *tc.want):
				t.Fatalf("diverging epoch %v, want %+v", res.DivergingEpoch, *tc.want)
			case tc.want != nil && (res.Size() != 0 || res.HighWatermark < 0):
				t.Fatalf("a diverging answer carries no records and the partition offsets: %+v", res)
			}
		})
	}
}

func TestTruncationOffset_KIP279Rules(t *testing.T) {
	c := newTestCluster(t, Config{}, 1)
	x := tp("orders", 0)
	c.host(x, 1)
	// Follower: e0 [0,2), e2 [2,4); LEO 4, initial (HW) offset 1.
	c.appendEpochs(1, x, [3]int64{0, 1, 0}, [3]int64{1, 1, 0}, [3]int64{2, 2, 2})
	l := c.log(1, x)
	for _, tc := range []struct {
		name         string
		leaderEpoch  int32
		leaderEnd    int64
		want         int64
		wantComplete bool
	}{
		{"undefined offset: fall back to the HW", -1, -1, 1, true},
		{"v0 answer without an epoch: the leader's offset", -1, 3, 3, true},
		{"same epoch: the smaller end", 2, 3, 3, true},
		{"same epoch ending after our LEO", 2, 9, 4, true},
		{"leader epoch unknown to us: our end of the epoch below, then ask again", 1, 6, 2, false},
		{"epoch 0 ends earlier on the leader", 0, 1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, complete := truncationOffset(l, 1, tc.leaderEpoch, tc.leaderEnd)
			if got != tc.want || complete != tc.wantComplete {
				t.Fatalf("(%d, %v), want (%d, %v)", got, complete, tc.want, tc.wantComplete)
			}
		})
	}
}
