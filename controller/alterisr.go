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

// AlterIsr on the controller (KIP-497, reference 02 §14): partition leaders propose ISR changes, the
// controller checks them against its cached leadership, writes the state znode conditionally on the zkVersion
// the leader knows (fenced by the controller epoch), answers with the state written, and sends
// UpdateMetadata for the partitions to every broker. The leader epoch does not change and no LeaderAndIsr is
// sent: the leader applies the answer itself.

// ISRChange is one partition of an AlterIsr request.
type ISRChange struct {
	TopicPartition
	LeaderEpoch int32   // the leader epoch the leader holds
	NewISR      []int32 // the proposed ISR
	ZKVersion   int32   // CurrentIsrVersion: the state znode version the leader knows
}

// ISRResult is the answer for one partition: Err nil (NONE) with the partition's state after the request, or
// a *kerr.Error.
type ISRResult struct {
	Err         error
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
	ZKVersion   int32 // the state znode version after the write (CurrentIsrVersion in the answer)
}

// AlterISR handles an AlterIsr request from broker brokerID (registration epoch brokerEpoch) on the event
// loop. The error is kerr.NotController when this broker is not (or stopped being) the active controller,
// kerr.StaleBrokerEpoch when the broker is unknown or the epoch is not its current one, or ctx's error.
//
// Per partition, in order (Kafka 2.8's processAlterIsr, with the stricter checks marked *):
//   - unknown partition, or topic queued for deletion: UNKNOWN_TOPIC_OR_PARTITION;
//   - leader epoch different from the cached one: FENCED_LEADER_EPOCH (* Kafka 2.8 only refuses older ones;
//     a newer one was never issued by this controller);
//   - * requester not the cached leader: NOT_LEADER_OR_FOLLOWER;
//   - proposed ISR equal (as a set) to the cached one: NONE with the current state (a retry whose first
//     attempt succeeded);
//   - CurrentIsrVersion different from the cached zkVersion, or BADVERSION on the write:
//     INVALID_UPDATE_VERSION (the cache is then re-read from ZooKeeper);
//   - * an ISR that is empty, has duplicates or replicas outside the assignment, or lacks the leader:
//     INVALID_REQUEST;
//   - * replicas the proposal adds that are not live (not registered, or in controlled shutdown): the ISR is
//     written as proposed and answered (NONE), then those replicas leave it again at once through the
//     OfflineReplica path: leader epoch + 1, LeaderAndIsr to the other replicas, so the leader resets its
//     ISR state and the ineligible follower's fetches are fenced. Kafka 2.8 keeps them in the ISR until the
//     broker's registration goes; Kafka 3.3 (KIP-841) answers INELIGIBLE_REPLICA, which a 2.8-style leader
//     does not know (it retries, or stays pending with the replica in its maximal ISR until a LeaderAndIsr
//     that never comes). Writing what was proposed keeps a retried request idempotent (a leader whose answer
//     was lost gets NONE, or FENCED_LEADER_EPOCH with a LeaderAndIsr on its way), which writing a filtered
//     ISR would not.
func (c *Controller) AlterISR(ctx context.Context, brokerID int32, brokerEpoch int64, changes []ISRChange) (map[TopicPartition]ISRResult, error) {
	var results map[TopicPartition]ISRResult
	var rerr error
	err := c.call(ctx, func() { results, rerr = c.alterISR(brokerID, brokerEpoch, changes) })
	if errors.Is(err, errStopped) {
		return nil, kerr.NotController
	}
	if err != nil {
		return nil, err
	}
	return results, rerr
}

