package config

import (
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// TopicConfig is the effective configuration of one topic: the broker defaults overlaid, key by key, with the
// topic's overrides from /config/topics/<topic> (Kafka's LogConfig). Field types follow Kafka's ConfigDef types.
type TopicConfig struct {
	CleanupPolicy                        []string `yaml:"cleanup.policy"`
	CompressionType                      string   `yaml:"compression.type"`
	DeleteRetentionMs                    int64    `yaml:"delete.retention.ms"`
	FileDeleteDelayMs                    int64    `yaml:"file.delete.delay.ms"`
	FlushMessages                        int64    `yaml:"flush.messages"`
	FlushMs                              int64    `yaml:"flush.ms"`
	FollowerReplicationThrottledReplicas []string `yaml:"follower.replication.throttled.replicas"`
	IndexIntervalBytes                   int32    `yaml:"index.interval.bytes"`
	LeaderReplicationThrottledReplicas   []string `yaml:"leader.replication.throttled.replicas"`
	MaxCompactionLagMs                   int64    `yaml:"max.compaction.lag.ms"`
	MaxMessageBytes                      int32    `yaml:"max.message.bytes"`
	MessageDownconversionEnable          bool     `yaml:"message.downconversion.enable"`
	MessageFormatVersion                 string   `yaml:"message.format.version"`
	MessageTimestampDifferenceMaxMs      int64    `yaml:"message.timestamp.difference.max.ms"`
	MessageTimestampType                 string   `yaml:"message.timestamp.type"`
	MinCleanableDirtyRatio               float64  `yaml:"min.cleanable.dirty.ratio"`
	MinCompactionLagMs                   int64    `yaml:"min.compaction.lag.ms"`
	MinInsyncReplicas                    int32    `yaml:"min.insync.replicas"`
	Preallocate                          bool     `yaml:"preallocate"`
	RetentionBytes                       int64    `yaml:"retention.bytes"`
	RetentionMs                          int64    `yaml:"retention.ms"` // -1: unlimited
	SegmentBytes                         int32    `yaml:"segment.bytes"`
	SegmentIndexBytes                    int32    `yaml:"segment.index.bytes"`
	SegmentJitterMs                      int64    `yaml:"segment.jitter.ms"`
	SegmentMs                            int64    `yaml:"segment.ms"`
	UncleanLeaderElectionEnable          bool     `yaml:"unclean.leader.election.enable"`
}

// topicSynonyms maps each topic config to the broker key holding its default (Kafka's
// LogConfig.TopicConfigSynonyms). The throttled-replica lists have no broker default.
var topicSynonyms = map[string]string{
	"cleanup.policy":                          "log.cleanup.policy",
	"compression.type":                        "compression.type",
	"delete.retention.ms":                     "log.cleaner.delete.retention.ms",
	"file.delete.delay.ms":                    "log.segment.delete.delay.ms",
	"flush.messages":                          "log.flush.interval.messages",
	"flush.ms":                                "log.flush.interval.ms",
	"follower.replication.throttled.replicas": "",
	"index.interval.bytes":                    "log.index.interval.bytes",
	"leader.replication.throttled.replicas":   "",
	"max.compaction.lag.ms":                   "log.cleaner.max.compaction.lag.ms",
	"max.message.bytes":                       "message.max.bytes",
	"message.downconversion.enable":           "log.message.downconversion.enable",
	"message.format.version":                  "log.message.format.version",
	"message.timestamp.difference.max.ms":     "log.message.timestamp.difference.max.ms",
	"message.timestamp.type":                  "log.message.timestamp.type",
	"min.cleanable.dirty.ratio":               "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":                   "log.cleaner.min.compaction.lag.ms",
	"min.insync.replicas":                     "min.insync.replicas",
	"preallocate":                             "log.preallocate",
	"retention.bytes":                         "log.retention.bytes",
	"retention.ms":                            "log.retention.ms",
	"segment.bytes":                           "log.segment.bytes",
	"segment.index.bytes":                     "log.index.size.max.bytes",
	"segment.jitter.ms":                       "log.roll.jitter.ms",
	"segment.ms":                              "log.roll.ms",
	"unclean.leader.election.enable":          "unclean.leader.election.enable",
}

// brokerSynonyms lists, in precedence order, the broker keys that set the same value as name
// (DynamicBrokerConfig.brokerConfigSynonyms).
func brokerSynonyms(name string) []string {
	switch name {
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.roll.jitter.ms", "log.roll.jitter.hours":
		return []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}
	case "log.flush.interval.ms": // log.flush.scheduler.interval.ms is its default
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	case "log.retention.ms", "log.retention.minutes", "log.retention.hours":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	}
	return []string{name}
}

