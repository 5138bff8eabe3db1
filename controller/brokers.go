package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Broker membership (reference 02 §5): /brokers/ids children and each registration's data are watched; the
// handler re-reads all registrations and compares them with the live set.

// brokerDiff is the outcome of comparing the live set with the registrations in ZooKeeper.
type brokerDiff struct {
	added   []int32 // registered, not known
	dead    []int32 // known, no longer registered
	bounced []int32 // registered again with a higher epoch (restarted before its old session expired)
	changed []int32 // same epoch, different endpoints or rack
}

// diffBrokers compares known (live brokers with their epochs) with current (every registration), Kafka's
// processBrokerChange: a registration whose czxid is greater than the cached epoch is a new incarnation.
func diffBrokers(known map[int32]zkregistry.BrokerInfo, current []zkregistry.BrokerInfo) brokerDiff {
	var d brokerDiff
	seen := make(map[int32]bool, len(current))
	for _, info := range current {
		seen[info.ID] = true
		old, ok := known[info.ID]
		switch {
		case !ok:
			d.added = append(d.added, info.ID)
		case info.Epoch > old.Epoch:
			d.bounced = append(d.bounced, info.ID)
		case info.Rack != old.Rack || !slices.Equal(info.Endpoints, old.Endpoints):
			d.changed = append(d.changed, info.ID)
		}
	}
	for id := range known {
		if !seen[id] {
			d.dead = append(d.dead, id)
		}
	}
	for _, s := range [][]int32{d.added, d.dead, d.bounced, d.changed} {
		slices.Sort(s)
	}
	return d
}

// watchBroker watches one registration's data; a change re-runs the broker comparison.
func (c *Controller) watchBroker(id int32) {
	if c.brokerWatches[id] != nil {
		return
	}
	term := c.term
	c.brokerWatches[id] = c.zk.WatchData(zkregistry.BrokerPath(id), func(ctx context.Context, _ []byte, _ *zkregistry.Stat) {
		c.post(ctx, brokerChange{termed{term}})
	})
}

func (c *Controller) unwatchBroker(id int32) {
	if w := c.brokerWatches[id]; w != nil {
		w.Stop()
		delete(c.brokerWatches, id)
	}
}

// onBrokerChange is Kafka's processBrokerChange.
func (c *Controller) onBrokerChange() error {
	infos, err := c.zk.GetBrokers()
	if err != nil {
		return fmt.Errorf("read brokers: %w", err)
	}
	current := make(map[int32]zkregistry.BrokerInfo, len(infos))
	for _, info := range infos {
		current[info.ID] = info
	}
	d := diffBrokers(c.cc.brokers, infos)
	if len(d.added)+len(d.dead)+len(d.bounced)+len(d.changed) == 0 {
		return nil
	}
	c.log.WithFields(logrus.Fields{"new": d.added, "dead": d.dead, "bounced": d.bounced, "changed": d.changed,
		"known": c.cc.registeredIDs()}).Info("broker change")
	// Failures first, so that elections triggered by the startups below cannot pick a broker that is gone
	// (Kafka handles new brokers first). A bounced broker is a failure of its old incarnation, then the
	// startup of the new one; its requests from the failure handling are dropped, as it is not registered
	// in between.
	failed := slices.Concat(d.bounced, d.dead)
	slices.Sort(failed)
	for _, id := range failed {
		c.channels.remove(id)
		delete(c.cc.brokers, id)
	}
	for _, id := range d.dead {
		c.unwatchBroker(id)
	}
	if len(failed) > 0 {
		if err := c.onBrokerFailure(failed); err != nil {
			return err
		}
	}
	started := slices.Concat(d.added, d.bounced)
	slices.Sort(started)
	for _, id := range started {
		c.cc.brokers[id] = current[id]
		c.channels.add(current[id])
		c.watchBroker(id)
	}
	if len(started) > 0 {
		if err := c.onBrokerStartup(started); err != nil {
			return err
		}
	}
	if len(d.changed) > 0 {
		// Kafka's BrokerModifications: endpoints changed, so does the channel; everyone learns it.
		for _, id := range d.changed {
			c.cc.brokers[id] = current[id]
			c.channels.add(current[id])
		}
		b := newBatch()
		c.addUpdateMetadata(b, c.cc.registeredIDs(), nil)
		c.sendBatch(b)
	}
	return nil
}

