//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// runToolStatus runs `samsa <args>` and returns stdout, stderr and the exit status, for the failures.
func runToolStatus(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, samsaBin, args...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	t.Fatalf("samsa %s: %v", strings.Join(args, " "), err)
	return "", "", -1
}

func writeJSONFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The operator tools of Kafka 2.8 against a 3-broker cluster, with Kafka's output text: kafka-configs
// (topic, broker, cluster-default and quota configs), kafka-reassign-partitions (execute, verify until
// complete, list, cancel, generate), kafka-delete-records (the earliest offset moves) and kafka-log-dirs
// (its JSON parsed).
func TestToolsConfigsReassignDeleteRecordsLogDirs(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	bs := strings.Join(c.Bootstrap(), ",")
	const topic = "tools-admin"
	runTool(t, "", "topics", "--bootstrap-server", bs, "--create", "--topic", topic, "--replica-assignment", "1,2")
	c.WaitForLeaders(topic, 2)

	configs := func(args ...string) string {
		t.Helper()
		out := runTool(t, "", append([]string{"configs", "--bootstrap-server", bs}, args...)...)
		t.Logf("samsa configs %s:\n%s", strings.Join(args, " "), out)
		return out
	}
	// Describe right after an alter is read back through eventually: brokers apply changes on the
	// /config/changes notification.
	waitOutput := func(want func(string) bool, args ...string) string {
		t.Helper()
		var out string
		eventually(t, 10*time.Second, func() error {
			out = configs(args...)
			if !want(out) {
				return fmt.Errorf("samsa configs %s printed:\n%s", strings.Join(args, " "), out)
			}
			return nil
		})
		return out
	}

	t.Run("ConfigsTopic", func(t *testing.T) {
		out := configs("--entity-type", "topics", "--entity-name", topic, "--alter",
			"--add-config", "retention.ms=3600000,cleanup.policy=[compact,delete]")
		if out != "Completed updating config for topic "+topic+".\n" {
			t.Fatalf("alter printed %q", out)
		}
		desc := []string{"--entity-type", "topics", "--entity-name", topic, "--describe"}
		out = waitOutput(func(s string) bool { return strings.Contains(s, "retention.ms=") }, desc...)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 3 || lines[0] != "Dynamic configs for topic "+topic+" are:" ||
			!strings.HasPrefix(lines[1], "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete") ||
			!strings.HasPrefix(lines[2], "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=3600000") {
			t.Fatalf("describe printed:\n%s", out)
		}
		out = configs("--entity-type", "topics", "--entity-name", topic, "--alter", "--delete-config", "cleanup.policy")
		if out != "Completed updating config for topic "+topic+".\n" {
			t.Fatalf("delete printed %q", out)
		}
		waitOutput(func(s string) bool {
			return !strings.Contains(s, "cleanup.policy") && strings.Contains(s, "retention.ms=3600000")
		}, desc...)
		all := configs(append(desc, "--all")...)
		if !strings.HasPrefix(all, "All configs for topic "+topic+" are:\n") ||
			!strings.Contains(all, "\n  segment.bytes=1073741824 sensitive=false synonyms={") {
			t.Fatalf("--all printed:\n%s", all)
		}
		_, stderr, code := runToolStatus(t, "configs", "--bootstrap-server", bs, "--entity-type", "topics",
			"--entity-name", topic, "--alter", "--delete-config", "segment.ms")
		if code != 1 || !strings.Contains(stderr, "Invalid config(s): segment.ms") {
			t.Fatalf("deleting an unset key: exit %d, stderr %q", code, stderr)
		}
	})

	t.Run("ConfigsBroker", func(t *testing.T) {
		out := configs("--entity-type", "brokers", "--entity-name", "1", "--alter", "--add-config", "log.cleaner.backoff.ms=16000")
		if out != "Completed updating config for broker 1.\n" {
			t.Fatalf("alter printed %q", out)
		}
		out = waitOutput(func(s string) bool { return strings.Contains(s, "log.cleaner.backoff.ms") },
			"--entity-type", "brokers", "--entity-name", "1", "--describe")
		if !strings.HasPrefix(out, "Dynamic configs for broker 1 are:\n  log.cleaner.backoff.ms=16000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.backoff.ms=16000") {
			t.Fatalf("describe printed:\n%s", out)
		}
		out = configs("--entity-type", "brokers", "--entity-default", "--alter", "--add-config", "log.cleaner.backoff.ms=17000")
		if out != "Completed updating default config for brokers in the cluster.\n" {
			t.Fatalf("alter default printed %q", out)
		}
		out = waitOutput(func(s string) bool { return strings.Contains(s, "log.cleaner.backoff.ms") },
			"--entity-type", "brokers", "--entity-default", "--describe")
		if !strings.HasPrefix(out, "Default configs for brokers in the cluster are:\n  log.cleaner.backoff.ms=17000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.backoff.ms=17000") {
			t.Fatalf("describe default printed:\n%s", out)
		}
		// Broker 2 has no value of its own: --all shows the cluster default, with its synonym chain.
		waitOutput(func(s string) bool {
			return strings.Contains(s, "\n  log.cleaner.backoff.ms=17000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.backoff.ms=17000")
		}, "--entity-type", "brokers", "--entity-name", "2", "--describe", "--all")
		configs("--entity-type", "brokers", "--entity-default", "--alter", "--delete-config", "log.cleaner.backoff.ms")
		configs("--entity-type", "brokers", "--entity-name", "1", "--alter", "--delete-config", "log.cleaner.backoff.ms")
	})

	t.Run("ConfigsQuotas", func(t *testing.T) {
		pair := []string{"--entity-type", "users", "--entity-name", "alice", "--entity-type", "clients", "--entity-name", "app"}
		out := configs(append(pair, "--alter", "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=20000000")...)
		if out != "Completed updating config for user alice.\n" {
			t.Fatalf("alter printed %q", out)
		}
		out = configs(append(pair, "--describe")...)
		if out != "Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2.0E7, producer_byte_rate=1048576.0\n" {
			t.Fatalf("describe printed %q", out)
		}
		out = configs("--entity-type", "clients", "--entity-default", "--alter", "--add-config", "request_percentage=200")
		if out != "Completed updating default config for clients in the cluster.\n" {
			t.Fatalf("alter default printed %q", out)
		}
		out = configs("--entity-type", "clients", "--describe")
		if out != "Quota configs for the default client-id are request_percentage=200.0\n" {
			t.Fatalf("describe clients printed %q", out)
		}
		configs(append(pair, "--alter", "--delete-config", "producer_byte_rate")...)
		out = configs(append(pair, "--describe")...)
		if out != "Quota configs for user-principal 'alice', client-id 'app' are consumer_byte_rate=2.0E7\n" {
			t.Fatalf("describe after delete printed %q", out)
		}
		_, stderr, code := runToolStatus(t, append(append([]string{"configs", "--bootstrap-server", bs}, pair...),
			"--alter", "--add-config", "retention.ms=1")...)
		if code != 1 || !strings.Contains(stderr, "only quota configs can be added") {
			t.Fatalf("non-quota key: exit %d, stderr %q", code, stderr)
		}
	})

	// Ten records in each partition, for the move and for delete-records.
	cfg := c.SaramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 10; i++ {
			if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = prod.Close()

	t.Run("ReassignPartitions", func(t *testing.T) {
		reassign := func(args ...string) string {
			t.Helper()
			out := runTool(t, "", append([]string{"reassign-partitions", "--bootstrap-server", bs}, args...)...)
			t.Logf("samsa reassign-partitions %s:\n%s", strings.Join(args, " "), out)
			return out
		}
		file := writeJSONFile(t, "reassign.json", `{"version":1,"partitions":[{"topic":"`+topic+`","partition":0,"replicas":[2,3]}]}`)
		out := reassign("--reassignment-json-file", file, "--execute")
		want := "Current partition replica assignment\n\n" +
			`{"version":1,"partitions":[{"topic":"` + topic + `","partition":0,"replicas":[1],"log_dirs":["any"]}]}` + "\n\n" +
			"Save this to use as the --reassignment-json-file option during rollback\n" +
			"Successfully started partition reassignment for " + topic + "-0\n"
		if out != want {
			t.Fatalf("--execute printed:\n%s\nwant:\n%s", out, want)
		}
		if out := reassign("--list"); !strings.HasPrefix(out, "Current partition reassignments:\n"+topic+"-0: replicas: ") &&
			out != "No partition reassignments found.\n" {
			t.Fatalf("--list printed %q", out)
		}
		eventually(t, 20*time.Second, func() error {
			out = reassign("--reassignment-json-file", file, "--verify")
			if !strings.HasPrefix(out, "Status of partition reassignment:\nReassignment of partition "+topic+"-0 is complete.\n") {
				if out != "Status of partition reassignment:\nReassignment of partition "+topic+"-0 is still in progress.\n" {
					t.Fatalf("--verify printed %q", out)
				}
				return errors.New("still in progress")
			}
			return nil
		})
		if !strings.HasSuffix(out, "\nClearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic "+topic+"\n") {
			t.Fatalf("--verify when complete printed %q", out)
		}
		if out := reassign("--list"); out != "No partition reassignments found.\n" {
			t.Fatalf("--list after completion printed %q", out)
		}
		if out := reassign("--reassignment-json-file", file, "--cancel", "--preserve-throttles"); out != "None of the specified partition reassignments are active.\n" {
			t.Fatalf("--cancel printed %q", out)
		}
		md, err := c.MetadataFrom(c.Addr(3), []string{topic})
		if err != nil || len(md.Topics) != 1 || !slices.Equal(md.Topics[0].Partitions[0].Replicas, []int32{2, 3}) {
			t.Fatalf("metadata after the move: %+v %v", md, err)
		}

		topics := writeJSONFile(t, "topics.json", `{"topics":[{"topic":"`+topic+`"}],"version":1}`)
		out = reassign("--topics-to-move-json-file", topics, "--broker-list", "1,3", "--generate")
		parts := strings.Split(out, "\n")
		if len(parts) != 6 || parts[0] != "Current partition replica assignment" || parts[3] != "Proposed partition reassignment configuration" {
			t.Fatalf("--generate printed:\n%s", out)
		}
		var proposed struct {
			Partitions []struct {
				Partition int32
				Replicas  []int32
			}
		}
		if err := json.Unmarshal([]byte(parts[4]), &proposed); err != nil || len(proposed.Partitions) != 2 {
			t.Fatalf("--generate proposal %q: %v", parts[4], err)
		}
		for _, p := range proposed.Partitions {
			// Each partition keeps the replication factor of partition 0 (now 2), over brokers 1 and 3.
			sorted := slices.Sorted(slices.Values(p.Replicas))
			if !slices.Equal(sorted, []int32{1, 3}) {
				t.Fatalf("--generate proposed %v for partition %d", p.Replicas, p.Partition)
			}
		}
	})

	// A reassignment to a paused broker stays in progress (its session outlives the pause but it cannot
	// catch up) until cancelled: --verify, --list and --cancel on a live one. The tools bootstrap from the
	// other brokers, since a paused broker accepts connections but never answers.
	t.Run("ReassignInProgressListedAndCancelled", func(t *testing.T) {
		ctrl, err := c.Admin().Controller()
		if err != nil {
			t.Fatal(err)
		}
		paused, other := int32(3), int32(1)
		if ctrl.ID() == 3 {
			paused, other = 1, 3
		}
		live := c.Addr(2) + "," + c.Addr(other)
		reassign := func(args ...string) string {
			t.Helper()
			out := runTool(t, "", append([]string{"reassign-partitions", "--bootstrap-server", live}, args...)...)
			t.Logf("samsa reassign-partitions %s:\n%s", strings.Join(args, " "), out)
			return out
		}
		c.Pause(paused)
		resumed := false
		defer func() {
			if !resumed {
				c.Resume(paused)
			}
		}()
		file := writeJSONFile(t, "grow.json", fmt.Sprintf(`{"version":1,"partitions":[{"topic":"%s","partition":1,"replicas":[2,%d]}]}`, topic, paused))
		reassign("--reassignment-json-file", file, "--execute")
		tp := topic + "-1"
		if out := reassign("--reassignment-json-file", file, "--verify", "--preserve-throttles"); out != "Status of partition reassignment:\nReassignment of partition "+tp+" is still in progress.\n" {
			t.Fatalf("--verify printed %q", out)
		}
		if out := reassign("--list"); out != fmt.Sprintf("Current partition reassignments:\n%s: replicas: 2,%d. adding: %d.\n", tp, paused, paused) {
			t.Fatalf("--list printed %q", out)
		}
		_, stderr, code := runToolStatus(t, "reassign-partitions", "--bootstrap-server", live, "--reassignment-json-file", file, "--execute")
		if code != 1 || !strings.Contains(stderr, "there is an existing partition assignment") {
			t.Fatalf("second --execute: exit %d, stderr %q", code, stderr)
		}
		if out := reassign("--reassignment-json-file", file, "--cancel", "--preserve-throttles"); out != "Successfully cancelled partition reassignment for: "+tp+"\n" {
			t.Fatalf("--cancel printed %q", out)
		}
		c.Resume(paused)
		resumed = true
		if out := reassign("--reassignment-json-file", file, "--verify", "--preserve-throttles"); out != fmt.Sprintf(
			"Status of partition reassignment:\nThere is no active reassignment of partition %s, but replica set is 2 rather than 2,%d.\n", tp, paused) {
			t.Fatalf("--verify after cancel printed %q", out)
		}
	})

	t.Run("DeleteRecords", func(t *testing.T) {
		file := writeJSONFile(t, "offsets.json", `{"partitions":[{"topic":"`+topic+`","partition":1,"offset":4},`+
			`{"topic":"`+topic+`","partition":0,"offset":-1}],"version":1}`)
		out := runTool(t, "", "delete-records", "--bootstrap-server", bs, "--offset-json-file", file)
		want := "Executing records delete operation\nRecords delete operation completed:\n" +
			"partition: " + topic + "-0\tlow_watermark: 10\n" +
			"partition: " + topic + "-1\tlow_watermark: 4\n"
		if out != want {
			t.Fatalf("delete-records printed %q, want %q", out, want)
		}
		client := c.Client()
		for p, want := range map[int32]int64{0: 10, 1: 4} {
			if oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest); err != nil || oldest != want {
				t.Fatalf("earliest offset of partition %d: %d %v, want %d", p, oldest, err, want)
			}
		}
		bad := writeJSONFile(t, "bad.json", `{"partitions":[{"topic":"`+topic+`","partition":1,"offset":99}]}`)
		stdout, _, code := runToolStatus(t, "delete-records", "--bootstrap-server", bs, "--offset-json-file", bad)
		if code != 1 || !strings.HasSuffix(stdout, "partition: "+topic+"-1\terror: The requested offset is not within the range of offsets maintained by the server.\n") {
			t.Fatalf("offset past the high watermark: exit %d, stdout %q", code, stdout)
		}
	})

	t.Run("LogDirs", func(t *testing.T) {
		type logDirs struct {
			Version int `json:"version"`
			Brokers []struct {
				Broker  int32 `json:"broker"`
				LogDirs []struct {
					LogDir     string  `json:"logDir"`
					Error      *string `json:"error"`
					Partitions []struct {
						Partition string `json:"partition"`
						Size      int64  `json:"size"`
						OffsetLag int64  `json:"offsetLag"`
						IsFuture  bool   `json:"isFuture"`
					} `json:"partitions"`
				} `json:"logDirs"`
			} `json:"brokers"`
		}
		describe := func(args ...string) ([]string, logDirs) {
			t.Helper()
			out := runTool(t, "", append([]string{"log-dirs", "--bootstrap-server", bs, "--describe"}, args...)...)
			t.Logf("samsa log-dirs --describe %s:\n%s", strings.Join(args, " "), out)
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			var doc logDirs
			if len(lines) != 3 || lines[0] != "Querying brokers for log directories information" {
				t.Fatalf("log-dirs printed:\n%s", out)
			}
			if err := json.Unmarshal([]byte(lines[2]), &doc); err != nil {
				t.Fatalf("log-dirs JSON %q: %v", lines[2], err)
			}
			return lines, doc
		}
		lines, doc := describe("--topic-list", topic)
		if lines[1] != "Received log directory information from brokers 1,2,3" || doc.Version != 1 || len(doc.Brokers) != 3 {
			t.Fatalf("log-dirs printed:\n%s", strings.Join(lines, "\n"))
		}
		// Partition 0 now lives on brokers 2 and 3, partition 1 on broker 2 (removed replicas may still be
		// being deleted, so their absence is not checked).
		want := map[int32][]string{2: {topic + "-0", topic + "-1"}, 3: {topic + "-0"}}
		for _, b := range doc.Brokers {
			if len(b.LogDirs) != 1 || b.LogDirs[0].Error != nil || !filepath.IsAbs(b.LogDirs[0].LogDir) {
				t.Fatalf("broker %d: %+v", b.Broker, b.LogDirs)
			}
			var got []string
			for _, p := range b.LogDirs[0].Partitions {
				if !strings.HasPrefix(p.Partition, topic+"-") || p.IsFuture || p.OffsetLag != 0 || p.Size <= 0 {
					t.Fatalf("broker %d: partition %+v", b.Broker, p)
				}
				got = append(got, p.Partition)
			}
			for _, w := range want[b.Broker] {
				if !slices.Contains(got, w) {
					t.Fatalf("broker %d holds %v, want %v among them", b.Broker, got, want[b.Broker])
				}
			}
		}
		lines, doc = describe("--broker-list", "2", "--topic-list", "no-such-topic")
		if lines[1] != "Received log directory information from brokers 2" || len(doc.Brokers) != 1 || doc.Brokers[0].Broker != 2 ||
			len(doc.Brokers[0].LogDirs[0].Partitions) != 0 {
			t.Fatalf("--broker-list 2 printed:\n%s", strings.Join(lines, "\n"))
		}
	})
}
