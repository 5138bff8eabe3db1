package controller

import (
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/zkregistry"
)

func liveSet(ids ...int32) liveFunc {
	return func(id int32) bool { return slices.Contains(ids, id) }
}

// PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection: the first replica in assignment order that
// is live and in the ISR; else, only with unclean election enabled, the first live replica.
func TestOfflinePartitionLeaderElection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		assignment  []int32
		isr         []int32
		live        liveFunc
		unclean     bool
		wantLeader  int32
		wantUnclean bool
		wantOK      bool
	}{
		{"assignment order decides, not ISR order", []int32{1, 2, 3}, []int32{3, 2}, liveSet(1, 2, 3), false, 2, false, true},
		{"dead ISR members are skipped", []int32{1, 2, 3}, []int32{1, 2}, liveSet(2, 3), false, 2, false, true},
		{"no live ISR member and unclean disabled: no leader", []int32{1, 2}, []int32{1}, liveSet(2), false, -1, false, false},
		{"no live ISR member and unclean enabled: first live replica", []int32{1, 2, 3}, []int32{1}, liveSet(3, 2), true, 2, true, true},
		{"unclean enabled still prefers a live ISR member", []int32{1, 2, 3}, []int32{3}, liveSet(1, 2, 3), true, 3, false, true},
		{"nothing live: no leader even when unclean", []int32{1, 2}, []int32{1, 2}, liveSet(), true, -1, false, false},
		{"ISR member outside the assignment is never elected", []int32{1, 2}, []int32{5}, liveSet(5), false, -1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leader, unclean, ok := offlinePartitionLeader(tc.assignment, tc.isr, tc.live, tc.unclean)
			if leader != tc.wantLeader || unclean != tc.wantUnclean || ok != tc.wantOK {
				t.Fatalf("got (%d, %v, %v), want (%d, %v, %v)", leader, unclean, ok, tc.wantLeader, tc.wantUnclean, tc.wantOK)
			}
		})
	}
}

// Election.leaderForOffline: a clean leader keeps the live ISR members in ISR order; an unclean leader starts a
// new ISR of itself alone.
func TestLeaderForOfflineISR(t *testing.T) {
	for _, tc := range []struct {
		name       string
		assignment []int32
		isr        []int32
		live       liveFunc
		unclean    bool
		wantLeader int32
		wantISR    []int32
	}{
		{"clean election shrinks the ISR to live members, ISR order kept", []int32{1, 2, 3}, []int32{3, 1, 2}, liveSet(1, 3), false, 1, []int32{3, 1}},
		{"clean election with every ISR member live keeps the ISR", []int32{2, 1}, []int32{1, 2}, liveSet(1, 2), false, 2, []int32{1, 2}},
		{"unclean election: the ISR is the new leader alone", []int32{1, 2, 3}, []int32{1}, liveSet(2, 3), true, 2, []int32{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leader, isr, _, ok := leaderForOffline(tc.assignment, tc.isr, tc.live, tc.unclean)
			if !ok || leader != tc.wantLeader || !slices.Equal(isr, tc.wantISR) {
				t.Fatalf("got (%d, %v, %v), want (%d, %v)", leader, isr, ok, tc.wantLeader, tc.wantISR)
			}
		})
	}
	if _, _, _, ok := leaderForOffline([]int32{1, 2}, []int32{1}, liveSet(2), false); ok {
		t.Fatal("elected a leader outside the ISR with unclean election disabled")
	}
}

// PartitionStateMachine.initializeLeaderAndIsrForPartitions: leader = first live replica, ISR = every live
// replica, both in assignment order; no live replica leaves the partition NewPartition.
func TestNewPartitionInitialLeaderAndISR(t *testing.T) {
	for _, tc := range []struct {
		name       string
		assignment []int32
		live       liveFunc
		wantLeader int32
		wantISR    []int32
		wantOK     bool
	}{
		{"all replicas live: preferred replica leads, ISR = assignment", []int32{3, 1, 2}, liveSet(1, 2, 3), 3, []int32{3, 1, 2}, true},
		{"preferred replica dead: next live replica leads", []int32{3, 1, 2}, liveSet(1, 2), 1, []int32{1, 2}, true},
		{"no live replica: stays new", []int32{3, 4}, liveSet(1), -1, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leader, isr, ok := initialLeaderAndISR(tc.assignment, tc.live)
			if leader != tc.wantLeader || !slices.Equal(isr, tc.wantISR) || ok != tc.wantOK {
				t.Fatalf("got (%d, %v, %v), want (%d, %v, %v)", leader, isr, ok, tc.wantLeader, tc.wantISR, tc.wantOK)
			}
		})
	}
}

