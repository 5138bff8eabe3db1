package replica

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func TestLeaderAndIsr_BecomeLeaderCreatesLogAndLeads(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("orders", 0)
	resp := f.apply(lair(1, 1, 3, []int32{1}, []int32{1}, x, tp("orders", 1)))
	if resp.ErrorCode != 0 || !slices.Equal(lairCodes(resp), []int16{0, 0}) {
		t.Fatalf("response: %d %v", resp.ErrorCode, lairCodes(resp))
	}
	if len(resp.Topics) != 1 || resp.Topics[0].TopicID != ([16]byte{6, 7}) {
		t.Fatalf("v5 response must group by the request's topic id: %+v", resp.Topics)
	}
	p, ok := f.m.Partition(x)
	if !ok {
		t.Fatal("partition not hosted")
	}
	st := p.State()
	if !st.IsLeader || st.Leader != 1 || st.LeaderEpoch != 3 || !slices.Equal(st.ISR, []int32{1}) || st.HighWatermark != 0 {
		t.Fatalf("state: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "orders-0")); err != nil {
		t.Fatalf("log dir not created: %v", err)
	}
	if f.m.ControllerEpoch() != 1 {
		t.Fatalf("controller epoch %d", f.m.ControllerEpoch())
	}
}

func TestLeaderAndIsr_OldVersionsUngroupedLayout(t *testing.T) {
	for _, v := range []int16{0, 1, 2, 3, 4} {
		f := newFixture(t, Config{})
		req := kmsg.NewPtrLeaderAndISRRequest()
		req.Version, req.ControllerEpoch = v, 1
		ps := kmsg.NewLeaderAndISRRequestTopicPartition()
		ps.Topic, ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas = "t", 2, 1, 0, []int32{1}, []int32{1}
		if v < 2 {
			req.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
		} else {
			ts := kmsg.NewLeaderAndISRRequestTopicState()
			ts.Topic, ts.PartitionStates = "t", []kmsg.LeaderAndISRRequestTopicPartition{ps}
			req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
		}
		resp := f.apply(req)
		if len(resp.Partitions) != 1 || resp.Partitions[0].Topic != "t" || resp.Partitions[0].Partition != 2 || resp.Partitions[0].ErrorCode != 0 {
			t.Fatalf("v%d response: %+v", v, resp)
		}
		if p, ok := f.m.Partition(tp("t", 2)); !ok || !p.IsLeader() {
			t.Fatalf("v%d: not leader", v)
		}
	}
}

func TestLeaderAndIsr_StaleControllerEpochRejectsWholeRequest(t *testing.T) {
	f := newFixture(t, Config{})
	f.apply(lair(5, 1, 0, []int32{1}, []int32{1}, tp("a", 0)))
	resp := f.apply(lair(4, 1, 1, []int32{1}, []int32{1}, tp("a", 0), tp("b", 0)))
	if resp.ErrorCode != kerr.StaleControllerEpoch.Code {
		t.Fatalf("top-level error %d", resp.ErrorCode)
	}
	for _, c := range lairCodes(resp) {
		if c != kerr.StaleControllerEpoch.Code {
			t.Fatalf("partition codes %v", lairCodes(resp))
		}
	}
	if _, ok := f.m.Partition(tp("b", 0)); ok {
		t.Fatal("a stale request created a partition")
	}
	if p, _ := f.m.Partition(tp("a", 0)); p.LeaderEpoch() != 0 {
		t.Fatal("a stale request changed the leader epoch")
	}
}

func TestLeaderAndIsr_LeaderEpochMustBeNewer(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 4, []int32{1}, []int32{1}, x))
	for _, epoch := range []int32{4, 3} {
		resp := f.apply(lair(1, 2, epoch, []int32{2}, []int32{1, 2}, x))
		if resp.ErrorCode != 0 || lairCodes(resp)[0] != kerr.StaleControllerEpoch.Code {
			t.Fatalf("epoch %d: %d %v", epoch, resp.ErrorCode, lairCodes(resp))
		}
	}
	p, _ := f.m.Partition(x)
	if !p.IsLeader() || p.LeaderEpoch() != 4 {
		t.Fatalf("state changed by an old epoch: %+v", p.State())
	}
}

func TestLeaderAndIsr_NotInReplicasIsUnknownTopicOrPartition(t *testing.T) {
	f := newFixture(t, Config{})
	resp := f.apply(lair(1, 2, 0, []int32{2, 3}, []int32{2, 3}, tp("a", 0)))
	if lairCodes(resp)[0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("codes %v", lairCodes(resp))
	}
	if _, ok := f.m.Partition(tp("a", 0)); ok {
		t.Fatal("partition hosted although this broker is not a replica")
	}
}

func TestLeaderAndIsr_BecomeFollowerRecordsRoleWithoutTruncation(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 3, 10)
	resp := f.apply(lair(1, 2, 1, []int32{2, 1}, []int32{2, 1}, x))
	if lairCodes(resp)[0] != 0 {
		t.Fatalf("codes %v", lairCodes(resp))
	}
	p, _ := f.m.Partition(x)
	st := p.State()
	if st.IsLeader || st.Leader != 2 || st.LeaderEpoch != 1 || len(st.ISR) != 0 {
		t.Fatalf("follower state: %+v", st)
	}
	if st.LogEndOffset != 3 || st.HighWatermark != 3 {
		t.Fatalf("follower log changed: LEO %d HW %d", st.LogEndOffset, st.HighWatermark)
	}
	res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 1)})[x]
	if code(res.Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to follower: %v", res.Err)
	}
}