// TopicConfigNames lists every topic config key, sorted.
func TopicConfigNames() []string { return slices.Clone(topicSchema.keys) }

// TopicConfigSynonym names the broker key that holds the default of topic config name ("" for none or unknown).
func TopicConfigSynonym(name string) string { return topicSynonyms[name] }

// TopicDefaults is the configuration of a topic without overrides: the broker's log defaults.
func (c *Config) TopicDefaults() TopicConfig {
	return TopicConfig{
		CleanupPolicy:                        slices.Clone(c.LogCleanupPolicy),
		CompressionType:                      c.CompressionType,
		DeleteRetentionMs:                    c.LogCleanerDeleteRetentionMs,
		FileDeleteDelayMs:                    c.LogSegmentDeleteDelayMs,
		FlushMessages:                        c.LogFlushIntervalMessages,
		FlushMs:                              c.FlushIntervalMs(),
		FollowerReplicationThrottledReplicas: []string{},
		IndexIntervalBytes:                   c.LogIndexIntervalBytes,
		LeaderReplicationThrottledReplicas:   []string{},
		MaxCompactionLagMs:                   c.LogCleanerMaxCompactionLagMs,
		MaxMessageBytes:                      c.MessageMaxBytes,
		MessageDownconversionEnable:          c.LogMessageDownconversionEnable,
		MessageFormatVersion:                 c.LogMessageFormatVersion,
		MessageTimestampDifferenceMaxMs:      c.LogMessageTimestampDifferenceMaxMs,
		MessageTimestampType:                 c.LogMessageTimestampType,
		MinCleanableDirtyRatio:               c.LogCleanerMinCleanableRatio,
		MinCompactionLagMs:                   c.LogCleanerMinCompactionLagMs,
		MinInsyncReplicas:                    c.MinInsyncReplicas,
		Preallocate:                          c.LogPreallocate,
		RetentionBytes:                       c.LogRetentionBytes,
		RetentionMs:                          c.RetentionMs(),
		SegmentBytes:                         c.LogSegmentBytes,
		SegmentIndexBytes:                    c.LogIndexSizeMaxBytes,
		SegmentJitterMs:                      c.RollJitterMs(),
		SegmentMs:                            c.RollMs(),
		UncleanLeaderElectionEnable:          c.UncleanLeaderElectionEnable,
	}
}

// TopicConfig overlays a topic's overrides (Kafka topic keys, string values as stored in ZooKeeper) on the broker
// defaults. On error it returns every problem joined; each *Error names its key (CreateTopics and AlterConfigs
// answer INVALID_CONFIG with it).
func (c *Config) TopicConfig(overrides map[string]string) (TopicConfig, error) {
	t := c.TopicDefaults()
	if err := t.apply(overrides); err != nil {
		return TopicConfig{}, err
	}
	return t, nil
}

// ValidateTopicConfigs checks topic overrides on their own, against Kafka's defaults for the keys not given:
// unknown keys, unparsable and out-of-range values, and min.compaction.lag.ms <= max.compaction.lag.ms.
func ValidateTopicConfigs(overrides map[string]string) error {
	t := Default().TopicDefaults()
	return t.apply(overrides)
}

func (t *TopicConfig) apply(overrides map[string]string) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		v := overrides[k]
		if err := topicSchema.set(t, k, v); err != nil {
			if err == errUnknown {
				errs = append(errs, unknownKey("", k, " (not a topic config)"))
			} else {
				errs = append(errs, invalid(k, v, "%v", err))
			}
			continue
		}
		if e := t.check(k, v); e != nil {
			errs = append(errs, e)
		}
	}
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		errs = append(errs, problem("min.compaction.lag.ms", "%d is greater than max.compaction.lag.ms (%d)",
			t.MinCompactionLagMs, t.MaxCompactionLagMs))
	}
	return errors.Join(errs...)
}

