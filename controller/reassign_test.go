package controller

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Reference 02 §8 reassignTo: RS = distinct(TRS ++ ORS) with the targets first, AR = RS - ORS, RR = RS - TRS,
// and ORS = current replicas minus current adding replicas, so a new target supersedes a running one.
func TestReassignToComputesFullAddingAndRemovingSets(t *testing.T) {
	for _, c := range []struct {
		name                        string
		replicas, adding, target    []int32
		wantRS, wantAdding, wantRem []int32
	}{
		{"grow", []int32{1}, nil, []int32{1, 2}, []int32{1, 2}, []int32{2}, []int32{}},
		{"move", []int32{1, 2}, nil, []int32{3, 4}, []int32{3, 4, 1, 2}, []int32{3, 4}, []int32{1, 2}},
		{"shrink", []int32{1, 2, 3}, nil, []int32{3}, []int32{3, 1, 2}, []int32{}, []int32{1, 2}},
		{"reorder", []int32{1, 2}, nil, []int32{2, 1}, []int32{2, 1}, []int32{}, []int32{}},
		{"supersede", []int32{3, 1}, []int32{3}, []int32{4}, []int32{4, 1}, []int32{4}, []int32{1}},
		{"cancel", []int32{3, 1}, []int32{3}, []int32{1}, []int32{1}, []int32{}, []int32{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, ar, rr := reassignTo(c.replicas, c.adding, c.target)
			if !slices.Equal(rs, c.wantRS) || !slices.Equal(ar, c.wantAdding) || !slices.Equal(rr, c.wantRem) {
				t.Fatalf("reassignTo(%v, %v, %v) = %v %v %v, want %v %v %v", c.replicas, c.adding, c.target,
					rs, ar, rr, c.wantRS, c.wantAdding, c.wantRem)
			}
		})
	}
}

func (cl *testCluster) assignment(topic string) zkregistry.TopicAssignment {
	cl.t.Helper()
	a, err := cl.admin.GetTopicAssignment(topic)
	if err != nil {
		cl.t.Fatal(err)
	}
	return a
}

