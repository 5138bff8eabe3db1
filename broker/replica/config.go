package replica

import (
	"github.com/samsa-broker/samsa/storage"
)

// Config is what the replica manager needs from the broker configuration (Kafka's names in comments), plus
// the hooks through which the broker lets it read state owned elsewhere (the metadata cache).
type Config struct {
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: a follower caught up within this window holds back
	// the high watermark even when it is outside the ISR (reference 03 §4.1). Default 30000.
	ReplicaLagTimeMaxMs int64
	// MinInsyncReplicas is the broker's min.insync.replicas; TopicMinInsyncReplicas, when set, gives a
	// topic's effective value (its override or the broker's). Read when a partition's role changes and by
	// UpdateTopicConfig.
	MinInsyncReplicas      int
	TopicMinInsyncReplicas func(topic string) int
	// HighWatermarkCheckpointIntervalMs is replica.high.watermark.checkpoint.interval.ms. Default 5000.
	HighWatermarkCheckpointIntervalMs int64
	// ProducePurgeIntervalRequests and FetchPurgeIntervalRequests are producer.purgatory.purge.interval.requests
	// and fetch.purgatory.purge.interval.requests. Default 1000.
	ProducePurgeIntervalRequests int
	FetchPurgeIntervalRequests   int
	// MetadataContains reports whether the metadata cache knows tp. A partition this broker does not host is
	// NOT_LEADER_OR_FOLLOWER when the cluster has it, UNKNOWN_TOPIC_OR_PARTITION otherwise (Kafka's
	// ReplicaManager.getPartitionOrError). nil: nothing is known beyond the hosted partitions.
	MetadataContains func(tp storage.TopicPartition) bool
	// LeaderAlive reports whether a broker is alive in the metadata cache. A partition told to follow a dead
	// leader only gets its log created (Kafka's makeFollowers). nil: every broker is alive.
	LeaderAlive func(brokerID int32) bool
}

func (c Config) withDefaults() Config {
	if c.ReplicaLagTimeMaxMs <= 0 {
		c.ReplicaLagTimeMaxMs = 30000
	}
	if c.MinInsyncReplicas <= 0 {
		c.MinInsyncReplicas = 1
	}
	if c.HighWatermarkCheckpointIntervalMs <= 0 {
		c.HighWatermarkCheckpointIntervalMs = 5000
	}
	if c.ProducePurgeIntervalRequests <= 0 {
		c.ProducePurgeIntervalRequests = 1000
	}
	if c.FetchPurgeIntervalRequests <= 0 {
		c.FetchPurgeIntervalRequests = 1000
	}
	return c
}

// minInsyncReplicas is the effective min.insync.replicas of topic.
func (c Config) minInsyncReplicas(topic string) int {
	if c.TopicMinInsyncReplicas != nil {
		if n := c.TopicMinInsyncReplicas(topic); n > 0 {
			return n
		}
	}
	return c.MinInsyncReplicas
}
