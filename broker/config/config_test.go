package config

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// problemsOf flattens errors.Join trees into the *Error leaves.
func problemsOf(err error) []*Error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []*Error
		for _, e := range j.Unwrap() {
			out = append(out, problemsOf(e)...)
		}
		return out
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}

func keysOf(err error) []string {
	var keys []string
	for _, e := range problemsOf(err) {
		keys = append(keys, e.Key)
	}
	return keys
}

const minimalYAML = "zookeeper.connect: 127.0.0.1:2181\n"

func mustParse(t *testing.T, yaml string, overrides ...string) *Config {
	t.Helper()
	c, err := Parse([]byte(minimalYAML+yaml), "broker.yaml", overrides)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// Spot checks of Kafka 2.8's defaults against reference 07.
func TestDefaultsAreKafka28(t *testing.T) {
	c := Default()
	for key, want := range map[string]string{
		"broker.id":                                     "-1",
		"broker.id.generation.enable":                   "true",
		"reserved.broker.max.id":                        "1000",
		"zookeeper.session.timeout.ms":                  "18000",
		"listener.security.protocol.map":                "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
		"inter.broker.protocol.version":                 "2.8-IV1",
		"log.message.format.version":                    "2.8-IV1",
		"num.network.threads":                           "3",
		"num.io.threads":                                "8",
		"queued.max.requests":                           "500",
		"socket.send.buffer.bytes":                      "102400",
		"socket.request.max.bytes":                      "104857600",
		"connections.max.idle.ms":                       "600000",
		"message.max.bytes":                             "1048588",
		"fetch.max.bytes":                               "57671680",
		"log.dir":                                       "/tmp/kafka-logs",
		"num.partitions":                                "1",
		"log.segment.bytes":                             "1073741824",
		"log.roll.hours":                                "168",
		"log.retention.hours":                           "168",
		"log.retention.bytes":                           "-1",
		"log.retention.check.interval.ms":               "300000",
		"log.cleanup.policy":                            "delete",
		"log.index.size.max.bytes":                      "10485760",
		"log.index.interval.bytes":                      "4096",
		"log.flush.interval.messages":                   "9223372036854775807",
		"log.flush.scheduler.interval.ms":               "9223372036854775807",
		"log.flush.offset.checkpoint.interval.ms":       "60000",
		"log.segment.delete.delay.ms":                   "60000",
		"log.message.timestamp.type":                    "CreateTime",
		"compression.type":                              "producer",
		"min.insync.replicas":                           "1",
		"unclean.leader.election.enable":                "false",
		"log.cleaner.min.cleanable.ratio":               "0.5",
		"log.cleaner.io.max.bytes.per.second":           "1.7976931348623157E308",
		"log.cleaner.delete.retention.ms":               "86400000",
		"auto.create.topics.enable":                     "true",
		"delete.topic.enable":                           "true",
		"default.replication.factor":                    "1",
		"replica.lag.time.max.ms":                       "30000",
		"replica.fetch.max.bytes":                       "1048576",
		"replica.fetch.wait.max.ms":                     "500",
		"replica.high.watermark.checkpoint.interval.ms": "5000",
		"controlled.shutdown.enable":                    "true",
		"controlled.shutdown.max.retries":               "3",
		"leader.imbalance.check.interval.seconds":       "300",
		"group.min.session.timeout.ms":                  "6000",
		"group.max.session.timeout.ms":                  "1800000",
		"group.initial.rebalance.delay.ms":              "3000",
		"group.max.size":                                "2147483647",
		"offsets.topic.num.partitions":                  "50",
		"offsets.topic.replication.factor":              "3",
		"offsets.retention.minutes":                     "10080",
		"transactional.id.expiration.ms":                "604800000",
		"transaction.max.timeout.ms":                    "900000",
		"transaction.state.log.min.isr":                 "2",
	} {
		t.Run(key, func(t *testing.T) {
			got := brokerSchema.format(c, key)
			if got == nil || *got != want {
				t.Fatalf("%s = %v, want %s", key, deref(got), want)
			}
		})
	}
	for _, key := range []string{"log.dirs", "log.retention.ms", "log.retention.minutes", "log.roll.ms",
		"log.flush.interval.ms", "zookeeper.connection.timeout.ms", "listeners", "advertised.listeners",
		"zookeeper.connect", "broker.rack"} {
		if v := brokerSchema.format(c, key); v != nil {
			t.Errorf("%s = %q, want null (unset) as in Kafka", key, *v)
		}
	}
	if got := c.RetentionMs(); got != 604800000 {
		t.Errorf("RetentionMs = %d", got)
	}
	if got := c.RollMs(); got != 604800000 {
		t.Errorf("RollMs = %d", got)
	}
	if got := c.FlushIntervalMs(); got != math.MaxInt64 {
		t.Errorf("FlushIntervalMs = %d", got)
	}
	if got := c.ZookeeperConnectionTimeout(); got != 18000 {
		t.Errorf("ZookeeperConnectionTimeout = %d", got)
	}
	if got := c.DataDirs(); !slices.Equal(got, []string{"/tmp/kafka-logs"}) {
		t.Errorf("DataDirs = %v", got)
	}
	eps, err := c.Endpoints()
	if err != nil || len(eps) != 1 || eps[0].String() != "PLAINTEXT://:9092" || eps[0].SecurityProtocol != "PLAINTEXT" {
		t.Errorf("Endpoints = %v, %v; want PLAINTEXT://:9092", eps, err)
	}
	if got := c.InterBrokerListener(); got != "PLAINTEXT" {
		t.Errorf("InterBrokerListener = %q", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

// Kafka has no default for zookeeper.connect: a config without it fails, and only that key is reported.
func TestDefaultRequiresZookeeperConnect(t *testing.T) {
	err := Default().Validate()
	if keys := keysOf(err); !slices.Equal(keys, []string{"zookeeper.connect"}) {
		t.Fatalf("problems %v (%v), want only zookeeper.connect", keys, err)
	}
}

// Issue 3: with no --config, one broker against 127.0.0.1:2181 with data under ./data.
func TestLoadWithoutFileUsesRunDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ZookeeperConnect != "127.0.0.1:2181" || !slices.Equal(c.DataDirs(), []string{"./data"}) {
		t.Fatalf("zookeeper.connect %q, dirs %v", c.ZookeeperConnect, c.DataDirs())
	}
	c, err = Load("", []string{"broker.id=2", "listeners=PLAINTEXT://127.0.0.1:9093"})
	if err != nil || c.BrokerID != 2 || c.Listeners[0] != "PLAINTEXT://127.0.0.1:9093" {
		t.Fatalf("overrides without file: %+v %v", c, err)
	}
}

func TestRetentionPrecedenceMsOverMinutesOverHours(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want int64
	}{
		{"hours default", "", 168 * 3600000},
		{"hours", "log.retention.hours: 1\n", 3600000},
		{"minutes over hours", "log.retention.hours: 1\nlog.retention.minutes: 2\n", 120000},
		{"ms over minutes", "log.retention.hours: 1\nlog.retention.minutes: 2\nlog.retention.ms: 3\n", 3},
		{"ms -1 unlimited", "log.retention.ms: -1\n", -1},
		{"any negative is unlimited", "log.retention.hours: -5\n", -1},
		{"null ms falls back", "log.retention.ms: ~\nlog.retention.minutes: 7\n", 7 * 60000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.yaml).RetentionMs(); got != tc.want {
				t.Fatalf("RetentionMs = %d, want %d", got, tc.want)
			}
		})
	}
	// KafkaConfig.validateValues: log.retention.ms must be >= 1 or -1.
	_, err := Parse([]byte(minimalYAML+"log.retention.minutes: 0\n"), "b.yaml", nil)
	if keys := keysOf(err); !slices.Equal(keys, []string{"log.retention.minutes"}) {
		t.Fatalf("zero retention: %v", err)
	}
}

