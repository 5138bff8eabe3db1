package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The shape the lead's example files and the integration harness use.
func TestLoadExampleFile(t *testing.T) {
	p := writeFile(t, `broker.id: 1
listeners: PLAINTEXT://127.0.0.1:9092
log.dirs: /tmp/samsa-1
zookeeper.connect: 127.0.0.1:2181/samsa
`)
	c, err := Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	servers, chroot, _ := ParseZookeeperConnect(c.ZookeeperConnect)
	if c.BrokerID != 1 || !slices.Equal(c.DataDirs(), []string{"/tmp/samsa-1"}) ||
		!slices.Equal(servers, []string{"127.0.0.1:2181"}) || chroot != "/samsa" {
		t.Fatalf("%+v", c)
	}
	adv, err := c.AdvertisedEndpoints()
	if err != nil || len(adv) != 1 || adv[0].Addr() != "127.0.0.1:9092" || adv[0].Name != "PLAINTEXT" {
		t.Fatalf("advertised %v %v", adv, err)
	}
}

// A server.properties-like file (reference 07 §9) in YAML loads unchanged.
func TestLoadShippedServerProperties(t *testing.T) {
	c := mustParse(t, `broker.id: 0
num.network.threads: 3
num.io.threads: 8
socket.send.buffer.bytes: 102400
socket.receive.buffer.bytes: 102400
socket.request.max.bytes: 104857600
log.dirs: /tmp/kafka-logs
num.partitions: 1
num.recovery.threads.per.data.dir: 1
offsets.topic.replication.factor: 1
transaction.state.log.replication.factor: 1
transaction.state.log.min.isr: 1
log.retention.hours: 168
log.segment.bytes: 1073741824
log.retention.check.interval.ms: 300000
zookeeper.connection.timeout.ms: 18000
group.initial.rebalance.delay.ms: 0
`)
	if c.OffsetsTopicReplicationFactor != 1 || c.GroupInitialRebalanceDelayMs != 0 {
		t.Fatalf("%+v", c)
	}
}

func TestLoadAcceptsAnyScalarType(t *testing.T) {
	c := mustParse(t, `num.partitions: "4"
log.preallocate: TRUE
log.cleaner.min.cleanable.ratio: 0.25
broker.rack: 12
log.cleanup.policy: [compact, delete]
`)
	if c.NumPartitions != 4 || !c.LogPreallocate || c.LogCleanerMinCleanableRatio != 0.25 || c.BrokerRack != "12" ||
		!slices.Equal(c.LogCleanupPolicy, []string{"compact", "delete"}) {
		t.Fatalf("%+v", c)
	}
}

// Issue 3: "unknown keys and bad values are reported all at once, clearly, before anything starts".
func TestLoadReportsEveryProblemTogether(t *testing.T) {
	yaml := `zookeeper.connect: 127.0.0.1:2181
log.dir.s: /x
num.partitions: zero
auto.create.topics.enable: maybe
min.insync.replicas: 0
listeners: PLAINTEXT://127.0.0.1:9092
advertised.listeners: EXTERNAL://example.com:9092
log.dirs: ""
log.segment.bytes: 10
compression.type: brotli
message.max.bytes: 99999999999
`
	_, err := Parse([]byte(yaml), "broker.yaml", []string{"socket.request.max.bytes=-5", "no.such.key=1"})
	if err == nil {
		t.Fatal("expected errors")
	}
	want := []string{"log.dir.s", "num.partitions", "auto.create.topics.enable", "min.insync.replicas",
		"advertised.listeners", "log.dirs", "log.segment.bytes", "compression.type", "message.max.bytes",
		"socket.request.max.bytes", "no.such.key",
		"security.inter.broker.protocol"} // PLAINTEXT is no longer advertised
	got := keysOf(err)
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("no problem reported for %s", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems %v, want %d", len(got), got, len(want))
	}
	msg := err.Error()
	for _, frag := range []string{
		`broker.yaml:2: unknown config key "log.dir.s"`,
		`broker.yaml:3: num.partitions: invalid value "zero": not a number of type INT`,
		`auto.create.topics.enable: invalid value "maybe"`,
		`min.insync.replicas: invalid value "0": must be at least 1`,
		`EXTERNAL://example.com:9092`, `log.segment.bytes: invalid value "10": must be at least 14`,
		`brotli`, `--override: socket.request.max.bytes: invalid value "-5"`, `--override: unknown config key "no.such.key"`,
	} {
		if !strings.Contains(msg, frag) {
			t.Errorf("message lacks %q:\n%s", frag, msg)
		}
	}
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrInvalidValue) {
		t.Error("errors.Is must see both sentinels")
	}
}

// A key that failed to parse keeps its default; the cross-key checks must not report it a second time.
func TestBadValueReportedOnce(t *testing.T) {
	_, err := Parse([]byte(minimalYAML+"listeners: nonsense\n"), "b.yaml", nil)
	if keys := keysOf(err); !slices.Equal(keys, []string{"listeners"}) {
		t.Fatalf("%v: %v", keys, err)
	}
}

