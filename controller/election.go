package controller

import (
	"slices"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Leader and ISR decisions as pure functions of (assignment, ZooKeeper state, liveness), Kafka's
// PartitionLeaderElectionAlgorithms and Election.scala (reference 02 §6.3, §7). The event loop reads the
// inputs, calls these, and writes the results with conditional, fenced ZooKeeper writes.

// liveFunc reports whether a replica's broker is online.
type liveFunc func(broker int32) bool

// liveReplicas returns the online replicas of assignment, in assignment order.
func liveReplicas(assignment []int32, live liveFunc) []int32 {
	var out []int32
	for _, r := range assignment {
		if live(r) {
			out = append(out, r)
		}
	}
	return out
}

// hasLiveISRMember reports whether any ISR member is online; when none is, whether unclean election is
// allowed must be looked up (topic config), as Kafka's collectUncleanLeaderElectionState does.
func hasLiveISRMember(isr []int32, live liveFunc) bool {
	return slices.ContainsFunc(isr, live)
}

// offlinePartitionLeader is PartitionLeaderElectionAlgorithms.offlinePartitionLeaderElection: the first
// replica in assignment order that is live and in the ISR; if there is none and unclean election is enabled,
// the first live replica (unclean reports that case: data may be lost).
func offlinePartitionLeader(assignment, isr []int32, live liveFunc, uncleanEnabled bool) (leader int32, unclean, ok bool) {
	for _, r := range assignment {
		if live(r) && slices.Contains(isr, r) {
			return r, false, true
		}
	}
	if uncleanEnabled {
		for _, r := range assignment {
			if live(r) {
				return r, true, true
			}
		}
	}
	return zkregistry.NoLeader, false, false
}

// leaderForOffline is Election.leaderForOffline: the new leader and ISR of a new or offline partition. A
// leader from the ISR keeps the ISR's live members (ISR order); an unclean leader starts a new ISR of itself.
// Every live replica receives the resulting LeaderAndIsr.
func leaderForOffline(assignment, isr []int32, live liveFunc, uncleanEnabled bool) (leader int32, newISR []int32, unclean, ok bool) {
	leader, unclean, ok = offlinePartitionLeader(assignment, isr, live, uncleanEnabled)
	if !ok {
		return zkregistry.NoLeader, nil, false, false
	}
	if slices.Contains(isr, leader) {
		return leader, liveReplicas(isr, live), unclean, true
	}
	return leader, []int32{leader}, unclean, true
}

// initialLeaderAndISR is the NewPartition -> OnlinePartition initialisation
// (PartitionStateMachine.initializeLeaderAndIsrForPartitions): leader = the first live replica in assignment
// order, ISR = all live replicas in assignment order. ok is false when no replica is live (the partition stays
// NewPartition).
func initialLeaderAndISR(assignment []int32, live liveFunc) (leader int32, isr []int32, ok bool) {
	isr = liveReplicas(assignment, live)
	if len(isr) == 0 {
		return zkregistry.NoLeader, nil, false
	}
	return isr[0], isr, true
}

// removeReplicaFromISR is the OfflineReplica transition's ISR update (KafkaController.removeReplicasFromIsr):
// the leader becomes NoLeader if the replica led, and the replica leaves the ISR unless the ISR has only one
// member (Kafka never empties an ISR: the last member is the only clean candidate later). changed is false
// when the replica is not in the ISR: nothing is written.
func removeReplicaFromISR(leader int32, isr []int32, replica int32) (newLeader int32, newISR []int32, changed bool) {
	if !slices.Contains(isr, replica) {
		return leader, isr, false
	}
	newLeader = leader
	if leader == replica {
		newLeader = zkregistry.NoLeader
	}
	if len(isr) == 1 {
		return newLeader, slices.Clone(isr), true
	}
	for _, r := range isr {
		if r != replica {
			newISR = append(newISR, r)
		}
	}
	return newLeader, newISR, true
}
