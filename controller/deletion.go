package controller

import (
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic deletion (Kafka's TopicDeletionManager, reference 02 §9). DeleteTopics writes
// /admin/delete_topics/<topic>; the controller queues the topic, tells every broker to forget its partitions
// (UpdateMetadata with leader -2), sends StopReplica(delete=true) to each replica, and when every replica has
// answered NONE deletes the topic's znodes (fenced) and forgets it.
//
// A replica on an offline broker, or one that answered an error, is "ineligible": the topic stays queued
// (its metadata already gone from the brokers) until a broker hosting one of its replicas starts, then the
// failed replicas are asked again. Topics queued for deletion do not elect leaders and reject new partitions
// and reassignments; a topic queued while one of its partitions is being reassigned starts its deletion only
// when the reassignments end (with the replicas it then has).
//
// Deviation from Kafka: a replica being deleted gets one StopReplica(delete=true), where Kafka first sends
// StopReplica(delete=false) and shrinks the ISR in ZooKeeper (OfflineReplica) before it; both znodes and
// replicas are gone at the end either way.

// onTopicDeletionChange handles the /admin/delete_topics children.
func (c *Controller) onTopicDeletionChange(markers []string) error {
	return c.enqueueDeletions(markers)
}

// enqueueDeletions queues the marked topics; markers of unknown topics are removed.
func (c *Controller) enqueueDeletions(markers []string) error {
	if c.cfg.DisableTopicDeletion && len(markers) > 0 {
		c.log.WithField("topics", markers).Info("delete.topic.enable is false: removing deletion markers")
		return c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, markers...)
	}
	var unknown []string
	for _, topic := range markers {
		if c.cc.topics[topic] == nil {
			unknown = append(unknown, topic)
			continue
		}
		if c.cc.isDeleting(topic) {
			continue
		}
		d := &topicDeletion{replicas: make(map[replica]replicaDeletionState)}
		for _, tp := range c.cc.partitionsOf(topic) {
			for _, r := range c.cc.assignment(tp) {
				d.replicas[replica{tp: tp, broker: r}] = deletionPending
			}
		}
		c.cc.deletions[topic] = d
		c.log.WithField("topic", topic).Info("topic queued for deletion")
	}
	if len(unknown) > 0 {
		c.log.WithField("topics", unknown).Info("removing deletion markers of unknown topics")
		if err := c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, unknown...); err != nil {
			return fmt.Errorf("delete markers: %w", err)
		}
	}
	return c.resumeDeletions()
}

// resumeDeletions advances every queued topic: complete, retry failed replicas, or start.
func (c *Controller) resumeDeletions() error {
	topics := make([]string, 0, len(c.cc.deletions))
	for t := range c.cc.deletions {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	var eligible []string
	for _, topic := range topics {
		d := c.cc.deletions[topic]
		switch {
		case d.all(deletionSuccessful):
			if err := c.completeDeletion(topic); err != nil {
				return err
			}
			continue
		case d.any(deletionStarted):
			continue // answers pending
		}
		for r, st := range d.replicas {
			if st == deletionIneligible {
				d.replicas[r] = deletionPending // asked again once the topic is eligible
			}
		}
		if !d.ineligible && !(!d.started && c.cc.topicReassigning(topic)) {
			eligible = append(eligible, topic) // a reassignment in progress holds the start back
		}
	}
	c.onTopicDeletion(eligible)
	return nil
}

// onTopicDeletion starts (or retries) the deletion of topics: partitions out of service, brokers' metadata
// cleared, StopReplica(delete=true) to every live replica not yet deleted.
func (c *Controller) onTopicDeletion(topics []string) {
	if len(topics) == 0 {
		return
	}
	b := newBatch()
	for _, topic := range topics {
		d := c.cc.deletions[topic]
		if !d.started {
			// Reassignments that completed since the topic was queued changed its replicas.
			d.replicas = make(map[replica]replicaDeletionState)
			for _, tp := range c.cc.partitionsOf(topic) {
				c.setPartitionState(tp, nonExistentPartition)
				for _, r := range c.cc.assignment(tp) {
					d.replicas[replica{tp: tp, broker: r}] = deletionPending
				}
			}
			d.started = true
		}
		c.addUpdateMetadata(b, c.cc.registeredIDs(), c.cc.partitionsOf(topic))
	}
	c.sendBatch(b)

	b = newBatch()
	for _, topic := range topics {
		d := c.cc.deletions[topic]
		for _, r := range sortedReplicas(d.replicas) {
			switch {
			case d.replicas[r] != deletionPending:
			case !c.cc.isLive(r.broker):
				d.replicas[r] = deletionIneligible
				d.ineligible = true
			default:
				d.replicas[r] = deletionStarted
				c.addStopReplica(b, r.broker, r.tp, true)
			}
		}
		c.log.WithFields(logrus.Fields{"topic": topic, "waiting_for_brokers": d.ineligible}).Info("deleting topic replicas")
	}
	c.sendBatch(b)
}

// completeDeletion removes the topic's znodes (topic and partition states, config, marker; all fenced) and
// forgets it. Brokers dropped it from their metadata at the leader -2 UpdateMetadata already.
func (c *Controller) completeDeletion(topic string) error {
	if t := c.cc.topics[topic]; t != nil && t.watch != nil {
		t.watch.Stop()
		t.watch = nil
	}
	if err := c.zk.DeleteTopicZNodes(c.cc.epochZkVersion, topic); err != nil {
		return fmt.Errorf("delete znodes of %s: %w", topic, err)
	}
	c.cc.removeTopic(topic)
	c.stateLog.WithFields(logrus.Fields{"topic": topic, "controller_epoch": c.cc.epoch}).Info("topic deleted")
	return nil
}

// onStopReplicaResponse records the deletion outcome of the partitions the request asked to delete.
func (c *Controller) onStopReplicaResponse(broker int32, req *kmsg.StopReplicaRequest, resp *kmsg.StopReplicaResponse) error {
	codes := make(map[TopicPartition]int16, len(resp.Partitions))
	for _, p := range resp.Partitions {
		codes[TopicPartition{Topic: p.Topic, Partition: p.Partition}] = p.ErrorCode
	}
	touched := false
	for _, t := range req.Topics {
		d := c.cc.deletions[t.Topic]
		if d == nil {
			continue
		}
		for _, ps := range t.PartitionStates {
			tp := TopicPartition{Topic: t.Topic, Partition: ps.Partition}
			r := replica{tp: tp, broker: broker}
			if !ps.Delete || d.replicas[r] != deletionStarted {
				continue
			}
			touched = true
			code, answered := codes[tp]
			if resp.ErrorCode != 0 {
				code, answered = resp.ErrorCode, true
			}
			if answered && code == 0 {
				d.replicas[r] = deletionSuccessful
				continue
			}
			d.replicas[r] = deletionIneligible
			d.ineligible = true
			reason := "partition missing from the response"
			if answered {
				reason = kerr.ErrorForCode(code).Error()
			}
			c.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "replica": broker,
				"reason": reason}).Warn("replica deletion failed")
		}
	}
	if !touched {
		return nil
	}
	return c.resumeDeletions()
}

