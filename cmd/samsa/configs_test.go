package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestConfigsArgs(t *testing.T) {
	cases := []parseCase[configsOptions]{
		{name: "describe topic", args: "--bootstrap-server a:1 --entity-type topics --entity-name demo --describe",
			check: func(t *testing.T, o configsOptions) {
				if o.action != "describe" || !slices.Equal(o.types, []string{"topics"}) || !slices.Equal(o.names, []string{"demo"}) {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "describe every broker", args: "--bootstrap-server a:1 --entity-type brokers --describe --all"},
		{name: "alter topic", args: "--bootstrap-server a:1 --entity-type topics --entity-name demo --alter --add-config a=1,b=[x,y] --delete-config c,d --delete-config e",
			check: func(t *testing.T, o configsOptions) {
				if o.add["a"] != "1" || o.add["b"] != "x,y" || !slices.Equal(o.addOrder, []string{"a", "b"}) || !slices.Equal(o.del, []string{"c", "d", "e"}) {
					t.Fatalf("%+v", o)
				}
			}},
		// ConfigCommandOptions.entityNames: names pair with types in command-line order, default as "".
		{name: "user default and client", args: "--bootstrap-server a:1 --entity-type users --entity-default --entity-type clients --entity-name app --alter --add-config producer_byte_rate=10",
			check: func(t *testing.T, o configsOptions) {
				if !slices.Equal(o.types, []string{"users", "clients"}) || !slices.Equal(o.names, []string{"", "app"}) {
					t.Fatalf("%+v", o)
				}
				e := o.quotaEntity()
				if e[0].MatchType != sarama.QuotaMatchDefault || e[1].Name != "app" || e[1].EntityType != sarama.QuotaEntityClientID {
					t.Fatalf("%+v", e)
				}
			}},
		{name: "broker default", args: "--bootstrap-server a:1 --entity-type brokers --entity-default --alter --delete-config x"},
		{name: "no action", args: "--bootstrap-server a:1 --entity-type topics", wantErr: "exactly one action"},
		{name: "no entity type", args: "--bootstrap-server a:1 --describe", wantErr: "at least one --entity-type"},
		{name: "bad entity type", args: "--bootstrap-server a:1 --entity-type ips --describe", wantErr: "must be one of"},
		{name: "topic and broker", args: "--bootstrap-server a:1 --entity-type topics --entity-type brokers --describe", wantErr: "<users, clients> pair"},
		{name: "too many names", args: "--bootstrap-server a:1 --entity-type topics --entity-name a --entity-name b --describe", wantErr: "more entity names"},
		{name: "alter without name", args: "--bootstrap-server a:1 --entity-type topics --alter --add-config a=1", wantErr: "for every --entity-type"},
		{name: "alter without change", args: "--bootstrap-server a:1 --entity-type topics --entity-name t --alter", wantErr: "--add-config or --delete-config"},
		{name: "add with describe", args: "--bootstrap-server a:1 --entity-type topics --describe --add-config a=1", wantErr: "only be used with --alter"},
		{name: "all with quotas", args: "--bootstrap-server a:1 --entity-type users --describe --all", wantErr: "--all"},
		{name: "topic default", args: "--bootstrap-server a:1 --entity-type topics --entity-default --describe", wantErr: "not valid for topics"},
		{name: "broker name not an id", args: "--bootstrap-server a:1 --entity-type brokers --entity-name one --describe", wantErr: "valid integer broker id"},
		{name: "bad add-config", args: "--bootstrap-server a:1 --entity-type topics --entity-name t --alter --add-config a", wantErr: `"key=val"`},
		{name: "added and deleted", args: "--bootstrap-server a:1 --entity-type topics --entity-name t --alter --add-config a=1 --delete-config a", wantErr: "both added and deleted"},
	}
	runParseCases(t, cases, parseConfigsArgs)
}

// ConfigCommand.parseConfigsToBeAdded: commas inside [...] do not split, brackets are dropped, keys and
// values trimmed, an empty value kept.
func TestParseAddConfigAsKafkaConfigCommand(t *testing.T) {
	got, order, err := parseAddConfig("a = 1, list=[x,y,z], empty=, k=[v]")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "list": "x,y,z", "empty": "", "k": "v"}
	if len(got) != len(want) || !slices.Equal(order, []string{"a", "list", "empty", "k"}) {
		t.Fatalf("%v %v", got, order)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"a", "a=b=c", "=v", "a=1,,b=2"} {
		if _, _, err := parseAddConfig(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// '=' inside brackets belongs to the value.
	if got, _, err := parseAddConfig("k=[a=b]"); err != nil || got["k"] != "a=b" {
		t.Errorf("k=[a=b]: %v %v", got, err)
	}
}

// ConfigCommand.describeResourceConfig's lines: only the entity's own dynamic entries unless --all, sorted,
// synonyms as SOURCE:name=value with Java's enum names, sensitive values as null.
func TestWriteConfigEntriesAsKafkaDescribe(t *testing.T) {
	entries := []sarama.ConfigEntry{
		{Name: "segment.bytes", Value: "1073741824", Source: sarama.SourceDefault, Default: true,
			Synonyms: []*sarama.ConfigSynonym{{ConfigName: "log.segment.bytes", ConfigValue: "1073741824", Source: sarama.SourceDefault}}},
		{Name: "retention.ms", Value: "100", Source: sarama.SourceTopic, Synonyms: []*sarama.ConfigSynonym{
			{ConfigName: "retention.ms", ConfigValue: "100", Source: sarama.SourceTopic},
			{ConfigName: "log.retention.ms", ConfigValue: "7200000", Source: sarama.SourceDynamicDefaultBroker},
			{ConfigName: "log.retention.hours", ConfigValue: "168", Source: sarama.SourceDefault}}},
		{Name: "cleanup.policy", Value: "compact", Source: sarama.SourceTopic},
		{Name: "secret", Value: "", Sensitive: true, Source: sarama.SourceTopic},
	}
	var b bytes.Buffer
	writeConfigEntries(&b, "topics", "demo", false, entries)
	want := "Dynamic configs for topic demo are:\n" +
		"  cleanup.policy=compact sensitive=false synonyms={}\n" +
		"  retention.ms=100 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=100, DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000, DEFAULT_CONFIG:log.retention.hours=168}\n" +
		"  secret=null sensitive=true synonyms={}\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeConfigEntries(&b, "topics", "demo", true, entries)
	if !strings.HasPrefix(b.String(), "All configs for topic demo are:\n") || !strings.Contains(b.String(), "  segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}\n") {
		t.Fatalf("--all:\n%s", b.String())
	}
	b.Reset()
	writeConfigEntries(&b, "brokers", "", false, []sarama.ConfigEntry{
		{Name: "log.retention.ms", Value: "1", Source: sarama.SourceDynamicDefaultBroker},
		{Name: "num.io.threads", Value: "8", Source: sarama.SourceStaticBroker},
	})
	if b.String() != "Default configs for brokers in the cluster are:\n  log.retention.ms=1 sensitive=false synonyms={}\n" {
		t.Fatalf("broker default:\n%s", b.String())
	}
	b.Reset()
	writeConfigEntries(&b, "brokers", "1", false, []sarama.ConfigEntry{{Name: "log.retention.ms", Value: "1", Source: sarama.SourceDynamicDefaultBroker}})
	if b.String() != "Dynamic configs for broker 1 are:\n" {
		t.Fatalf("broker 1 without its own values:\n%s", b.String())
	}
}

// Quota values print as Java's Double.toString.
func TestJavaDoubleMatchesJavaDoubleToString(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0.0", 1: "1.0", 1048576: "1048576.0", 200: "200.0", 0.5: "0.5", 9999999: "9999999.0",
		1e7: "1.0E7", 2e7: "2.0E7", 1.5e10: "1.5E10", 0.001: "0.001", 0.0001: "1.0E-4", 1.25e-5: "1.25E-5", -3: "-3.0",
	} {
		if got := javaDouble(f); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestWriteQuotaEntriesAsKafkaDescribe(t *testing.T) {
	var b bytes.Buffer
	writeQuotaEntries(&b, []sarama.DescribeClientQuotasEntry{
		{Entity: []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, Name: "app"}, {EntityType: sarama.QuotaEntityUser, Name: "alice"}},
			Values: map[string]float64{"producer_byte_rate": 1048576, "consumer_byte_rate": 2e7}},
		{Entity: []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchDefault}},
			Values: map[string]float64{"request_percentage": 200}},
	})
	want := "Quota configs for the default user-principal are request_percentage=200.0\n" +
		"Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2.0E7, producer_byte_rate=1048576.0\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestQuotaOpsRefuseNonQuotaKeys(t *testing.T) {
	o, err := parseConfigsArgs(strings.Fields("--bootstrap-server a:1 --entity-type users --entity-name u --alter --add-config producer_byte_rate=1024,request_percentage=12.5 --delete-config consumer_byte_rate"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := o.parseQuotaOps()
	if err != nil {
		t.Fatal(err)
	}
	want := []sarama.ClientQuotasOp{{Key: "producer_byte_rate", Value: 1024}, {Key: "request_percentage", Value: 12.5}, {Key: "consumer_byte_rate", Remove: true}}
	if !slices.Equal(ops, want) {
		t.Fatalf("%+v", ops)
	}
	o.add, o.addOrder = map[string]string{"retention.ms": "1"}, []string{"retention.ms"}
	if _, err := o.parseQuotaOps(); err == nil || !strings.Contains(err.Error(), "Unexpected config names: retention.ms") {
		t.Fatalf("non-quota key: %v", err)
	}
	o.add, o.addOrder = map[string]string{"producer_byte_rate": "fast"}, []string{"producer_byte_rate"}
	if _, err := o.parseQuotaOps(); err == nil || !strings.Contains(err.Error(), "cannot parse quota configuration value") {
		t.Fatalf("non-number: %v", err)
	}
}

// The filter pairs types with names: a name matches exactly, --entity-default the default, none any.
func TestQuotaFilterPairsTypesWithNames(t *testing.T) {
	o := configsOptions{types: []string{"users", "clients"}, names: []string{"alice"}}
	f := o.quotaFilter()
	want := []sarama.QuotaFilterComponent{
		{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "alice"},
		{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchAny},
	}
	if !slices.Equal(f, want) {
		t.Fatalf("%+v", f)
	}
	o.names = []string{"", ""}
	if f := o.quotaFilter(); f[0].MatchType != sarama.QuotaMatchDefault || f[1].MatchType != sarama.QuotaMatchDefault {
		t.Fatalf("%+v", f)
	}
}
