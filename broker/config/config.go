package config

import (
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Config is a broker's static configuration, keyed by Kafka 2.8's property names. Field types follow Kafka's
// ConfigDef types (INT=int32, LONG=int64, SHORT=int16, DOUBLE=float64, BOOLEAN=bool, STRING=string,
// LIST=[]string) so range errors match Kafka's. Pointer fields (and nil lists) are Kafka's "null": the key is
// unset and a fallback rule applies; read those through the resolving methods (RetentionMs, LogDirs, ...).
//
// Build one with Default, RunDefaults or Load; the zero value is not a valid configuration.
type Config struct {
	// Identity and ZooKeeper (reference 07 §1).
	BrokerID                     int32  `yaml:"broker.id"` // -1: from meta.properties, else generated via /brokers/seqid
	BrokerIDGenerationEnable     bool   `yaml:"broker.id.generation.enable"`
	ReservedBrokerMaxID          int32  `yaml:"reserved.broker.max.id"`
	BrokerRack                   string `yaml:"broker.rack"` // "" = no rack
	ZookeeperConnect             string `yaml:"zookeeper.connect"`
	ZookeeperSessionTimeoutMs    int32  `yaml:"zookeeper.session.timeout.ms"`
	ZookeeperConnectionTimeoutMs *int32 `yaml:"zookeeper.connection.timeout.ms"` // nil: session timeout
	ZookeeperMaxInFlightRequests int32  `yaml:"zookeeper.max.in.flight.requests"`
	ZookeeperSetACL              bool   `yaml:"zookeeper.set.acl"`      // secure ACLs are not implemented: true is rejected
	ZookeeperSyncTimeMs          int32  `yaml:"zookeeper.sync.time.ms"` // legacy, accepted and unused (as in Kafka)

	// Listeners (§1). nil lists are unset; see Endpoints and AdvertisedEndpoints for the fallbacks.
	Listeners                   []string `yaml:"listeners"`
	AdvertisedListeners         []string `yaml:"advertised.listeners"`
	ListenerSecurityProtocolMap []string `yaml:"listener.security.protocol.map"` // NAME:PROTOCOL entries
	InterBrokerListenerName     string   `yaml:"inter.broker.listener.name"`     // "": security.inter.broker.protocol
	SecurityInterBrokerProtocol string   `yaml:"security.inter.broker.protocol"`
	HostName                    string   `yaml:"host.name"`            // deprecated: only when listeners is unset
	Port                        int32    `yaml:"port"`                 // deprecated: only when listeners is unset
	AdvertisedHostName          *string  `yaml:"advertised.host.name"` // deprecated
	AdvertisedPort              *int32   `yaml:"advertised.port"`      // deprecated
	InterBrokerProtocolVersion  string   `yaml:"inter.broker.protocol.version"`
	LogMessageFormatVersion     string   `yaml:"log.message.format.version"`

	// Network and threading (§2). Thread counts are advisory: Samsa uses goroutines, not fixed pools.
	NumNetworkThreads                    int32 `yaml:"num.network.threads"`
	NumIOThreads                         int32 `yaml:"num.io.threads"`
	BackgroundThreads                    int32 `yaml:"background.threads"`
	QueuedMaxRequests                    int32 `yaml:"queued.max.requests"`
	QueuedMaxRequestBytes                int64 `yaml:"queued.max.request.bytes"`
	SocketSendBufferBytes                int32 `yaml:"socket.send.buffer.bytes"`    // -1: OS default
	SocketReceiveBufferBytes             int32 `yaml:"socket.receive.buffer.bytes"` // -1: OS default
	SocketRequestMaxBytes                int32 `yaml:"socket.request.max.bytes"`
	ConnectionsMaxIdleMs                 int64 `yaml:"connections.max.idle.ms"`
	MaxConnectionsPerIP                  int32 `yaml:"max.connections.per.ip"`
	MaxConnections                       int32 `yaml:"max.connections"`
	RequestTimeoutMs                     int32 `yaml:"request.timeout.ms"`
	MessageMaxBytes                      int32 `yaml:"message.max.bytes"`
	FetchMaxBytes                        int32 `yaml:"fetch.max.bytes"`
	MaxIncrementalFetchSessionCacheSlots int32 `yaml:"max.incremental.fetch.session.cache.slots"`

	// Log (§3): broker-wide defaults of the topic configs (see TopicDefaults) and log manager settings.
	LogDirs                                 []string `yaml:"log.dirs"` // nil: log.dir; read through DataDirs
	LogDir                                  string   `yaml:"log.dir"`
	NumPartitions                           int32    `yaml:"num.partitions"`
	LogSegmentBytes                         int32    `yaml:"log.segment.bytes"`
	LogRollMs                               *int64   `yaml:"log.roll.ms"` // nil: log.roll.hours
	LogRollHours                            int32    `yaml:"log.roll.hours"`
	LogRollJitterMs                         *int64   `yaml:"log.roll.jitter.ms"` // nil: log.roll.jitter.hours
	LogRollJitterHours                      int32    `yaml:"log.roll.jitter.hours"`
	LogRetentionMs                          *int64   `yaml:"log.retention.ms"`      // nil: minutes
	LogRetentionMinutes                     *int32   `yaml:"log.retention.minutes"` // nil: hours
	LogRetentionHours                       int32    `yaml:"log.retention.hours"`
	LogRetentionBytes                       int64    `yaml:"log.retention.bytes"`
	LogRetentionCheckIntervalMs             int64    `yaml:"log.retention.check.interval.ms"`
	LogCleanupPolicy                        []string `yaml:"log.cleanup.policy"`
	LogIndexSizeMaxBytes                    int32    `yaml:"log.index.size.max.bytes"`
	LogIndexIntervalBytes                   int32    `yaml:"log.index.interval.bytes"`
	LogFlushIntervalMessages                int64    `yaml:"log.flush.interval.messages"`
	LogFlushIntervalMs                      *int64   `yaml:"log.flush.interval.ms"` // nil: log.flush.scheduler.interval.ms
	LogFlushSchedulerIntervalMs             int64    `yaml:"log.flush.scheduler.interval.ms"`
	LogFlushOffsetCheckpointIntervalMs      int32    `yaml:"log.flush.offset.checkpoint.interval.ms"`
	LogFlushStartOffsetCheckpointIntervalMs int32    `yaml:"log.flush.start.offset.checkpoint.interval.ms"`
	LogSegmentDeleteDelayMs                 int64    `yaml:"log.segment.delete.delay.ms"`
	LogPreallocate                          bool     `yaml:"log.preallocate"`
	LogMessageTimestampType                 string   `yaml:"log.message.timestamp.type"`
	LogMessageTimestampDifferenceMaxMs      int64    `yaml:"log.message.timestamp.difference.max.ms"`
	LogMessageDownconversionEnable          bool     `yaml:"log.message.downconversion.enable"`
	CompressionType                         string   `yaml:"compression.type"`
	MinInsyncReplicas                       int32    `yaml:"min.insync.replicas"`
	UncleanLeaderElectionEnable             bool     `yaml:"unclean.leader.election.enable"`
	NumRecoveryThreadsPerDataDir            int32    `yaml:"num.recovery.threads.per.data.dir"`
	AutoCreateTopicsEnable                  bool     `yaml:"auto.create.topics.enable"`
	DeleteTopicEnable                       bool     `yaml:"delete.topic.enable"`

	// Log cleaner (§3): the cleaner's own settings (storage.CleanerConfig, dynamic) and the topic defaults
	// they feed (delete.retention.ms, min/max.compaction.lag.ms, min.cleanable.dirty.ratio).
	LogCleanerEnable              bool    `yaml:"log.cleaner.enable"`
	LogCleanerThreads             int32   `yaml:"log.cleaner.threads"`
	LogCleanerDedupeBufferSize    int64   `yaml:"log.cleaner.dedupe.buffer.size"`
	LogCleanerIOBufferSize        int32   `yaml:"log.cleaner.io.buffer.size"`
	LogCleanerIOBufferLoadFactor  float64 `yaml:"log.cleaner.io.buffer.load.factor"`
	LogCleanerIOMaxBytesPerSecond float64 `yaml:"log.cleaner.io.max.bytes.per.second"`
	LogCleanerBackoffMs           int64   `yaml:"log.cleaner.backoff.ms"`
	LogCleanerMinCleanableRatio   float64 `yaml:"log.cleaner.min.cleanable.ratio"`
	LogCleanerDeleteRetentionMs   int64   `yaml:"log.cleaner.delete.retention.ms"`
	LogCleanerMinCompactionLagMs  int64   `yaml:"log.cleaner.min.compaction.lag.ms"`
	LogCleanerMaxCompactionLagMs  int64   `yaml:"log.cleaner.max.compaction.lag.ms"`

	// Replication and controller (§4).
	DefaultReplicationFactor                    int32 `yaml:"default.replication.factor"`
	ReplicaLagTimeMaxMs                         int64 `yaml:"replica.lag.time.max.ms"`
	ReplicaFetchMaxBytes                        int32 `yaml:"replica.fetch.max.bytes"`
	ReplicaFetchResponseMaxBytes                int32 `yaml:"replica.fetch.response.max.bytes"`
	ReplicaFetchWaitMaxMs                       int32 `yaml:"replica.fetch.wait.max.ms"`
	ReplicaFetchMinBytes                        int32 `yaml:"replica.fetch.min.bytes"`
	ReplicaFetchBackoffMs                       int32 `yaml:"replica.fetch.backoff.ms"`
	NumReplicaFetchers                          int32 `yaml:"num.replica.fetchers"`
	ReplicaSocketTimeoutMs                      int32 `yaml:"replica.socket.timeout.ms"`
	ReplicaSocketReceiveBufferBytes             int32 `yaml:"replica.socket.receive.buffer.bytes"`
	ReplicaHighWatermarkCheckpointIntervalMs    int64 `yaml:"replica.high.watermark.checkpoint.interval.ms"`
	FetchPurgatoryPurgeIntervalRequests         int32 `yaml:"fetch.purgatory.purge.interval.requests"`
	ProducerPurgatoryPurgeIntervalRequests      int32 `yaml:"producer.purgatory.purge.interval.requests"`
	DeleteRecordsPurgatoryPurgeIntervalRequests int32 `yaml:"delete.records.purgatory.purge.interval.requests"`
	ControllerSocketTimeoutMs                   int32 `yaml:"controller.socket.timeout.ms"`
	AutoLeaderRebalanceEnable                   bool  `yaml:"auto.leader.rebalance.enable"`
	LeaderImbalancePerBrokerPercentage          int32 `yaml:"leader.imbalance.per.broker.percentage"`
	LeaderImbalanceCheckIntervalSeconds         int64 `yaml:"leader.imbalance.check.interval.seconds"`
	ControlledShutdownEnable                    bool  `yaml:"controlled.shutdown.enable"`
	ControlledShutdownMaxRetries                int32 `yaml:"controlled.shutdown.max.retries"`
	ControlledShutdownRetryBackoffMs            int64 `yaml:"controlled.shutdown.retry.backoff.ms"`

	// Group coordinator and offsets (§5).
	GroupMinSessionTimeoutMs        int32 `yaml:"group.min.session.timeout.ms"`
	GroupMaxSessionTimeoutMs        int32 `yaml:"group.max.session.timeout.ms"`
	GroupInitialRebalanceDelayMs    int32 `yaml:"group.initial.rebalance.delay.ms"`
	GroupMaxSize                    int32 `yaml:"group.max.size"`
	OffsetsTopicNumPartitions       int32 `yaml:"offsets.topic.num.partitions"`
	OffsetsTopicReplicationFactor   int16 `yaml:"offsets.topic.replication.factor"`
	OffsetsTopicSegmentBytes        int32 `yaml:"offsets.topic.segment.bytes"`
	OffsetsTopicCompressionCodec    int32 `yaml:"offsets.topic.compression.codec"`
	OffsetsLoadBufferSize           int32 `yaml:"offsets.load.buffer.size"`
	OffsetsRetentionMinutes         int32 `yaml:"offsets.retention.minutes"`
	OffsetsRetentionCheckIntervalMs int64 `yaml:"offsets.retention.check.interval.ms"`
	OffsetsCommitTimeoutMs          int32 `yaml:"offsets.commit.timeout.ms"`
	OffsetsCommitRequiredAcks       int16 `yaml:"offsets.commit.required.acks"`
	OffsetMetadataMaxBytes          int32 `yaml:"offset.metadata.max.bytes"`

	// Transactions (§6).
	TransactionalIDExpirationMs                          int32 `yaml:"transactional.id.expiration.ms"`
	TransactionMaxTimeoutMs                              int32 `yaml:"transaction.max.timeout.ms"`
	TransactionStateLogNumPartitions                     int32 `yaml:"transaction.state.log.num.partitions"`
	TransactionStateLogReplicationFactor                 int16 `yaml:"transaction.state.log.replication.factor"`
	TransactionStateLogMinISR                            int32 `yaml:"transaction.state.log.min.isr"`
	TransactionStateLogSegmentBytes                      int32 `yaml:"transaction.state.log.segment.bytes"`
	TransactionStateLogLoadBufferSize                    int32 `yaml:"transaction.state.log.load.buffer.size"`
	TransactionAbortTimedOutTransactionCleanupIntervalMs int32 `yaml:"transaction.abort.timed.out.transaction.cleanup.interval.ms"`
	TransactionRemoveExpiredTransactionCleanupIntervalMs int32 `yaml:"transaction.remove.expired.transaction.cleanup.interval.ms"`

	// Client quotas (§7): the rate samples of produce/fetch byte-rate quotas (broker/quota).
	QuotaWindowNum         int32 `yaml:"quota.window.num"`
	QuotaWindowSizeSeconds int32 `yaml:"quota.window.size.seconds"`

	// raw holds every key set by Load, Parse, Set or an override, as written (lists joined with ","). It
	// tells explicit settings from defaults: DescribeConfigs reports those as STATIC_BROKER_CONFIG.
	raw map[string]string
	// origin says where each key of raw was set ("broker.yaml:12", "--override"), for messages.
	origin map[string]string
}

// Kafka's sentinel maxima (Int.MaxValue, Long.MaxValue, Double.MaxValue) appear as defaults meaning "no limit".
const (
	maxInt32 = math.MaxInt32
	maxInt64 = math.MaxInt64
)

// Default returns Kafka 2.8's defaults (KafkaConfig.Defaults, reference 07). zookeeper.connect is empty, which
// Validate rejects: Kafka has no default for it. log.dirs is unset, so LogDirs is log.dir = /tmp/kafka-logs.
func Default() *Config {
	return &Config{
		BrokerID:                     -1,
		BrokerIDGenerationEnable:     true,
		ReservedBrokerMaxID:          1000,
		ZookeeperSessionTimeoutMs:    18000,
		ZookeeperMaxInFlightRequests: 10,
		ZookeeperSyncTimeMs:          2000,

		ListenerSecurityProtocolMap: []string{"PLAINTEXT:PLAINTEXT", "SSL:SSL", "SASL_PLAINTEXT:SASL_PLAINTEXT", "SASL_SSL:SASL_SSL"},
		SecurityInterBrokerProtocol: "PLAINTEXT",
		Port:                        9092,
		InterBrokerProtocolVersion:  latestVersion.String(),
		LogMessageFormatVersion:     latestVersion.String(),

		NumNetworkThreads:                    3,
		NumIOThreads:                         8,
		BackgroundThreads:                    10,
		QueuedMaxRequests:                    500,
		QueuedMaxRequestBytes:                -1,
		SocketSendBufferBytes:                100 * 1024,
		SocketReceiveBufferBytes:             100 * 1024,
		SocketRequestMaxBytes:                100 * 1024 * 1024,
		ConnectionsMaxIdleMs:                 10 * 60 * 1000,
		MaxConnectionsPerIP:                  maxInt32,
		MaxConnections:                       maxInt32,
		RequestTimeoutMs:                     30000,
		MessageMaxBytes:                      1024*1024 + 12, // 1 MiB + LOG_OVERHEAD (offset + size)
		FetchMaxBytes:                        55 * 1024 * 1024,
		MaxIncrementalFetchSessionCacheSlots: 1000,

		LogDir:                                  "/tmp/kafka-logs",
		NumPartitions:                           1,
		LogSegmentBytes:                         1024 * 1024 * 1024,
		LogRollHours:                            24 * 7,
		LogRetentionHours:                       24 * 7,
		LogRetentionBytes:                       -1,
		LogRetentionCheckIntervalMs:             5 * 60 * 1000,
		LogCleanupPolicy:                        []string{"delete"},
		LogIndexSizeMaxBytes:                    10 * 1024 * 1024,
		LogIndexIntervalBytes:                   4096,
		LogFlushIntervalMessages:                maxInt64,
		LogFlushSchedulerIntervalMs:             maxInt64,
		LogFlushOffsetCheckpointIntervalMs:      60000,
		LogFlushStartOffsetCheckpointIntervalMs: 60000,
		LogSegmentDeleteDelayMs:                 60000,
		LogMessageTimestampType:                 "CreateTime",
		LogMessageTimestampDifferenceMaxMs:      maxInt64,
		LogMessageDownconversionEnable:          true,
		CompressionType:                         "producer",
		MinInsyncReplicas:                       1,
		NumRecoveryThreadsPerDataDir:            1,
		AutoCreateTopicsEnable:                  true,
		DeleteTopicEnable:                       true,

		LogCleanerEnable:              true,
		LogCleanerThreads:             1,
		LogCleanerDedupeBufferSize:    128 * 1024 * 1024,
		LogCleanerIOBufferSize:        512 * 1024,
		LogCleanerIOBufferLoadFactor:  0.9,
		LogCleanerIOMaxBytesPerSecond: math.MaxFloat64,
		LogCleanerBackoffMs:           15000,
		LogCleanerMinCleanableRatio:   0.5,
		LogCleanerDeleteRetentionMs:   24 * 60 * 60 * 1000,
		LogCleanerMinCompactionLagMs:  0,
		LogCleanerMaxCompactionLagMs:  maxInt64,

		DefaultReplicationFactor:                    1,
		ReplicaLagTimeMaxMs:                         30000,
		ReplicaFetchMaxBytes:                        1024 * 1024,
		ReplicaFetchResponseMaxBytes:                10 * 1024 * 1024,
		ReplicaFetchWaitMaxMs:                       500,
		ReplicaFetchMinBytes:                        1,
		ReplicaFetchBackoffMs:                       1000,
		NumReplicaFetchers:                          1,
		ReplicaSocketTimeoutMs:                      30000,
		ReplicaSocketReceiveBufferBytes:             64 * 1024,
		ReplicaHighWatermarkCheckpointIntervalMs:    5000,
		FetchPurgatoryPurgeIntervalRequests:         1000,
		ProducerPurgatoryPurgeIntervalRequests:      1000,
		DeleteRecordsPurgatoryPurgeIntervalRequests: 1,
		ControllerSocketTimeoutMs:                   30000,
		AutoLeaderRebalanceEnable:                   true,
		LeaderImbalancePerBrokerPercentage:          10,
		LeaderImbalanceCheckIntervalSeconds:         300,
		ControlledShutdownEnable:                    true,
		ControlledShutdownMaxRetries:                3,
		ControlledShutdownRetryBackoffMs:            5000,

		GroupMinSessionTimeoutMs:        6000,
		GroupMaxSessionTimeoutMs:        1800000,
		GroupInitialRebalanceDelayMs:    3000,
		GroupMaxSize:                    maxInt32,
		OffsetsTopicNumPartitions:       50,
		OffsetsTopicReplicationFactor:   3,
		OffsetsTopicSegmentBytes:        100 * 1024 * 1024,
		OffsetsTopicCompressionCodec:    0,
		OffsetsLoadBufferSize:           5 * 1024 * 1024,
		OffsetsRetentionMinutes:         7 * 24 * 60,
		OffsetsRetentionCheckIntervalMs: 600000,
		OffsetsCommitTimeoutMs:          5000,
		OffsetsCommitRequiredAcks:       -1,
		OffsetMetadataMaxBytes:          4096,

		TransactionalIDExpirationMs:                          7 * 24 * 60 * 60 * 1000,
		TransactionMaxTimeoutMs:                              15 * 60 * 1000,
		TransactionStateLogNumPartitions:                     50,
		TransactionStateLogReplicationFactor:                 3,
		TransactionStateLogMinISR:                            2,
		TransactionStateLogSegmentBytes:                      100 * 1024 * 1024,
		TransactionStateLogLoadBufferSize:                    5 * 1024 * 1024,
		TransactionAbortTimedOutTransactionCleanupIntervalMs: 10000,
		TransactionRemoveExpiredTransactionCleanupIntervalMs: 3600000,

		QuotaWindowNum:         11,
		QuotaWindowSizeSeconds: 1,
	}
}

// Samsa's built-in settings for running without --config (issue 3: "built-in defaults start one broker against
// 127.0.0.1:2181 with data under ./data"). They are not Kafka defaults, so Default leaves them unset.
const (
	RunZookeeperConnect = "127.0.0.1:2181"
	RunLogDir           = "./data"
)

// RunDefaults is Default plus zookeeper.connect=RunZookeeperConnect and log.dirs=RunLogDir: what Load uses when
// there is no config file. Both count as explicitly set (STATIC_BROKER_CONFIG in DescribeConfigs).
func RunDefaults() *Config {
	c := Default()
	for _, kv := range [][2]string{{"zookeeper.connect", RunZookeeperConnect}, {"log.dirs", RunLogDir}} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			panic(err) // constant input
		}
	}
	return c
}