// KafkaController.removeReplicasFromIsr (OfflineReplica): leader -1 if it went offline; the offline replicas
// leave the ISR, but the ISR is never emptied and keeps the last leader when every member went.
func TestOfflineReplicaRemovedFromISR(t *testing.T) {
	for _, tc := range []struct {
		name        string
		leader      int32
		isr         []int32
		gone        []int32
		wantLeader  int32
		wantISR     []int32
		wantChanged bool
	}{
		{"follower leaves the ISR, leader kept", 1, []int32{1, 2, 3}, []int32{2}, 1, []int32{1, 3}, true},
		{"leader leaves: no leader", 1, []int32{1, 2}, []int32{1}, zkregistry.NoLeader, []int32{2}, true},
		{"last ISR member stays in the ISR", 3, []int32{3}, []int32{3}, zkregistry.NoLeader, []int32{3}, true},
		{"last ISR member of a leaderless partition stays", zkregistry.NoLeader, []int32{2}, []int32{2}, zkregistry.NoLeader, []int32{2}, true},
		{"replica outside the ISR: nothing to write", 1, []int32{1}, []int32{2}, 1, []int32{1}, false},
		{"whole ISR at once keeps the last leader", 2, []int32{1, 2, 3}, []int32{1, 2, 3}, zkregistry.NoLeader, []int32{2}, true},
		{"whole ISR of a leaderless partition keeps its first", zkregistry.NoLeader, []int32{3, 1}, []int32{1, 3}, zkregistry.NoLeader, []int32{3}, true},
		{"two followers leave together", 1, []int32{1, 2, 3}, []int32{3, 2}, 1, []int32{1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leader, isr, changed := removeReplicasFromISR(tc.leader, tc.isr, tc.gone)
			if leader != tc.wantLeader || !slices.Equal(isr, tc.wantISR) || changed != tc.wantChanged {
				t.Fatalf("got (%d, %v, %v), want (%d, %v, %v)", leader, isr, changed, tc.wantLeader, tc.wantISR, tc.wantChanged)
			}
		})
	}
}

// PartitionLeaderElectionAlgorithms.preferredReplicaPartitionLeaderElection: only the first assigned replica,
// and only when it is live and in the ISR.
func TestPreferredReplicaLeaderElection(t *testing.T) {
	for _, tc := range []struct {
		name       string
		assignment []int32
		isr        []int32
		live       liveFunc
		want       int32
		ok         bool
	}{
		{"preferred live and in sync", []int32{1, 2, 3}, []int32{2, 1}, liveSet(1, 2, 3), 1, true},
		{"preferred out of the ISR", []int32{1, 2, 3}, []int32{2, 3}, liveSet(1, 2, 3), zkregistry.NoLeader, false},
		{"preferred not live", []int32{1, 2, 3}, []int32{1, 2}, liveSet(2, 3), zkregistry.NoLeader, false},
		{"no other replica is considered", []int32{4, 2}, []int32{2}, liveSet(2), zkregistry.NoLeader, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := preferredReplicaLeader(tc.assignment, tc.isr, tc.live)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got (%d, %v), want (%d, %v)", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Election.leaderForControlledShutdown: the first registered ISR member that is not shutting down leads; the
// ISR loses every shutting-down broker (even ones other than the leader).
func TestControlledShutdownLeaderElection(t *testing.T) {
	for _, tc := range []struct {
		name         string
		assignment   []int32
		isr          []int32
		registered   liveFunc
		shuttingDown liveFunc
		want         int32
		wantISR      []int32
		ok           bool
	}{
		{"next ISR member in assignment order", []int32{1, 2, 3}, []int32{1, 3, 2}, liveSet(1, 2, 3), liveSet(1), 2, []int32{3, 2}, true},
		{"two brokers shutting down", []int32{1, 2, 3}, []int32{1, 2, 3}, liveSet(1, 2, 3), liveSet(1, 2), 3, []int32{3}, true},
		{"unregistered ISR member skipped", []int32{1, 2, 3}, []int32{1, 2, 3}, liveSet(1, 3), liveSet(1), 3, []int32{2, 3}, true},
		{"no other ISR member", []int32{1, 2, 3}, []int32{1}, liveSet(1, 2, 3), liveSet(1), zkregistry.NoLeader, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, isr, ok := controlledShutdownLeader(tc.assignment, tc.isr, tc.registered, tc.shuttingDown)
			if got != tc.want || ok != tc.ok || !slices.Equal(isr, tc.wantISR) {
				t.Fatalf("got (%d, %v, %v), want (%d, %v, %v)", got, isr, ok, tc.want, tc.wantISR, tc.ok)
			}
		})
	}
}

// KafkaController.processBrokerChange: new ids start, missing ids fail, an id registered again with a greater
// czxid is a bounced broker (failure then startup), and same-epoch endpoint changes are modifications.
func TestBrokerChangeDetectsBouncedBrokersByEpoch(t *testing.T) {
	ep := func(port int32) []zkregistry.Endpoint {
		return []zkregistry.Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h", Port: port}}
	}
	known := map[int32]zkregistry.BrokerInfo{
		1: {ID: 1, Epoch: 10, Endpoints: ep(1)},
		2: {ID: 2, Epoch: 20, Endpoints: ep(2)},
		3: {ID: 3, Epoch: 30, Endpoints: ep(3)},
		4: {ID: 4, Epoch: 40, Endpoints: ep(4)},
	}
	current := []zkregistry.BrokerInfo{
		{ID: 1, Epoch: 10, Endpoints: ep(1)},  // unchanged
		{ID: 2, Epoch: 25, Endpoints: ep(2)},  // restarted
		{ID: 4, Epoch: 40, Endpoints: ep(44)}, // new port, same session
		{ID: 5, Epoch: 50, Endpoints: ep(5)},  // new
		{ID: 6, Epoch: 60, Endpoints: ep(6)},  // new
	}
	d := diffBrokers(known, current)
	for _, c := range []struct {
		name      string
		got, want []int32
	}{
		{"added", d.added, []int32{5, 6}},
		{"dead", d.dead, []int32{3}},
		{"bounced", d.bounced, []int32{2}},
		{"changed", d.changed, []int32{4}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
