package controller

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Reference 02 §12: a controlled shutdown moves the leadership of the partitions the broker leads to the
// next ISR member (ISR minus the broker, leader epoch + 1, LeaderAndIsr to the registered replicas including
// it), takes it out of the ISRs it follows (LeaderAndIsr to the others, StopReplica(delete=false) to it with
// the new leader epoch), leaves single-replica partitions alone, and answers with what it still leads: here
// a partition whose ISR is only the broker. While it shuts down it is no ISR candidate and no preferred
// leader; when its registration goes, the broker-failure path takes the rest offline.
func TestControlledShutdownMovesLeadershipAndShrinksISRs(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	b1, b2, b3 := cl.brokers[1], cl.brokers[2], cl.brokers[3]
	cl.createTopic("t", map[int32][]int32{0: {2, 1, 3} /* led by 2 */, 1: {1, 2, 3} /* followed by 2 */}, nil)
	cl.createTopic("s", map[int32][]int32{0: {2}}, nil)    // single replica: stays
	cl.createTopic("u", map[int32][]int32{0: {2, 3}}, nil) // led by 2, ISR shrunk to [2] below: cannot move
	if res, err := alterISR(t, b1.ctrl, b2, ISRChange{TopicPartition: tp("u", 0), NewISR: []int32{2}}); err != nil || res.Err != nil {
		t.Fatal(res, err)
	}

	remaining, err := b1.ctrl.ControlledShutdown(callCtx(t), 2, b2.epoch)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(remaining, []TopicPartition{tp("u", 0)}) {
		t.Fatalf("remaining %v, want [u-0]", remaining)
	}
	for _, c := range []struct {
		tp   TopicPartition
		want zkregistry.PartitionState
	}{
		{tp("t", 0), zkregistry.PartitionState{Leader: 1, LeaderEpoch: 1, ISR: []int32{1, 3}}},
		{tp("t", 1), zkregistry.PartitionState{Leader: 1, LeaderEpoch: 1, ISR: []int32{1, 3}}},
		{tp("s", 0), zkregistry.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2}}},
		{tp("u", 0), zkregistry.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2}}},
	} {
		st, _ := cl.state(c.tp)
		if st.Leader != c.want.Leader || st.LeaderEpoch != c.want.LeaderEpoch || !slices.Equal(st.ISR, c.want.ISR) {
			t.Errorf("%s: %+v, want leader %d epoch %d isr %v", c.tp, st, c.want.Leader, c.want.LeaderEpoch, c.want.ISR)
		}
	}
	// The old leader becomes a follower of the new one; the others learn both changes.
	for _, b := range []*fakeBroker{b1, b2, b3} {
		eventually(t, wait, "LeaderAndIsr for t-0 with leader 1", func() bool {
			ps, _, ok := b.leaderAndIsr(tp("t", 0))
			return ok && ps.Leader == 1 && ps.LeaderEpoch == 1 && slices.Equal(ps.ISR, []int32{1, 3})
		})
	}
	for _, b := range []*fakeBroker{b1, b3} {
		eventually(t, wait, "LeaderAndIsr for t-1 without 2", func() bool {
			ps, _, ok := b.leaderAndIsr(tp("t", 1))
			return ok && ps.LeaderEpoch == 1 && slices.Equal(ps.ISR, []int32{1, 3})
		})
	}
	eventually(t, wait, "StopReplica(delete=false) for the followed partition", func() bool {
		ps, _, ok := b2.stopReplica(tp("t", 1))
		return ok && !ps.Delete && ps.LeaderEpoch == 1
	})
	if ps, _, ok := b2.leaderAndIsr(tp("t", 1)); ok && ps.LeaderEpoch == 1 {
		t.Fatal("the shutting-down follower got the ISR shrink's LeaderAndIsr")
	}
	eventually(t, wait, "UpdateMetadata: broker 2 still listed, offline for its partitions", func() bool {
		ps, r, ok := b3.updateMetadata(tp("t", 0))
		return ok && ps.Leader == 1 && slices.Equal(ps.OfflineReplicas, []int32{2}) &&
			slices.Equal(liveBrokerIDs(r), []int32{1, 2, 3})
	})

	// Shutting down: not live for ISR expansion or preferred election.
	res, err := alterISR(t, b1.ctrl, b1, ISRChange{TopicPartition: tp("t", 1), LeaderEpoch: 1, NewISR: []int32{1, 3, 2}, ZKVersion: 1})
	if err != nil || res.Err != nil {
		t.Fatalf("expansion with the shutting-down broker: %+v %v", res, err)
	}
	if st, _ := cl.state(tp("t", 1)); !slices.Equal(st.ISR, []int32{1, 3}) || st.LeaderEpoch != 2 {
		t.Fatalf("shutting-down broker kept in the ISR: %+v", st)
	}
	el, err := b1.ctrl.ElectLeaders(callCtx(t), ElectPreferred, []TopicPartition{tp("t", 0)})
	if err != nil || !errors.Is(el[tp("t", 0)].Err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election to the shutting-down broker: %+v %v", el, err)
	}
	// A retry (the broker's next attempt) changes nothing and reports the same.
	remaining, err = b1.ctrl.ControlledShutdown(callCtx(t), 2, b2.epoch)
	if err != nil || !slices.Equal(remaining, []TopicPartition{tp("u", 0)}) {
		t.Fatalf("retry: %v %v", remaining, err)
	}

	// The broker goes: broker failure handling takes its last partitions offline and forgets the shutdown.
	b2.kill()
	eventually(t, wait, "u-0 offline with its last leader as ISR", func() bool {
		st, _ := cl.state(tp("u", 0))
		return st.Leader == zkregistry.NoLeader && slices.Equal(st.ISR, []int32{2})
	})
	inspect(t, b1.ctrl, func(cc *controllerContext) {
		if cc.isShuttingDown(2) {
			t.Error("broker 2 still marked shutting down after it left")
		}
	})
}

// Reference 02 §12 step 1: who may ask.
func TestControlledShutdownRefusals(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	b1, b2 := cl.brokers[1], cl.brokers[2]
	for _, c := range []struct {
		name  string
		ctrl  *Controller
		id    int32
		epoch int64
		want  *kerr.Error
	}{
		{"not the controller", b2.ctrl, 2, b2.epoch, kerr.NotController},
		{"unknown broker", b1.ctrl, 7, -1, kerr.BrokerNotAvailable},
		{"older incarnation", b1.ctrl, 2, b2.epoch - 1, kerr.StaleBrokerEpoch},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.ctrl.ControlledShutdown(callCtx(t), c.id, c.epoch); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %s", err, c.want.Message)
			}
		})
	}
	// v0-v1 requests carry no epoch (-1): accepted.
	if rem, err := b1.ctrl.ControlledShutdown(callCtx(t), 2, -1); err != nil || len(rem) != 0 {
		t.Fatalf("epoch -1: %v %v", rem, err)
	}
}
