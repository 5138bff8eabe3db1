package replica

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
)

// Tests of DeleteRecords as Kafka 2.8 answers it (Partition.deleteRecordsOnLeader, lowWatermarkIfLeader,
// DelayedDeleteRecords; reference 03 §10).

func (f *fixture) deleteRecords(timeout time.Duration, offsets map[storage.TopicPartition]int64) map[storage.TopicPartition]DeleteRecordsResult {
	return f.m.DeleteRecords(context.Background(), timeout, offsets)
}

// followerFetchWithLogStart is broker 2's fetch at offset reporting its log start offset.
func followerFetchWithLogStart(x storage.TopicPartition, offset, logStart int64) FetchParams {
	p := followerFetch(x, offset)
	p.Partitions[0].LogStartOffset = logStart
	return p
}

func (f *fixture) followerFetches(x storage.TopicPartition, offset, logStart int64) {
	f.t.Helper()
	res := f.m.FetchMessages(context.Background(), followerFetchWithLogStart(x, offset, logStart))
	if res[0].Err != nil {
		f.t.Fatalf("follower fetch: %v", res[0].Err)
	}
	res[0].Release()
}

func TestDeleteRecords_SoleReplicaMovesLogStartAndAnswersLowWatermark(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 10, 5)
	res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 5})[x]
	if res.Err != nil || res.LowWatermark != 5 {
		t.Fatalf("result %+v", res)
	}
	p, _ := f.m.Partition(x)
	if ls := p.Log().LogStartOffset(); ls != 5 {
		t.Fatalf("log start %d, want 5", ls)
	}
	got, err := f.m.FetchOffsetForTimestamp(x, EarliestTimestamp, IsolationHighWatermark, -1, true)
	if err != nil || got.Offset != 5 {
		t.Fatalf("earliest offset %+v, %v", got, err)
	}
	// A consumer below the new log start is out of range.
	fr := f.m.FetchMessages(context.Background(), consumerFetch(x, 2, 1<<20))
	if code(fr[0].Err) != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch below the log start: %v", fr[0].Err)
	}
}

func TestDeleteRecords_HighWatermarkSentinelDeletesUpToHighWatermark(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 10, 5)
	f.followerFetches(x, 7, 0) // HW 7, LEO 10
	done := make(chan DeleteRecordsResult, 1)
	go func() { done <- f.deleteRecords(time.Minute, map[storage.TopicPartition]int64{x: -1})[x] }()
	eventually(t, 5*time.Second, "DeleteRecords waiting", func() bool { return f.m.DelayedDeleteRecords() == 1 })
	p, _ := f.m.Partition(x)
	if ls := p.Log().LogStartOffset(); ls != 7 {
		t.Fatalf("log start %d, want the HW 7", ls)
	}
	f.followerFetches(x, 10, 7)
	if r := <-done; r.Err != nil || r.LowWatermark != 7 {
		t.Fatalf("result %+v", r)
	}
}

func TestDeleteRecords_OffsetAboveHighWatermarkIsOffsetOutOfRange(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 10, 5)
	for _, off := range []int64{11, -2} {
		res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: off})[x]
		if code(res.Err) != kerr.OffsetOutOfRange.Code || res.LowWatermark != -1 {
			t.Fatalf("offset %d: %+v", off, res)
		}
	}
	p, _ := f.m.Partition(x)
	if ls := p.Log().LogStartOffset(); ls != 0 {
		t.Fatalf("log start moved to %d", ls)
	}
}

func TestDeleteRecords_LogStartNeverMovesBack(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 10, 5)
	f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 6})
	res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 3})[x]
	if res.Err != nil || res.LowWatermark != 6 {
		t.Fatalf("result %+v", res)
	}
}

