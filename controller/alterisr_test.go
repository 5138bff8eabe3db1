package controller

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// alterISR sends one partition's AlterIsr to c and returns the partition's result.
func alterISR(t *testing.T, c *Controller, from *fakeBroker, ch ISRChange) (ISRResult, error) {
	t.Helper()
	res, err := c.AlterISR(callCtx(t), from.id, from.epoch, []ISRChange{ch})
	if err != nil {
		return ISRResult{}, err
	}
	return res[ch.TopicPartition], nil
}

// leaderAndIsrCount counts the LeaderAndIsr partition states a broker received for tp.
func leaderAndIsrCount(b *fakeBroker, tp TopicPartition) int {
	n := 0
	for _, r := range b.requests() {
		if r, ok := r.(*kmsg.LeaderAndISRRequest); ok {
			for _, ts := range r.TopicStates {
				for _, p := range ts.PartitionStates {
					if ts.Topic == tp.Topic && p.Partition == tp.Partition {
						n++
					}
				}
			}
		}
	}
	return n
}

// Reference 02 §14 / KIP-497: the leader's AlterIsr is written to the state znode conditionally on the
// zkVersion it knows, without a leader epoch bump; the answer carries the new zkVersion; every broker gets
// UpdateMetadata and nobody a LeaderAndIsr. A retry of an applied change answers the current state.
func TestAlterISRWritesStateWithoutEpochBumpAndSendsUpdateMetadata(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	b1 := cl.brokers[1]
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1, 2, 3}}, nil)
	eventually(t, wait, "LeaderAndIsr at the leader", func() bool { _, _, ok := b1.leaderAndIsr(p); return ok })
	lisrBefore := map[int32]int{}
	for id, b := range cl.brokers {
		lisrBefore[id] = leaderAndIsrCount(b, p)
	}

	shrink := ISRChange{TopicPartition: p, LeaderEpoch: 0, NewISR: []int32{1, 3}, ZKVersion: 0}
	res, err := alterISR(t, b1.ctrl, b1, shrink)
	if err != nil || res.Err != nil {
		t.Fatalf("shrink: %+v %v", res, err)
	}
	if res.Leader != 1 || res.LeaderEpoch != 0 || !slices.Equal(res.ISR, []int32{1, 3}) || res.ZKVersion != 1 {
		t.Fatalf("answer %+v, want leader 1 epoch 0 isr [1 3] zkVersion 1", res)
	}
	st, _ := cl.state(p)
	if st.Leader != 1 || st.LeaderEpoch != 0 || !slices.Equal(st.ISR, []int32{1, 3}) || st.ZKVersion != 1 || st.ControllerEpoch != 1 {
		t.Fatalf("state znode %+v", st)
	}
	for id, b := range cl.brokers {
		eventually(t, wait, "UpdateMetadata with the new ISR", func() bool {
			ps, _, ok := b.updateMetadata(p)
			return ok && slices.Equal(ps.ISR, []int32{1, 3}) && ps.ZKVersion == 1 && ps.LeaderEpoch == 0
		})
		// UpdateMetadata follows any LeaderAndIsr of the same change on a broker's channel.
		if n := leaderAndIsrCount(b, p); n != lisrBefore[id] {
			t.Fatalf("broker %d got %d LeaderAndIsr for an ISR change", id, n-lisrBefore[id])
		}
	}

	// The leader did not see the answer and sends it again: the current state, nothing written.
	res, err = alterISR(t, b1.ctrl, b1, shrink)
	if err != nil || res.Err != nil || res.ZKVersion != 1 || !slices.Equal(res.ISR, []int32{1, 3}) {
		t.Fatalf("retry: %+v %v", res, err)
	}
	// Expansion with the new version; order of the proposed ISR is the leader's.
	res, err = alterISR(t, b1.ctrl, b1, ISRChange{TopicPartition: p, LeaderEpoch: 0, NewISR: []int32{1, 3, 2}, ZKVersion: 1})
	if err != nil || res.Err != nil || res.ZKVersion != 2 || !slices.Equal(res.ISR, []int32{1, 3, 2}) {
		t.Fatalf("expand: %+v %v", res, err)
	}
	if st, _ := cl.state(p); !slices.Equal(st.ISR, []int32{1, 3, 2}) || st.ZKVersion != 2 || st.LeaderEpoch != 0 {
		t.Fatalf("state znode after expand %+v", st)
	}
}

