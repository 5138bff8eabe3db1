package main

// samsa log-dirs: Kafka 2.8's kafka-log-dirs (LogDirsCommand). --describe asks every broker (or those of
// --broker-list) for its log directories (DescribeLogDirs, all partitions) and prints, as Kafka does:
//
//	Querying brokers for log directories information
//	Received log directory information from brokers 1,2,3
//	{"version":1,"brokers":[{"broker":1,"logDirs":[{"logDir":"/data","error":null,
//	  "partitions":[{"partition":"demo-0","size":1024,"offsetLag":0,"isFuture":false}]}]}]}
//
// (the JSON on one line). --topic-list keeps only those topics' partitions. "error" is null or the Java
// exception class Kafka would name (org.apache.kafka.common.errors.KafkaStorageException for an offline
// directory). Failures print "Error: ..." and exit 1; usage errors exit 2.
// Deviations: brokers, directories and partitions are sorted (Kafka: hash map order); a broker of
// --broker-list that is not in the cluster is an error (Kafka 2.8 waits for it until its timeout); no
// --log-dir-list filter.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
)

const logDirsUsage = "usage: samsa log-dirs --bootstrap-server HOST:PORT --describe [--broker-list 1,2] [--topic-list a,b]"

type logDirsOptions struct {
	bootstrap []string
	brokers   []int32 // nil: every broker
	topics    []string
}

func parseLogDirsArgs(args []string, stderr io.Writer) (logDirsOptions, error) {
	fs, bootstrap := toolFlags("log-dirs", logDirsUsage, stderr)
	describe := fs.Bool("describe", false, "REQUIRED: describe the log directories of the brokers")
	brokerList := fs.String("broker-list", "", `the brokers to query, "0,1,2" (default: every broker)`)
	topicList := fs.String("topic-list", "", `the topics to show, "topic1,topic2" (default: every topic)`)
	if err := fs.Parse(args); err != nil {
		return logDirsOptions{}, err
	}
	if fs.NArg() > 0 {
		return logDirsOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var o logDirsOptions
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	if !*describe {
		return o, errors.New("--describe is required")
	}
	if o.brokers, err = parseBrokerList(*brokerList); err != nil {
		return o, err
	}
	for _, t := range strings.Split(*topicList, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.topics = append(o.topics, t)
		}
	}
	return o, nil
}

// parseBrokerList reads "1,2,3" (empty entries skipped, as Kafka's split does); "" gives nil.
func parseBrokerList(s string) ([]int32, error) {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--broker-list %q: %q is not a broker id", s, f)
		}
		if contains32(out, int32(id)) {
			return nil, fmt.Errorf("--broker-list %q: broker %d given twice", s, id)
		}
		out = append(out, int32(id))
	}
	return out, nil
}

func runLogDirs(args []string, stdout, stderr io.Writer) int {
	o, err := parseLogDirsArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa log-dirs: %v\n%s\n", err, logDirsUsage)
		return 2
	}
	client, admin, err := openAdmin(o.bootstrap, "samsa-log-dirs")
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer client.Close()
	if err := o.describe(client, admin, stdout); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func (o logDirsOptions) describe(client sarama.Client, admin sarama.ClusterAdmin, stdout io.Writer) error {
	known := brokerIDs(client.Brokers())
	ids := o.brokers
	if ids == nil {
		ids = known
	}
	var unknown []string
	for _, id := range ids {
		if !contains32(known, id) {
			unknown = append(unknown, strconv.Itoa(int(id)))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("the given brokers do not exist from --broker-list: %s (current brokers: %s)",
			strings.Join(unknown, ","), joinIDs(known))
	}
	fmt.Fprintln(stdout, "Querying brokers for log directories information")
	dirs, err := admin.DescribeLogDirs(ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := dirs[id]; !ok {
			return fmt.Errorf("broker %d did not answer DescribeLogDirs", id)
		}
	}
	fmt.Fprintf(stdout, "Received log directory information from brokers %s\n", joinIDs(ids))
	out, err := formatLogDirs(dirs, o.topics)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// The JSON of LogDirsCommand.formatAsJson; field order is Kafka's.
type logDirsJSON struct {
	Version int                 `json:"version"`
	Brokers []logDirsBrokerJSON `json:"brokers"`
}

type logDirsBrokerJSON struct {
	Broker  int32        `json:"broker"`
	LogDirs []logDirJSON `json:"logDirs"`
}

type logDirJSON struct {
	LogDir     string              `json:"logDir"`
	Error      *string             `json:"error"`
	Partitions []logDirReplicaJSON `json:"partitions"`
}

type logDirReplicaJSON struct {
	Partition string `json:"partition"`
	Size      int64  `json:"size"`
	OffsetLag int64  `json:"offsetLag"`
	IsFuture  bool   `json:"isFuture"`
}

// formatLogDirs renders the brokers' answers, keeping only topics (all when empty).
func formatLogDirs(dirs map[int32][]sarama.DescribeLogDirsResponseDirMetadata, topics []string) (string, error) {
	doc := logDirsJSON{Version: 1, Brokers: []logDirsBrokerJSON{}}
	ids := make([]int32, 0, len(dirs))
	for id := range dirs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		b := logDirsBrokerJSON{Broker: id, LogDirs: []logDirJSON{}}
		ds := append([]sarama.DescribeLogDirsResponseDirMetadata(nil), dirs[id]...)
		sort.Slice(ds, func(i, j int) bool { return ds[i].Path < ds[j].Path })
		for _, d := range ds {
			ld := logDirJSON{LogDir: d.Path, Error: javaExceptionClass(d.ErrorCode), Partitions: []logDirReplicaJSON{}}
			type replica struct {
				tp topicPartition
				p  sarama.DescribeLogDirsResponsePartition
			}
			var rs []replica
			for _, t := range d.Topics {
				if len(topics) > 0 && !contains(topics, t.Topic) {
					continue
				}
				for _, p := range t.Partitions {
					rs = append(rs, replica{topicPartition{t.Topic, p.PartitionID}, p})
				}
			}
			sort.Slice(rs, func(i, j int) bool { return lessTP(rs[i].tp, rs[j].tp) })
			for _, r := range rs {
				ld.Partitions = append(ld.Partitions, logDirReplicaJSON{Partition: r.tp.String(), Size: r.p.Size,
					OffsetLag: r.p.OffsetLag, IsFuture: r.p.IsTemporary})
			}
			b.LogDirs = append(b.LogDirs, ld)
		}
		doc.Brokers = append(doc.Brokers, b)
	}
	out, err := json.Marshal(doc)
	return string(out), err
}

// javaExceptionClass names the exception LogDirsCommand prints for a directory's error code (its class
// name), nil for none: KAFKA_STORAGE_ERROR is KafkaStorageException, and the others follow Kafka's naming
// of code FOO_BAR(_ERROR) as FooBarException (approximate for a few codes Kafka names differently).
func javaExceptionClass(code sarama.KError) *string {
	if code == sarama.ErrNoError {
		return nil
	}
	name := "UNKNOWN_SERVER_ERROR"
	if ke, ok := kerr.ErrorForCode(int16(code)).(*kerr.Error); ok {
		name = ke.Message
	}
	name = strings.TrimSuffix(name, "_ERROR")
	var b strings.Builder
	b.WriteString("org.apache.kafka.common.errors.")
	for _, w := range strings.Split(name, "_") {
		if w != "" {
			b.WriteString(w[:1] + strings.ToLower(w[1:]))
		}
	}
	b.WriteString("Exception")
	s := b.String()
	return &s
}