func TestDeleteRecords_CleanupPolicyWithoutDeleteIsPolicyViolation(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("compacted", 0)
	f.lead(x)
	f.mustProduce(x, 10, 5)
	p, _ := f.m.Partition(x)
	cfg := testLogConfig()
	cfg.CleanupPolicy = "compact"
	p.Log().SetConfig(cfg)
	res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 5})[x]
	if code(res.Err) != kerr.PolicyViolation.Code || res.LowWatermark != -1 {
		t.Fatalf("result %+v", res)
	}
	cfg.CleanupPolicy = "compact,delete"
	p.Log().SetConfig(cfg)
	if res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 5})[x]; res.Err != nil {
		t.Fatalf("compact,delete: %+v", res)
	}
}

func TestDeleteRecords_InternalTopicIsInvalidTopic(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("__consumer_offsets", 0)
	f.lead(x)
	res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 0})[x]
	if code(res.Err) != kerr.InvalidTopicException.Code || res.LowWatermark != -1 {
		t.Fatalf("result %+v", res)
	}
}

func TestDeleteRecords_OnlyTheLeaderDeletes(t *testing.T) {
	known := tp("known", 0)
	f := newFixture(t, Config{MetadataContains: func(x storage.TopicPartition) bool { return x == known }})
	x := tp("a", 0)
	f.apply(lair(1, 2, 0, []int32{1, 2}, []int32{1, 2}, x)) // broker 2 leads, we follow
	res := f.deleteRecords(time.Second, map[storage.TopicPartition]int64{x: 0, known: 0, tp("nope", 0): 0})
	if code(res[x].Err) != kerr.NotLeaderForPartition.Code || res[x].LowWatermark != -1 {
		t.Fatalf("follower: %+v", res[x])
	}
	if code(res[known].Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("known elsewhere: %+v", res[known])
	}
	if c := code(res[tp("nope", 0)].Err); c != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown: %d", c)
	}
	if n := f.m.DelayedDeleteRecords(); n != 0 {
		t.Fatalf("%d operations delayed without a success", n)
	}
}

func TestDeleteRecords_WaitsUntilLowWatermarkReachesOffset(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 10, 5)
	f.followerFetches(x, 10, 0)
	done := make(chan DeleteRecordsResult, 1)
	go func() { done <- f.deleteRecords(time.Minute, map[storage.TopicPartition]int64{x: 5})[x] }()
	eventually(t, 5*time.Second, "DeleteRecords waiting", func() bool { return f.m.DelayedDeleteRecords() == 1 })
	p, _ := f.m.Partition(x)
	if lw, err := p.LowWatermark(); err != nil || lw != 0 {
		t.Fatalf("low watermark %d, %v; want the follower's 0", lw, err)
	}
	// The follower raised its log start partway: not yet (the purgatory check runs within the fetch).
	f.followerFetches(x, 10, 3)
	if n := f.m.DelayedDeleteRecords(); n != 1 {
		t.Fatalf("DeleteRecords completed at low watermark 3 (%d delayed)", n)
	}
	f.followerFetches(x, 10, 5)
	if r := <-done; r.Err != nil || r.LowWatermark != 5 {
		t.Fatalf("result %+v", r)
	}
}

func TestDeleteRecords_FollowerThatHasNotFetchedHoldsLowWatermark(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1}, []int32{1, 2}, x))
	f.mustProduce(x, 10, 5)
	// Kafka's Replica starts with log start UnknownOffset (-1): the low watermark is -1 until it fetches.
	res := f.deleteRecords(30*time.Millisecond, map[storage.TopicPartition]int64{x: 5})[x]
	if code(res.Err) != kerr.RequestTimedOut.Code || res.LowWatermark != -1 {
		t.Fatalf("result %+v", res)
	}
}

func TestDeleteRecords_DeadFollowerDoesNotHoldLowWatermark(t *testing.T) {
	f := newFixture(t, Config{LeaderAlive: func(id int32) bool { return id != 3 }})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2, 3}, x))
	f.mustProduce(x, 10, 5)
	f.followerFetches(x, 10, 5) // broker 2 already at 5 (as if it followed an earlier deletion)
	res := f.deleteRecords(time.Minute, map[storage.TopicPartition]int64{x: 5})[x]
	if res.Err != nil || res.LowWatermark != 5 {
		t.Fatalf("result %+v", res)
	}
}

