package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestLogDirsArgs(t *testing.T) {
	o, err := parseLogDirsArgs(strings.Fields("--bootstrap-server h:1 --describe --broker-list 3,1, --topic-list a,,b"), io.Discard)
	if err != nil || len(o.brokers) != 2 || o.brokers[0] != 3 || len(o.topics) != 2 || o.topics[1] != "b" {
		t.Fatalf("%+v %v", o, err)
	}
	for args, want := range map[string]string{
		"--bootstrap-server h:1":                              "--describe is required",
		"--bootstrap-server h:1 --describe --broker-list 1,x": "not a broker id",
		"--bootstrap-server h:1 --describe --broker-list 1,1": "twice",
		"--describe": "--bootstrap-server is required",
	} {
		if _, err := parseLogDirsArgs(strings.Fields(args), io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// LogDirsCommand.formatAsJson: Kafka's field order, partitions as "topic-partition", error null or the
// exception class, --topic-list filtering; sorted here.
func TestFormatLogDirsAsKafka(t *testing.T) {
	dirs := map[int32][]sarama.DescribeLogDirsResponseDirMetadata{
		2: {{Path: "/b", Topics: []sarama.DescribeLogDirsResponseTopic{
			{Topic: "t", Partitions: []sarama.DescribeLogDirsResponsePartition{{PartitionID: 10, Size: 5}, {PartitionID: 2, Size: 7, OffsetLag: 1}}},
			{Topic: "other", Partitions: []sarama.DescribeLogDirsResponsePartition{{PartitionID: 0, Size: 1}}},
		}}},
		1: {{Path: "/z"}, {Path: "/a", ErrorCode: sarama.ErrKafkaStorageError}},
	}
	got, err := formatLogDirs(dirs, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"brokers":[` +
		`{"broker":1,"logDirs":[{"logDir":"/a","error":"org.apache.kafka.common.errors.KafkaStorageException","partitions":[]},{"logDir":"/z","error":null,"partitions":[]}]},` +
		`{"broker":2,"logDirs":[{"logDir":"/b","error":null,"partitions":[` +
		`{"partition":"t-2","size":7,"offsetLag":1,"isFuture":false},{"partition":"t-10","size":5,"offsetLag":0,"isFuture":false}]}]}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	all, err := formatLogDirs(dirs, nil)
	if err != nil || !strings.Contains(all, `"partition":"other-0"`) || !json.Valid([]byte(all)) {
		t.Fatalf("without --topic-list: %s %v", all, err)
	}
	if got := *javaExceptionClass(sarama.ErrUnknownTopicOrPartition); got != "org.apache.kafka.common.errors.UnknownTopicOrPartitionException" {
		t.Fatalf("%s", got)
	}
}