// IsSet reports whether key was set explicitly (config file, override, RunDefaults or Set).
func (c *Config) IsSet(key string) bool {
	_, ok := c.raw[key]
	return ok
}

// DataDirs resolves Kafka's precedence: log.dirs if set, else log.dir; both are comma-separated lists
// (KafkaConfig.logDirs). Empty entries are dropped.
func (c *Config) DataDirs() []string {
	if c.LogDirs != nil {
		return append([]string(nil), c.LogDirs...)
	}
	return splitList(c.LogDir)
}

// ZookeeperConnectionTimeout resolves zookeeper.connection.timeout.ms (null: the session timeout).
func (c *Config) ZookeeperConnectionTimeout() int32 {
	if c.ZookeeperConnectionTimeoutMs != nil {
		return *c.ZookeeperConnectionTimeoutMs
	}
	return c.ZookeeperSessionTimeoutMs
}

const (
	msPerMinute = int64(60 * 1000)
	msPerHour   = 60 * msPerMinute
)

// RetentionMs resolves log.retention.ms over .minutes over .hours (KafkaConfig.logRetentionTimeMillis); any
// negative result means unlimited and is reported as -1.
func (c *Config) RetentionMs() int64 {
	var ms int64
	switch {
	case c.LogRetentionMs != nil:
		ms = *c.LogRetentionMs
	case c.LogRetentionMinutes != nil:
		ms = int64(*c.LogRetentionMinutes) * msPerMinute
	default:
		ms = int64(c.LogRetentionHours) * msPerHour
	}
	if ms < 0 {
		return -1
	}
	return ms
}

