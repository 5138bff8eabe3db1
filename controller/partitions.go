package controller

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// The partition state machine's transitions to OnlinePartition and the OfflineReplica ISR update (Kafka's
// PartitionStateMachine and ReplicaStateMachine, reference 02 §6, §7). Each reads the state znodes it changes
// from ZooKeeper, decides with the pure functions of election.go, and writes conditionally on the zkVersion
// read, fenced by the controller epoch; a BADVERSION (someone else wrote meanwhile) re-reads and retries.

// uncleanConfigKey is the topic (and broker) config enabling unclean leader election.
const uncleanConfigKey = "unclean.leader.election.enable"

// logStateChange writes a state-change line (Kafka's StateChangeLogger).
func (c *Controller) logStateChange(tp TopicPartition, st zkregistry.PartitionState, msg string) {
	c.stateLog.WithFields(logrus.Fields{
		"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader, "leader_epoch": st.LeaderEpoch,
		"isr": st.ISR, "controller_epoch": st.ControllerEpoch,
	}).Info(msg)
}

// logFailedStateChange records a transition that did not happen; the partition keeps its state.
func (c *Controller) logFailedStateChange(tp TopicPartition, target partitionState, reason string) {
	c.stateLog.WithFields(logrus.Fields{
		"topic": tp.Topic, "partition": tp.Partition, "from": c.cc.states[tp], "to": target,
		"controller_epoch": c.cc.epoch, "reason": reason,
	}).Warn("partition state change failed")
}

func (c *Controller) setPartitionState(tp TopicPartition, s partitionState) {
	if old, ok := c.cc.states[tp]; ok && old == s {
		return
	}
	c.cc.states[tp] = s
	c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "state": s,
		"controller_epoch": c.cc.epoch}).Info("partition state changed")
}

// triggerOnlinePartitionStateChange moves every New and Offline partition of topics not queued for deletion
// to OnlinePartition with the offline election (allowUnclean=false: the topic or broker config decides).
// It returns how many partitions came online.
func (c *Controller) triggerOnlinePartitionStateChange() (int, error) {
	var fresh, offline []TopicPartition
	for tp, s := range c.cc.states {
		if c.cc.isDeleting(tp.Topic) {
			continue
		}
		switch s {
		case newPartition:
			fresh = append(fresh, tp)
		case offlinePartition:
			offline = append(offline, tp)
		}
	}
	sortTPs(fresh)
	sortTPs(offline)
	b := newBatch()
	n1, err := c.initializePartitions(fresh, b)
	if err != nil {
		return n1, err
	}
	n2, err := c.electOfflinePartitions(offline, false, b)
	c.sendBatch(b)
	return n1 + n2, err
}

// initializePartitions is NewPartition -> OnlinePartition: create the state znodes with leader = first live
// replica and ISR = live replicas, then LeaderAndIsr (isNew) to the ISR and UpdateMetadata to all brokers.
// Partitions without a live replica stay NewPartition; an existing state znode fails the partition.
func (c *Controller) initializePartitions(tps []TopicPartition, b *requestBatch) (int, error) {
	if len(tps) == 0 {
		return 0, nil
	}
	states := make(map[TopicPartition]zkregistry.PartitionState, len(tps))
	for _, tp := range tps {
		leader, isr, ok := initialLeaderAndISR(c.cc.assignment(tp), c.cc.isLive)
		if !ok {
			c.logFailedStateChange(tp, onlinePartition, "no live replica in the assignment")
			continue
		}
		states[tp] = zkregistry.PartitionState{Leader: leader, LeaderEpoch: 0, ISR: isr, ControllerEpoch: c.cc.epoch}
	}
	results, err := c.zk.CreatePartitionStates(c.cc.epochZkVersion, states)
	if errors.Is(err, zkregistry.ErrControllerMoved) {
		return 0, err
	}
	n := 0
	for _, tp := range tps {
		st, tried := states[tp]
		if !tried {
			continue
		}
		switch rerr := results[tp]; {
		case rerr == nil:
			st.ZKVersion = 0
			c.cc.leadership[tp] = st
			c.setPartitionState(tp, onlinePartition)
			c.logStateChange(tp, st, "partition initialized")
			c.addLeaderAndIsr(b, st.ISR, tp, true)
			n++
		case errors.Is(rerr, zkregistry.ErrNodeExists):
			c.logFailedStateChange(tp, onlinePartition, "state znode already exists")
		default:
			return n, fmt.Errorf("initialize %s: %w", tp, rerr)
		}
	}
	return n, nil
}

// electionStrategy names the leader election of a transition to OnlinePartition (reference 02 §6.3).
type electionStrategy int8

const (
	offlineElection            electionStrategy = iota // live ISR member; unclean only if the topic config allows
	uncleanElection                                    // ElectLeaders UNCLEAN: offline election with allowUnclean
	preferredElection                                  // the preferred replica, if live and in the ISR
	controlledShutdownElection                         // an ISR member that is not shutting down
	reassignElection                                   // a target replica in the ISR (reassignment completion)
)