func reassign(t *testing.T, c *Controller, targets map[TopicPartition][]int32) map[TopicPartition]error {
	t.Helper()
	res, err := c.AlterPartitionReassignments(callCtx(t), targets)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func listReassignments(t *testing.T, c *Controller) map[TopicPartition]Reassignment {
	t.Helper()
	res, err := c.ListPartitionReassignments(callCtx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// expandISR plays the leader's AlterIsr adding replicas to the ISR, as its fetch handling would once they
// caught up.
func expandISR(t *testing.T, cl *testCluster, c *Controller, p TopicPartition, isr []int32) {
	t.Helper()
	st, _ := cl.state(p)
	leader := cl.brokers[st.Leader]
	res, err := c.AlterISR(callCtx(t), leader.id, leader.epoch, []ISRChange{{TopicPartition: p,
		LeaderEpoch: st.LeaderEpoch, NewISR: isr, ZKVersion: st.ZKVersion}})
	if err != nil || res[p].Err != nil {
		t.Fatalf("AlterIsr %v: %+v %v", isr, res, err)
	}
}

// stopReplicaSequence lists the delete flags of the StopReplica partition states broker b got for p.
func stopReplicaSequence(b *fakeBroker, p TopicPartition) []bool {
	var out []bool
	for _, r := range b.requests() {
		if r, ok := r.(*kmsg.StopReplicaRequest); ok {
			for _, tt := range r.Topics {
				for _, ps := range tt.PartitionStates {
					if tt.Topic == p.Topic && ps.Partition == p.Partition {
						out = append(out, ps.Delete)
					}
				}
			}
		}
	}
	return out
}

// Reference 02 §8 A1/A2 then B1-B8, growing the replication factor: the topic znode holds RS with AR (U1),
// the leader epoch is bumped and the adding replica gets LeaderAndIsr isNew with AddingReplicas; the
// reassignment is listed until the leader's AlterIsr puts the target inside the ISR, then the topic znode
// holds the target alone, the leader epoch is bumped again (leader kept) and every broker gets
// UpdateMetadata with the new replicas.
func TestReassignmentCompletesWhenTargetReplicasJoinISR(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	ctrl := cl.brokers[1].ctrl
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1}, 1: {2}}, nil)
	before, _ := cl.state(p)

	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: {1, 2}}); res[p] != nil {
		t.Fatalf("reassign: %v", res[p])
	}
	a := cl.assignment("t")
	if !slices.Equal(a.Partitions[0], []int32{1, 2}) || !slices.Equal(a.Adding[0], []int32{2}) || len(a.Removing[0]) != 0 {
		t.Fatalf("topic znode during the reassignment: %+v", a)
	}
	st, _ := cl.state(p)
	if st.Leader != 1 || st.LeaderEpoch != before.LeaderEpoch+1 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("A1 state %+v (before %+v)", st, before)
	}
	eventually(t, wait, "LeaderAndIsr isNew to the adding replica", func() bool {
		ps, _, ok := cl.brokers[2].leaderAndIsr(p)
		return ok && ps.IsNew && ps.LeaderEpoch == st.LeaderEpoch && slices.Equal(ps.AddingReplicas, []int32{2}) &&
			slices.Equal(ps.Replicas, []int32{1, 2})
	})
	eventually(t, wait, "LeaderAndIsr with the new assignment to the leader", func() bool {
		ps, _, ok := cl.brokers[1].leaderAndIsr(p)
		return ok && !ps.IsNew && ps.LeaderEpoch == st.LeaderEpoch && slices.Equal(ps.AddingReplicas, []int32{2})
	})
	got := listReassignments(t, ctrl)
	if r, ok := got[p]; len(got) != 1 || !ok || !slices.Equal(r.Replicas, []int32{1, 2}) ||
		!slices.Equal(r.AddingReplicas, []int32{2}) || len(r.RemovingReplicas) != 0 {
		t.Fatalf("list during the reassignment: %+v", got)
	}

	expandISR(t, cl, ctrl, p, []int32{1, 2})
	a = cl.assignment("t")
	if !slices.Equal(a.Partitions[0], []int32{1, 2}) || len(a.Adding) != 0 || len(a.Removing) != 0 {
		t.Fatalf("topic znode after completion: %+v", a)
	}
	if got := listReassignments(t, ctrl); len(got) != 0 {
		t.Fatalf("still listed after completion: %+v", got)
	}
	done, _ := cl.state(p)
	if done.Leader != 1 || done.LeaderEpoch != st.LeaderEpoch+1 || !slices.Equal(done.ISR, []int32{1, 2}) {
		t.Fatalf("B3 state %+v", done)
	}
	for _, b := range cl.brokers {
		eventually(t, wait, "UpdateMetadata with the new replicas", func() bool {
			ps, _, ok := b.updateMetadata(p)
			return ok && slices.Equal(ps.Replicas, []int32{1, 2}) && ps.LeaderEpoch == done.LeaderEpoch
		})
	}
	if seq := stopReplicaSequence(cl.brokers[1], p); len(seq) != 0 {
		t.Fatalf("nothing removed, yet StopReplica %v", seq)
	}
}