// RollMs resolves log.roll.ms over log.roll.hours.
func (c *Config) RollMs() int64 {
	if c.LogRollMs != nil {
		return *c.LogRollMs
	}
	return int64(c.LogRollHours) * msPerHour
}

// RollJitterMs resolves log.roll.jitter.ms over log.roll.jitter.hours.
func (c *Config) RollJitterMs() int64 {
	if c.LogRollJitterMs != nil {
		return *c.LogRollJitterMs
	}
	return int64(c.LogRollJitterHours) * msPerHour
}

// FlushIntervalMs resolves log.flush.interval.ms (null: log.flush.scheduler.interval.ms).
func (c *Config) FlushIntervalMs() int64 {
	if c.LogFlushIntervalMs != nil {
		return *c.LogFlushIntervalMs
	}
	return c.LogFlushSchedulerIntervalMs
}

// InterBrokerListener resolves the listener brokers use to reach each other: inter.broker.listener.name, or
// else the listener named after security.inter.broker.protocol (KafkaConfig.getInterBrokerListenerNameAndSecurityProtocol).
func (c *Config) InterBrokerListener() string {
	if c.InterBrokerListenerName != "" {
		return strings.ToUpper(c.InterBrokerListenerName)
	}
	return strings.ToUpper(c.SecurityInterBrokerProtocol)
}

