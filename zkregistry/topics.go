package zkregistry

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"
)

var (
	// ErrUnknownTopic: the topic has no /brokers/topics znode.
	ErrUnknownTopic = errors.New("zkregistry: unknown topic")
	// ErrTopicMarkedForDeletion: a deletion marker already exists.
	ErrTopicMarkedForDeletion = errors.New("zkregistry: topic already marked for deletion")
	// ErrTopicCollision: the name differs from an existing topic only in
	// '.' vs '_' (they collide in metric names) -> INVALID_TOPIC_EXCEPTION.
	ErrTopicCollision = errors.New("zkregistry: topic name collides with an existing topic")
	// ErrInvalidReplicaAssignment -> INVALID_REPLICA_ASSIGNMENT.
	ErrInvalidReplicaAssignment = errors.New("zkregistry: invalid replica assignment")
)

// GetTopics returns all topics (children of /brokers/topics), sorted.
func (c *Client) GetTopics() ([]string, error) {
	topics, err := c.Children(TopicsPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	slices.Sort(topics)
	return topics, err
}

// TopicExists reports whether /brokers/topics/<topic> exists.
func (c *Client) TopicExists(topic string) (bool, error) {
	stat, err := c.Exists(TopicPath(topic))
	return stat != nil, err
}

// GetTopicAssignment reads /brokers/topics/<topic>; ErrNoNode when absent.
func (c *Client) GetTopicAssignment(topic string) (TopicAssignment, error) {
	data, _, err := c.Get(TopicPath(topic))
	if err != nil {
		return TopicAssignment{}, err
	}
	a, err := DecodeTopicAssignment(data)
	if err != nil {
		return TopicAssignment{}, fmt.Errorf("topic %s: %w", topic, err)
	}
	return a, nil
}

// GetTopicAssignments reads the assignments of topics concurrently; topics
// without a znode are left out of the result.
func (c *Client) GetTopicAssignments(topics []string) (map[string]TopicAssignment, error) {
	res := parallel(topics, func(t string) (TopicAssignment, error) { return c.GetTopicAssignment(t) })
	out := make(map[string]TopicAssignment, len(topics))
	for i, r := range res {
		if errors.Is(r.err, zk.ErrNoNode) {
			continue
		}
		if r.err != nil {
			return nil, r.err
		}
		out[topics[i]] = r.val
	}
	return out, nil
}

// CreateTopic creates a topic as Kafka 2.8's AdminZkClient does: validate,
// write /config/topics/<topic> (always, even with no overrides), then create
// /brokers/topics/<topic> with a fresh topic id unless a.TopicID is set. The
// controller's watch does the rest. It returns the topic id. Errors:
// ErrTopicExists (also when marked for deletion), ErrTopicCollision,
// ErrInvalidReplicaAssignment. Topic name syntax is the caller's to check.
func (c *Client) CreateTopic(topic string, a TopicAssignment, config map[string]string) (UUID, error) {
	if err := c.validateTopicCreate(topic, a); err != nil {
		return ZeroUUID, err
	}
	if err := c.SetEntityConfig(ConfigTopics, topic, config); err != nil {
		return ZeroUUID, fmt.Errorf("create topic %s: write config: %w", topic, err)
	}
	if a.TopicID.IsZero() {
		a.TopicID = NewUUID()
	}
	_, err := c.CreateRecursive(TopicPath(topic), a.Encode(), Persistent)
	if errors.Is(err, zk.ErrNodeExists) {
		return ZeroUUID, fmt.Errorf("topic %q already exists: %w", topic, ErrTopicExists)
	}
	if err != nil {
		return ZeroUUID, fmt.Errorf("create topic %s: %w", topic, err)
	}
	return a.TopicID, nil
}

// validateTopicCreate follows AdminZkClient.validateTopicCreate.
func (c *Client) validateTopicCreate(topic string, a TopicAssignment) error {
	if st, err := c.Exists(DeleteTopicPath(topic)); err != nil {
		return err
	} else if st != nil {
		return fmt.Errorf("topic %q is marked for deletion: %w", topic, ErrTopicExists)
	}
	if ok, err := c.TopicExists(topic); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("topic %q already exists: %w", topic, ErrTopicExists)
	}
	if strings.ContainsAny(topic, "._") {
		if err := c.checkCollision(topic); err != nil {
			return err
		}
	}
	return ValidateAssignment(a.Partitions)
}

