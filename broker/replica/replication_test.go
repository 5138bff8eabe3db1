package replica

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// Follower replication over the in-process transport (cluster_test.go): fetchers, truncation (KIP-101,
// KIP-279), error handling, and the leader's HW.

// deadLeader is a broker id no test starts: following it creates logs without fetching anything.
const deadLeader = 99

// host creates tp's log on ids by making them followers of a dead broker at leader epoch 0, so that a test
// can seed the logs before the real leadership sequence starts.
func (c *testCluster) host(x storage.TopicPartition, ids ...int32) {
	c.t.Helper()
	c.lair(x, deadLeader, 0, []int32{deadLeader}, append([]int32{deadLeader}, ids...), ids...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually(t, 10*time.Second, what, cond)
}

func TestReplication_FollowerCatchesUpAndAcksAllCompletes(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	for i := 0; i < 5; i++ {
		if res := c.produce(1, x, 3, -1, 5*time.Second); res.Err != nil {
			t.Fatalf("acks=all produce %d: %v", i, res.Err)
		}
	}
	c.waitInSync(x, 1, 2)
	leader, follower := c.log(1, x), c.log(2, x)
	if leader.HighWatermark() != 15 {
		t.Fatalf("leader HW %d, want 15 once the follower has everything", leader.HighWatermark())
	}
	waitFor(t, "follower HW to follow the leader's", func() bool { return follower.HighWatermark() == 15 })
	if !slices.Equal(leader.EpochEntries(), follower.EpochEntries()) {
		t.Fatalf("epoch caches differ: leader %v follower %v", leader.EpochEntries(), follower.EpochEntries())
	}
	st, ok := c.brokers[2].m.FetcherState(x)
	if !ok || st.Leader != 1 || st.Truncating || st.LeaderEpoch != 1 || st.LastFetchedEpoch != 1 {
		t.Fatalf("fetcher state %+v %v", st, ok)
	}
	p, _ := c.brokers[1].m.Partition(x)
	if got := p.State().RemoteLogEndOffs[2]; got != 15 {
		t.Fatalf("leader's view of the follower's LEO %d", got)
	}
}

func TestReplication_ConsumersNeverReadPastHighWatermark(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	c.brokers[1].blockFetch.Store(true) // the follower stops getting data
	if res := c.produce(1, x, 4, 1, time.Second); res.Err != nil {
		t.Fatal(res.Err)
	}
	leader := c.log(1, x)
	if leader.LogEndOffset() != 4 || leader.HighWatermark() != 0 {
		t.Fatalf("LEO %d HW %d: the HW must wait for the ISR follower", leader.LogEndOffset(), leader.HighWatermark())
	}
	res := c.brokers[1].m.FetchMessages(c.ctx, consumerFetch(x, 0, 1<<20))
	if res[0].Err != nil || res[0].Size() != 0 {
		t.Fatalf("consumer read %d bytes past the HW (err %v)", res[0].Size(), res[0].Err)
	}
	res[0].Release()
	c.brokers[1].blockFetch.Store(false)
	waitFor(t, "HW to reach the LEO", func() bool { return leader.HighWatermark() == 4 })
}

// KIP-101 scenario 1: a follower that restarts with a stale high watermark must not truncate to it (and
// lose acked records should it be elected next); it asks the leader where its epoch ended.
func TestKIP101_RestartedFollowerDoesNotTruncateToStaleHighWatermark(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 0, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.produce(1, x, 1, -1, 5*time.Second)
	if res := c.produce(1, x, 1, -1, 5*time.Second); res.Err != nil {
		t.Fatal(res.Err)
	}
	c.waitInSync(x, 1, 2)
	// The follower crashes before checkpointing the HW of its last fetch: it comes back with HW 1.
	c.restart(2, func(dir string) {
		if err := storage.WriteOffsetCheckpoint(filepath.Join(dir, storage.ReplicationCheckpointFile), map[storage.TopicPartition]int64{x: 1}); err != nil {
			t.Fatal(err)
		}
	})
	c.brokers[1].blockFetch.Store(true) // it can ask OffsetsForLeaderEpoch, but gets no data back
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	waitFor(t, "truncation to finish", func() bool {
		st, ok := c.brokers[2].m.FetcherState(x)
		return ok && !st.Truncating
	})
	if leo := c.log(2, x).LogEndOffset(); leo != 2 {
		t.Fatalf("follower LEO %d after truncation: the acked record at offset 1 was thrown away", leo)
	}
	// The leader dies; the follower is elected and still has both acked records.
	c.brokers[1].down.Store(true)
	c.lair(x, 2, 2, []int32{2}, []int32{1, 2}, 2)
	if leo := c.log(2, x).LogEndOffset(); leo != 2 {
		t.Fatalf("new leader's LEO %d", leo)
	}
}

// KIP-101 scenario 2: after both replicas crash, the one that comes back first leads and writes at an offset
// the other also wrote (in an older epoch). The other must truncate that suffix, not keep it because its
// high watermark was past it.
func TestKIP101_ReplicasDoNotDivergeAfterDoubleHardFailure(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	c.appendEpochs(1, x, [3]int64{0, 1, 0}, [3]int64{1, 1, 0}) // A: m1, m2 in epoch 0
	c.appendEpochs(2, x, [3]int64{0, 1, 0})                    // B: m1
	c.log(1, x).SetHighWatermark(2)
	c.log(2, x).SetHighWatermark(1)
	// B comes back first and leads epoch 1, taking m3 at offset 1.
	c.lair(x, 2, 1, []int32{2}, []int32{1, 2}, 2)
	if res := c.produce(2, x, 1, 1, time.Second); res.Err != nil || res.BaseOffset != 1 {
		t.Fatalf("produce to B: %+v", res)
	}
	// A returns as follower: epoch 0 ended at 1 on B, so A drops its m2.
	c.lair(x, 2, 1, []int32{2}, []int32{1, 2}, 1)
	c.waitInSync(x, 2, 1)
	if got := c.batches(1, x); len(got) != 2 {
		t.Fatalf("A's batches %v", got)
	}
}

// KIP-279: after fast leader changes the follower's latest epoch is unknown to the leader. KIP-101's single
// exchange would keep the follower's epoch-2 records at offsets 2-3 where the leader has epoch-1 records;
// KIP-279 walks back to the largest common epoch over two exchanges.
func TestKIP279_FastLeaderChangesTruncateToLargestCommonEpoch(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	// Epoch 0: the follower led and wrote batches at 0 and 1; the other broker replicated only the first.
	// Epoch 1: that broker led and wrote [1,6). Epoch 2: the first led again, without fetching epoch 1, and
	// wrote [2,4). Epoch 3: the second leads.
	c.appendEpochs(1, x, [3]int64{0, 1, 0}, [3]int64{1, 5, 1})                    // leader: e0 [0,1), e1 [1,6)
	c.appendEpochs(2, x, [3]int64{0, 1, 0}, [3]int64{1, 1, 0}, [3]int64{2, 2, 2}) // follower: e0 [0,2), e2 [2,4)
	c.lair(x, 1, 3, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	want := []storage.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 1, StartOffset: 1}, {Epoch: 3, StartOffset: 6}}
	if got := c.log(1, x).EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("leader epochs %v", got)
	}
	if got := c.log(2, x).EpochEntries(); !slices.Equal(got, want[:2]) {
		t.Fatalf("follower epochs %v, want %v", got, want[:2])
	}
	// Offsets do not go backwards for records produced afterwards (offsetsShouldNotGoBackwards).
	if res := c.produce(1, x, 2, -1, 5*time.Second); res.Err != nil || res.BaseOffset != 6 {
		t.Fatalf("produce after the truncation: %+v", res)
	}
	c.waitInSync(x, 1, 2)
}