// Reference 02 §8 B3-B5 and §6.3 Reassign: moving a partition off its leader elects the first live target
// replica in the ISR (ISR kept), then the removed replica leaves the ISR and gets StopReplica delete=false,
// then delete=true, each with a leader epoch newer than any LeaderAndIsr it had.
func TestReassignmentAwayFromLeaderElectsTargetAndDeletesRemovedReplica(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	ctrl := cl.brokers[1].ctrl
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1}}, nil)
	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: {3, 2}}); res[p] != nil {
		t.Fatalf("reassign: %v", res[p])
	}
	a := cl.assignment("t")
	if !slices.Equal(a.Partitions[0], []int32{3, 2, 1}) || !slices.Equal(a.Adding[0], []int32{3, 2}) ||
		!slices.Equal(a.Removing[0], []int32{1}) {
		t.Fatalf("topic znode during the reassignment: %+v", a)
	}
	// Only one target in the ISR: not complete yet.
	expandISR(t, cl, ctrl, p, []int32{1, 3})
	if got := listReassignments(t, ctrl); len(got) != 1 {
		t.Fatalf("completed with a target replica out of the ISR: %+v", got)
	}
	lastLeaderEpochAt1, _, _ := cl.brokers[1].leaderAndIsr(p)
	expandISR(t, cl, ctrl, p, []int32{1, 3, 2})

	st, _ := cl.state(p)
	if st.Leader != 3 || !slices.Equal(st.ISR, []int32{3, 2}) {
		t.Fatalf("state after the move %+v", st)
	}
	if a := cl.assignment("t"); !slices.Equal(a.Partitions[0], []int32{3, 2}) || len(a.Adding)+len(a.Removing) != 0 {
		t.Fatalf("topic znode after the move %+v", a)
	}
	eventually(t, wait, "StopReplica delete=false then delete=true at the removed replica", func() bool {
		return slices.Equal(stopReplicaSequence(cl.brokers[1], p), []bool{false, true})
	})
	del, _, _ := cl.brokers[1].stopReplica(p)
	if del.LeaderEpoch <= lastLeaderEpochAt1.LeaderEpoch {
		t.Fatalf("StopReplica(delete) epoch %d not newer than the replica's %d", del.LeaderEpoch, lastLeaderEpochAt1.LeaderEpoch)
	}
	eventually(t, wait, "new leader told", func() bool {
		ps, _, ok := cl.brokers[3].leaderAndIsr(p)
		return ok && ps.Leader == 3 && ps.LeaderEpoch == st.LeaderEpoch && slices.Equal(ps.Replicas, []int32{3, 2})
	})
}

// Reference 02 §8 validation and NOT_CONTROLLER: unknown partitions and topics queued for deletion are
// UNKNOWN_TOPIC_OR_PARTITION, cancelling nothing NO_REASSIGNMENT_IN_PROGRESS, bad replica lists and adding a
// broker that is not live INVALID_REPLICA_ASSIGNMENT; valid partitions of the same request go ahead.
func TestReassignmentValidation(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	ctrl := cl.brokers[1].ctrl
	cl.createTopic("t", map[int32][]int32{0: {1}, 1: {2}}, nil)
	if _, err := cl.admin.CreateTopic("d", zkregistry.TopicAssignment{Partitions: map[int32][]int32{0: {9}}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.admin.MarkTopicForDeletion("d"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "d queued for deletion", func() bool {
		q := false
		inspect(t, ctrl, func(cc *controllerContext) { q = cc.isDeleting("d") })
		return q
	})
	res := reassign(t, ctrl, map[TopicPartition][]int32{
		tp("t", 5): {1}, tp("x", 0): {1}, tp("d", 0): {1},
		tp("t", 0): nil,
		tp("t", 1): {},
	})
	res2 := reassign(t, ctrl, map[TopicPartition][]int32{tp("t", 0): {1, 1}})
	res3 := reassign(t, ctrl, map[TopicPartition][]int32{tp("t", 0): {1, -1}})
	res4 := reassign(t, ctrl, map[TopicPartition][]int32{tp("t", 0): {1, 7}, tp("t", 1): {2, 1}})
	for _, c := range []struct {
		name string
		got  error
		want error
	}{
		{"unknown partition", res[tp("t", 5)], kerr.UnknownTopicOrPartition},
		{"unknown topic", res[tp("x", 0)], kerr.UnknownTopicOrPartition},
		{"topic being deleted", res[tp("d", 0)], kerr.UnknownTopicOrPartition},
		{"cancel without reassignment", res[tp("t", 0)], kerr.NoReassignmentInProgress},
		{"empty target", res[tp("t", 1)], kerr.InvalidReplicaAssignment},
		{"duplicate replica", res2[tp("t", 0)], kerr.InvalidReplicaAssignment},
		{"negative replica", res3[tp("t", 0)], kerr.InvalidReplicaAssignment},
		{"adding a dead broker", res4[tp("t", 0)], kerr.InvalidReplicaAssignment},
	} {
		if !errors.Is(c.got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if err, ok := res4[tp("t", 1)]; !ok || err != nil {
		t.Errorf("valid partition of the same request: %v (answered %v)", err, ok)
	}
	if a := cl.assignment("t"); !slices.Equal(a.Partitions[0], []int32{1}) || !slices.Equal(a.Partitions[1], []int32{2, 1}) {
		t.Errorf("assignment %+v", a)
	}
	if _, err := cl.brokers[2].ctrl.AlterPartitionReassignments(callCtx(t), map[TopicPartition][]int32{tp("t", 0): {2}}); !errors.Is(err, kerr.NotController) {
		t.Errorf("inactive controller: %v", err)
	}
	if _, err := cl.brokers[2].ctrl.ListPartitionReassignments(callCtx(t), nil); !errors.Is(err, kerr.NotController) {
		t.Errorf("inactive controller list: %v", err)
	}
}

// Reference 02 §8: a cancellation is a reassignment back to ORS; the adding replica leaves the assignment at
// once (U2: StopReplica delete=false then delete=true) and the topic znode returns to the original replicas.
func TestReassignmentCancellationRestoresOriginalReplicas(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	ctrl := cl.brokers[1].ctrl
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1, 2}}, nil)
	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: {1, 3}}); res[p] != nil {
		t.Fatalf("reassign: %v", res[p])
	}
	eventually(t, wait, "adding replica started", func() bool { ps, _, ok := cl.brokers[3].leaderAndIsr(p); return ok && ps.IsNew })
	lastAt3, _, _ := cl.brokers[3].leaderAndIsr(p)
	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: nil}); res[p] != nil {
		t.Fatalf("cancel: %v", res[p])
	}
	if a := cl.assignment("t"); !slices.Equal(a.Partitions[0], []int32{1, 2}) || len(a.Adding)+len(a.Removing) != 0 {
		t.Fatalf("topic znode after cancel %+v", a)
	}
	if got := listReassignments(t, ctrl); len(got) != 0 {
		t.Fatalf("listed after cancel: %+v", got)
	}
	eventually(t, wait, "cancelled replica stopped and deleted", func() bool {
		return slices.Equal(stopReplicaSequence(cl.brokers[3], p), []bool{false, true})
	})
	if del, _, _ := cl.brokers[3].stopReplica(p); del.LeaderEpoch <= lastAt3.LeaderEpoch {
		t.Fatalf("StopReplica(delete) epoch %d not newer than the replica's %d", del.LeaderEpoch, lastAt3.LeaderEpoch)
	}
	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: nil}); !errors.Is(res[p], kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v", res[p])
	}
}

