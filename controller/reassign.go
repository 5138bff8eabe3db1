package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Partition reassignment (KIP-455; Kafka 2.8's KafkaController.onPartitionReassignment, reference 02 §8).
// Terms: ORS original replicas, TRS target replicas, RS = TRS ++ (ORS - TRS) the full set written to the
// topic znode while the move runs, AR = RS - ORS adding, RR = RS - TRS removing.
//
// A reassignment (API, legacy znode, or resumed) runs onPartitionReassignment:
//   - U1/U2: the topic znode gets RS, AR, RR (fenced), the context too; replicas of the previous RS that are
//     not in the new one (adding replicas of a superseded reassignment) are stopped and deleted at once;
//   - while TRS is not inside the ISR (read from ZooKeeper): A1/A2, the leader epoch is bumped (same leader
//     and ISR) and LeaderAndIsr with RS, AR, RR goes to ORS and, isNew, to AR, which start following;
//   - once it is: B1-B8, RS = TRS; the leader moves (Reassign election) if it is not a live target replica,
//     else its epoch is bumped; RR leave the ISR and get StopReplica(delete=false) then (delete=true); the
//     topic znode is rewritten with RS = TRS and no AR/RR; the legacy znode loses the entry; every broker
//     gets UpdateMetadata.
//
// The completion check re-runs the procedure after a successful AlterIsr of a reassigning partition, when a
// broker hosting a target replica starts, and at failover (reassignments recorded in the topic znodes).
// Topics with a reassignment in progress are not deleted until it ends; reassigning a topic queued for
// deletion is refused.

// Reassignment is a partition's assignment while it is being reassigned (ListPartitionReassignments).
type Reassignment struct {
	Replicas         []int32 // RS: the target replicas first, then the original ones being removed
	AddingReplicas   []int32 // AR
	RemovingReplicas []int32 // RR
}

// AlterPartitionReassignments starts, replaces or (nil target) cancels the reassignment of each partition,
// on the event loop (Kafka's processApiPartitionReassignment). The error is kerr.NotController when this
// broker is not (or stopped being) the active controller, or ctx's error. Per partition, nil when accepted,
// else a (wrapped) *kerr.Error:
//   - unknown partition, or topic queued for deletion: UNKNOWN_TOPIC_OR_PARTITION;
//   - cancellation of a partition not being reassigned: NO_REASSIGNMENT_IN_PROGRESS;
//   - empty target, duplicate or negative broker ids, or an adding replica whose broker is not live:
//     INVALID_REPLICA_ASSIGNMENT.
//
// A cancellation is a reassignment back to the original replicas. Accepted partitions are dropped from the
// legacy /admin/reassign_partitions znode (the API call supersedes it).
func (c *Controller) AlterPartitionReassignments(ctx context.Context, targets map[TopicPartition][]int32) (map[TopicPartition]error, error) {
	var results map[TopicPartition]error
	err := c.callActive(ctx, func() (err error) {
		results, err = c.alterReassignments(targets)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// ListPartitionReassignments returns the partitions of tps (nil: all) that are being reassigned, with
// their RS, AR and RR, on the event loop. Partitions not being reassigned, known or not, are left out (as
// Kafka does). The error is kerr.NotController or ctx's error.
func (c *Controller) ListPartitionReassignments(ctx context.Context, tps []TopicPartition) (map[TopicPartition]Reassignment, error) {
	var out map[TopicPartition]Reassignment
	err := c.callActive(ctx, func() error {
		if tps == nil {
			tps = sortedTPKeys(c.cc.reassigning)
		}
		out = make(map[TopicPartition]Reassignment)
		for _, tp := range tps {
			adding, removing := c.cc.reassignmentOf(tp)
			if len(adding) == 0 && len(removing) == 0 {
				continue // Kafka's isBeingReassigned
			}
			out[tp] = Reassignment{Replicas: slices.Clone(c.cc.assignment(tp)), AddingReplicas: adding, RemovingReplicas: removing}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Controller) alterReassignments(targets map[TopicPartition][]int32) (map[TopicPartition]error, error) {
	results := make(map[TopicPartition]error, len(targets))
	valid := make(map[TopicPartition][]int32)
	for _, tp := range sortedTPKeys(targets) {
		target := targets[tp]
		if err := c.validateReassignment(tp, target); err != nil {
			results[tp] = err
			continue
		}
		if target == nil {
			target = c.cc.originalReplicas(tp)
		}
		valid[tp] = target
	}
	if len(valid) == 0 {
		return results, nil
	}
	if err := c.removeFromZKReassignment(func(e zkregistry.ReassignPartition) bool {
		_, ok := valid[TopicPartition{Topic: e.Topic, Partition: e.Partition}]
		return ok
	}); err != nil {
		return nil, err
	}
	for _, tp := range sortedTPKeys(valid) {
		if err := c.reassignPartition(tp, valid[tp]); err != nil {
			return nil, err
		}
		results[tp] = nil
	}
	return results, nil
}

// validateReassignment is Kafka's maybeBuildReassignment + validateReplicas for one partition; target nil
// is a cancellation.
func (c *Controller) validateReassignment(tp TopicPartition, target []int32) error {
	switch {
	case c.cc.assignment(tp) == nil:
		return fmt.Errorf("%w: the partition does not exist", kerr.UnknownTopicOrPartition)
	case c.cc.isDeleting(tp.Topic):
		return fmt.Errorf("%w: the topic is being deleted", kerr.UnknownTopicOrPartition)
	case target == nil:
		if !c.cc.reassigning[tp] {
			return fmt.Errorf("%w: %s is not being reassigned", kerr.NoReassignmentInProgress, tp)
		}
		return nil
	case len(target) == 0:
		return fmt.Errorf("%w: empty replica list specified in partition reassignment", kerr.InvalidReplicaAssignment)
	}
	for i, r := range target {
		if r < 0 {
			return fmt.Errorf("%w: invalid broker id in replica list %v", kerr.InvalidReplicaAssignment, target)
		}
		if slices.Contains(target[:i], r) {
			return fmt.Errorf("%w: duplicate replica ids in partition reassignment replica list %v", kerr.InvalidReplicaAssignment, target)
		}
	}
	adding, _ := c.cc.reassignmentOf(tp)
	_, ar, _ := reassignTo(c.cc.assignment(tp), adding, target)
	for _, r := range ar {
		if !c.cc.isLive(r) {
			return fmt.Errorf("%w: replica assignment %v has brokers that are not alive (adding %v, live brokers %v)",
				kerr.InvalidReplicaAssignment, target, ar, liveReplicas(c.cc.registeredIDs(), c.cc.isLive))
		}
	}
	return nil
}

// reassignTo is Kafka's ReplicaAssignment.reassignTo: from the current RS and AR (ORS = RS - AR, so a new
// reassignment supersedes a running one) to target.
func reassignTo(replicas, adding, target []int32) (rs, ar, rr []int32) {
	ors := without(replicas, adding)
	rs = slices.Clone(target)
	for _, r := range ors {
		if !slices.Contains(rs, r) {
			rs = append(rs, r)
		}
	}
	return rs, without(rs, ors), without(rs, target)
}

// without returns the elements of a not in b, in a's order (never nil, as the request fields want arrays).
func without(a, b []int32) []int32 {
	out := []int32{}
	for _, r := range a {
		if !slices.Contains(b, r) {
			out = append(out, r)
		}
	}
	return out
}

// reassignmentOf returns a partition's AR and RR (empty when it is not being reassigned).
func (cc *controllerContext) reassignmentOf(tp TopicPartition) (adding, removing []int32) {
	t := cc.topics[tp.Topic]
	if t == nil {
		return []int32{}, []int32{}
	}
	return append([]int32{}, t.adding[tp.Partition]...), append([]int32{}, t.removing[tp.Partition]...)
}

// originalReplicas is ORS = RS - AR; targetReplicas is TRS = RS - RR.
func (cc *controllerContext) originalReplicas(tp TopicPartition) []int32 {
	adding, _ := cc.reassignmentOf(tp)
	return without(cc.assignment(tp), adding)
}

func (cc *controllerContext) targetReplicas(tp TopicPartition) []int32 {
	_, removing := cc.reassignmentOf(tp)
	return without(cc.assignment(tp), removing)
}

// setAssignment replaces a partition's RS, AR and RR in the context.
func (cc *controllerContext) setAssignment(tp TopicPartition, rs, ar, rr []int32) {
	t := cc.topics[tp.Topic]
	t.partitions[tp.Partition] = slices.Clone(rs)
	delete(t.adding, tp.Partition)
	delete(t.removing, tp.Partition)
	if len(ar) > 0 || len(rr) > 0 {
		t.adding[tp.Partition], t.removing[tp.Partition] = slices.Clone(ar), slices.Clone(rr)
	}
}

// topicReassigning reports whether any partition of topic is being reassigned.
func (cc *controllerContext) topicReassigning(topic string) bool {
	for tp := range cc.reassigning {
		if tp.Topic == topic {
			return true
		}
	}
	return false
}

// reassignPartition starts (or replaces) the reassignment of tp to target.
func (c *Controller) reassignPartition(tp TopicPartition, target []int32) error {
	adding, _ := c.cc.reassignmentOf(tp)
	rs, ar, rr := reassignTo(c.cc.assignment(tp), adding, target)
	return c.onPartitionReassignment(tp, rs, ar, rr)
}

// resumeReassignment re-runs the procedure with the partition's current assignment: the completion check.
func (c *Controller) resumeReassignment(tp TopicPartition) error {
	if !c.cc.reassigning[tp] || c.cc.assignment(tp) == nil {
		return nil
	}
	adding, removing := c.cc.reassignmentOf(tp)
	return c.onPartitionReassignment(tp, c.cc.assignment(tp), adding, removing)
}

// resumeReassignments runs the completion check for the partitions of tps being reassigned.
func (c *Controller) resumeReassignments(tps []TopicPartition) error {
	for _, tp := range tps {
		if err := c.resumeReassignment(tp); err != nil {
			return err
		}
	}
	return nil
}

// onPartitionReassignment is Kafka's onPartitionReassignment for the new assignment (rs, ar, rr).
func (c *Controller) onPartitionReassignment(tp TopicPartition, rs, ar, rr []int32) error {
	// U1/U2.
	oldRS := c.cc.assignment(tp)
	curAR, curRR := c.cc.reassignmentOf(tp)
	if !slices.Equal(oldRS, rs) || !slices.Equal(curAR, ar) || !slices.Equal(curRR, rr) {
		c.cc.setAssignment(tp, rs, ar, rr)
		if err := c.writeTopicZNode(tp.Topic); err != nil {
			return err
		}
		c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "replicas": rs,
			"adding_replicas": ar, "removing_replicas": rr, "previous_replicas": oldRS}).Info("reassignment updated")
		if unneeded := without(oldRS, rs); len(unneeded) > 0 {
			if err := c.stopRemovedReplicas(tp, unneeded); err != nil {
				return err
			}
		}
	}
	c.cc.reassigning[tp] = true
	done, err := c.reassignmentComplete(tp)
	if err != nil || done {
		if err != nil {
			return err
		}
		return c.completeReassignment(tp)
	}
	// A1/A2: the new RS, AR and RR reach ORS, and AR (isNew) starts following.
	bumped, err := c.bumpLeaderEpoch(tp)
	if err != nil || !bumped {
		return err
	}
	b := newBatch()
	c.addLeaderAndIsr(b, without(rs, ar), tp, false)
	c.addLeaderAndIsr(b, ar, tp, true)
	c.sendBatch(b)
	return nil
}

// reassignmentComplete is Kafka's isReassignmentComplete: nothing to add or remove, or TRS inside the ISR
// read from ZooKeeper.
func (c *Controller) reassignmentComplete(tp TopicPartition) (bool, error) {
	adding, removing := c.cc.reassignmentOf(tp)
	if len(adding) == 0 && len(removing) == 0 {
		return true, nil
	}
	st, err := c.zk.GetPartitionState(tp)
	if errors.Is(err, zkregistry.ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state of %s: %w", tp, err)
	}
	for _, r := range c.cc.targetReplicas(tp) {
		if !slices.Contains(st.ISR, r) {
			return false, nil
		}
	}
	return true, nil
}

// completeReassignment is B1-B8 of onPartitionReassignment.
func (c *Controller) completeReassignment(tp TopicPartition) error {
	target := c.cc.targetReplicas(tp)
	_, removing := c.cc.reassignmentOf(tp)
	// B1 (AR are online: nothing to send), B2.
	c.cc.setAssignment(tp, target, nil, nil)
	// B3.
	b := newBatch()
	if st, ok := c.cc.leadership[tp]; ok {
		if !slices.Contains(target, st.Leader) || !c.cc.isLive(st.Leader) {
			if _, _, err := c.electPartitions([]TopicPartition{tp}, reassignElection, b); err != nil {
				return err
			}
		} else {
			bumped, err := c.bumpLeaderEpoch(tp)
			if err != nil {
				return err
			}
			if bumped {
				c.addLeaderAndIsr(b, target, tp, false)
			}
		}
	}
	c.sendBatch(b)
	// B4/B5.
	if len(removing) > 0 {
		if err := c.stopRemovedReplicas(tp, removing); err != nil {
			return err
		}
	}
	// B6, B7.
	if err := c.writeTopicZNode(tp.Topic); err != nil {
		return err
	}
	if err := c.removeFromZKReassignment(func(e zkregistry.ReassignPartition) bool {
		return e.Topic == tp.Topic && e.Partition == tp.Partition && slices.Equal(e.Replicas, target)
	}); err != nil {
		return err
	}
	delete(c.cc.reassigning, tp)
	// B8.
	b = newBatch()
	c.addUpdateMetadata(b, c.cc.registeredIDs(), []TopicPartition{tp})
	c.sendBatch(b)
	c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "replicas": target,
		"removed_replicas": removing}).Info("reassignment completed")
	if c.cc.isDeleting(tp.Topic) && !c.cc.topicReassigning(tp.Topic) {
		return c.resumeDeletions()
	}
	return nil
}

// stopRemovedReplicas takes replicas that leave a partition's assignment through OfflineReplica (StopReplica
// delete=false, out of the ISR in ZooKeeper) to NonExistentReplica (StopReplica delete=true), as Kafka's
// stopRemovedReplicasOfReassignedPartition. Replicas on brokers that are not live get nothing (their logs
// stay until the broker deletes strays, as in Kafka).
//
// The delete=true request must carry a leader epoch newer than any the replica has seen, or the broker
// fences it: when none of them was in the ISR (no ISR write, so no bump), the leader epoch is bumped
// explicitly and the remaining replicas get the LeaderAndIsr. Kafka 2.8 leaves that case to the fencing
// (a superseded adding replica that never joined the ISR keeps its log there).
func (c *Controller) stopRemovedReplicas(tp TopicPartition, replicas []int32) error {
	b := newBatch()
	for _, r := range replicas {
		c.addStopReplica(b, r, tp, false)
	}
	sent := noEpoch
	if st, ok := c.cc.leadership[tp]; ok {
		sent = st.LeaderEpoch
	}
	if err := c.removeReplicasFromISR(map[TopicPartition][]int32{tp: replicas}, b); err != nil {
		return err
	}
	c.sendBatch(b)
	if st, ok := c.cc.leadership[tp]; ok && st.LeaderEpoch <= sent && !c.cc.isDeleting(tp.Topic) {
		bumped, err := c.bumpLeaderEpoch(tp)
		if err != nil {
			return err
		}
		if bumped {
			b = newBatch()
			c.addLeaderAndIsr(b, c.cc.assignment(tp), tp, false)
			c.sendBatch(b)
		}
	}
	b = newBatch()
	for _, r := range replicas {
		c.addStopReplica(b, r, tp, true)
	}
	c.sendBatch(b)
	c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "replicas": replicas}).
		Info("removed replicas stopped and deleted")
	return nil
}

// bumpLeaderEpoch is Kafka's updateLeaderEpoch: the state znode rewritten with the same leader and ISR, the
// leader epoch + 1 and this controller's epoch, conditionally (BADVERSION: re-read and retry). false when
// the partition has no state znode or a newer controller wrote it.
func (c *Controller) bumpLeaderEpoch(tp TopicPartition) (bool, error) {
	for {
		cur, err := c.zk.GetPartitionState(tp)
		if errors.Is(err, zkregistry.ErrNoNode) {
			c.logFailedStateChange(tp, c.cc.states[tp], "leader epoch bump: no state znode")
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read state of %s: %w", tp, err)
		}
		if cur.ControllerEpoch > c.cc.epoch {
			c.logFailedStateChange(tp, c.cc.states[tp], "leader epoch bump: state znode written by a newer controller")
			return false, nil
		}
		next := cur
		next.ISR = slices.Clone(cur.ISR)
		next.LeaderEpoch++
		next.ControllerEpoch = c.cc.epoch
		retry, written, err := c.writePartitionStates(map[TopicPartition]zkregistry.PartitionState{tp: next})
		if err != nil {
			return false, err
		}
		if len(written) > 0 {
			c.logStateChange(tp, c.cc.leadership[tp], "leader epoch bumped for reassignment")
			return true, nil
		}
		if len(retry) == 0 {
			return false, nil // the znode vanished
		}
	}
}

// writeTopicZNode writes the topic's assignment from the context (fenced).
func (c *Controller) writeTopicZNode(topic string) error {
	t := c.cc.topics[topic]
	if err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, topic, t.znode()); err != nil {
		return fmt.Errorf("write assignment of %s: %w", topic, err)
	}
	return nil
}