func TestLoadNestedKeysGetAHint(t *testing.T) {
	_, err := Parse([]byte(minimalYAML+"log:\n  dirs: /x\n"), "b.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), `flat: write "log.dirs: ..."`) {
		t.Fatalf("%v", err)
	}
	_, err = Parse([]byte(minimalYAML+"retention.ms: 5\n"), "b.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "log.retention.ms") {
		t.Fatalf("topic key at broker level should point to its broker default: %v", err)
	}
}

func TestLoadRejectsDuplicateKeys(t *testing.T) {
	_, err := Parse([]byte(minimalYAML+"broker.id: 1\nbroker.id: 2\n"), "b.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "set twice (first at line 2)") {
		t.Fatalf("%v", err)
	}
}

func TestLoadNull(t *testing.T) {
	c := mustParse(t, "log.retention.ms: ~\nadvertised.listeners: null\n")
	if c.LogRetentionMs != nil || c.AdvertisedListeners != nil {
		t.Fatal("null must leave nullable keys unset")
	}
	_, err := Parse([]byte(minimalYAML+"num.partitions: ~\n"), "b.yaml", nil)
	if keys := keysOf(err); !slices.Equal(keys, []string{"num.partitions"}) {
		t.Fatalf("null for a key with a default: %v", err)
	}
}

func TestLoadRejectsWrongShapes(t *testing.T) {
	for name, yaml := range map[string]string{
		"list for scalar":    "num.partitions: [1, 2]\n",
		"mapping for scalar": "broker.id: {a: 1}\n",
		"nested list item":   "log.dirs: [[/a]]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(minimalYAML+yaml), "b.yaml", nil)
			if len(problemsOf(err)) != 1 {
				t.Fatalf("%v", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := Load(writeFile(t, "broker.id: [\n"), nil); err == nil || !strings.Contains(err.Error(), "broker.yaml") {
		t.Fatalf("syntax error should name the file: %v", err)
	}
	if _, err := Load(writeFile(t, "- a\n- b\n"), nil); err == nil || !strings.Contains(err.Error(), "mapping") {
		t.Fatalf("top-level list: %v", err)
	}
	// An empty file is all Kafka defaults: only zookeeper.connect is missing.
	_, err := Load(writeFile(t, ""), nil)
	if keys := keysOf(err); !slices.Equal(keys, []string{"zookeeper.connect"}) {
		t.Fatalf("empty file: %v", err)
	}
}

func TestOverridesApplyAfterFileInOrder(t *testing.T) {
	c := mustParse(t, "num.partitions: 3\nbroker.rack: a\n",
		"num.partitions=5", "broker.rack = b=c ", "num.partitions=6", "log.dirs=/x,/y")
	if c.NumPartitions != 6 || c.BrokerRack != "b=c" || !slices.Equal(c.DataDirs(), []string{"/x", "/y"}) {
		t.Fatalf("%d %q %v", c.NumPartitions, c.BrokerRack, c.DataDirs())
	}
	_, err := Parse([]byte(minimalYAML), "b.yaml", []string{"num.partitions"})
	if err == nil || !strings.Contains(err.Error(), "expected key=value") {
		t.Fatalf("%v", err)
	}
}

func TestSetValidatesType(t *testing.T) {
	c := Default()
	if err := c.Set("broker.id", "9"); err != nil || c.BrokerID != 9 {
		t.Fatal(err)
	}
	if err := c.Set("broker.id", "2147483648"); err == nil {
		t.Fatal("INT overflow accepted")
	}
	if err := c.Set("offsets.topic.replication.factor", "40000"); err == nil {
		t.Fatal("SHORT overflow accepted")
	}
	if err := c.Set("nope", "1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimalYAML + "broker.id: 1\nlisteners: PLAINTEXT://127.0.0.1:9092\nlog.dirs: [/a, /b]\n"))
	f.Add([]byte("log:\n  dirs: x\n"))
	f.Add([]byte("a: &x 1\nb: *x\n"))
	f.Add([]byte("listeners: 'A://[::1]:1,B://:2'\nadvertised.listeners: ~\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", nil)
		if err == nil {
			if _, err := c.Endpoints(); err != nil {
				t.Fatalf("valid config with bad listeners: %v", err)
			}
			if _, err := c.AdvertisedEndpoints(); err != nil {
				t.Fatalf("valid config with bad advertised listeners: %v", err)
			}
			if _, err := c.TopicConfig(nil); err != nil {
				t.Fatalf("valid config with invalid topic defaults: %v", err)
			}
		}
	})
}

// quota.window.num / quota.window.size.seconds (KafkaConfig, atLeast(1)): Kafka's 11 × 1 s by default,
// settable, and refused below 1.
func TestQuotaWindowKeys(t *testing.T) {
	c, err := Parse([]byte(minimalYAML), "t.yaml", nil)
	if err != nil || c.QuotaWindowNum != 11 || c.QuotaWindowSizeSeconds != 1 {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = Parse([]byte(minimalYAML+"quota.window.num: 4\nquota.window.size.seconds: 2\n"), "t.yaml", nil)
	if err != nil || c.QuotaWindowNum != 4 || c.QuotaWindowSizeSeconds != 2 {
		t.Fatalf("set: %v", err)
	}
	if _, err := Parse([]byte(minimalYAML+"quota.window.num: 0\n"), "t.yaml", nil); err == nil || !strings.Contains(err.Error(), "quota.window.num") {
		t.Fatalf("quota.window.num 0 accepted: %v", err)
	}
}
