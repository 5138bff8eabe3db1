package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Replica leader elections on demand (reference 02 §11): the ElectLeaders API (preferred or unclean), the
// legacy /admin/preferred_replica_election znode, and the automatic leader rebalance, which moves leadership
// back to preferred replicas when a broker's share of partitions led by someone else grows too large.

// ElectionType is ElectLeaders' ElectionType (v1+; v0 is always preferred).
type ElectionType int8

const (
	ElectPreferred ElectionType = 0 // the first assigned replica, if live and in the ISR
	ElectUnclean   ElectionType = 1 // partitions without a live leader: any live replica if no ISR member is
)

// ElectionResult is one partition's outcome: Err nil with the new Leader, or a *kerr.Error (possibly wrapped
// with a message).
type ElectionResult struct {
	Leader int32
	Err    error
}

// electionTrigger says who asked, which decides whether an unclean election may really be unclean.
type electionTrigger int8

const (
	adminTriggered electionTrigger = iota // ElectLeaders
	zkTriggered                           // /admin/preferred_replica_election
)

// ElectLeaders runs an election of the given type for tps on the event loop (Kafka's
// processReplicaLeaderElection, AdminClientTriggered). The error is kerr.NotController when this broker is
// not (or stopped being) the active controller, or ctx's error. Per partition:
//   - unknown: UNKNOWN_TOPIC_OR_PARTITION; topic queued for deletion: INVALID_TOPIC_EXCEPTION;
//   - preferred, and the preferred replica already leads; or unclean, and the leader is live:
//     ELECTION_NOT_NEEDED;
//   - no eligible leader: PREFERRED_LEADER_NOT_AVAILABLE (preferred) or ELIGIBLE_LEADERS_NOT_AVAILABLE
//     (unclean);
//   - elected: Err nil and the new leader (the state znode is written; brokers learn it through the
//     LeaderAndIsr and UpdateMetadata sent meanwhile).
func (c *Controller) ElectLeaders(ctx context.Context, typ ElectionType, tps []TopicPartition) (map[TopicPartition]ElectionResult, error) {
	var results map[TopicPartition]ElectionResult
	err := c.callActive(ctx, func() (err error) {
		results, err = c.electLeadersFor(typ, tps, adminTriggered)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// electLeadersFor classifies tps and elects the ones that need it. The error is a ZooKeeper failure that
// ends the term.
func (c *Controller) electLeadersFor(typ ElectionType, tps []TopicPartition, trigger electionTrigger) (map[TopicPartition]ElectionResult, error) {
	results := make(map[TopicPartition]ElectionResult, len(tps))
	var electable []TopicPartition
	seen := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		a := c.cc.assignment(tp)
		switch {
		case a == nil:
			results[tp] = ElectionResult{Leader: zkregistry.NoLeader, Err: fmt.Errorf("%w: the partition does not exist", kerr.UnknownTopicOrPartition)}
			continue
		case c.cc.isDeleting(tp.Topic):
			results[tp] = ElectionResult{Leader: zkregistry.NoLeader, Err: fmt.Errorf("%w: the topic is being deleted", kerr.InvalidTopicException)}
			continue
		}
		leader := zkregistry.NoLeader
		if st, ok := c.cc.leadership[tp]; ok {
			leader = st.Leader
		}
		needed := leader != a[0]
		if typ == ElectUnclean {
			needed = leader == zkregistry.NoLeader || !c.cc.isLive(leader)
		}
		if !needed {
			results[tp] = ElectionResult{Leader: leader, Err: kerr.ElectionNotNeeded}
			continue
		}
		electable = append(electable, tp)
	}
	sortTPs(electable)
	strategy, failCode := preferredElection, kerr.PreferredLeaderNotAvailable
	if typ == ElectUnclean {
		// Kafka only lets the admin API elect uncleanly; other triggers use the topic's setting.
		strategy, failCode = offlineElection, kerr.EligibleLeadersNotAvailable
		if trigger == adminTriggered {
			strategy = uncleanElection
		}
	}
	c.log.WithFields(logrus.Fields{"strategy": strategy.String(), "partitions": len(electable), "requested": len(tps)}).
		Info("replica leader election")
	b := newBatch()
	elected, failed, err := c.electPartitions(electable, strategy, b)
	c.sendBatch(b)
	if err != nil {
		return nil, err
	}
	for _, tp := range elected {
		results[tp] = ElectionResult{Leader: c.cc.leadership[tp].Leader}
	}
	for _, tp := range electable {
		if _, done := results[tp]; done {
			continue
		}
		reason, ok := failed[tp]
		if !ok {
			reason = "state znode vanished"
		}
		results[tp] = ElectionResult{Leader: zkregistry.NoLeader, Err: fmt.Errorf("%w: %s", failCode, reason)}
	}
	return results, nil
}

// onPreferredElectionZnode is Kafka's ReplicaLeaderElection with ZkTriggered: run preferred elections for the
// partitions listed in /admin/preferred_replica_election (written by kafka-preferred-replica-election.sh of
// old), then delete the znode, fenced. The watch's first delivery of a term covers failover step 11.
func (c *Controller) onPreferredElectionZnode(e preferredElectionZnode) error {
	if !e.exists {
		return nil
	}
	tps, err := zkregistry.DecodePreferredReplicaElection(e.data)
	if err != nil {
		c.log.WithError(err).Warn("unreadable preferred replica election request; deleting it")
	} else {
		results, err := c.electLeadersFor(ElectPreferred, tps, zkTriggered)
		if err != nil {
			return err
		}
		elected := 0
		for _, r := range results {
			if r.Err == nil {
				elected++
			}
		}
		c.log.WithFields(logrus.Fields{"partitions": len(tps), "elected": elected}).Info("preferred replica election from zookeeper done")
	}
	_, err = c.zk.Write(c.cc.epochZkVersion, zkregistry.DeleteOp(zkregistry.PreferredReplicaElectionPath, zkregistry.MatchAnyVersion))
	if err != nil && !errors.Is(err, zkregistry.ErrNoNode) {
		return fmt.Errorf("delete %s: %w", zkregistry.PreferredReplicaElectionPath, err)
	}
	return nil
}

// scheduleRebalance arms the next imbalance check of this term.
func (c *Controller) scheduleRebalance(d time.Duration) {
	if !c.cfg.AutoLeaderRebalance || !c.active.Load() {
		return // a check that ended the term schedules nothing for the next one
	}
	if c.rebalanceTimer != nil {
		c.rebalanceTimer.Stop()
	}
	term := c.term
	c.rebalanceTimer = time.AfterFunc(d, func() { c.post(c.loopCtx, autoRebalance{termed{term}}) })
}

// onAutoRebalance is Kafka's checkAndTriggerAutoLeaderRebalance, then the next check is scheduled. Partitions
// (of topics not being deleted) are grouped by preferred replica; for each broker b, the imbalance is the
// share of its preferred partitions led by another broker (partitions without a leader do not count). Above
// leader.imbalance.per.broker.percentage, preferred elections run for those partitions whose preferred
// replica is live and in the ISR. Nothing is done while a reassignment is in progress.
func (c *Controller) onAutoRebalance() error {
	defer c.scheduleRebalance(c.cfg.LeaderImbalanceCheckInterval)
	return c.rebalanceLeaders(c.cfg.LeaderImbalancePerBrokerPercentage)
}

// rebalanceLeaders is the imbalance check with threshold pct (percent).
func (c *Controller) rebalanceLeaders(pct int) error {
	if len(c.cc.reassigning) > 0 {
		return nil // Kafka does not rebalance while any partition is being reassigned
	}
	byPreferred := make(map[int32][]TopicPartition)
	for _, tp := range c.cc.allPartitions() {
		if a := c.cc.assignment(tp); len(a) > 0 && !c.cc.isDeleting(tp.Topic) {
			byPreferred[a[0]] = append(byPreferred[a[0]], tp)
		}
	}
	threshold := float64(pct) / 100
	var candidates []TopicPartition
	for _, broker := range sortedKeys(byPreferred) {
		tps := byPreferred[broker]
		var elsewhere []TopicPartition
		for _, tp := range tps {
			if st, ok := c.cc.leadership[tp]; ok && st.Leader != broker {
				elsewhere = append(elsewhere, tp)
			}
		}
		ratio := float64(len(elsewhere)) / float64(len(tps))
		if ratio <= threshold {
			continue
		}
		c.log.WithFields(logrus.Fields{"preferred_broker": broker, "imbalance_ratio": ratio,
			"partitions": len(tps)}).Info("leader imbalance above threshold")
		for _, tp := range elsewhere {
			st := c.cc.leadership[tp]
			if c.cc.isLive(broker) && !c.cc.isDeleting(tp.Topic) {
				if _, ok := preferredReplicaLeader(c.cc.assignment(tp), st.ISR, c.cc.isLive); ok {
					candidates = append(candidates, tp)
				}
			}
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	b := newBatch()
	elected, _, err := c.electPartitions(candidates, preferredElection, b)
	c.sendBatch(b)
	c.log.WithFields(logrus.Fields{"candidates": len(candidates), "elected": len(elected)}).Info("auto leader rebalance")
	return err
}