// Minimums of the topic configs (LogConfig's ConfigDef, Kafka 2.8). segment.index.bytes is Samsa's 12 instead
// of Kafka's 0: an index must hold at least one entry (8-byte offset, 12-byte time entries) or every append
// would roll a segment.
var topicMinimums = map[string]int64{
	"segment.bytes":                       14,
	"segment.ms":                          1,
	"segment.jitter.ms":                   0,
	"segment.index.bytes":                 12,
	"flush.messages":                      0,
	"flush.ms":                            0,
	"retention.ms":                        -1,
	"max.message.bytes":                   0,
	"index.interval.bytes":                0,
	"delete.retention.ms":                 0,
	"min.compaction.lag.ms":               0,
	"max.compaction.lag.ms":               1,
	"file.delete.delay.ms":                0,
	"min.insync.replicas":                 1,
	"message.timestamp.difference.max.ms": 0,
}

// check validates the value just parsed into key.
func (t *TopicConfig) check(key, raw string) *Error {
	if min, ok := topicMinimums[key]; ok {
		n, _ := strconv.ParseInt(*topicSchema.format(t, key), 10, 64)
		if n < min {
			return invalid(key, raw, "must be at least %d", min)
		}
		return nil
	}
	switch key {
	case "cleanup.policy":
		if msg := checkCleanupPolicy(t.CleanupPolicy); msg != "" {
			return invalid(key, raw, "%s", msg)
		}
	case "compression.type":
		if !slices.Contains(compressionTypes, t.CompressionType) {
			return invalid(key, raw, "must be one of %s", strings.Join(compressionTypes, ", "))
		}
	case "message.timestamp.type":
		if !slices.Contains(timestampTypes, t.MessageTimestampType) {
			return invalid(key, raw, "must be one of %s", strings.Join(timestampTypes, ", "))
		}
	case "message.format.version":
		if _, err := ParseProtocolVersion(t.MessageFormatVersion); err != nil {
			return invalid(key, raw, "%v", err)
		}
	case "min.cleanable.dirty.ratio":
		if r := t.MinCleanableDirtyRatio; r < 0 || r > 1 {
			return invalid(key, raw, "must be between 0 and 1")
		}
	case "leader.replication.throttled.replicas", "follower.replication.throttled.replicas":
		if !validThrottledReplicas(t.throttled(key)) {
			return invalid(key, raw, "must be the literal '*' or a list of replicas in the format "+
				"[partitionId]:[brokerId],[partitionId]:[brokerId],...")
		}
	}
	return nil
}

func (t *TopicConfig) throttled(key string) []string {
	if key == "leader.replication.throttled.replicas" {
		return t.LeaderReplicationThrottledReplicas
	}
	return t.FollowerReplicationThrottledReplicas
}

// validThrottledReplicas follows Kafka's ThrottledReplicaListValidator: "*" alone, or partition:broker pairs.
func validThrottledReplicas(list []string) bool {
	if len(list) == 1 && list[0] == "*" {
		return true
	}
	for _, e := range list {
		p, b, ok := strings.Cut(e, ":")
		if !ok || !digits(strings.TrimSpace(p)) || !digits(strings.TrimSpace(b)) {
			return false
		}
	}
	return true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Compacted reports whether cleanup.policy includes compact (producers must then send keys).
func (t TopicConfig) Compacted() bool { return slices.Contains(t.CleanupPolicy, "compact") }

// Log returns the storage subset; convert with storage.Config(t.Log()).
func (t TopicConfig) Log() LogConfig {
	return LogConfig{
		SegmentBytes:                    int64(t.SegmentBytes),
		SegmentMs:                       t.SegmentMs,
		SegmentJitterMs:                 t.SegmentJitterMs,
		IndexIntervalBytes:              int(t.IndexIntervalBytes),
		SegmentIndexBytes:               int(t.SegmentIndexBytes),
		RetentionMs:                     t.RetentionMs,
		RetentionBytes:                  t.RetentionBytes,
		FileDeleteDelayMs:               t.FileDeleteDelayMs,
		FlushMessages:                   t.FlushMessages,
		FlushMs:                         t.FlushMs,
		MaxMessageBytes:                 int(t.MaxMessageBytes),
		MessageTimestampType:            t.MessageTimestampType,
		MessageTimestampDifferenceMaxMs: t.MessageTimestampDifferenceMaxMs,
		CleanupPolicy:                   strings.Join(t.CleanupPolicy, ","),
		Preallocate:                     t.Preallocate,
	}
}