func TestRollPrecedenceMsOverHours(t *testing.T) {
	c := mustParse(t, "log.roll.hours: 2\nlog.roll.jitter.hours: 1\n")
	if c.RollMs() != 2*3600000 || c.RollJitterMs() != 3600000 {
		t.Fatalf("hours: %d %d", c.RollMs(), c.RollJitterMs())
	}
	c = mustParse(t, "log.roll.hours: 2\nlog.roll.ms: 500\nlog.roll.jitter.hours: 1\nlog.roll.jitter.ms: 7\n")
	if c.RollMs() != 500 || c.RollJitterMs() != 7 {
		t.Fatalf("ms: %d %d", c.RollMs(), c.RollJitterMs())
	}
	if tc := c.TopicDefaults(); tc.SegmentMs != 500 || tc.SegmentJitterMs != 7 {
		t.Fatalf("topic defaults segment.ms %d segment.jitter.ms %d", tc.SegmentMs, tc.SegmentJitterMs)
	}
}

func TestLogDirsOverLogDir(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want []string
	}{
		{"log.dir alone", "log.dir: /a\n", []string{"/a"}},
		{"log.dir is a list too", "log.dir: /a, /b\n", []string{"/a", "/b"}},
		{"log.dirs wins", "log.dir: /a\nlog.dirs: /b,/c\n", []string{"/b", "/c"}},
		{"log.dirs as YAML list", "log.dirs:\n  - /b\n  - /c\n", []string{"/b", "/c"}},
		{"null log.dirs falls back", "log.dir: /a\nlog.dirs:\n", []string{"/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustParse(t, tc.yaml).DataDirs(); !slices.Equal(got, tc.want) {
				t.Fatalf("DataDirs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFlushIntervalFallsBackToScheduler(t *testing.T) {
	if got := mustParse(t, "log.flush.scheduler.interval.ms: 2000\n").FlushIntervalMs(); got != 2000 {
		t.Fatalf("FlushIntervalMs = %d", got)
	}
	if got := mustParse(t, "log.flush.scheduler.interval.ms: 2000\nlog.flush.interval.ms: 10\n").FlushIntervalMs(); got != 10 {
		t.Fatalf("FlushIntervalMs = %d", got)
	}
}

func TestZookeeperConnectionTimeoutFallsBackToSession(t *testing.T) {
	c := mustParse(t, "zookeeper.session.timeout.ms: 6000\n")
	if c.ZookeeperConnectionTimeout() != 6000 {
		t.Fatal(c.ZookeeperConnectionTimeout())
	}
	c = mustParse(t, "zookeeper.session.timeout.ms: 6000\nzookeeper.connection.timeout.ms: 100\n")
	if c.ZookeeperConnectionTimeout() != 100 {
		t.Fatal(c.ZookeeperConnectionTimeout())
	}
}

func TestLogManagerConfig(t *testing.T) {
	c := mustParse(t, "log.dirs: /a,/b\nlog.retention.check.interval.ms: 1000\nlog.segment.delete.delay.ms: 5\n"+
		"log.flush.scheduler.interval.ms: 300\nlog.flush.offset.checkpoint.interval.ms: 7\n"+
		"log.flush.start.offset.checkpoint.interval.ms: 8\nlog.segment.bytes: 1024\n")
	m := c.LogManager()
	if !slices.Equal(m.Dirs, []string{"/a", "/b"}) || m.RetentionCheckIntervalMs != 1000 || m.FileDeleteDelayMs != 5 ||
		m.FlushSchedulerIntervalMs != 300 || m.FlushOffsetCheckpointIntervalMs != 7 ||
		m.FlushStartOffsetCheckpointIntervalMs != 8 || m.Default.SegmentBytes != 1024 || m.Default.FlushMs != 300 {
		t.Fatalf("%+v", m)
	}
}

func TestMillisSaturates(t *testing.T) {
	if Millis(1500) != 1500*time.Millisecond {
		t.Fatal(Millis(1500))
	}
	if Millis(math.MaxInt64) != time.Duration(math.MaxInt64) {
		t.Fatal("Long.MaxValue must saturate")
	}
	if Millis(-1) != -time.Millisecond {
		t.Fatal(Millis(-1))
	}
}

func TestIsSetTracksExplicitKeys(t *testing.T) {
	c := mustParse(t, "num.partitions: 3\n", "broker.rack=r1")
	for key, want := range map[string]bool{"num.partitions": true, "broker.rack": true, "zookeeper.connect": true, "log.dir": false} {
		if c.IsSet(key) != want {
			t.Errorf("IsSet(%s) = %v", key, !want)
		}
	}
	if !strings.Contains(c.BrokerRack, "r1") {
		t.Fatal(c.BrokerRack)
	}
}

func TestCloneIsDeep(t *testing.T) {
	c := mustParse(t, "log.dirs: /a\nlog.retention.ms: 5\n")
	d := c.Clone()
	d.LogDirs[0] = "/b"
	*d.LogRetentionMs = 6
	if err := d.Set("num.partitions", "9"); err != nil {
		t.Fatal(err)
	}
	if c.LogDirs[0] != "/a" || *c.LogRetentionMs != 5 || c.IsSet("num.partitions") || c.NumPartitions != 1 {
		t.Fatal("clone shares state with the original")
	}
}
