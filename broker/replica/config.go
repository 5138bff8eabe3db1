package replica

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

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
	// leader only gets its log created (Kafka's makeFollowers). nil: every broker is alive. A leader named in
	// the LeaderAndIsr request's LiveLeaders counts as alive too.
	LeaderAlive func(brokerID int32) bool

	// Replica fetchers (Kafka's ReplicaFetcherManager), in Kafka's names and units.
	NumReplicaFetchers           int   // num.replica.fetchers (1): fetcher goroutines per source broker
	ReplicaFetchMaxBytes         int32 // replica.fetch.max.bytes (1 MiB): per partition
	ReplicaFetchResponseMaxBytes int32 // replica.fetch.response.max.bytes (10 MiB): per Fetch response
	ReplicaFetchWaitMaxMs        int32 // replica.fetch.wait.max.ms (500)
	ReplicaFetchMinBytes         int32 // replica.fetch.min.bytes (1)
	ReplicaFetchBackoffMs        int32 // replica.fetch.backoff.ms (1000): after an error, and when idle
	ReplicaSocketTimeoutMs       int32 // replica.socket.timeout.ms (30000): connect and request timeout
	// DialLeader connects a fetcher to a leader's inter-broker endpoint (host:port). nil: protocol.Dial.
	DialLeader func(ctx context.Context, addr string) (LeaderConn, error)
	// BrokerEndpoint resolves a broker's inter-broker endpoint (host:port) from the metadata cache, for a
	// leader that the LeaderAndIsr request's LiveLeaders does not list. nil: LiveLeaders only.
	BrokerEndpoint func(brokerID int32) (string, bool)

	// AlterISR sends an AlterIsr request (kmsg.AlterPartitionRequest v0, KIP-497) to the active controller and
	// returns its answer; the broker's alterisr_client.go implements it. nil: this broker proposes no ISR
	// changes and partitions keep the ISR the controller sent.
	AlterISR func(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error)
	// BrokerEpoch gives the broker epoch (KIP-380) that AlterIsr carries. nil: the epoch the controller put
	// in the last LeaderAndIsr, which is the one it checks AlterIsr against.
	BrokerEpoch func() int64
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
	if c.NumReplicaFetchers <= 0 {
		c.NumReplicaFetchers = 1
	}
	if c.ReplicaFetchMaxBytes <= 0 {
		c.ReplicaFetchMaxBytes = 1 << 20
	}
	if c.ReplicaFetchResponseMaxBytes <= 0 {
		c.ReplicaFetchResponseMaxBytes = 10 << 20
	}
	if c.ReplicaFetchWaitMaxMs <= 0 {
		c.ReplicaFetchWaitMaxMs = 500
	}
	if c.ReplicaFetchMinBytes <= 0 {
		c.ReplicaFetchMinBytes = 1
	}
	if c.ReplicaFetchBackoffMs <= 0 {
		c.ReplicaFetchBackoffMs = 1000
	}
	if c.ReplicaSocketTimeoutMs <= 0 {
		c.ReplicaSocketTimeoutMs = 30000
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
