package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func synonymStrings(e ConfigEntry) []string {
	var got []string
	for _, s := range e.Synonyms {
		got = append(got, s.Name+"="+deref(s.Value)+"@"+s.Source.String())
	}
	return got
}

func entryNamed(entries []ConfigEntry, name string) ConfigEntry {
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	return ConfigEntry{}
}

// DynamicBrokerConfig: per-broker dynamic > cluster-default dynamic > static > default, and
// DescribeConfigs lists the synonyms in that order (ConfigHelper.configSynonyms).
func TestDynamicPrecedencePerBrokerOverClusterDefaultOverStatic(t *testing.T) {
	static := mustParse(t, "log.retention.ms: 1000\nlog.segment.bytes: 5000\n")
	d, err := NewDynamic(static, map[string]string{"log.retention.ms": "2000", "log.segment.bytes": "6000"},
		map[string]string{"log.retention.ms": "3000"})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Effective().RetentionMs(); got != 3000 {
		t.Errorf("retention %d, want the per-broker 3000", got)
	}
	if got := d.Effective().LogSegmentBytes; got != 6000 {
		t.Errorf("segment.bytes %d, want the cluster default 6000", got)
	}
	if static.RetentionMs() != 1000 || static.LogSegmentBytes != 5000 {
		t.Error("static config modified")
	}
	e := entryNamed(d.DescribeBroker(), "log.retention.ms")
	want := []string{"log.retention.ms=3000@DYNAMIC_BROKER_CONFIG", "log.retention.ms=2000@DYNAMIC_DEFAULT_BROKER_CONFIG",
		"log.retention.ms=1000@STATIC_BROKER_CONFIG", "log.retention.hours=168@DEFAULT_CONFIG"}
	if got := synonymStrings(e); !slices.Equal(got, want) || deref(e.Value) != "3000" ||
		e.Source != kmsg.ConfigSourceDynamicBrokerConfig || e.ReadOnly {
		t.Errorf("log.retention.ms %+v synonyms %v", e, got)
	}
	topic, err := d.DescribeTopic(nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := entryNamed(topic, "segment.bytes"); deref(e.Value) != "6000" || e.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("topic segment.bytes %+v", e)
	}
	if e := entryNamed(topic, "retention.ms"); deref(e.Value) != "3000" || e.Source != kmsg.ConfigSourceDynamicBrokerConfig {
		t.Errorf("topic retention.ms %+v", e)
	}
	// The cluster-default resource shows only its own keys, without per-broker synonyms.
	defs := d.DescribeClusterDefault()
	if len(defs) != 2 {
		t.Fatalf("cluster default entries %+v", defs)
	}
	if got := synonymStrings(entryNamed(defs, "log.retention.ms")); got[0] != "log.retention.ms=2000@DYNAMIC_DEFAULT_BROKER_CONFIG" {
		t.Errorf("cluster default synonyms %v", got)
	}
	// Removing the per-broker layer falls back to the cluster default.
	d2, _ := NewDynamic(static, map[string]string{"log.retention.ms": "2000"}, nil)
	if d2.Effective().RetentionMs() != 2000 || !slices.Contains(d.Changed(d2), "log.retention.ms") {
		t.Errorf("after removal: %d, changed %v", d2.Effective().RetentionMs(), d.Changed(d2))
	}
}

// DynamicBrokerConfig.validateConfigs: only AllDynamicConfigs may be set; listener configs only per broker.
func TestValidateUpdateRejectsNonDynamicConfigs(t *testing.T) {
	d := StaticOnly(mustParse(t, ""))
	cases := []struct {
		name      string
		props     map[string]string
		perBroker bool
		want      string // "" = accepted
	}{
		{"dynamic log default", map[string]string{"log.retention.ms": "5000", "log.cleaner.backoff.ms": "100"}, true, ""},
		{"thread count", map[string]string{"num.io.threads": "4"}, false, ""},
		{"custom key passes", map[string]string{"leader.replication.throttled.rate": "1000"}, false, ""},
		{"hours synonym is not dynamic", map[string]string{"log.retention.hours": "1", "num.partitions": "3"}, true,
			"Cannot update these configs dynamically: Set(log.retention.hours, num.partitions)"},
		{"log.message.format.version is not dynamic", map[string]string{"log.message.format.version": "2.8"}, true,
			"Cannot update these configs dynamically"},
		{"listeners at cluster level", map[string]string{"listeners": "PLAINTEXT://:9093"}, false,
			"Cannot update these configs at default cluster level, broker id must be specified"},
		{"listeners per broker refused by samsa", map[string]string{"listeners": "PLAINTEXT://:9093"}, true,
			"Samsa cannot update listener configs dynamically"},
		{"unparsable value", map[string]string{"log.retention.ms": "soon"}, true, "not a number"},
		{"range", map[string]string{"min.insync.replicas": "0"}, false, "must be at least 1"},
		{"cross-key", map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"}, false,
			"log.cleaner.min.compaction.lag.ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := d.ValidateUpdate(tc.props, tc.perBroker)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			case err != nil && !errors.Is(err, ErrInvalidValue):
				t.Fatalf("error %v not ErrInvalidValue", err)
			}
		})
	}
}

