package main

// samsa delete-records: Kafka 2.8's kafka-delete-records (DeleteRecordsCommand). The JSON file names the
// partitions and the offset before which their records go ("offset": -1 is the high watermark):
//
//	{"partitions":[{"topic":"demo","partition":0,"offset":3}],"version":1}
//
// Output, as Kafka prints it:
//
//	Executing records delete operation
//	Records delete operation completed:
//	partition: demo-0	low_watermark: 3
//	partition: demo-1	error: The requested offset is not within the range of offsets maintained by the server.
//
// Requests go to each partition's leader (DeleteRecords v2), one per broker. A per-partition error is
// printed, as in Kafka, and also makes the exit status 1 so scripts notice; a bad file or no connection
// prints "Error: ..." and exits 1; usage errors exit 2.
// Deviations: lines are sorted by partition (Kafka: hash map order); a file with no partitions is refused
// (Kafka deletes nothing and succeeds), since it is most likely a misspelt "partitions" key.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
)

const deleteRecordsUsage = "usage: samsa delete-records --bootstrap-server HOST:PORT --offset-json-file FILE"

// topicPartition prints as Kafka's TopicPartition.toString: "topic-partition".
type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// lessTP orders by topic, then partition (ReassignPartitionsCommand.compareTopicPartitions).
func lessTP(a, b topicPartition) bool {
	if a.topic != b.topic {
		return a.topic < b.topic
	}
	return a.partition < b.partition
}

type deleteOffset struct {
	tp     topicPartition
	offset int64
}

// parseDeleteRecordsJSON reads DeleteRecordsCommand's file: version 1 (the default when absent), every
// partition once.
func parseDeleteRecordsJSON(data []byte) ([]deleteOffset, error) {
	var doc struct {
		Version    *int `json:"version"`
		Partitions []struct {
			Topic     *string `json:"topic"`
			Partition *int32  `json:"partition"`
			Offset    *int64  `json:"offset"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("offset json file: %w", err)
	}
	if doc.Version != nil && *doc.Version != 1 {
		return nil, fmt.Errorf("not supported version field value %d", *doc.Version)
	}
	if len(doc.Partitions) == 0 {
		return nil, errors.New(`offset json file lists no partitions (want {"partitions":[{"topic":"foo","partition":1,"offset":1}],"version":1})`)
	}
	var out []deleteOffset
	seen := map[topicPartition]bool{}
	var dups []string
	for i, p := range doc.Partitions {
		if p.Topic == nil || p.Partition == nil || p.Offset == nil {
			return nil, fmt.Errorf("partitions[%d]: topic, partition and offset are required", i)
		}
		tp := topicPartition{*p.Topic, *p.Partition}
		if seen[tp] {
			dups = append(dups, tp.String())
		}
		seen[tp] = true
		out = append(out, deleteOffset{tp, *p.Offset})
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("offset json file contains duplicate topic partitions: %s", strings.Join(dups, ","))
	}
	return out, nil
}

func runDeleteRecords(args []string, stdout, stderr io.Writer) int {
	fs, bootstrap := toolFlags("delete-records", deleteRecordsUsage, stderr)
	file := fs.String("offset-json-file", "", `REQUIRED: the JSON file with the offset per partition: {"partitions":[{"topic":"foo","partition":1,"offset":1}],"version":1}`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	servers, err := splitBootstrap(*bootstrap)
	if err == nil && *file == "" {
		err = errors.New("--offset-json-file is required")
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa delete-records: %v\n%s\n", err, deleteRecordsUsage)
		return 2
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	offsets, err := parseDeleteRecordsJSON(data)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	client, err := sarama.NewClient(servers, toolConfig("samsa-delete-records"))
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer client.Close()
	fmt.Fprintln(stdout, "Executing records delete operation")
	results := deleteRecords(client, offsets)
	fmt.Fprintln(stdout, "Records delete operation completed:")
	if writeDeleteResults(stdout, results) {
		return 1
	}
	return 0
}

// deleteResult is one partition's answer: the new low watermark, or an error.
type deleteResult struct {
	lowWatermark int64
	err          error
}

// deleteRecords sends one DeleteRecords request to each leader and collects every partition's result.
func deleteRecords(client sarama.Client, offsets []deleteOffset) map[topicPartition]deleteResult {
	results := map[topicPartition]deleteResult{}
	byLeader := map[*sarama.Broker]*sarama.DeleteRecordsRequest{}
	for _, o := range offsets {
		leader, err := client.Leader(o.tp.topic, o.tp.partition)
		if err != nil {
			results[o.tp] = deleteResult{err: err}
			continue
		}
		req := byLeader[leader]
		if req == nil {
			req = &sarama.DeleteRecordsRequest{Version: 2, Timeout: 30 * time.Second, Topics: map[string]*sarama.DeleteRecordsRequestTopic{}}
			byLeader[leader] = req
		}
		t := req.Topics[o.tp.topic]
		if t == nil {
			t = &sarama.DeleteRecordsRequestTopic{PartitionOffsets: map[int32]int64{}}
			req.Topics[o.tp.topic] = t
		}
		t.PartitionOffsets[o.tp.partition] = o.offset
	}
	for leader, req := range byLeader {
		_ = leader.Open(client.Config()) // ErrAlreadyConnected when open; a real failure shows below
		resp, err := leader.DeleteRecords(req)
		for topic, t := range req.Topics {
			for p := range t.PartitionOffsets {
				tp := topicPartition{topic, p}
				switch {
				case err != nil:
					results[tp] = deleteResult{err: err}
				case resp.Topics[topic] == nil || resp.Topics[topic].Partitions[p] == nil:
					results[tp] = deleteResult{err: fmt.Errorf("broker %d did not answer for %s", leader.ID(), tp)}
				case resp.Topics[topic].Partitions[p].Err != sarama.ErrNoError:
					results[tp] = deleteResult{err: resp.Topics[topic].Partitions[p].Err}
				default:
					results[tp] = deleteResult{lowWatermark: resp.Topics[topic].Partitions[p].LowWatermark}
				}
			}
		}
	}
	return results
}

// writeDeleteResults prints DeleteRecordsCommand's per-partition lines, sorted; it reports whether any failed.
func writeDeleteResults(w io.Writer, results map[topicPartition]deleteResult) (failed bool) {
	tps := make([]topicPartition, 0, len(results))
	for tp := range results {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool { return lessTP(tps[i], tps[j]) })
	for _, tp := range tps {
		r := results[tp]
		if r.err != nil {
			failed = true
			fmt.Fprintf(w, "partition: %s\terror: %s\n", tp, javaMessage(r.err))
			continue
		}
		fmt.Fprintf(w, "partition: %s\tlow_watermark: %d\n", tp, r.lowWatermark)
	}
	return failed
}

// javaMessage is the message of the Java exception Kafka's tools print for err: kerr's description of a
// Kafka error code, the error's own text otherwise.
func javaMessage(err error) string {
	var kerrCode sarama.KError
	if errors.As(err, &kerrCode) {
		if ke, ok := kerr.ErrorForCode(int16(kerrCode)).(*kerr.Error); ok {
			return ke.Description
		}
	}
	return err.Error()
}