func (c *Controller) alterISR(brokerID int32, brokerEpoch int64, changes []ISRChange) (map[TopicPartition]ISRResult, error) {
	if !c.active.Load() {
		return nil, kerr.NotController
	}
	if info, ok := c.cc.brokers[brokerID]; !ok || info.Epoch != brokerEpoch {
		c.log.WithFields(logrus.Fields{"requester": brokerID, "request_broker_epoch": brokerEpoch, "known": ok,
			"broker_epoch": info.Epoch}).Info("AlterIsr from an unknown broker epoch")
		return nil, kerr.StaleBrokerEpoch
	}
	results := make(map[TopicPartition]ISRResult, len(changes))
	updates := make(map[TopicPartition]zkregistry.PartitionState)
	var requested []TopicPartition
	for _, ch := range changes {
		tp := ch.TopicPartition
		cur, known := c.cc.leadership[tp]
		// A topic queued for deletion waits for its reassignments, which need the ISR to grow.
		deleting := c.cc.isDeleting(tp.Topic) && !c.cc.reassigning[tp]
		if known && !deleting {
			requested = append(requested, tp)
		}
		switch {
		case !known || c.cc.assignment(tp) == nil || deleting:
			results[tp] = ISRResult{Err: kerr.UnknownTopicOrPartition}
		case ch.LeaderEpoch != cur.LeaderEpoch:
			results[tp] = ISRResult{Err: kerr.FencedLeaderEpoch}
		case brokerID != cur.Leader:
			results[tp] = ISRResult{Err: kerr.NotLeaderForPartition}
		case sameMembers(ch.NewISR, cur.ISR):
			results[tp] = stateResult(cur)
		case ch.ZKVersion != cur.ZKVersion:
			results[tp] = ISRResult{Err: kerr.InvalidUpdateVersion}
		default:
			if reason := invalidISR(ch.NewISR, c.cc.assignment(tp), cur.Leader); reason != "" {
				c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "isr": ch.NewISR,
					"reason": reason}).Warn("AlterIsr refused")
				results[tp] = ISRResult{Err: kerr.InvalidRequest}
				continue
			}
			updates[tp] = zkregistry.PartitionState{Leader: cur.Leader, LeaderEpoch: cur.LeaderEpoch,
				ISR: slices.Clone(ch.NewISR), ControllerEpoch: c.cc.epoch, ZKVersion: ch.ZKVersion}
		}
	}
	b := newBatch()
	if err := c.applyISRUpdates(updates, results, b); err != nil {
		c.afterError(err) // ends the term: the answer no longer comes from a controller
		return nil, kerr.NotController
	}
	sortTPs(requested)
	c.addUpdateMetadata(b, c.cc.registeredIDs(), requested)
	c.sendBatch(b)
	// A reassignment completes once its target replicas are all in the ISR (reference 02 §14 step 4).
	var reassigning []TopicPartition
	for _, tp := range requested {
		if r := results[tp]; r.Err == nil && c.cc.reassigning[tp] {
			reassigning = append(reassigning, tp)
		}
	}
	if err := c.resumeReassignments(reassigning); err != nil {
		c.afterError(err)
		return nil, kerr.NotController
	}
	return results, nil
}

// applyISRUpdates writes the accepted ISRs and fills their results. A BADVERSION means another write got in
// first (the cache was behind ZooKeeper): the partition is re-read so the leader's retry or the next
// LeaderAndIsr starts from the truth. Replicas written that are not live leave the ISR again right away
// (removeReplicasFromISR, its requests queued on b).
func (c *Controller) applyISRUpdates(updates map[TopicPartition]zkregistry.PartitionState, results map[TopicPartition]ISRResult,
	b *requestBatch) error {
	if len(updates) == 0 {
		return nil
	}
	updated, failed, err := c.zk.UpdatePartitionStates(c.cc.epochZkVersion, updates)
	if err != nil {
		return err
	}
	var reread []TopicPartition
	for tp, ferr := range failed {
		switch {
		case errors.Is(ferr, zkregistry.ErrBadVersion):
			results[tp] = ISRResult{Err: kerr.InvalidUpdateVersion}
			reread = append(reread, tp)
		case errors.Is(ferr, zkregistry.ErrNoNode):
			results[tp] = ISRResult{Err: kerr.UnknownTopicOrPartition}
		default:
			return fmt.Errorf("write isr of %s: %w", tp, ferr)
		}
	}
	if len(reread) > 0 {
		states, err := c.zk.GetPartitionStates(reread)
		if err != nil {
			return fmt.Errorf("read partition states: %w", err)
		}
		for tp, st := range states {
			c.cc.leadership[tp] = st
		}
	}
	ineligible := make(map[TopicPartition][]int32)
	for _, tp := range sortedTPKeys(updated) {
		st := updated[tp]
		c.cc.leadership[tp] = st
		results[tp] = stateResult(st)
		c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader,
			"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "zk_version": st.ZKVersion,
			"controller_epoch": st.ControllerEpoch}).Info("isr updated")
		if gone := notLive(st.ISR, st.Leader, c.cc.isLive); len(gone) > 0 {
			ineligible[tp] = gone
		}
	}
	if len(ineligible) == 0 {
		return nil
	}
	c.log.WithField("partitions", len(ineligible)).Info("AlterIsr added replicas that are not live; removing them")
	return c.removeReplicasFromISR(ineligible, b)
}

func stateResult(st zkregistry.PartitionState) ISRResult {
	return ISRResult{Leader: st.Leader, LeaderEpoch: st.LeaderEpoch, ISR: slices.Clone(st.ISR), ZKVersion: st.ZKVersion}
}

// sameMembers reports whether a and b hold the same replicas, in any order (a leader may list its ISR in
// any order).
func sameMembers(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// invalidISR says what is wrong with a proposed ISR, "" when nothing is.
func invalidISR(isr, assignment []int32, leader int32) string {
	if len(isr) == 0 {
		return "empty isr"
	}
	for i, r := range isr {
		if slices.Contains(isr[:i], r) {
			return fmt.Sprintf("replica %d listed twice", r)
		}
		if !slices.Contains(assignment, r) {
			return fmt.Sprintf("replica %d is not assigned to the partition", r)
		}
	}
	if !slices.Contains(isr, leader) {
		return "the leader is not in the isr"
	}
	return ""
}

// notLive lists the ISR members other than the leader that are not live (not registered, or shutting down).
func notLive(isr []int32, leader int32, live liveFunc) []int32 {
	var out []int32
	for _, r := range isr {
		if r != leader && !live(r) {
			out = append(out, r)
		}
	}
	return out
}