func TestLeaderAndIsr_FollowerOfDeadLeaderOnlyCreatesLog(t *testing.T) {
	f := newFixture(t, Config{LeaderAlive: func(id int32) bool { return id != 2 }})
	x := tp("a", 0)
	resp := f.apply(lair(1, 2, 0, []int32{2, 1}, []int32{2, 1}, x))
	if lairCodes(resp)[0] != 0 {
		t.Fatalf("codes %v", lairCodes(resp))
	}
	p, _ := f.m.Partition(x)
	if p.Log() == nil || p.LeaderEpoch() != -1 {
		t.Fatalf("want a log and no role change: epoch %d", p.LeaderEpoch())
	}
}

func TestStopReplica_DeleteRemovesPartitionAndLog(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("gone", 0)
	f.lead(x)
	f.mustProduce(x, 2, 10)
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version, req.ControllerEpoch = 3, 1
	rt := kmsg.NewStopReplicaRequestTopic()
	rt.Topic = "gone"
	ps := kmsg.NewStopReplicaRequestTopicPartitionState()
	ps.Partition, ps.LeaderEpoch, ps.Delete = 0, epochDuringDelete, true
	rt.PartitionStates = []kmsg.StopReplicaRequestTopicPartitionState{ps}
	req.Topics = []kmsg.StopReplicaRequestTopic{rt}
	resp := f.m.StopReplicas(req)
	if resp.ErrorCode != 0 || len(resp.Partitions) != 1 || resp.Partitions[0].ErrorCode != 0 {
		t.Fatalf("response %+v", resp)
	}
	if _, ok := f.m.Partition(x); ok {
		t.Fatal("partition still hosted")
	}
	if _, ok := f.logs.Log(x); ok {
		t.Fatal("log still managed")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "gone-0")); !os.IsNotExist(err) {
		t.Fatalf("log dir still in place: %v", err)
	}
	res := f.m.FetchMessages(t.Context(), consumerFetch(x, 0, 1<<20))
	if code(res[0].Err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("fetch after delete: %v", res[0].Err)
	}
}

func TestStopReplica_OldLeaderEpochIsFenced(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 5, []int32{1}, []int32{1}, x))
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version, req.ControllerEpoch = 3, 1
	rt := kmsg.NewStopReplicaRequestTopic()
	rt.Topic = "a"
	ps := kmsg.NewStopReplicaRequestTopicPartitionState()
	ps.Partition, ps.LeaderEpoch, ps.Delete = 0, 5, true
	rt.PartitionStates = []kmsg.StopReplicaRequestTopicPartitionState{ps}
	req.Topics = []kmsg.StopReplicaRequestTopic{rt}
	if resp := f.m.StopReplicas(req); resp.Partitions[0].ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("response %+v", resp)
	}
	if _, ok := f.m.Partition(x); !ok {
		t.Fatal("fenced StopReplica removed the partition")
	}
	req.ControllerEpoch = 0
	if resp := f.m.StopReplicas(req); resp.ErrorCode != kerr.StaleControllerEpoch.Code || len(resp.Partitions) != 0 {
		t.Fatalf("stale controller: %+v", resp)
	}
}

func TestStopReplica_V1WithoutDeleteKeepsLog(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version, req.ControllerEpoch, req.DeletePartitions = 1, 1, false
	rt := kmsg.NewStopReplicaRequestTopic()
	rt.Topic, rt.Partitions = "a", []int32{0}
	req.Topics = []kmsg.StopReplicaRequestTopic{rt}
	if resp := f.m.StopReplicas(req); resp.Partitions[0].ErrorCode != 0 {
		t.Fatalf("response %+v", resp)
	}
	if _, ok := f.logs.Log(x); !ok {
		t.Fatal("log deleted without delete flag")
	}
}

func TestHighWatermarkCheckpoint_SurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	f := openFixture(t, dir, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 5, 10)
	f.close() // Stop writes the checkpoint, then the logs close cleanly
	cp, err := storage.ReadOffsetCheckpoint(filepath.Join(dir, storage.ReplicationCheckpointFile))
	if err != nil || cp[x] != 5 {
		t.Fatalf("checkpoint %v, %v", cp, err)
	}

	g := openFixture(t, dir, Config{})
	// Follower of a leader: HW comes only from the checkpoint (nothing moves it without fetchers).
	g.apply(lair(2, 2, 1, []int32{2, 1}, []int32{2, 1}, x))
	p, _ := g.m.Partition(x)
	if hw := p.State().HighWatermark; hw != 5 {
		t.Fatalf("HW after restart %d, want 5", hw)
	}
}

func TestHighWatermarkCheckpoint_PeriodicTask(t *testing.T) {
	f := newFixture(t, Config{HighWatermarkCheckpointIntervalMs: 5})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 7, 10)
	path := filepath.Join(f.dir, storage.ReplicationCheckpointFile)
	eventually(t, 5*time.Second, "checkpoint with HW 7", func() bool {
		cp, err := storage.ReadOffsetCheckpoint(path)
		return err == nil && cp[x] == 7
	})
}