// A follower with the same latest epoch but a longer log (it wrote as leader before the new leader took
// over at an earlier offset) truncates to the new leader's end of that epoch.
func TestTruncation_SameEpochLongerFollowerTruncatesToLeaderEnd(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	c.appendEpochs(1, x, [3]int64{0, 3, 0})
	c.appendEpochs(2, x, [3]int64{0, 3, 0}, [3]int64{3, 4, 0})
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	if leo := c.log(2, x).LogEndOffset(); leo != 3 {
		t.Fatalf("follower LEO %d", leo)
	}
}

func TestTruncation_FollowerWithoutEpochsTruncatesToHighWatermark(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	c.appendEpochs(1, x, [3]int64{0, 2, -1}, [3]int64{2, 2, -1})
	c.appendEpochs(2, x, [3]int64{0, 2, -1}, [3]int64{2, 3, -1}) // differs from offset 2 on
	c.log(2, x).SetHighWatermark(2)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
}

func TestOutOfRange_LeaderLogStartPastFollowerRestartsFollowerLog(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	c.appendEpochs(1, x, [3]int64{0, 10, 0})
	c.appendEpochs(2, x, [3]int64{0, 3, 0}) // only the first 3 records... of another batch
	leader := c.log(1, x)
	leader.SetHighWatermark(10)
	if _, err := leader.DeleteRecordsBefore(8); err != nil {
		t.Fatal(err)
	}
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	follower := c.log(2, x)
	waitFor(t, "follower to restart at the leader's log start and catch up", func() bool {
		return follower.LogEndOffset() == 10 && follower.LogStartOffset() == 8
	})
	c.waitInSync(x, 1, 2)
}