// InterBrokerProtocol returns the parsed inter.broker.protocol.version (valid after Validate).
func (c *Config) InterBrokerProtocol() ProtocolVersion {
	v, _ := ParseProtocolVersion(c.InterBrokerProtocolVersion)
	return v
}

// LogConfig has exactly the fields, types and order of storage.Config (docs/API-CONTRACTS.md), so the broker
// converts with storage.Config(tc.Log()) without this package importing storage.
type LogConfig struct {
	SegmentBytes                    int64
	SegmentMs                       int64
	SegmentJitterMs                 int64
	IndexIntervalBytes              int
	SegmentIndexBytes               int
	RetentionMs                     int64
	RetentionBytes                  int64
	FileDeleteDelayMs               int64
	FlushMessages                   int64
	FlushMs                         int64
	MaxMessageBytes                 int
	MessageTimestampType            string // "CreateTime" | "LogAppendTime"
	MessageTimestampDifferenceMaxMs int64
	CleanupPolicy                   string // "delete", "compact" or "compact,delete"
	Preallocate                     bool
}

// LogManagerConfig mirrors storage.ManagerConfig; Default converts with storage.Config(m.Default).
type LogManagerConfig struct {
	Dirs                                                                  []string
	Default                                                               LogConfig
	RetentionCheckIntervalMs, FlushSchedulerIntervalMs                    int64
	FlushOffsetCheckpointIntervalMs, FlushStartOffsetCheckpointIntervalMs int64
	FileDeleteDelayMs                                                     int64
}