func (c *Client) checkCollision(topic string) error {
	all, err := c.GetTopics()
	if err != nil {
		return err
	}
	norm := func(s string) string { return strings.ReplaceAll(s, ".", "_") }
	for _, t := range all {
		if t != topic && norm(t) == norm(topic) {
			return fmt.Errorf("topic %q collides with existing topic %q: %w", topic, t, ErrTopicCollision)
		}
	}
	return nil
}

// ValidateAssignment checks Kafka's rules for a new assignment: partitions
// 0..n-1, every partition with the same, non-zero number of distinct replicas.
func ValidateAssignment(parts map[int32][]int32) error {
	if len(parts) == 0 {
		return fmt.Errorf("no partitions: %w", ErrInvalidReplicaAssignment)
	}
	rf := -1
	for p := int32(0); p < int32(len(parts)); p++ {
		replicas, ok := parts[p]
		if !ok {
			return fmt.Errorf("partitions should be a consecutive 0-based integer sequence: %w", ErrInvalidReplicaAssignment)
		}
		if rf >= 0 && len(replicas) != rf {
			return fmt.Errorf("all partitions should have the same number of replicas: %w", ErrInvalidReplicaAssignment)
		}
		rf = len(replicas)
		if rf == 0 {
			return fmt.Errorf("partition %d has no replicas: %w", p, ErrInvalidReplicaAssignment)
		}
		distinct := slices.Clone(replicas)
		slices.Sort(distinct)
		if len(slices.Compact(distinct)) != rf {
			return fmt.Errorf("duplicate replica assignment for partition %d: %w", p, ErrInvalidReplicaAssignment)
		}
	}
	return nil
}

// SetTopicAssignment rewrites /brokers/topics/<topic> (setData, any
// version): CreatePartitions (epochZkVersion NoFencing) or a controller
// update such as reassignment or adding a topic id (fenced).
func (c *Client) SetTopicAssignment(epochZkVersion int32, topic string, a TopicAssignment) error {
	_, err := c.Write(epochZkVersion, SetDataOp(TopicPath(topic), a.Encode(), MatchAnyVersion))
	return err
}

// MarkTopicForDeletion creates /admin/delete_topics/<topic> (Kafka's
// AdminZkClient.deleteTopic): ErrUnknownTopic when the topic does not
// exist, ErrTopicMarkedForDeletion when already marked.
func (c *Client) MarkTopicForDeletion(topic string) error {
	if ok, err := c.TopicExists(topic); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("topic %q to delete does not exist: %w", topic, ErrUnknownTopic)
	}
	_, err := c.CreateRecursive(DeleteTopicPath(topic), nil, Persistent)
	if errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("topic %q: %w", topic, ErrTopicMarkedForDeletion)
	}
	return err
}

// GetTopicDeletions returns the topics marked for deletion, sorted.
func (c *Client) GetTopicDeletions() ([]string, error) {
	topics, err := c.Children(DeleteTopicsPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	slices.Sort(topics)
	return topics, err
}

// DeleteTopicDeletionMarkers removes deletion markers (fenced), e.g. when
// delete.topic.enable=false. Missing markers are ignored.
func (c *Client) DeleteTopicDeletionMarkers(epochZkVersion int32, topics ...string) error {
	for _, t := range topics {
		_, err := c.Write(epochZkVersion, DeleteOp(DeleteTopicPath(t), MatchAnyVersion))
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
	}
	return nil
}

// DeleteTopicZNodes completes a topic deletion as Kafka's controller does,
// in this order, all fenced: the /brokers/topics/<topic> subtree, the
// /config/topics/<topic> node, the deletion marker.
func (c *Client) DeleteTopicZNodes(epochZkVersion int32, topic string) error {
	if err := c.DeleteRecursive(epochZkVersion, TopicPath(topic)); err != nil {
		return fmt.Errorf("delete topic %s: %w", topic, err)
	}
	if _, err := c.Write(epochZkVersion, DeleteOp(TopicConfigPath(topic), MatchAnyVersion)); err != nil &&
		!errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("delete topic %s config: %w", topic, err)
	}
	return c.DeleteTopicDeletionMarkers(epochZkVersion, topic)
}