// DynamicBrokerConfig.removeInvalidConfigs: stored entries that are not dynamic or do not parse are
// ignored, the rest applies.
func TestNewDynamicIgnoresInvalidStoredEntries(t *testing.T) {
	d, err := NewDynamic(mustParse(t, ""), map[string]string{"num.partitions": "9", "log.segment.bytes": "7000",
		"log.retention.ms": "x", "some.custom": "1"}, nil)
	if err == nil || !strings.Contains(err.Error(), "num.partitions") || !strings.Contains(err.Error(), "log.retention.ms") {
		t.Errorf("ignored entries not reported: %v", err)
	}
	if d.Effective().NumPartitions != 1 || d.Effective().LogSegmentBytes != 7000 {
		t.Errorf("effective num.partitions %d segment.bytes %d", d.Effective().NumPartitions, d.Effective().LogSegmentBytes)
	}
	// Layers that together break a cross-key rule are ignored as a whole.
	d, err = NewDynamic(mustParse(t, ""), map[string]string{"log.cleaner.min.compaction.lag.ms": "10"},
		map[string]string{"log.cleaner.max.compaction.lag.ms": "5"})
	if err == nil || d.Effective().LogCleanerMinCompactionLagMs != 0 {
		t.Errorf("conflicting layers applied: %v", err)
	}
}

// DescribeConfigs: ReadOnly is false exactly for the dynamically updatable keys.
func TestDescribeBrokerReadOnlyUnlessDynamic(t *testing.T) {
	for _, e := range StaticOnly(mustParse(t, "")).DescribeBroker() {
		if e.ReadOnly == IsDynamicBrokerKey(e.Name) {
			t.Errorf("%s read-only %v", e.Name, e.ReadOnly)
		}
	}
	for _, k := range []string{"log.retention.ms", "log.cleaner.backoff.ms", "message.max.bytes", "min.insync.replicas", "num.io.threads"} {
		if !IsDynamicBrokerKey(k) {
			t.Errorf("%s should be dynamic", k)
		}
	}
	for _, k := range []string{"log.retention.hours", "broker.id", "log.dirs", "log.message.format.version", "zookeeper.connect"} {
		if IsDynamicBrokerKey(k) {
			t.Errorf("%s should not be dynamic", k)
		}
	}
}

// DescribeConfigs v3: every entry carries documentation and a known type.
func TestEveryKeyDocumented(t *testing.T) {
	for _, k := range brokerSchema.keys {
		if brokerDocs[k] == "" {
			t.Errorf("broker key %s undocumented", k)
		}
		if brokerSchema.configType(k) == kmsg.ConfigTypeUnknown {
			t.Errorf("broker key %s has no type", k)
		}
	}
	for _, k := range topicSchema.keys {
		if topicDocs[k] == "" {
			t.Errorf("topic key %s undocumented", k)
		}
	}
	if len(brokerDocs) != len(brokerSchema.keys) || len(topicDocs) != len(topicSchema.keys) {
		t.Errorf("docs for unknown keys: %d/%d broker, %d/%d topic", len(brokerDocs), len(brokerSchema.keys),
			len(topicDocs), len(topicSchema.keys))
	}
	for _, k := range dynamicKeysSorted() {
		if _, ok := brokerSchema.lookup(k); !ok {
			t.Errorf("dynamic key %s not in the schema", k)
		}
	}
}

func dynamicKeysSorted() []string {
	var out []string
	for k := range dynamicBrokerKeys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestKeyInfoForIncrementalAppend(t *testing.T) {
	if ki := TopicKeyInfo("cleanup.policy"); !ki.Known || !ki.List || deref(ki.KafkaDefault) != "delete" {
		t.Errorf("cleanup.policy %+v", ki)
	}
	if ki := TopicKeyInfo("retention.ms"); !ki.Known || ki.List {
		t.Errorf("retention.ms %+v", ki)
	}
	if ki := TopicKeyInfo("nope"); ki.Known {
		t.Error("unknown key known")
	}
	if ki := BrokerKeyInfo("listeners"); !ki.Known || ki.List { // Kafka types listeners as STRING
		t.Errorf("listeners %+v", ki)
	}
	if ki := BrokerKeyInfo("log.cleanup.policy"); !ki.List {
		t.Errorf("log.cleanup.policy %+v", ki)
	}
}