// Reference 02 §3 step 9: a new controller resumes the reassignments recorded in the topic znodes and
// completes them on the next AlterIsr; reference 02 §9: the topic queued for deletion meanwhile is deleted
// only after the reassignment ends.
func TestReassignmentResumesAfterFailoverAndHoldsDeletion(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(3, 1, 2)
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1}}, nil)
	if res := reassign(t, cl.brokers[3].ctrl, map[TopicPartition][]int32{p: {1, 2}}); res[p] != nil {
		t.Fatalf("reassign: %v", res[p])
	}
	cl.brokers[3].kill()
	var ctrl *Controller
	eventually(t, wait, "new controller", func() bool {
		for _, id := range []int32{1, 2} {
			if cl.brokers[id].ctrl.IsActive() {
				ctrl = cl.brokers[id].ctrl
				return true
			}
		}
		return false
	})
	eventually(t, wait, "reassignment resumed", func() bool {
		res, err := ctrl.ListPartitionReassignments(callCtx(t), []TopicPartition{p, tp("t", 9)})
		return err == nil && len(res) == 1 && slices.Equal(res[p].AddingReplicas, []int32{2})
	})
	if err := cl.admin.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "t queued for deletion", func() bool {
		q := false
		inspect(t, ctrl, func(cc *controllerContext) { q = cc.isDeleting("t") })
		return q
	})
	if !cl.exists(zkregistry.TopicPath("t")) {
		t.Fatal("topic deleted while being reassigned")
	}
	eventually(t, wait, "leader known to the new controller", func() bool {
		ok := false
		inspect(t, ctrl, func(cc *controllerContext) { ok = cc.isLive(1) && cc.isLive(2) })
		return ok
	})
	expandISR(t, cl, ctrl, p, []int32{1, 2})
	eventually(t, wait, "topic deleted after the reassignment", func() bool { return !cl.exists(zkregistry.TopicPath("t")) })
	for _, id := range []int32{1, 2} {
		if seq := stopReplicaSequence(cl.brokers[id], p); len(seq) == 0 || !seq[len(seq)-1] {
			t.Errorf("broker %d: StopReplica %v, want a deletion", id, seq)
		}
	}
}