// LogManager returns the storage manager's settings: resolved log dirs and the broker-default log config.
func (c *Config) LogManager() LogManagerConfig {
	return LogManagerConfig{
		Dirs:                                 c.DataDirs(),
		Default:                              c.TopicDefaults().Log(),
		RetentionCheckIntervalMs:             c.LogRetentionCheckIntervalMs,
		FlushSchedulerIntervalMs:             c.LogFlushSchedulerIntervalMs,
		FlushOffsetCheckpointIntervalMs:      int64(c.LogFlushOffsetCheckpointIntervalMs),
		FlushStartOffsetCheckpointIntervalMs: int64(c.LogFlushStartOffsetCheckpointIntervalMs),
		FileDeleteDelayMs:                    c.LogSegmentDeleteDelayMs,
	}
}

// Clone returns a deep copy, e.g. to derive per-broker configs from one base in tests and the run harness.
// A Config is not mutated once the broker starts, so concurrent readers need no lock.
func (c *Config) Clone() *Config {
	d := *c
	d.raw = maps.Clone(c.raw)
	d.origin = maps.Clone(c.origin)
	v := reflect.ValueOf(&d).Elem()
	for _, key := range brokerSchema.keys {
		f := v.FieldByIndex(brokerSchema.fields[key].index)
		switch {
		case f.Kind() == reflect.Slice && !f.IsNil():
			f.Set(reflect.ValueOf(slices.Clone(f.Interface().([]string))))
		case f.Kind() == reflect.Pointer && !f.IsNil():
			p := reflect.New(f.Type().Elem())
			p.Elem().Set(f.Elem())
			f.Set(p)
		}
	}
	return &d
}
