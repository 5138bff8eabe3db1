package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/samsa-broker/samsa/zkregistry"
)

// failover loads the cluster from ZooKeeper and brings it to a consistent state: Kafka's
// onControllerFailover (reference 02 §3).
func (c *Controller) failover() error {
	if err := c.enableFeatureVersioning(); err != nil {
		return err
	}
	// Watches first: a change after the reads below then reaches the loop as an event. Their first
	// deliveries find nothing new.
	term := c.term
	c.watches = append(c.watches,
		c.zk.WatchChildren(zkregistry.BrokerIDsPath, func(ctx context.Context, _ []string, _ *zkregistry.Stat) {
			c.post(ctx, brokerChange{termed{term}})
		}),
		c.zk.WatchChildren(zkregistry.TopicsPath, func(ctx context.Context, children []string, _ *zkregistry.Stat) {
			c.post(ctx, topicChange{termed{term}, children})
		}),
		c.zk.WatchChildren(zkregistry.DeleteTopicsPath, func(ctx context.Context, children []string, _ *zkregistry.Stat) {
			c.post(ctx, topicDeletionChange{termed{term}, children})
		}),
		// Its first delivery comes after this failover: step 11 (pending preferred elections).
		c.zk.WatchData(zkregistry.PreferredReplicaElectionPath, func(ctx context.Context, data []byte, stat *zkregistry.Stat) {
			c.post(ctx, preferredElectionZnode{termed: termed{term}, data: data, exists: stat != nil})
		}),
		// Likewise step 9's first half (reassignments listed in /admin/reassign_partitions).
		c.watchZKReassignment(),
	)
	// Notifications written before this term are stale: the state is read in full below. (ISR changes
	// reach the controller through AlterIsr or the state znodes; log-dir events are not handled yet.)
	for _, p := range []string{zkregistry.IsrChangeNotificationPath, zkregistry.LogDirEventNotificationPath} {
		if err := c.deleteChildren(p); err != nil {
			return err
		}
	}
	if err := c.loadBrokers(); err != nil {
		return err
	}
	topics, err := c.zk.GetTopics()
	if err != nil {
		return fmt.Errorf("read topics: %w", err)
	}
	if _, err := c.addTopics(topics); err != nil {
		return err
	}
	if err := c.loadPartitionStates(); err != nil {
		return err
	}
	markers, err := c.zk.GetTopicDeletions()
	if err != nil {
		return fmt.Errorf("read topic deletions: %w", err)
	}
	if err := c.enqueueDeletions(markers); err != nil {
		return err
	}

	// Brokers must know the live brokers before they can follow anyone.
	b := newBatch()
	c.addUpdateMetadata(b, c.cc.registeredIDs(), nil)
	c.sendBatch(b)

	if err := c.startReplicas(); err != nil {
		return err
	}
	if _, err := c.triggerOnlinePartitionStateChange(); err != nil {
		return err
	}
	// Step 9: reassignments an earlier controller started, recorded in the topic znodes' adding and
	// removing replicas, continue (or complete).
	if err := c.resumeReassignments(sortedTPKeys(c.cc.reassigning)); err != nil {
		return err
	}
	if err := c.resumeDeletions(); err != nil {
		return err
	}
	c.scheduleRebalance(c.cfg.FirstRebalanceDelay)
	return nil
}

// enableFeatureVersioning creates /feature enabled with no finalized features, or enables an existing
// disabled one, as a Kafka 2.8 controller at IBP >= 2.7-IV0 does.
func (c *Controller) enableFeatureVersioning() error {
	data, _, err := c.zk.Get(zkregistry.FeaturePath)
	if errors.Is(err, zkregistry.ErrNoNode) {
		node := zkregistry.FeatureZNode{Status: zkregistry.FeatureEnabled, Features: map[string]zkregistry.VersionRange{}}
		_, err = c.zk.Write(c.cc.epochZkVersion, zkregistry.CreateOp(zkregistry.FeaturePath, node.Encode(), zkregistry.Persistent))
		if err == nil || errors.Is(err, zkregistry.ErrNodeExists) {
			return nil
		}
		return fmt.Errorf("create %s: %w", zkregistry.FeaturePath, err)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", zkregistry.FeaturePath, err)
	}
	node, err := zkregistry.DecodeFeatureZNode(data)
	if err != nil || node.Status == zkregistry.FeatureEnabled {
		return nil // an unreadable node is left alone, as brokers ignore it too
	}
	node.Status = zkregistry.FeatureEnabled
	if _, err := c.zk.Write(c.cc.epochZkVersion, zkregistry.SetDataOp(zkregistry.FeaturePath, node.Encode(), zkregistry.MatchAnyVersion)); err != nil {
		return fmt.Errorf("enable %s: %w", zkregistry.FeaturePath, err)
	}
	return nil
}

// deleteChildren removes the children of path, fenced.
func (c *Controller) deleteChildren(path string) error {
	children, err := c.zk.Children(path)
	if errors.Is(err, zkregistry.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", path, err)
	}
	for _, ch := range children {
		_, err := c.zk.Write(c.cc.epochZkVersion, zkregistry.DeleteOp(path+"/"+ch, zkregistry.MatchAnyVersion))
		if err != nil && !errors.Is(err, zkregistry.ErrNoNode) {
			return fmt.Errorf("delete %s/%s: %w", path, ch, err)
		}
	}
	return nil
}

// loadBrokers reads the live brokers with their epochs, watches each registration and opens the channels.
func (c *Controller) loadBrokers() error {
	infos, err := c.zk.GetBrokers()
	if err != nil {
		return fmt.Errorf("read brokers: %w", err)
	}
	for _, info := range infos {
		c.cc.brokers[info.ID] = info
		c.watchBroker(info.ID)
		c.channels.add(info)
	}
	return nil
}

// loadPartitionStates caches every state znode and derives the partition states: a live leader is Online, a
// dead or missing one Offline, no znode New (reference 02 §3 step 8).
func (c *Controller) loadPartitionStates() error {
	tps := c.cc.allPartitions()
	states, err := c.zk.GetPartitionStates(tps)
	if err != nil {
		return fmt.Errorf("read partition states: %w", err)
	}
	for _, tp := range tps {
		st, ok := states[tp]
		switch {
		case !ok:
			c.cc.states[tp] = newPartition
		case c.cc.isLive(st.Leader):
			c.cc.leadership[tp] = st
			c.cc.states[tp] = onlinePartition
		default:
			c.cc.leadership[tp] = st
			c.cc.states[tp] = offlinePartition
		}
	}
	return nil
}

// startReplicas is the replica state machine's startup: every live replica gets LeaderAndIsr with the
// current state (OnlineReplica), and replicas on dead brokers leave the ISRs (OfflineReplica).
func (c *Controller) startReplicas() error {
	b := newBatch()
	dead := make(map[TopicPartition][]int32)
	for _, tp := range c.cc.allPartitions() {
		if c.cc.isDeleting(tp.Topic) {
			continue // deletion sends StopReplica instead
		}
		a := c.cc.assignment(tp)
		c.addLeaderAndIsr(b, liveReplicas(a, c.cc.isLive), tp, false)
		for _, r := range a {
			if !c.cc.isLive(r) {
				dead[tp] = append(dead[tp], r)
			}
		}
	}
	c.sendBatch(b)
	b = newBatch()
	if err := c.removeReplicasFromISR(dead, b); err != nil {
		return err
	}
	c.sendBatch(b)
	return nil
}