// Reference 02 §14 steps 1-2 and the checks this controller adds: each refusal's error code, and that a
// refused change writes nothing.
func TestAlterISRRefusals(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	b1, b2 := cl.brokers[1], cl.brokers[2]
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1, 2, 3}}, nil)
	ok := func(isr []int32) ISRChange {
		return ISRChange{TopicPartition: p, LeaderEpoch: 0, NewISR: isr, ZKVersion: 0}
	}

	// Top level.
	if _, err := b2.ctrl.AlterISR(callCtx(t), 1, b1.epoch, []ISRChange{ok([]int32{1, 2})}); !errors.Is(err, kerr.NotController) {
		t.Fatalf("inactive controller: %v, want NOT_CONTROLLER", err)
	}
	for _, c := range []struct {
		name  string
		id    int32
		epoch int64
	}{{"unknown broker", 9, b1.epoch}, {"older broker epoch", 1, b1.epoch - 1}, {"newer broker epoch", 1, b1.epoch + 1}} {
		if _, err := b1.ctrl.AlterISR(callCtx(t), c.id, c.epoch, []ISRChange{ok([]int32{1, 2})}); !errors.Is(err, kerr.StaleBrokerEpoch) {
			t.Fatalf("%s: %v, want STALE_BROKER_EPOCH", c.name, err)
		}
	}

	// Per partition.
	for _, c := range []struct {
		name string
		from *fakeBroker
		ch   ISRChange
		want *kerr.Error
	}{
		{"unknown partition", b1, ISRChange{TopicPartition: tp("t", 7), NewISR: []int32{1}}, kerr.UnknownTopicOrPartition},
		{"unknown topic", b1, ISRChange{TopicPartition: tp("nope", 0), NewISR: []int32{1}}, kerr.UnknownTopicOrPartition},
		{"older leader epoch", b1, ISRChange{TopicPartition: p, LeaderEpoch: -1, NewISR: []int32{1, 2}}, kerr.FencedLeaderEpoch},
		{"newer leader epoch", b1, ISRChange{TopicPartition: p, LeaderEpoch: 3, NewISR: []int32{1, 2}}, kerr.FencedLeaderEpoch},
		{"not the leader", b2, ok([]int32{1, 2}), kerr.NotLeaderForPartition},
		{"stale isr version", b1, ISRChange{TopicPartition: p, LeaderEpoch: 0, NewISR: []int32{1, 2}, ZKVersion: 5}, kerr.InvalidUpdateVersion},
		{"leader missing from the isr", b1, ok([]int32{2, 3}), kerr.InvalidRequest},
		{"replica not assigned", b1, ok([]int32{1, 4}), kerr.InvalidRequest},
		{"replica twice", b1, ok([]int32{1, 2, 2}), kerr.InvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := alterISR(t, b1.ctrl, c.from, c.ch)
			if err != nil || !errors.Is(res.Err, c.want) {
				t.Fatalf("got %+v %v, want %s", res, err, c.want.Message)
			}
		})
	}
	if st, _ := cl.state(p); st.ZKVersion != 0 || !slices.Equal(st.ISR, []int32{1, 2, 3}) {
		t.Fatalf("a refused change was written: %+v", st)
	}

	// A write that loses the race in ZooKeeper (BADVERSION) answers INVALID_UPDATE_VERSION, and the
	// controller re-reads the znode: the leader's next try with the new version goes through.
	st, _ := cl.state(p)
	if _, err := cl.admin.Set(zkregistry.PartitionStatePath("t", 0), st.Encode(), st.ZKVersion); err != nil {
		t.Fatal(err)
	}
	res, err := alterISR(t, b1.ctrl, b1, ok([]int32{1, 2}))
	if err != nil || !errors.Is(res.Err, kerr.InvalidUpdateVersion) {
		t.Fatalf("lost race: %+v %v, want INVALID_UPDATE_VERSION", res, err)
	}
	res, err = alterISR(t, b1.ctrl, b1, ISRChange{TopicPartition: p, LeaderEpoch: 0, NewISR: []int32{1, 2}, ZKVersion: 1})
	if err != nil || res.Err != nil || res.ZKVersion != 2 {
		t.Fatalf("after re-read: %+v %v", res, err)
	}
}