func TestOutOfRange_LeaderLogEndBelowFollowerTruncatesToIt(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.host(x, 1, 2)
	c.appendEpochs(1, x, [3]int64{0, 2, -1})
	c.appendEpochs(2, x, [3]int64{0, 2, -1}, [3]int64{2, 3, -1})
	c.log(2, x).SetHighWatermark(5) // no epochs: truncation keeps the HW, 5, and the fetch is out of range
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	if leo := c.log(2, x).LogEndOffset(); leo != 2 {
		t.Fatalf("follower LEO %d", leo)
	}
}

func TestFetcher_FencedLeaderEpochWaitsForLeaderAndIsr(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 2, []int32{1, 2}, []int32{1, 2}, 1)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 2) // the follower is an epoch behind
	waitFor(t, "the fenced partition to leave the fetcher", func() bool {
		_, ok := c.brokers[2].m.FetcherState(x)
		return !ok
	})
	c.produce(1, x, 2, 1, time.Second)
	c.lair(x, 1, 2, []int32{1, 2}, []int32{1, 2}, 2)
	c.waitInSync(x, 1, 2)
}

func TestFetcher_UnknownLeaderEpochRetriesUntilLeaderKnowsIt(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1)
	c.produce(1, x, 2, 1, time.Second)
	c.lair(x, 1, 2, []int32{1, 2}, []int32{1, 2}, 2) // the follower heard of epoch 2 first
	waitFor(t, "the follower to back off", func() bool {
		st, ok := c.brokers[2].m.FetcherState(x)
		return ok && st.Delayed
	})
	c.lair(x, 1, 2, []int32{1, 2}, []int32{1, 2}, 1)
	c.waitInSync(x, 1, 2)
}

func TestFetcher_ReconnectsAfterConnectionLoss(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	c.brokers[1].down.Store(true)
	c.produce(1, x, 3, 1, time.Second)
	waitFor(t, "the fetcher to back off", func() bool {
		st, ok := c.brokers[2].m.FetcherState(x)
		return ok && st.Delayed
	})
	c.brokers[1].down.Store(false)
	c.waitInSync(x, 1, 2)
}

