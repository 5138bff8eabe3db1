package broker

// Small adapters between the broker's parts: settings for the replica manager and the controller, and the
// topic-config cache that LeaderAndIsr fills from /config/topics (Kafka reads a topic's config from
// ZooKeeper when it creates the log).

import (
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/storage"
)

func (b *Broker) replicaConfig() replica.Config {
	return replica.Config{
		ReplicaLagTimeMaxMs:               b.cfg.ReplicaLagTimeMaxMs,
		MinInsyncReplicas:                 int(b.currentConfig().MinInsyncReplicas),
		TopicMinInsyncReplicas:            b.topics.minInsyncReplicas,
		HighWatermarkCheckpointIntervalMs: b.cfg.ReplicaHighWatermarkCheckpointIntervalMs,
		ProducePurgeIntervalRequests:      int(b.cfg.ProducerPurgatoryPurgeIntervalRequests),
		FetchPurgeIntervalRequests:        int(b.cfg.FetchPurgatoryPurgeIntervalRequests),
		MetadataContains: func(tp storage.TopicPartition) bool {
			t, ok := b.meta.Snapshot().Topics[tp.Topic]
			if !ok {
				return false
			}
			_, ok = t.Partition(tp.Partition)
			return ok
		},
		LeaderAlive: func(id int32) bool { _, ok := b.meta.Snapshot().Broker(id); return ok },

		NumReplicaFetchers:           int(b.currentConfig().NumReplicaFetchers),
		ReplicaFetchMaxBytes:         b.cfg.ReplicaFetchMaxBytes,
		ReplicaFetchResponseMaxBytes: b.cfg.ReplicaFetchResponseMaxBytes,
		ReplicaFetchWaitMaxMs:        b.cfg.ReplicaFetchWaitMaxMs,
		ReplicaFetchMinBytes:         b.cfg.ReplicaFetchMinBytes,
		ReplicaFetchBackoffMs:        b.cfg.ReplicaFetchBackoffMs,
		ReplicaSocketTimeoutMs:       b.cfg.ReplicaSocketTimeoutMs,
		BrokerEndpoint:               b.interBrokerEndpoint,
		AlterISR:                     b.alterISRSender().send,
	}
}

// interBrokerEndpoint is a live broker's endpoint on the inter-broker listener, from the metadata cache.
func (b *Broker) interBrokerEndpoint(id int32) (string, bool) {
	br, ok := b.meta.Snapshot().Broker(id)
	if !ok {
		return "", false
	}
	ep, ok := br.Endpoint(b.cfg.InterBrokerListener())
	if !ok {
		return "", false
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), true
}

// alterISRSender creates the AlterIsr channel to the controller on first use (the metadata cache must exist).
func (b *Broker) alterISRSender() *alterISRClient {
	if b.alterISR == nil {
		b.alterISR = newAlterISRClient(b.id, b.cfg.InterBrokerListener(), b.meta.Snapshot,
			time.Duration(b.cfg.ControllerSocketTimeoutMs)*time.Millisecond)
	}
	return b.alterISR
}

func (b *Broker) controllerConfig() controller.Config {
	timeout := time.Duration(b.cfg.ControllerSocketTimeoutMs) * time.Millisecond
	return controller.Config{
		BrokerID:              b.id,
		InterBrokerListener:   b.cfg.InterBrokerListener(),
		UncleanLeaderElection: b.currentConfig().UncleanLeaderElectionEnable,
		DisableTopicDeletion:  !b.cfg.DeleteTopicEnable,
		RequestTimeout:        timeout,

		AutoLeaderRebalance:                b.cfg.AutoLeaderRebalanceEnable,
		LeaderImbalanceCheckInterval:       time.Duration(b.cfg.LeaderImbalanceCheckIntervalSeconds) * time.Second,
		LeaderImbalancePerBrokerPercentage: int(b.cfg.LeaderImbalancePerBrokerPercentage),
	}
}

// topicConfigs caches each hosted topic's effective config (broker defaults plus /config/topics
// overrides), refreshed whenever a LeaderAndIsr names the topic.
type topicConfigs struct {
	mu sync.RWMutex
	m  map[string]config.TopicConfig // guarded by mu
}

func (t *topicConfigs) set(topic string, tc config.TopicConfig) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[string]config.TopicConfig)
	}
	t.m[topic] = tc
}

func (t *topicConfigs) get(topic string) (config.TopicConfig, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tc, ok := t.m[topic]
	return tc, ok
}

func (t *topicConfigs) remove(topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, topic)
}

// minInsyncReplicas is the topic's min.insync.replicas, 0 when unknown (the replica manager then uses the
// broker default).
func (t *topicConfigs) minInsyncReplicas(topic string) int {
	if tc, ok := t.get(topic); ok {
		return int(tc.MinInsyncReplicas)
	}
	return 0
}

// loadTopicConfig reads /config/topics/<topic> and caches the effective config.
func (b *Broker) loadTopicConfig(topic string) (config.TopicConfig, error) {
	overrides, err := b.zk.GetTopicConfig(topic)
	if err != nil {
		return config.TopicConfig{}, err
	}
	tc, err := b.currentConfig().TopicConfig(overrides)
	if err != nil {
		return config.TopicConfig{}, err
	}
	b.topics.set(topic, tc)
	return tc, nil
}

// storedTopicConfig gives the log manager the config of a topic whose logs it finds at startup.
func (b *Broker) storedTopicConfig(topic string) storage.Config {
	tc, err := b.loadTopicConfig(topic)
	if err != nil {
		b.log.WithError(err).WithField("topic", topic).Warn("reading topic config; using broker defaults")
		tc = b.currentConfig().TopicDefaults()
	}
	return storage.Config(tc.Log())
}

// cleanerConfig is the log cleaner's log.cleaner.* settings.
func (b *Broker) cleanerConfig() *storage.CleanerConfig {
	c := b.currentConfig() // dynamic log.cleaner.* included (ReconfigureCleaner on a change)
	return &storage.CleanerConfig{
		Enable:                 c.LogCleanerEnable,
		Threads:                int(c.LogCleanerThreads),
		DedupeBufferSize:       c.LogCleanerDedupeBufferSize,
		DedupeBufferLoadFactor: c.LogCleanerIOBufferLoadFactor,
		IOBufferSize:           int(c.LogCleanerIOBufferSize),
		BackoffMs:              c.LogCleanerBackoffMs,
	}
}

// topicCompaction gives the cleaner a compacted topic's delete.retention.ms, min.cleanable.dirty.ratio and
// compaction lags: the cached topic config, or the broker defaults.
func (b *Broker) topicCompaction(topic string) storage.CompactionConfig {
	tc, ok := b.topics.get(topic)
	if !ok {
		tc = b.currentConfig().TopicDefaults()
	}
	return storage.CompactionConfig{
		DeleteRetentionMs:      tc.DeleteRetentionMs,
		MinCleanableDirtyRatio: tc.MinCleanableDirtyRatio,
		MinCompactionLagMs:     tc.MinCompactionLagMs,
		MaxCompactionLagMs:     tc.MaxCompactionLagMs,
	}
}
