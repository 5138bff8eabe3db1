package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Topic creation and partition addition (reference 02 §13.3): admin writes /brokers/topics/<topic>; the
// controller notices through its child watch (new topic) or the topic's data watch (more partitions),
// creates the partitions' state znodes and tells the brokers.

// watchTopic watches one topic znode for new partitions.
func (c *Controller) watchTopic(topic string) *zkregistry.Watcher {
	term := c.term
	return c.zk.WatchData(zkregistry.TopicPath(topic), func(ctx context.Context, data []byte, stat *zkregistry.Stat) {
		c.post(ctx, partitionModification{termed: termed{term}, topic: topic, data: data, gone: stat == nil})
	})
}

// addTopics reads the assignments of topics new to the context, gives a topic id to any topic lacking one
// (Kafka does this at IBP >= 2.8-IV0, fenced), and watches them. It returns their partitions.
func (c *Controller) addTopics(names []string) ([]TopicPartition, error) {
	if len(names) == 0 {
		return nil, nil
	}
	watches := make(map[string]*zkregistry.Watcher, len(names))
	for _, name := range names {
		watches[name] = c.watchTopic(name)
	}
	assignments, err := c.zk.GetTopicAssignments(names)
	if err != nil {
		for _, w := range watches {
			w.Stop()
		}
		return nil, fmt.Errorf("read topic assignments: %w", err)
	}
	var tps []TopicPartition
	for _, name := range names {
		a, ok := assignments[name]
		if !ok { // deleted meanwhile
			watches[name].Stop()
			continue
		}
		if a.TopicID.IsZero() {
			a.TopicID = zkregistry.NewUUID()
			if err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, name, a); err != nil {
				for _, w := range watches {
					w.Stop()
				}
				return nil, fmt.Errorf("set topic id of %s: %w", name, err)
			}
			c.log.WithFields(logrus.Fields{"topic": name, "topic_id": a.TopicID.String()}).Info("assigned topic id")
		}
		t := &topicInfo{id: a.TopicID, partitions: maps.Clone(a.Partitions), adding: make(map[int32][]int32),
			removing: make(map[int32][]int32), watch: watches[name]}
		for p := range t.partitions {
			// Kafka's isBeingReassigned: a reassignment an earlier controller started (reference 02 §3 step 4).
			if len(a.Adding[p]) > 0 || len(a.Removing[p]) > 0 {
				t.adding[p], t.removing[p] = slices.Clone(a.Adding[p]), slices.Clone(a.Removing[p])
				c.cc.reassigning[TopicPartition{Topic: name, Partition: p}] = true
			}
		}
		c.cc.topics[name] = t
		tps = append(tps, c.cc.partitionsOf(name)...)
	}
	sortTPs(tps)
	return tps, nil
}

// onTopicChange is Kafka's TopicChange: forget vanished topics, set up new ones.
func (c *Controller) onTopicChange(children []string) error {
	var added []string
	for _, name := range children {
		if c.cc.topics[name] == nil {
			added = append(added, name)
		}
	}
	for name, t := range c.cc.topics {
		if !slices.Contains(children, name) {
			if t.watch != nil {
				t.watch.Stop()
			}
			c.cc.removeTopic(name)
			c.log.WithField("topic", name).Info("topic znode gone")
		}
	}
	if len(added) == 0 {
		return nil
	}
	slices.Sort(added)
	c.log.WithField("topics", added).Info("new topics")
	tps, err := c.addTopics(added)
	if err != nil {
		return err
	}
	return c.onNewPartitionCreation(tps)
}

// onPartitionModification is Kafka's PartitionModifications: partitions in the znode but not in the context
// are new. A topic queued for deletion gets its znode restored instead.
func (c *Controller) onPartitionModification(e partitionModification) error {
	t := c.cc.topics[e.topic]
	if t == nil || e.gone {
		return nil // the topic watch handles creation and removal
	}
	a, err := zkregistry.DecodeTopicAssignment(e.data)
	if err != nil {
		c.log.WithError(err).WithField("topic", e.topic).Warn("unreadable topic znode")
		return nil
	}
	var added []int32
	for p := range a.Partitions {
		if _, ok := t.partitions[p]; !ok {
			added = append(added, p)
		}
	}
	if len(added) == 0 {
		return nil
	}
	slices.Sort(added)
	if c.cc.isDeleting(e.topic) {
		c.log.WithFields(logrus.Fields{"topic": e.topic, "partitions": added}).
			Warn("topic is being deleted: reverting added partitions")
		a = t.znode()
		if err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, e.topic, a); err != nil {
			return fmt.Errorf("restore assignment of %s: %w", e.topic, err)
		}
		return nil
	}
	c.log.WithFields(logrus.Fields{"topic": e.topic, "partitions": added}).Info("new partitions")
	tps := make([]TopicPartition, 0, len(added))
	for _, p := range added {
		t.partitions[p] = slices.Clone(a.Partitions[p])
		tps = append(tps, TopicPartition{Topic: e.topic, Partition: p})
	}
	return c.onNewPartitionCreation(tps)
}

// onNewPartitionCreation is Kafka's onNewPartitionCreation: NewPartition, then initialisation. (The replica
// state machine's NewReplica/OnlineReplica steps send nothing for partitions without leadership.)
func (c *Controller) onNewPartitionCreation(tps []TopicPartition) error {
	if len(tps) == 0 {
		return nil
	}
	for _, tp := range tps {
		c.setPartitionState(tp, newPartition)
	}
	b := newBatch()
	_, err := c.initializePartitions(tps, b)
	c.sendBatch(b)
	return err
}
