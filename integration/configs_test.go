//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestDynamicConfigs covers Kafka 2.8's dynamic configuration on one 3-broker cluster: AlterConfigs and
// IncrementalAlterConfigs write /config/<type>/<entity> plus a /config/changes notification, every broker
// applies it without a restart (topic configs to live logs, broker configs with per-broker > cluster
// default > static precedence), DescribeConfigs reports the sources, and all of it survives a restart.
func TestDynamicConfigs(t *testing.T) {
	c := StartCluster(t, Options{Overrides: map[string]string{
		"log.retention.check.interval.ms": "300", // so a retention change shows within a second
	}})
	admin := c.Admin()

	describe := func(t *testing.T, typ sarama.ConfigResourceType, name string) map[string]sarama.ConfigEntry {
		t.Helper()
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: typ, Name: name})
		if err != nil {
			t.Fatalf("describe %v %q: %v", typ, name, err)
		}
		out := map[string]sarama.ConfigEntry{}
		for _, e := range entries {
			out[e.Name] = e
		}
		return out
	}

	// Sarama's TestFuncAdminAlterConfig: AlterConfigs on a topic, read back through DescribeConfigs.
	t.Run("AlterConfigTopicDescribedAsDynamicTopicConfig", func(t *testing.T) {
		c.CreateTopic("cfg-alter", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3})
		retention, segmentMs := "60000", "120000"
		err := admin.AlterConfig(sarama.TopicResource, "cfg-alter",
			map[string]*string{"retention.ms": &retention, "segment.ms": &segmentMs}, false)
		if err != nil {
			t.Fatal(err)
		}
		got := describe(t, sarama.TopicResource, "cfg-alter")
		for k, v := range map[string]string{"retention.ms": retention, "segment.ms": segmentMs} {
			if e := got[k]; e.Value != v || e.Source != sarama.SourceTopic || e.Default {
				t.Errorf("%s: %+v", k, e)
			}
		}
		if e := got["segment.bytes"]; e.Source != sarama.SourceDefault || e.Value != "1073741824" {
			t.Errorf("segment.bytes: %+v", e)
		}
		// AlterConfigs replaces the whole entity: segment.ms is gone after a second call naming retention.ms only.
		if err := admin.AlterConfig(sarama.TopicResource, "cfg-alter", map[string]*string{"retention.ms": &retention}, false); err != nil {
			t.Fatal(err)
		}
		if e := describe(t, sarama.TopicResource, "cfg-alter")["segment.ms"]; e.Source != sarama.SourceDefault {
			t.Errorf("segment.ms after replacing the config: %+v", e)
		}
		bad := "1"
		err = admin.AlterConfig(sarama.TopicResource, "cfg-alter", map[string]*string{"no.such.key": &bad}, false)
		if err == nil || !strings.Contains(err.Error(), "Unknown topic config name") {
			t.Errorf("unknown key: %v", err)
		}
		err = admin.AlterConfig(sarama.TopicResource, "cfg-missing", map[string]*string{"retention.ms": &retention}, false)
		if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) && (err == nil || !strings.Contains(err.Error(), "does not exist")) {
			t.Errorf("unknown topic: %v", err)
		}
	})

	// Sarama's TestFuncAdminIncrementalAlterConfigs: a per-broker dynamic value, seen on that broker only.
	var backoff string
	t.Run("IncrementalAlterConfigBrokerIsPerBroker", func(t *testing.T) {
		cur, err := strconv.Atoi(describe(t, sarama.BrokerResource, "1")["log.cleaner.backoff.ms"].Value)
		if err != nil {
			t.Fatal(err)
		}
		backoff = strconv.Itoa(cur + 1)
		err = admin.IncrementalAlterConfig(sarama.BrokerResource, "1", map[string]sarama.IncrementalAlterConfigsEntry{
			"log.cleaner.backoff.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &backoff},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		e := describe(t, sarama.BrokerResource, "1")["log.cleaner.backoff.ms"]
		if e.Value != backoff || e.Source != sarama.SourceDynamicBroker || e.ReadOnly {
			t.Errorf("broker 1: %+v", e)
		}
		if e := describe(t, sarama.BrokerResource, "2")["log.cleaner.backoff.ms"]; e.Value == backoff || e.Source == sarama.SourceDynamicBroker {
			t.Errorf("broker 2 sees broker 1's value: %+v", e)
		}
		// Applied, not only stored: broker 1's log cleaner restarts with the new backoff (its log says so).
		want := "backoff_ms=" + backoff
		eventually(t, 10*time.Second, func() error {
			data, err := os.ReadFile(c.LogPath(1))
			if err != nil {
				return err
			}
			for _, l := range strings.Split(string(data), "\n") {
				if strings.Contains(l, "started log cleaner") && strings.Contains(l, want) {
					return nil
				}
			}
			return fmt.Errorf("broker 1's log has no %q restart of the log cleaner", want)
		})
	})

	t.Run("ClusterDefaultSeenByAllBrokers", func(t *testing.T) {
		v := "7200000"
		if err := admin.AlterConfig(sarama.BrokerResource, "", map[string]*string{"log.retention.ms": &v}, false); err != nil {
			t.Fatal(err)
		}
		for id := 1; id <= 3; id++ {
			eventually(t, 10*time.Second, func() error {
				e := describe(t, sarama.BrokerResource, strconv.Itoa(id))["log.retention.ms"]
				if e.Value != v || e.Source != sarama.SourceDynamicDefaultBroker {
					return fmt.Errorf("broker %d: %+v", id, e)
				}
				return nil
			})
		}
		defs := describe(t, sarama.BrokerResource, "")
		if len(defs) != 1 || defs["log.retention.ms"].Value != v {
			t.Errorf("cluster default resource: %+v", defs)
		}
		// The topic default follows on a topic without its own retention.ms.
		c.CreateTopic("cfg-default", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
		if e := describe(t, sarama.TopicResource, "cfg-default")["retention.ms"]; e.Value != v || e.Source != sarama.SourceDynamicDefaultBroker {
			t.Errorf("topic retention.ms: %+v", e)
		}
	})

	t.Run("NonDynamicBrokerConfigRejected", func(t *testing.T) {
		v := "1"
		err := admin.AlterConfig(sarama.BrokerResource, "1", map[string]*string{"log.retention.hours": &v}, false)
		if err == nil || !strings.Contains(err.Error(), "Cannot update these configs dynamically") {
			t.Errorf("log.retention.hours: %v", err)
		}
		err = admin.IncrementalAlterConfig(sarama.BrokerResource, "2", map[string]sarama.IncrementalAlterConfigsEntry{
			"num.partitions": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v},
		}, false)
		if err == nil || !strings.Contains(err.Error(), "Cannot update these configs dynamically") {
			t.Errorf("num.partitions: %v", err)
		}
	})

	// segment.bytes and retention.ms changed on a running broker: the log rolls small segments, then
	// retention deletes the old ones, which moves the earliest offset (ListOffsets) past 0.
	t.Run("TopicConfigTakesEffectWithoutRestart", func(t *testing.T) {
		const topic = "cfg-live"
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
		segBytes := "1024"
		err := admin.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
			"segment.bytes": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &segBytes},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		client := c.Client()
		leader, err := client.Leader(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		leaderID := leader.ID()
		dir := filepath.Join(c.DataDir(leaderID), topic+"-0")
		segments := func() int {
			m, _ := filepath.Glob(filepath.Join(dir, "*.log"))
			return len(m)
		}
		// The notification reaches the leader asynchronously: produce until it has rolled.
		producer, err := sarama.NewSyncProducerFromClient(client)
		if err != nil {
			t.Fatal(err)
		}
		defer producer.Close()
		payload := sarama.ByteEncoder(make([]byte, 300))
		eventually(t, 15*time.Second, func() error {
			if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: payload}); err != nil {
				return err
			}
			if n := segments(); n < 4 {
				return fmt.Errorf("%d segments in %s", n, dir)
			}
			return nil
		})
		if oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest); err != nil || oldest != 0 {
			t.Fatalf("earliest offset %d before retention: %v", oldest, err)
		}
		retention := "500"
		err = admin.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
			"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &retention},
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, func() error {
			oldest, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
			if err != nil {
				return err
			}
			if oldest == 0 {
				return errors.New("earliest offset still 0")
			}
			return nil
		})
		// Both keys are kept: the incremental change did not drop segment.bytes.
		got := describe(t, sarama.TopicResource, topic)
		if got["segment.bytes"].Value != segBytes || got["retention.ms"].Value != retention {
			t.Errorf("described: segment.bytes %+v retention.ms %+v", got["segment.bytes"], got["retention.ms"])
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ConfigSurvivesBrokerRestart", func(t *testing.T) {
		if backoff == "" {
			t.Skip("per-broker value not set")
		}
		c.Restart(1)
		admin := c.Admin()
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch e.Name {
			case "log.cleaner.backoff.ms":
				if e.Value != backoff || e.Source != sarama.SourceDynamicBroker {
					t.Errorf("after restart: %+v", e)
				}
			case "log.retention.ms":
				if e.Value != "7200000" || e.Source != sarama.SourceDynamicDefaultBroker {
					t.Errorf("cluster default after restart: %+v", e)
				}
			}
		}
		topicEntries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "cfg-alter"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range topicEntries {
			if e.Name == "retention.ms" && (e.Value != "60000" || e.Source != sarama.SourceTopic) {
				t.Errorf("topic retention.ms after restart: %+v", e)
			}
		}
	})
}
