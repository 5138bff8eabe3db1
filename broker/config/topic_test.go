package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Reference 07 §3: the topic defaults of a broker with Kafka's defaults.
func TestTopicDefaultsAreKafka28(t *testing.T) {
	tc := Default().TopicDefaults()
	for key, want := range map[string]string{
		"segment.bytes":                           "1073741824",
		"segment.ms":                              "604800000",
		"segment.jitter.ms":                       "0",
		"segment.index.bytes":                     "10485760",
		"index.interval.bytes":                    "4096",
		"retention.ms":                            "604800000",
		"retention.bytes":                         "-1",
		"file.delete.delay.ms":                    "60000",
		"flush.messages":                          "9223372036854775807",
		"flush.ms":                                "9223372036854775807",
		"max.message.bytes":                       "1048588",
		"message.timestamp.type":                  "CreateTime",
		"message.timestamp.difference.max.ms":     "9223372036854775807",
		"message.format.version":                  "2.8-IV1",
		"message.downconversion.enable":           "true",
		"cleanup.policy":                          "delete",
		"min.insync.replicas":                     "1",
		"unclean.leader.election.enable":          "false",
		"compression.type":                        "producer",
		"preallocate":                             "false",
		"min.cleanable.dirty.ratio":               "0.5",
		"delete.retention.ms":                     "86400000",
		"min.compaction.lag.ms":                   "0",
		"max.compaction.lag.ms":                   "9223372036854775807",
		"leader.replication.throttled.replicas":   "",
		"follower.replication.throttled.replicas": "",
	} {
		if got := deref(topicSchema.format(&tc, key)); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if len(TopicConfigNames()) != 26 {
		t.Errorf("%d topic configs, Kafka 2.8 has 26", len(TopicConfigNames()))
	}
	for _, name := range TopicConfigNames() {
		if _, ok := topicSynonyms[name]; !ok {
			t.Errorf("%s has no synonym entry", name)
		}
		if b := TopicConfigSynonym(name); b != "" {
			if _, ok := brokerSchema.lookup(b); !ok {
				t.Errorf("%s's synonym %s is not a broker key", name, b)
			}
		}
	}
}

// Each topic default follows its broker synonym (LogConfig.TopicConfigSynonyms), with the broker's precedence.
func TestTopicDefaultsFollowBrokerSynonyms(t *testing.T) {
	c := mustParse(t, `log.segment.bytes: 2000
log.roll.hours: 1
log.roll.jitter.ms: 5
log.index.size.max.bytes: 4096
log.index.interval.bytes: 100
log.retention.minutes: 3
log.retention.bytes: 1000000
log.segment.delete.delay.ms: 6
log.flush.interval.messages: 7
log.flush.scheduler.interval.ms: 8
message.max.bytes: 9000
log.message.timestamp.type: LogAppendTime
log.message.timestamp.difference.max.ms: 10
log.message.format.version: "2.1"
log.message.downconversion.enable: false
log.cleanup.policy: compact
min.insync.replicas: 2
unclean.leader.election.enable: true
compression.type: zstd
log.preallocate: true
log.cleaner.min.cleanable.ratio: 0.75
log.cleaner.delete.retention.ms: 11
log.cleaner.min.compaction.lag.ms: 12
log.cleaner.max.compaction.lag.ms: 13
`)
	got := c.TopicDefaults()
	want := TopicConfig{
		CleanupPolicy: []string{"compact"}, CompressionType: "zstd", DeleteRetentionMs: 11, FileDeleteDelayMs: 6,
		FlushMessages: 7, FlushMs: 8, FollowerReplicationThrottledReplicas: []string{}, IndexIntervalBytes: 100,
		LeaderReplicationThrottledReplicas: []string{}, MaxCompactionLagMs: 13, MaxMessageBytes: 9000,
		MessageDownconversionEnable: false, MessageFormatVersion: "2.1", MessageTimestampDifferenceMaxMs: 10,
		MessageTimestampType: "LogAppendTime", MinCleanableDirtyRatio: 0.75, MinCompactionLagMs: 12,
		MinInsyncReplicas: 2, Preallocate: true, RetentionBytes: 1000000, RetentionMs: 180000, SegmentBytes: 2000,
		SegmentIndexBytes: 4096, SegmentJitterMs: 5, SegmentMs: 3600000, UncleanLeaderElectionEnable: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !got.Compacted() {
		t.Fatal("Compacted")
	}
}

func TestTopicOverridesReplaceDefaultsKeyByKey(t *testing.T) {
	c := mustParse(t, "log.segment.bytes: 2000\n")
	tc, err := c.TopicConfig(map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.RetentionMs != 1000 || tc.SegmentBytes != 2000 || !slices.Equal(tc.CleanupPolicy, []string{"compact", "delete"}) {
		t.Fatalf("%+v", tc)
	}
	l := tc.Log()
	if l.RetentionMs != 1000 || l.SegmentBytes != 2000 || l.CleanupPolicy != "compact,delete" || l.MaxMessageBytes != 1048588 {
		t.Fatalf("%+v", l)
	}
}

// LogConfig must stay convertible to storage.Config (docs/API-CONTRACTS.md): same names, types, order.
func TestLogConfigMatchesStorageContract(t *testing.T) {
	want := []string{"SegmentBytes int64", "SegmentMs int64", "SegmentJitterMs int64", "IndexIntervalBytes int",
		"SegmentIndexBytes int", "RetentionMs int64", "RetentionBytes int64", "FileDeleteDelayMs int64",
		"FlushMessages int64", "FlushMs int64", "MaxMessageBytes int", "MessageTimestampType string",
		"MessageTimestampDifferenceMaxMs int64", "CleanupPolicy string", "Preallocate bool"}
	rt := reflect.TypeOf(LogConfig{})
	var got []string
	for i := 0; i < rt.NumField(); i++ {
		got = append(got, rt.Field(i).Name+" "+rt.Field(i).Type.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LogConfig fields\n%v\nwant\n%v", got, want)
	}
}

// Topic configs are checked with LogConfig's validators; unknown names are INVALID_CONFIG.
func TestValidateTopicConfigs(t *testing.T) {
	for _, tc := range []struct {
		key, value string
		ok         bool
	}{
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.ms", "abc", false},
		{"retention.bytes", "-7", true},
		{"segment.bytes", "14", true},
		{"segment.bytes", "13", false},
		{"segment.bytes", "4294967296", false}, // INT
		{"segment.ms", "0", false},
		{"segment.jitter.ms", "-1", false},
		{"segment.index.bytes", "11", false},
		{"max.message.bytes", "-1", false},
		{"min.insync.replicas", "0", false},
		{"min.cleanable.dirty.ratio", "1.5", false},
		{"min.cleanable.dirty.ratio", "0", true},
		{"max.compaction.lag.ms", "0", false},
		{"cleanup.policy", "compact, delete", true},
		{"cleanup.policy", "remove", false},
		{"cleanup.policy", "", false},
		{"compression.type", "lz4", true},
		{"compression.type", "LZ4", false},
		{"message.timestamp.type", "LogAppendTime", true},
		{"message.timestamp.type", "AppendTime", false},
		{"message.format.version", "2.8", true},
		{"message.format.version", "0.10.2", false},
		{"preallocate", "yes", false},
		{"unclean.leader.election.enable", "True", true},
		{"leader.replication.throttled.replicas", "*", true},
		{"leader.replication.throttled.replicas", "0:1, 1:2", true},
		{"follower.replication.throttled.replicas", "0-1", false},
		{"follower.replication.throttled.replicas", "*,0:1", false},
		{"retention.hours", "1", false},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			err := ValidateTopicConfigs(map[string]string{tc.key: tc.value})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Key != tc.key || !strings.Contains(err.Error(), tc.key) {
					t.Fatalf("error must name the key: %v", err)
				}
			}
		})
	}
}

func TestValidateTopicConfigsReportsAllAndCrossChecks(t *testing.T) {
	err := ValidateTopicConfigs(map[string]string{"segment.ms": "0", "retention.ms": "x", "bogus": "1",
		"min.compaction.lag.ms": "100", "max.compaction.lag.ms": "50"})
	keys := keysOf(err)
	for _, k := range []string{"segment.ms", "retention.ms", "bogus", "min.compaction.lag.ms"} {
		if !slices.Contains(keys, k) {
			t.Errorf("%s not reported: %v", k, err)
		}
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Error("unknown key not marked")
	}
}

func TestDescribeTopicSources(t *testing.T) {
	c := mustParse(t, "log.segment.bytes: 2000\nlog.retention.hours: 24\nlog.roll.ms: 1000\n")
	entries, err := c.DescribeTopic(map[string]string{"retention.bytes": "5"})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 26 {
		t.Fatalf("%d entries", len(entries))
	}
	byName := map[string]ConfigEntry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	check := func(name, value string, src kmsg.ConfigSource, synonyms ...string) {
		t.Helper()
		e := byName[name]
		if deref(e.Value) != value || e.Source != src || e.IsDefault != (src == kmsg.ConfigSourceDefaultConfig) || e.ReadOnly {
			t.Errorf("%s: value %s source %v default %v", name, deref(e.Value), e.Source, e.IsDefault)
		}
		var got []string
		for _, s := range e.Synonyms {
			got = append(got, s.Name+"="+deref(s.Value)+"@"+s.Source.String())
		}
		if !slices.Equal(got, synonyms) {
			t.Errorf("%s synonyms %v, want %v", name, got, synonyms)
		}
	}
	check("retention.bytes", "5", kmsg.ConfigSourceDynamicTopicConfig,
		"retention.bytes=5@DYNAMIC_TOPIC_CONFIG", "log.retention.bytes=-1@DEFAULT_CONFIG")
	check("segment.bytes", "2000", kmsg.ConfigSourceStaticBrokerConfig,
		"log.segment.bytes=2000@STATIC_BROKER_CONFIG", "log.segment.bytes=1073741824@DEFAULT_CONFIG")
	check("segment.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig,
		"log.roll.ms=1000@STATIC_BROKER_CONFIG", "log.roll.hours=168@DEFAULT_CONFIG")
	// Kafka 2.8 keeps synonyms from log.retention.ms on: with only log.retention.hours set, retention.ms shows
	// the right value but as DEFAULT_CONFIG without synonyms. Reproduced on purpose.
	check("retention.ms", "86400000", kmsg.ConfigSourceDefaultConfig)
	check("leader.replication.throttled.replicas", "", kmsg.ConfigSourceDefaultConfig)
	if byName["min.cleanable.dirty.ratio"].Type != kmsg.ConfigTypeDouble || byName["cleanup.policy"].Type != kmsg.ConfigTypeList {
		t.Error("config types")
	}
	if _, err := c.DescribeTopic(map[string]string{"segment.bytes": "1"}); err == nil {
		t.Error("invalid overrides must fail")
	}
}

func TestDescribeBroker(t *testing.T) {
	c := mustParse(t, "num.partitions: 3\nlisteners: PLAINTEXT://127.0.0.1:9092\n")
	byName := map[string]ConfigEntry{}
	for _, e := range c.DescribeBroker() {
		byName[e.Name] = e
	}
	if e := byName["num.partitions"]; deref(e.Value) != "3" || e.Source != kmsg.ConfigSourceStaticBrokerConfig || !e.ReadOnly ||
		len(e.Synonyms) != 2 || e.Type != kmsg.ConfigTypeInt {
		t.Errorf("num.partitions %+v", e)
	}
	if e := byName["log.retention.ms"]; e.Value != nil || e.Source != kmsg.ConfigSourceDefaultConfig || !e.IsDefault {
		t.Errorf("log.retention.ms %+v", e)
	}
	if e := byName["log.retention.hours"]; deref(e.Value) != "168" || len(e.Synonyms) != 1 {
		t.Errorf("log.retention.hours %+v", e)
	}
	if e := byName["listeners"]; deref(e.Value) != "PLAINTEXT://127.0.0.1:9092" || e.Type != kmsg.ConfigTypeString {
		t.Errorf("listeners %+v", e)
	}
	if len(byName) != len(brokerSchema.keys) {
		t.Error("every key described")
	}
}
