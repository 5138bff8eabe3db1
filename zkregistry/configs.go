package zkregistry

import (
	"errors"
	"fmt"
	"math"

	"github.com/go-zookeeper/zk"
)

// GetEntityConfig reads /config/<entityType>/<entity> (entity already
// sanitized where needed); a missing node means no overrides.
func (c *Client) GetEntityConfig(entityType, entity string) (map[string]string, error) {
	data, _, err := c.Get(ConfigEntityPath(entityType, entity))
	if errors.Is(err, zk.ErrNoNode) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return DecodeConfig(data)
}

// GetTopicConfig reads a topic's overrides (empty when none).
func (c *Client) GetTopicConfig(topic string) (map[string]string, error) {
	return c.GetEntityConfig(ConfigTopics, topic)
}

// SetEntityConfig writes an entity's whole config (setData, else create
// recursively: Kafka's setOrCreateEntityConfigs). No change notification.
func (c *Client) SetEntityConfig(entityType, entity string, config map[string]string) error {
	path, data := ConfigEntityPath(entityType, entity), EncodeConfig(config)
	_, err := c.Set(path, data, MatchAnyVersion)
	if !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	_, err = c.CreateRecursive(path, data, Persistent)
	if errors.Is(err, zk.ErrNodeExists) { // created concurrently: last writer wins, as in Kafka
		_, err = c.Set(path, data, MatchAnyVersion)
	}
	return err
}

// ChangeEntityConfig writes an entity's config and then the change
// notification every broker watches (Kafka's AdminZkClient.changeConfigs).
func (c *Client) ChangeEntityConfig(entityType, entity string, config map[string]string) error {
	if err := c.SetEntityConfig(entityType, entity, config); err != nil {
		return err
	}
	n := ConfigChange{EntityPath: entityType + "/" + entity}
	_, err := c.CreateRecursive(ConfigChangePrefix, n.Encode(), PersistentSequential)
	return err
}

// AllocateProducerIDBlock claims the next block of ProducerIDBlockSize ids
// for brokerID (Kafka's ProducerIdManager): read + conditional write,
// retried on BADVERSION; a BADVERSION whose stored block is exactly ours
// is a lost acknowledgement and counts as success.
func (c *Client) AllocateProducerIDBlock(brokerID int32) (ProducerIDBlock, error) {
	for {
		data, stat, err := c.Get(ProducerIDBlockPath)
		if errors.Is(err, zk.ErrNoNode) {
			if _, err = c.CreateRecursive(ProducerIDBlockPath, nil, Persistent); err != nil && !errors.Is(err, zk.ErrNodeExists) {
				return ProducerIDBlock{}, err
			}
			continue
		}
		if err != nil {
			return ProducerIDBlock{}, err
		}
		next, err := nextProducerIDBlock(brokerID, data)
		if err != nil {
			return ProducerIDBlock{}, err
		}
		_, err = c.Set(ProducerIDBlockPath, next.Encode(), stat.Version)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, zk.ErrBadVersion) {
			return ProducerIDBlock{}, err
		}
		if cur, _, gerr := c.Get(ProducerIDBlockPath); gerr == nil {
			if got, derr := DecodeProducerIDBlock(cur); derr == nil && got == next {
				return next, nil
			}
		}
	}
}

func nextProducerIDBlock(brokerID int32, data []byte) (ProducerIDBlock, error) {
	if isEmpty(data) {
		return ProducerIDBlock{BrokerID: brokerID, Start: 0, End: ProducerIDBlockSize - 1}, nil
	}
	cur, err := DecodeProducerIDBlock(data)
	if err != nil {
		return ProducerIDBlock{}, err
	}
	if cur.End > math.MaxInt64-ProducerIDBlockSize {
		return ProducerIDBlock{}, fmt.Errorf("producer ids exhausted (last block ends at %d)", cur.End)
	}
	return ProducerIDBlock{BrokerID: brokerID, Start: cur.End + 1, End: cur.End + ProducerIDBlockSize}, nil
}
