package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// The legacy /admin/reassign_partitions znode (kafka-reassign-partitions.sh --zookeeper of old, reference 01
// §3.7): its creation is a batch of reassignment requests. Entries that cannot be reassigned are dropped
// from it at once, the others as they complete; the controller deletes the znode when it is empty. Like
// Kafka, only the creation of the znode is acted on: the controller's own rewrites are not new requests.

// watchZKReassignment arms the exists-watch on /admin/reassign_partitions for this term. Its first delivery
// resumes the reassignments listed there at failover (reference 02 §3 step 9).
func (c *Controller) watchZKReassignment() *zkregistry.Watcher {
	term := c.term
	return c.zk.WatchData(zkregistry.ReassignPartitionsPath, func(ctx context.Context, data []byte, stat *zkregistry.Stat) {
		ev := reassignmentZnode{termed: termed{term}, data: data}
		if stat != nil {
			ev.exists, ev.czxid = true, stat.Czxid
		}
		c.post(ctx, ev)
	})
}

// onReassignmentZnode is Kafka's ZkPartitionReassignment event.
func (c *Controller) onReassignmentZnode(e reassignmentZnode) error {
	if !e.exists {
		c.cc.zkReassignCzxid = 0
		return nil
	}
	if e.czxid == c.cc.zkReassignCzxid {
		return nil // a rewrite of a znode already handled
	}
	c.cc.zkReassignCzxid = e.czxid
	entries, err := zkregistry.DecodeReassignment(e.data)
	if err != nil {
		c.log.WithError(err).Warn("unreadable partition reassignment znode; deleting it")
		return c.deleteZKReassignment()
	}
	targets := make(map[TopicPartition][]int32, len(entries))
	for _, en := range entries {
		replicas := en.Replicas
		if replicas == nil {
			replicas = []int32{} // not a cancellation: refused as empty
		}
		targets[TopicPartition{Topic: en.Topic, Partition: en.Partition}] = replicas
	}
	failed := make(map[TopicPartition]error)
	valid := make(map[TopicPartition][]int32)
	for _, tp := range sortedTPKeys(targets) {
		if err := c.validateReassignment(tp, targets[tp]); err != nil {
			failed[tp] = err
			continue
		}
		valid[tp] = targets[tp]
	}
	c.log.WithFields(logrus.Fields{"partitions": len(targets), "refused": len(failed)}).
		Info("partition reassignment requested through zookeeper")
	if len(failed) > 0 {
		for tp, err := range failed {
			c.log.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).
				Warn("partition reassignment from zookeeper refused")
		}
		if err := c.removeFromZKReassignment(func(en zkregistry.ReassignPartition) bool {
			_, bad := failed[TopicPartition{Topic: en.Topic, Partition: en.Partition}]
			return bad
		}); err != nil {
			return err
		}
	}
	for _, tp := range sortedTPKeys(valid) {
		if err := c.reassignPartition(tp, valid[tp]); err != nil {
			return err
		}
	}
	return nil
}

// removeFromZKReassignment is Kafka's maybeRemoveFromZkReassignment: the entries matching drop from
// /admin/reassign_partitions, which is deleted when none is left (all writes fenced).
func (c *Controller) removeFromZKReassignment(drop func(zkregistry.ReassignPartition) bool) error {
	data, _, err := c.zk.Get(zkregistry.ReassignPartitionsPath)
	if errors.Is(err, zkregistry.ErrNoNode) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", zkregistry.ReassignPartitionsPath, err)
	}
	entries, err := zkregistry.DecodeReassignment(data)
	if err != nil {
		c.log.WithError(err).Warn("unreadable partition reassignment znode; deleting it")
		return c.deleteZKReassignment()
	}
	var keep []zkregistry.ReassignPartition
	for _, e := range entries {
		if !drop(e) {
			keep = append(keep, e)
		}
	}
	if len(keep) == len(entries) {
		return nil
	}
	if len(keep) == 0 {
		c.log.Info("no more partitions to reassign from zookeeper; deleting the znode")
		return c.deleteZKReassignment()
	}
	op := zkregistry.SetDataOp(zkregistry.ReassignPartitionsPath, zkregistry.EncodeReassignment(keep), zkregistry.MatchAnyVersion)
	if _, err := c.zk.Write(c.cc.epochZkVersion, op); err != nil && !errors.Is(err, zkregistry.ErrNoNode) {
		return fmt.Errorf("rewrite %s: %w", zkregistry.ReassignPartitionsPath, err)
	}
	return nil
}

func (c *Controller) deleteZKReassignment() error {
	_, err := c.zk.Write(c.cc.epochZkVersion, zkregistry.DeleteOp(zkregistry.ReassignPartitionsPath, zkregistry.MatchAnyVersion))
	if err != nil && !errors.Is(err, zkregistry.ErrNoNode) {
		return fmt.Errorf("delete %s: %w", zkregistry.ReassignPartitionsPath, err)
	}
	return nil
}
