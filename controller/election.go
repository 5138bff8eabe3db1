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

// removeReplicasFromISR is the OfflineReplica transition's ISR update (KafkaController.removeReplicasFromIsr)
// for every replica of one partition that goes offline in the same event: the leader becomes NoLeader if it
// is among them, and they leave the ISR, except that an ISR is never emptied. Kafka removes one replica at a
// time and keeps an ISR of one unchanged, so when several ISR members die together the survivor depends on
// the order; here the last leader is the one kept when it is among them (it has every committed record and
// possibly more), else the first of them in ISR order. Either way the kept replica is the only clean
// candidate later (unclean.leader.election.enable=false). changed is false when none of them is in the ISR:
// nothing is written.
func removeReplicasFromISR(leader int32, isr, gone []int32) (newLeader int32, newISR []int32, changed bool) {
	if !slices.ContainsFunc(isr, func(r int32) bool { return slices.Contains(gone, r) }) {
		return leader, isr, false
	}
	newLeader = leader
	if slices.Contains(gone, leader) {
		newLeader = zkregistry.NoLeader
	}
	for _, r := range isr {
		if !slices.Contains(gone, r) {
			newISR = append(newISR, r)
		}
	}
	if len(newISR) == 0 {
		keep := isr[0]
		if slices.Contains(isr, leader) {
			keep = leader
		}
		newISR = []int32{keep}
	}
	return newLeader, newISR, true
}

// preferredReplicaLeader is PartitionLeaderElectionAlgorithms.preferredReplicaPartitionLeaderElection: the
// preferred replica (first in the assignment) if it is live and in the ISR. The ISR is kept; every replica of
// the assignment receives the LeaderAndIsr.
func preferredReplicaLeader(assignment, isr []int32, live liveFunc) (int32, bool) {
	if len(assignment) == 0 || !live(assignment[0]) || !slices.Contains(isr, assignment[0]) {
		return zkregistry.NoLeader, false
	}
	return assignment[0], true
}

// controlledShutdownLeader is Election.leaderForControlledShutdown: the first replica in assignment order
// that is registered, in the ISR and not shutting down; the new ISR is the ISR minus every shutting-down
// broker. Registered replicas (shutting-down ones included, so the old leader becomes a follower) receive
// the LeaderAndIsr.
func controlledShutdownLeader(assignment, isr []int32, registered, shuttingDown liveFunc) (leader int32, newISR []int32, ok bool) {
	for _, r := range isr {
		if !shuttingDown(r) {
			newISR = append(newISR, r)
		}
	}
	for _, r := range assignment {
		if registered(r) && slices.Contains(isr, r) && !shuttingDown(r) {
			return r, newISR, true
		}
	}
	return zkregistry.NoLeader, nil, false
}

// reassignPartitionLeader is PartitionLeaderElectionAlgorithms.reassignPartitionLeaderElection, used when a
// reassignment completes and the leader is not a target replica or is not live: the first target replica
// (reassignment order) that is live and in the ISR. The ISR is kept (the removed replicas leave it next);
// every target replica receives the LeaderAndIsr.
func reassignPartitionLeader(target, isr []int32, live liveFunc) (int32, bool) {
	for _, r := range target {
		if live(r) && slices.Contains(isr, r) {
			return r, true
		}
	}
	return zkregistry.NoLeader, false
}