func (s electionStrategy) String() string {
	switch s {
	case offlineElection:
		return "offline"
	case uncleanElection:
		return "unclean"
	case preferredElection:
		return "preferred"
	case reassignElection:
		return "reassign"
	default:
		return "controlled_shutdown"
	}
}

// electOfflinePartitions is Offline/Online -> OnlinePartition with the offline election strategy. It returns
// how many partitions got a leader.
func (c *Controller) electOfflinePartitions(tps []TopicPartition, allowUnclean bool, b *requestBatch) (int, error) {
	s := offlineElection
	if allowUnclean {
		s = uncleanElection
	}
	elected, _, err := c.electPartitions(tps, s, b)
	return len(elected), err
}

// electPartitions is the election part of the partition state machine (PartitionStateMachine
// doElectLeaderForPartitions): read the state znodes, decide with the strategy, write conditionally (the
// leader epoch + 1, this controller's epoch), re-read and retry on BADVERSION; LeaderAndIsr to the strategy's
// recipients and UpdateMetadata to every broker. Partitions that cannot elect keep their state and are
// returned in failed with the reason.
func (c *Controller) electPartitions(tps []TopicPartition, s electionStrategy, b *requestBatch) (elected []TopicPartition, failed map[TopicPartition]string, err error) {
	failed = make(map[TopicPartition]string)
	unclean := make(map[string]bool) // per topic, read once per call
	for remaining := tps; len(remaining) > 0; {
		current, err := c.zk.GetPartitionStates(remaining)
		if err != nil {
			return elected, failed, fmt.Errorf("read partition states: %w", err)
		}
		updates := make(map[TopicPartition]zkregistry.PartitionState)
		recipients := make(map[TopicPartition][]int32)
		uncleanUsed := make(map[TopicPartition]bool)
		for _, tp := range remaining {
			cur, ok := current[tp]
			switch {
			case !ok:
				failed[tp] = "no state znode"
			case cur.ControllerEpoch > c.cc.epoch:
				failed[tp] = "state znode written by a newer controller"
			default:
				next, to, wasUnclean, reason := c.decideLeader(tp, cur, s, unclean)
				if reason != "" {
					failed[tp] = reason
					break
				}
				updates[tp], recipients[tp], uncleanUsed[tp] = next, to, wasUnclean
			}
			if reason, ok := failed[tp]; ok {
				c.logFailedStateChange(tp, onlinePartition, s.String()+" election: "+reason)
			}
		}
		retry, written, err := c.writePartitionStates(updates)
		if err != nil {
			return elected, failed, err
		}
		for _, tp := range written {
			st := c.cc.leadership[tp]
			c.setPartitionState(tp, onlinePartition)
			msg := "leader elected"
			if uncleanUsed[tp] {
				msg = "unclean leader elected"
			}
			c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader,
				"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "controller_epoch": st.ControllerEpoch,
				"strategy": s.String()}).Info(msg)
			c.addLeaderAndIsr(b, recipients[tp], tp, false)
			elected = append(elected, tp)
		}
		remaining = retry
	}
	return elected, failed, nil
}

// decideLeader applies strategy s to a partition's current state: the state to write, the LeaderAndIsr
// recipients, whether the leader is an unclean choice, or why there is no leader.
func (c *Controller) decideLeader(tp TopicPartition, cur zkregistry.PartitionState, s electionStrategy, unclean map[string]bool) (
	next zkregistry.PartitionState, recipients []int32, wasUnclean bool, reason string) {
	a := c.cc.assignment(tp)
	var leader int32
	var isr []int32
	switch s {
	case offlineElection, uncleanElection:
		allow := s == uncleanElection
		if !allow && !hasLiveISRMember(cur.ISR, c.cc.isLive) {
			var err error
			if allow, err = c.uncleanEnabled(tp.Topic, unclean); err != nil {
				return next, nil, false, "cannot read topic config: " + err.Error()
			}
		}
		var ok bool
		if leader, isr, wasUnclean, ok = leaderForOffline(a, cur.ISR, c.cc.isLive, allow); !ok {
			return next, nil, false, "no live replica in the isr and unclean election disabled"
		}
		recipients = liveReplicas(a, c.cc.isLive)
	case preferredElection:
		var ok bool
		if leader, ok = preferredReplicaLeader(a, cur.ISR, c.cc.isLive); !ok {
			return next, nil, false, "preferred replica not live or not in the isr"
		}
		isr, recipients = slices.Clone(cur.ISR), slices.Clone(a)
	case controlledShutdownElection:
		var ok bool
		if leader, isr, ok = controlledShutdownLeader(a, cur.ISR, c.cc.isRegistered, c.cc.isShuttingDown); !ok {
			return next, nil, false, "no isr member outside the shutting-down brokers"
		}
		recipients = liveReplicas(a, c.cc.isRegistered)
	case reassignElection:
		// At completion (B3) the context's assignment is already the target (B2).
		var ok bool
		if leader, ok = reassignPartitionLeader(a, cur.ISR, c.cc.isLive); !ok {
			return next, nil, false, "no target replica live and in the isr"
		}
		isr, recipients = slices.Clone(cur.ISR), slices.Clone(a)
	}
	next = zkregistry.PartitionState{Leader: leader, LeaderEpoch: cur.LeaderEpoch + 1, ISR: isr,
		ControllerEpoch: c.cc.epoch, ZKVersion: cur.ZKVersion}
	return next, recipients, wasUnclean, ""
}