// onBrokerStartup is Kafka's onBrokerStartup (reference 02 §5.2).
func (c *Controller) onBrokerStartup(ids []int32) error {
	isNew := func(id int32) bool { return slices.Contains(ids, id) }
	// The others learn about the new brokers; the new brokers learn everything.
	b := newBatch()
	c.addUpdateMetadata(b, slices.DeleteFunc(c.cc.registeredIDs(), isNew), nil)
	c.sendBatch(b)
	b = newBatch()
	var withLeaders []TopicPartition
	for _, tp := range c.cc.allPartitions() {
		if _, ok := c.cc.leadership[tp]; ok && !c.cc.isDeleting(tp.Topic) {
			withLeaders = append(withLeaders, tp)
		}
	}
	c.addUpdateMetadata(b, ids, withLeaders)
	c.sendBatch(b)
	// Their replicas go online: the current leadership of each.
	b = newBatch()
	for _, tp := range withLeaders {
		for _, r := range c.cc.assignment(tp) {
			if isNew(r) {
				c.addLeaderAndIsr(b, []int32{r}, tp, false)
			}
		}
	}
	c.sendBatch(b)
	// Leaderless partitions may now elect.
	if _, err := c.triggerOnlinePartitionStateChange(); err != nil {
		return err
	}
	// Reassignments waiting for a target replica on these brokers go on.
	var resume []TopicPartition
	for _, tp := range sortedTPKeys(c.cc.reassigning) {
		if slices.ContainsFunc(c.cc.targetReplicas(tp), isNew) {
			resume = append(resume, tp)
		}
	}
	if err := c.resumeReassignments(resume); err != nil {
		return err
	}
	// Deletions waiting for these brokers resume.
	for _, d := range c.cc.deletions {
		for r := range d.replicas {
			if isNew(r.broker) {
				d.ineligible = false
				break
			}
		}
	}
	return c.resumeDeletions()
}

// onBrokerFailure is Kafka's onBrokerFailure / onReplicasBecomeOffline (reference 02 §5.3). The brokers are
// already out of the registered set.
func (c *Controller) onBrokerFailure(ids []int32) error {
	isDead := func(id int32) bool { return slices.Contains(ids, id) }
	for _, id := range ids {
		delete(c.cc.shuttingDown, id)
	}
	// Partitions led by a dead broker go offline, then every New/Offline partition tries to elect.
	for _, tp := range sortedTPKeys(c.cc.leadership) {
		if !c.cc.isDeleting(tp.Topic) && !c.cc.isLive(c.cc.leadership[tp].Leader) {
			c.setPartitionState(tp, offlinePartition)
		}
	}
	elected, err := c.triggerOnlinePartitionStateChange()
	if err != nil {
		return err
	}
	// The dead replicas leave the ISRs, all of a partition's at once (see removeReplicasFromISR).
	gone := make(map[TopicPartition][]int32)
	for _, id := range ids {
		for _, tp := range c.cc.partitionsOnBroker(id) {
			if !c.cc.isDeleting(tp.Topic) {
				gone[tp] = append(gone[tp], id)
			}
		}
	}
	b := newBatch()
	if err := c.removeReplicasFromISR(gone, b); err != nil {
		return err
	}
	c.sendBatch(b)
	// Deletions waiting on a dead replica cannot finish until it returns.
	for topic, d := range c.cc.deletions {
		for r, st := range d.replicas {
			if isDead(r.broker) && st == deletionStarted {
				d.replicas[r] = deletionIneligible
				d.ineligible = true
				c.log.WithFields(logrus.Fields{"topic": topic, "partition": r.tp.Partition, "replica": r.broker}).
					Info("replica deletion failed: broker offline")
			}
		}
	}
	// Nothing above told the brokers about the dead ones: say it explicitly.
	if len(gone) == 0 && elected == 0 {
		b := newBatch()
		c.addUpdateMetadata(b, c.cc.registeredIDs(), nil)
		c.sendBatch(b)
	}
	return c.resumeDeletions()
}