// KIP-841's rule, applied so a 2.8-style leader can carry on: a replica an expansion adds must be live. The
// proposal is written and answered as sent (a retry stays idempotent), then the dead replica leaves the ISR
// again with a leader epoch bump and a LeaderAndIsr to the live replicas, which resets the leader's ISR
// state; the leader's retry of the old request is then fenced.
func TestAlterISRAddingReplicaThatIsNotLiveIsUndone(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	b1, b2 := cl.brokers[1], cl.brokers[2]
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1, 2, 3}}, nil)
	res, err := alterISR(t, b1.ctrl, b1, ISRChange{TopicPartition: p, NewISR: []int32{1, 2}, ZKVersion: 0})
	if err != nil || res.Err != nil {
		t.Fatal(res, err)
	}
	cl.brokers[3].kill()
	eventually(t, wait, "broker 3 gone from the controller", func() bool {
		gone := false
		inspect(t, b1.ctrl, func(cc *controllerContext) { gone = !cc.isRegistered(3) })
		return gone
	})
	expand := ISRChange{TopicPartition: p, NewISR: []int32{1, 2, 3}, ZKVersion: 1}
	res, err = alterISR(t, b1.ctrl, b1, expand)
	if err != nil || res.Err != nil || !slices.Equal(res.ISR, []int32{1, 2, 3}) || res.ZKVersion != 2 || res.LeaderEpoch != 0 {
		t.Fatalf("adding a dead replica: %+v %v, want NONE with isr [1 2 3] zkVersion 2", res, err)
	}
	st, _ := cl.state(p)
	if !slices.Equal(st.ISR, []int32{1, 2}) || st.ZKVersion != 3 || st.LeaderEpoch != 1 || st.Leader != 1 {
		t.Fatalf("state znode %+v, want leader 1 epoch 1 isr [1 2] zkVersion 3", st)
	}
	for _, b := range []*fakeBroker{b1, b2} {
		eventually(t, wait, "LeaderAndIsr resetting the ISR", func() bool {
			ps, _, ok := b.leaderAndIsr(p)
			return ok && ps.LeaderEpoch == 1 && slices.Equal(ps.ISR, []int32{1, 2}) && ps.ZKVersion == 3
		})
	}
	res, err = alterISR(t, b1.ctrl, b1, expand) // the answer was lost: the leader sends it again
	if err != nil || !errors.Is(res.Err, kerr.FencedLeaderEpoch) {
		t.Fatalf("retry: %+v %v, want FENCED_LEADER_EPOCH", res, err)
	}
}

// Reference 02 §2.4 / 10 V6: a controller whose epoch has moved on cannot write an ISR; it answers
// NOT_CONTROLLER and resigns, the znode keeps its value. (Here the epoch moved without an election, so a
// new election follows and its winner serves the retry.)
func TestAlterISROnFencedControllerWritesNothing(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	b1 := cl.brokers[1]
	p := tp("t", 0)
	cl.createTopic("t", map[int32][]int32{0: {1, 2}}, nil)
	_, v, _, err := cl.admin.GetControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.admin.Set(zkregistry.ControllerEpochPath, zkregistry.EncodeControllerEpoch(9), v); err != nil {
		t.Fatal(err)
	}
	shrink := []ISRChange{{TopicPartition: p, LeaderEpoch: 0, NewISR: []int32{1}, ZKVersion: 0}}
	if _, err := b1.ctrl.AlterISR(callCtx(t), 1, b1.epoch, shrink); !errors.Is(err, kerr.NotController) {
		t.Fatalf("fenced controller: %v, want NOT_CONTROLLER", err)
	}
	if st, _ := cl.state(p); st.ZKVersion != 0 || !slices.Equal(st.ISR, []int32{1, 2}) {
		t.Fatalf("fenced controller wrote %+v", st)
	}
	var next *Controller
	eventually(t, wait, "a controller with epoch 10", func() bool {
		for _, b := range cl.brokers {
			if b.ctrl.Epoch() == 10 {
				next = b.ctrl
				return true
			}
		}
		return false
	})
	res, err := next.AlterISR(callCtx(t), 1, b1.epoch, shrink)
	if err != nil || res[p].Err != nil || res[p].ZKVersion != 1 {
		t.Fatalf("retry after re-election: %+v %v", res, err)
	}
	if st, _ := cl.state(p); st.ControllerEpoch != 10 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("state after retry %+v", st)
	}
}