// writePartitionStates writes updates conditionally and caches the successes. It returns the partitions
// that hit BADVERSION (to re-read and retry) and those written, sorted; ErrControllerMoved ends the term.
func (c *Controller) writePartitionStates(updates map[TopicPartition]zkregistry.PartitionState) (retry, written []TopicPartition, err error) {
	if len(updates) == 0 {
		return nil, nil, nil
	}
	updated, failed, err := c.zk.UpdatePartitionStates(c.cc.epochZkVersion, updates)
	if err != nil {
		return nil, nil, err
	}
	for tp, ferr := range failed {
		switch {
		case errors.Is(ferr, zkregistry.ErrBadVersion):
			retry = append(retry, tp)
		case errors.Is(ferr, zkregistry.ErrNoNode):
			c.logFailedStateChange(tp, onlinePartition, "state znode vanished")
		default:
			return nil, nil, fmt.Errorf("write state of %s: %w", tp, ferr)
		}
	}
	for tp, st := range updated {
		c.cc.leadership[tp] = st
		written = append(written, tp)
	}
	sortTPs(retry)
	sortTPs(written)
	return retry, written, nil
}

// uncleanEnabled reads unclean.leader.election.enable for topic: the topic override, else the broker
// default. cache holds the answers of this election round.
func (c *Controller) uncleanEnabled(topic string, cache map[string]bool) (bool, error) {
	if v, ok := cache[topic]; ok {
		return v, nil
	}
	cfg, err := c.zk.GetTopicConfig(topic)
	if err != nil {
		return false, err
	}
	v := c.cfg.UncleanLeaderElection
	if s, ok := cfg[uncleanConfigKey]; ok {
		v = s == "true"
	}
	cache[topic] = v
	return v, nil
}

// removeReplicasFromISR is the OfflineReplica transition (Kafka's removeReplicasFromIsr) for the replicas
// gone[tp] of each partition: they leave its ISR in ZooKeeper (leader -1 if the leader is among them; the ISR
// is never emptied, see removeReplicasFromISR in election.go), with the leader epoch bumped; the partition's
// other replicas get the resulting LeaderAndIsr (none for topics queued for deletion), and every broker
// UpdateMetadata. Partitions without a state znode are skipped.
func (c *Controller) removeReplicasFromISR(gone map[TopicPartition][]int32, b *requestBatch) error {
	for remaining := sortedTPKeys(gone); len(remaining) > 0; {
		current, err := c.zk.GetPartitionStates(remaining)
		if err != nil {
			return fmt.Errorf("read partition states: %w", err)
		}
		updates := make(map[TopicPartition]zkregistry.PartitionState)
		var unchanged []TopicPartition
		for _, tp := range remaining {
			cur, ok := current[tp]
			switch {
			case !ok:
				continue // never initialised: nothing to shrink
			case cur.ControllerEpoch > c.cc.epoch:
				c.logFailedStateChange(tp, c.cc.states[tp], "state znode written by a newer controller")
				continue
			}
			leader, isr, changed := removeReplicasFromISR(cur.Leader, cur.ISR, gone[tp])
			if !changed {
				c.cc.leadership[tp] = cur
				unchanged = append(unchanged, tp)
				continue
			}
			updates[tp] = zkregistry.PartitionState{Leader: leader, LeaderEpoch: cur.LeaderEpoch + 1, ISR: isr,
				ControllerEpoch: c.cc.epoch, ZKVersion: cur.ZKVersion}
		}
		retry, written, err := c.writePartitionStates(updates)
		if err != nil {
			return err
		}
		for _, tp := range written {
			st := c.cc.leadership[tp]
			if st.Leader == zkregistry.NoLeader {
				c.setPartitionState(tp, offlinePartition)
			}
			c.stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader,
				"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "controller_epoch": st.ControllerEpoch,
				"replicas": gone[tp]}).Info("replicas removed from isr")
		}
		for _, tp := range append(unchanged, written...) {
			if c.cc.isDeleting(tp.Topic) {
				continue
			}
			others := slices.DeleteFunc(slices.Clone(c.cc.assignment(tp)), func(r int32) bool { return slices.Contains(gone[tp], r) })
			c.addLeaderAndIsr(b, others, tp, false)
		}
		remaining = retry
	}
	return nil
}