// Reference 01 §3.7: the legacy /admin/reassign_partitions znode starts reassignments; entries that cannot
// run are dropped from it at once, completed ones on completion, and the znode is deleted when empty.
func TestReassignmentZNodeEntriesRemovedAsTheyComplete(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	ctrl := cl.brokers[1].ctrl
	p0, p1 := tp("t", 0), tp("t", 1)
	cl.createTopic("t", map[int32][]int32{0: {1}, 1: {2}}, nil)
	data := zkregistry.EncodeReassignment([]zkregistry.ReassignPartition{
		{Topic: "t", Partition: 0, Replicas: []int32{1, 3}},
		{Topic: "t", Partition: 1, Replicas: []int32{2, 3}},
		{Topic: "nope", Partition: 0, Replicas: []int32{1}},
	})
	if _, err := cl.admin.Create(zkregistry.ReassignPartitionsPath, data, zkregistry.Persistent); err != nil {
		t.Fatal(err)
	}
	entries := func() []zkregistry.ReassignPartition {
		d, _, err := cl.admin.Get(zkregistry.ReassignPartitionsPath)
		if errors.Is(err, zkregistry.ErrNoNode) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		e, err := zkregistry.DecodeReassignment(d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	eventually(t, wait, "both reassignments running, the unknown entry dropped", func() bool {
		got := listReassignments(t, ctrl)
		return len(got) == 2 && len(entries()) == 2
	})
	expandISR(t, cl, ctrl, p0, []int32{1, 3})
	if e := entries(); len(e) != 1 || e[0].Partition != 1 {
		t.Fatalf("entries after t-0 completed: %+v", e)
	}
	expandISR(t, cl, ctrl, p1, []int32{2, 3})
	if cl.exists(zkregistry.ReassignPartitionsPath) {
		t.Fatalf("znode left after every entry completed: %+v", entries())
	}
	a := cl.assignment("t")
	if !slices.Equal(a.Partitions[0], []int32{1, 3}) || !slices.Equal(a.Partitions[1], []int32{2, 3}) {
		t.Fatalf("assignment %+v", a)
	}
	// A second znode is a new batch.
	data = zkregistry.EncodeReassignment([]zkregistry.ReassignPartition{{Topic: "t", Partition: 0, Replicas: []int32{3, 1}}})
	if _, err := cl.admin.Create(zkregistry.ReassignPartitionsPath, data, zkregistry.Persistent); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "reorder applied and znode deleted", func() bool {
		return !cl.exists(zkregistry.ReassignPartitionsPath) && slices.Equal(cl.assignment("t").Partitions[0], []int32{3, 1})
	})
}

// Reference 02 §5.2 step 6: when a broker hosting a target replica starts (again), its reassignments resume:
// the restarted adding replica gets LeaderAndIsr isNew with the adding replicas and a new leader epoch.
func TestReassignmentResumesWhenTargetBrokerStarts(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	ctrl := cl.brokers[1].ctrl
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1}}, nil)
	if res := reassign(t, ctrl, map[TopicPartition][]int32{p: {1, 2}}); res[p] != nil {
		t.Fatalf("reassign: %v", res[p])
	}
	started, _ := cl.state(p)
	cl.brokers[2].kill()
	eventually(t, wait, "broker 2 gone", func() bool {
		gone := false
		inspect(t, ctrl, func(cc *controllerContext) { gone = !cc.isRegistered(2) })
		return gone
	})
	back := cl.start(2)
	eventually(t, wait, "reassignment resumed at the restarted broker", func() bool {
		ps, _, ok := back.leaderAndIsr(p)
		return ok && ps.IsNew && slices.Equal(ps.AddingReplicas, []int32{2}) && ps.LeaderEpoch > started.LeaderEpoch
	})
	expandISR(t, cl, ctrl, p, []int32{1, 2})
	if got := listReassignments(t, ctrl); len(got) != 0 {
		t.Fatalf("still listed: %+v", got)
	}
}