// onBrokerResponse handles a broker's answer: StopReplica drives deletions, the others are logged.
func (c *Controller) onBrokerResponse(e brokerResponse) error {
	entry := c.log.WithField("target_broker", e.broker)
	switch resp := e.resp.(type) {
	case *kmsg.StopReplicaResponse:
		req, ok := e.req.(*kmsg.StopReplicaRequest)
		if !ok {
			return nil
		}
		return c.onStopReplicaResponse(e.broker, req, resp)
	case *kmsg.LeaderAndISRResponse:
		if resp.ErrorCode != 0 {
			entry.WithField("error", kerr.ErrorForCode(resp.ErrorCode)).Warn("LeaderAndIsr refused")
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				logLeaderAndIsrError(entry, c.topicName(t.TopicID), p.Partition, p.ErrorCode)
			}
		}
		for _, p := range resp.Partitions { // v0-v4 answers
			logLeaderAndIsrError(entry, p.Topic, p.Partition, p.ErrorCode)
		}
	case *kmsg.UpdateMetadataResponse:
		if resp.ErrorCode != 0 {
			entry.WithField("error", kerr.ErrorForCode(resp.ErrorCode)).Warn("UpdateMetadata refused")
		}
	}
	return nil
}

// logLeaderAndIsrError logs a partition error of a LeaderAndIsr answer. STALE_CONTROLLER_EPOCH is how a
// broker answers a partition state whose leader epoch it already has: expected when the controller resends
// the current state (failover, a replica that left an ISR it was not in), so only at debug level.
func logLeaderAndIsrError(entry *logrus.Entry, topic string, partition int32, code int16) {
	if code == 0 {
		return
	}
	e := entry.WithFields(logrus.Fields{"topic": topic, "partition": partition, "error": kerr.ErrorForCode(code)})
	if code == kerr.StaleControllerEpoch.Code {
		e.Debug("LeaderAndIsr partition state not applied: leader epoch not newer")
		return
	}
	e.Warn("LeaderAndIsr partition error")
}

// topicName maps a topic id of a LeaderAndIsr v5 answer back to the name.
func (c *Controller) topicName(id [16]byte) string {
	for name, t := range c.cc.topics {
		if t.id == id {
			return name
		}
	}
	return ""
}

func sortedReplicas(m map[replica]replicaDeletionState) []replica {
	out := make([]replica, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b replica) int {
		if n := cmpTP(a.tp, b.tp); n != 0 {
			return n
		}
		return int(a.broker) - int(b.broker)
	})
	return out
}