func TestDeleteRecords_TimeoutAnswersRequestTimedOut(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x, y := tp("a", 0), tp("b", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.lead(y)
	f.mustProduce(x, 10, 5)
	f.mustProduce(y, 10, 5)
	f.followerFetches(x, 10, 1)
	res := f.deleteRecords(30*time.Millisecond, map[storage.TopicPartition]int64{x: 5, y: 4})
	// The low watermark is the one of the local step; the satisfied partition keeps its answer.
	if code(res[x].Err) != kerr.RequestTimedOut.Code || res[x].LowWatermark != 1 {
		t.Fatalf("waiting partition: %+v", res[x])
	}
	if res[y].Err != nil || res[y].LowWatermark != 4 {
		t.Fatalf("sole-replica partition: %+v", res[y])
	}
}

func TestDeleteRecords_ContextEndAnswersEarly(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 10, 5)
	f.followerFetches(x, 10, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan DeleteRecordsResult, 1)
	go func() { done <- f.m.DeleteRecords(ctx, time.Hour, map[storage.TopicPartition]int64{x: 5})[x] }()
	eventually(t, 5*time.Second, "DeleteRecords waiting", func() bool { return f.m.DelayedDeleteRecords() == 1 })
	cancel()
	if r := <-done; code(r.Err) != kerr.RequestTimedOut.Code {
		t.Fatalf("result %+v", r)
	}
}

func TestDeleteRecords_LeadershipLossAnswersNotLeaderOrFollower(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 10, 5)
	f.followerFetches(x, 10, 0)
	done := make(chan DeleteRecordsResult, 1)
	go func() { done <- f.deleteRecords(time.Hour, map[storage.TopicPartition]int64{x: 5})[x] }()
	eventually(t, 5*time.Second, "DeleteRecords waiting", func() bool { return f.m.DelayedDeleteRecords() == 1 })
	f.apply(lair(1, 2, 1, []int32{1, 2}, []int32{1, 2}, x))
	if r := <-done; code(r.Err) != kerr.NotLeaderForPartition.Code || r.LowWatermark != -1 {
		t.Fatalf("result %+v", r)
	}
}

// The followers follow the leader's log start offset through fetch responses and report theirs back, which
// completes the DeleteRecords; the raised log start survives a restart of every replica
// (log-start-offset-checkpoint).
func TestDeleteRecords_FollowersReachLogStartAndItSurvivesRestart(t *testing.T) {
	c := newTestCluster(t, Config{ReplicaLagTimeMaxMs: 10_000}, 1, 2, 3)
	x := tp("a", 0)
	all := []int32{1, 2, 3}
	c.lair(x, 1, 0, all, all, 1, 2, 3)
	for range 2 {
		if r := c.produce(1, x, 5, -1, 10*time.Second); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	c.waitInSync(x, 1, 2, 3)
	res := c.brokers[1].m.DeleteRecords(context.Background(), 10*time.Second, map[storage.TopicPartition]int64{x: 5})[x]
	if res.Err != nil || res.LowWatermark != 5 {
		t.Fatalf("result %+v", res)
	}
	for _, id := range all {
		if ls := c.log(id, x).LogStartOffset(); ls != 5 {
			t.Fatalf("broker %d log start %d after the low watermark reached 5", id, ls)
		}
	}
	for _, id := range all {
		c.restart(id, nil)
	}
	for _, id := range all {
		l, ok := c.brokers[id].logs.Log(x)
		if !ok || l.LogStartOffset() != 5 {
			t.Fatalf("broker %d after restart: log start %v", id, l.LogStartOffset())
		}
	}
}
