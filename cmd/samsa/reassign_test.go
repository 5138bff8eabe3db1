package main

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestReassignArgs(t *testing.T) {
	for name, c := range map[string]struct {
		args    string
		wantErr string
	}{
		"execute":                {"--bootstrap-server h:1 --reassignment-json-file f --execute --additional", ""},
		"verify":                 {"--bootstrap-server h:1 --reassignment-json-file f --verify --preserve-throttles", ""},
		"cancel":                 {"--bootstrap-server h:1 --reassignment-json-file f --cancel", ""},
		"list":                   {"--bootstrap-server h:1 --list", ""},
		"generate":               {"--bootstrap-server h:1 --generate --topics-to-move-json-file f --broker-list 1,2", ""},
		"no action":              {"--bootstrap-server h:1 --reassignment-json-file f", "exactly one action"},
		"two actions":            {"--bootstrap-server h:1 --reassignment-json-file f --execute --verify", "exactly one action"},
		"execute without file":   {"--bootstrap-server h:1 --execute", "requires --reassignment-json-file"},
		"list with file":         {"--bootstrap-server h:1 --list --reassignment-json-file f", "cannot be used with --list"},
		"generate without list":  {"--bootstrap-server h:1 --generate --topics-to-move-json-file f", "--generate requires"},
		"broker list on execute": {"--bootstrap-server h:1 --execute --reassignment-json-file f --broker-list 1", "only be used with --generate"},
		"additional on verify":   {"--bootstrap-server h:1 --verify --reassignment-json-file f --additional", "--additional"},
		"preserve on execute":    {"--bootstrap-server h:1 --execute --reassignment-json-file f --preserve-throttles", "--preserve-throttles"},
		"bad broker list":        {"--bootstrap-server h:1 --generate --topics-to-move-json-file f --broker-list 1,x", "not a broker id"},
		"no bootstrap":           {"--list", "--bootstrap-server is required"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseReassignArgs(strings.Fields(c.args), io.Discard)
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("error %v, want %q", err, c.wantErr)
			}
		})
	}
}

// ReassignPartitionsCommand.parsePartitionReassignmentData and parseExecuteAssignmentArgs' checks.
func TestParseReassignmentJSONAsKafka(t *testing.T) {
	got, err := parseReassignmentJSON([]byte(`{"version":1,"partitions":[{"topic":"a","partition":1,"replicas":[3,1],"log_dirs":["any","any"]},{"topic":"b","partition":0,"replicas":[2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].tp != (topicPartition{"a", 1}) || !slices.Equal(got[0].replicas, []int32{3, 1}) || got[1].tp.String() != "b-0" {
		t.Fatalf("%+v", got)
	}
	if _, err := parseReassignmentJSON([]byte(`{"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`)); err != nil {
		t.Fatalf("version defaults to 1: %v", err)
	}
	for name, c := range map[string]struct{ json, want string }{
		"version 2":          {`{"version":2,"partitions":[{"topic":"a","partition":0,"replicas":[1]}]}`, "not supported version field value 2"},
		"empty":              {`{"version":1,"partitions":[]}`, "list cannot be empty"},
		"empty replicas":     {`{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`, "replica list cannot be empty"},
		"duplicate":          {`{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`, "duplicate topic partitions: a-0"},
		"duplicate replicas": {`{"partitions":[{"topic":"a","partition":0,"replicas":[1,2,1]}]}`, "a-0 contains multiple entries for 1"},
		"log dirs length":    {`{"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`, "different from size of log dirs"},
		"log dir path":       {`{"partitions":[{"topic":"a","partition":0,"replicas":[1],"log_dirs":["/d"]}]}`, "not supported"},
		"no topic":           {`{"partitions":[{"partition":0,"replicas":[1]}]}`, "topic and partition are required"},
		"not json":           {`{`, "reassignment json file"},
	} {
		if _, err := parseReassignmentJSON([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// formatAsReassignmentJson: sorted by topic then partition number (b-2 before b-10), log_dirs "any".
func TestFormatReassignmentJSONAsKafka(t *testing.T) {
	got := formatReassignmentJSON(map[topicPartition][]int32{{"b", 10}: {1}, {"b", 2}: {2, 3}, {"a", 0}: {3}})
	want := `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[3],"log_dirs":["any"]},` +
		`{"topic":"b","partition":2,"replicas":[2,3],"log_dirs":["any","any"]},` +
		`{"topic":"b","partition":10,"replicas":[1],"log_dirs":["any"]}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := formatReassignmentJSON(nil); got != `{"version":1,"partitions":[]}` {
		t.Fatalf("empty: %s", got)
	}
}

// curReassignmentsToString.
func TestFormatReassignmentListAsKafka(t *testing.T) {
	if got := formatReassignmentList(nil); got != "No partition reassignments found.\n" {
		t.Fatalf("%q", got)
	}
	got := formatReassignmentList(map[topicPartition]*sarama.PartitionReplicaReassignmentsStatus{
		{"t", 1}: {Replicas: []int32{1, 2}, AddingReplicas: []int32{2}},
		{"t", 0}: {Replicas: []int32{1, 2, 3}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}},
		{"s", 0}: {Replicas: []int32{4}},
	})
	want := "Current partition reassignments:\n" +
		"s-0: replicas: 4.\n" +
		"t-0: replicas: 1,2,3. adding: 3. removing: 1.\n" +
		"t-1: replicas: 1,2. adding: 2.\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

// AdminUtils.assignReplicasToBrokersRackUnaware with fixed start index and shift (Kafka's
// AdminRackAwareTest/ReplicationUtilsTest example: 10 partitions, 3 replicas, brokers 0-4, start 0).
func TestAssignRoundRobinAsKafkaAdminUtils(t *testing.T) {
	got, err := assignRoundRobin(10, 3, []int32{0, 1, 2, 3, 4}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int32{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 0}, {4, 0, 1}, {0, 2, 3}, {1, 3, 4}, {2, 4, 0}, {3, 0, 1}, {4, 1, 2}}
	for p := range want {
		if !slices.Equal(got[p], want[p]) {
			t.Errorf("partition %d: %v, want %v", p, got[p], want[p])
		}
	}
	if _, err := assignRoundRobin(1, 3, []int32{1, 2}, 0, 0); err == nil || !strings.Contains(err.Error(), "larger than available brokers: 2") {
		t.Fatalf("replication factor over brokers: %v", err)
	}
	if got, err := assignRoundRobin(2, 1, []int32{7}, 0, 0); err != nil || !slices.Equal(got[1], []int32{7}) {
		t.Fatalf("one broker: %v %v", got, err)
	}
}

func TestParseTopicsToMoveJSON(t *testing.T) {
	got, err := parseTopicsToMoveJSON([]byte(`{"topics":[{"topic":"a"},{"topic":"b"}],"version":1}`))
	if err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("%v %v", got, err)
	}
	for js, want := range map[string]string{
		`{"topics":[{"topic":"a"},{"topic":"a"}]}`: "duplicate entries: a",
		`{"topics":[]}`:                          "lists no topics",
		`{"topics":[{"topic":"a"}],"version":3}`: "not supported version",
	} {
		if _, err := parseTopicsToMoveJSON([]byte(js)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
}
