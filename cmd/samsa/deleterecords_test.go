package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// DeleteRecordsCommand.parseOffsetJsonStringWithoutDedup and its duplicate check.
func TestParseDeleteRecordsJSONAsKafka(t *testing.T) {
	got, err := parseDeleteRecordsJSON([]byte(`{"partitions":[{"topic":"a","partition":1,"offset":5},{"topic":"a","partition":0,"offset":-1}],"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].tp.String() != "a-1" || got[0].offset != 5 || got[1].offset != -1 {
		t.Fatalf("%+v", got)
	}
	for name, c := range map[string]struct{ json, want string }{
		"version":   {`{"partitions":[{"topic":"a","partition":0,"offset":1}],"version":2}`, "not supported version field value 2"},
		"duplicate": {`{"partitions":[{"topic":"a","partition":0,"offset":1},{"topic":"a","partition":0,"offset":2}]}`, "duplicate topic partitions: a-0"},
		"missing":   {`{"partitions":[{"topic":"a","partition":0}]}`, "offset are required"},
		"misspelt":  {`{"partition":[{"topic":"a","partition":0,"offset":1}]}`, "lists no partitions"},
		"not json":  {`[`, "offset json file"},
	} {
		if _, err := parseDeleteRecordsJSON([]byte(c.json)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// DeleteRecordsCommand's lines: "partition: t-p\tlow_watermark: n" or "\terror: <Java exception message>".
func TestWriteDeleteResultsAsKafka(t *testing.T) {
	var b bytes.Buffer
	failed := writeDeleteResults(&b, map[topicPartition]deleteResult{
		{"t", 10}: {lowWatermark: 7},
		{"t", 2}:  {err: sarama.ErrOffsetOutOfRange},
		{"s", 0}:  {err: errors.New("no leader")},
	})
	want := "partition: s-0\terror: no leader\n" +
		"partition: t-2\terror: The requested offset is not within the range of offsets maintained by the server.\n" +
		"partition: t-10\tlow_watermark: 7\n"
	if !failed || b.String() != want {
		t.Fatalf("failed %v, got:\n%s\nwant:\n%s", failed, b.String(), want)
	}
	b.Reset()
	if writeDeleteResults(&b, map[topicPartition]deleteResult{{"t", 0}: {lowWatermark: 3}}) {
		t.Fatal("success reported as failure")
	}
}

func TestDeleteRecordsUsage(t *testing.T) {
	for _, args := range []string{"--bootstrap-server h:1", "--offset-json-file f", "--bootstrap-server h:1 --offset-json-file f extra"} {
		if code := runDeleteRecords(strings.Fields(args), io.Discard, io.Discard); code != 2 {
			t.Errorf("%s: exit %d, want 2", args, code)
		}
	}
}