func TestFetcher_StopsOnStopReplicaLeadershipAndShutdown(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x, y := tp("orders", 0), tp("orders", 1)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.lair(y, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.waitInSync(x, 1, 2)
	f := c.brokers[2].m
	if f.NumFetchers() != 1 {
		t.Fatalf("%d fetchers: one per source broker expected", f.NumFetchers())
	}
	stop := kmsg.NewPtrStopReplicaRequest()
	stop.Version, stop.ControllerEpoch = 3, 1
	st := kmsg.NewStopReplicaRequestTopic()
	st.Topic = "orders"
	ps := kmsg.NewStopReplicaRequestTopicPartitionState()
	ps.Partition, ps.LeaderEpoch = 0, 2
	st.PartitionStates = append(st.PartitionStates, ps)
	stop.Topics = append(stop.Topics, st)
	f.StopReplicas(stop)
	if _, ok := f.FetcherState(x); ok {
		t.Fatal("StopReplica left the partition in its fetcher")
	}
	if _, ok := f.FetcherState(y); !ok || f.NumFetchers() != 1 {
		t.Fatal("the other partition must keep fetching")
	}
	c.lair(y, 2, 2, []int32{2}, []int32{1, 2}, 2) // broker 2 leads y now
	if _, ok := f.FetcherState(y); ok || f.NumFetchers() != 0 {
		t.Fatalf("becoming leader must stop fetching (fetchers %d)", f.NumFetchers())
	}
	c.lair(x, 1, 3, []int32{1, 2}, []int32{1, 2}, 2) // following again
	if f.NumFetchers() != 1 {
		t.Fatal("no fetcher after LeaderAndIsr")
	}
	c.brokers[2].stop() // shutdown stops it; TestMain checks that no goroutine is left
}

func TestFollower_HighWatermarkCheckpointed(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.produce(1, x, 4, -1, 5*time.Second)
	waitFor(t, "follower HW", func() bool { return c.log(2, x).HighWatermark() == 4 })
	if err := c.brokers[2].m.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	hws, err := storage.ReadOffsetCheckpoint(filepath.Join(c.brokers[2].dir, storage.ReplicationCheckpointFile))
	if err != nil || hws[x] != 4 {
		t.Fatalf("follower checkpoint %v %v", hws, err)
	}
}

// A restarted follower comes back (LeaderAndIsr at the same epoch from the controller's broker startup),
// truncates, catches up, and the leader adds it back to the ISR it was shrunk out of.
func TestRestart_FollowerTruncatesCatchesUpAndRejoinsISR(t *testing.T) {
	c := newTestCluster(t, Config{ReplicaLagTimeMaxMs: 1000}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.produce(1, x, 3, -1, 5*time.Second)
	c.brokers[2].stop()
	for i := 0; i < 3; i++ {
		c.produce(1, x, 2, 1, time.Second)
	}
	c.brokers[1].now.Add(2000)
	c.brokers[1].m.maybeShrinkISRs()
	waitFor(t, "ISR to shrink to the leader", func() bool { return slices.Equal(c.ctrl.isr(x), []int32{1}) })
	if res := c.produce(1, x, 1, -1, 5*time.Second); res.Err != nil {
		t.Fatalf("acks=all with the ISR shrunk to the leader: %v", res.Err)
	}
	c.restart(2, nil)
	c.lair(x, 1, 1, []int32{1}, []int32{1, 2}, 2) // same epoch: the restarted broker knows none
	c.waitInSync(x, 1, 2)
	waitFor(t, "the follower to rejoin the ISR", func() bool {
		p, _ := c.brokers[1].m.Partition(x)
		return slices.Equal(p.State().ISR, []int32{1, 2}) && slices.Equal(c.ctrl.isr(x), []int32{1, 2})
	})
}

// Truncate-on-fetch (Fetch v12): a follower in Fetching state whose last fetched epoch ended earlier on the
// leader gets a DivergingEpoch answer instead of records, truncates to it, and fetches the leader's records.
// The leader's log is rewritten under the follower by hand, which a real leader never does within an epoch:
// it is the only way to reach this path when every new follower first truncates with OffsetsForLeaderEpoch.
func TestFetcher_DivergingEpochTruncatesAndRefetches(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	x := tp("orders", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	c.produce(1, x, 3, -1, 5*time.Second)
	c.produce(1, x, 2, -1, 5*time.Second) // [0,3) and [3,5) in epoch 1
	c.waitInSync(x, 1, 2)
	c.brokers[1].blockFetch.Store(true)
	waitFor(t, "the follower to back off", func() bool {
		st, ok := c.brokers[2].m.FetcherState(x)
		return ok && st.Delayed
	})
	leader := c.log(1, x)
	if err := leader.TruncateTo(3); err != nil {
		t.Fatal(err)
	}
	c.appendEpochs(1, x, [3]int64{3, 2, 2}) // epoch 1 now ends at 3 on the leader
	before := divergingAnswers.Load()
	c.brokers[1].blockFetch.Store(false)
	c.waitInSync(x, 1, 2)
	if divergingAnswers.Load() == before {
		t.Fatal("the follower caught up without a DivergingEpoch answer")
	}
	if st, _ := c.brokers[2].m.FetcherState(x); st.LastFetchedEpoch != 2 || st.FetchOffset != 5 {
		t.Fatalf("fetcher state %+v", st)
	}
}

// AbstractFetcherManager.resizeThreadPool (dynamic num.replica.fetchers): the followed partitions are
// spread over the new number of fetchers per source broker and keep replicating from where they were;
// shrinking back gathers them in one fetcher again.
func TestFetcher_ResizeThreadPoolKeepsReplicating(t *testing.T) {
	c := newTestCluster(t, Config{}, 1, 2)
	tps := []storage.TopicPartition{tp("orders", 0), tp("orders", 1), tp("orders", 2), tp("orders", 3)}
	ids := map[int]bool{}
	for _, x := range tps {
		c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
		c.produce(1, x, 2, 1, time.Second)
		ids[fetcherID(x, 3)] = true
	}
	for _, x := range tps {
		c.waitInSync(x, 1, 2)
	}
	f := c.brokers[2].m
	if f.NumFetchers() != 1 {
		t.Fatalf("%d fetchers before the resize, want 1", f.NumFetchers())
	}
	f.SetNumReplicaFetchers(3)
	if got := f.NumFetchers(); got != len(ids) {
		t.Fatalf("%d fetchers after resizing to 3, want %d (the distinct fetcher ids of the partitions)", got, len(ids))
	}
	for _, x := range tps {
		c.produce(1, x, 3, 1, time.Second)
		c.waitInSync(x, 1, 2)
	}
	f.SetNumReplicaFetchers(1)
	if f.NumFetchers() != 1 {
		t.Fatalf("%d fetchers after resizing back to 1", f.NumFetchers())
	}
	for _, x := range tps {
		c.produce(1, x, 1, 1, time.Second)
		c.waitInSync(x, 1, 2)
	}
}
