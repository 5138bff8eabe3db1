package main

// samsa topics: Kafka 2.8's kafka-topics with --bootstrap-server (TopicCommand's AdminClient path), built on
// Sarama's ClusterAdmin. Same options, same output lines, so tutorials written for Kafka read the same:
//
//	--create   "Created topic T."               (CreateTopics; --partitions/--replication-factor default to the
//	                                             broker's num.partitions/default.replication.factor, KIP-464)
//	--list     one name per line, sorted         (Metadata)
//	--describe "Topic: T\tTopicId: ...\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,..." then
//	           "\tTopic: T\tPartition: P\tLeader: L\tReplicas: a,b\tIsr: a,b" per partition, plus Samsa's
//	           "\tHW: h\tLEO: a=x,b=y" and flags (Metadata + DescribeConfigs + ListOffsets; see describe.go)
//	--delete   nothing on success                (DeleteTopics)
//	--alter    --partitions N: nothing on success (CreatePartitions)
//
// --topic is a regular expression matched against whole names for --list/--describe/--delete/--alter, as in
// Kafka. Failures print "Error while executing topic command : ..." and exit 1; usage errors exit 2.
// Deviations: --zookeeper is not offered (Samsa's tools use the Kafka protocol only); --alter --config is refused
// (Kafka 2.8 refuses it with --bootstrap-server too and points at kafka-configs); if DescribeConfigs fails,
// --describe warns on stderr and prints empty Configs instead of failing.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

type topicsOptions struct {
	bootstrap       []string
	action          string // create, list, describe, delete or alter
	topic           string
	partitions      int32 // -1: not given
	replication     int16 // -1: not given
	configs         map[string]*string
	assignment      map[int32][]int32 // --replica-assignment
	ifExists        bool
	ifNotExists     bool
	excludeInternal bool
	report          describeReport // --under-replicated-partitions, --unavailable-partitions (describe.go)
}

const topicsUsage = "usage: samsa topics --bootstrap-server HOST:PORT (--create|--list|--describe|--delete|--alter) " +
	"[--topic T] [--partitions N] [--replication-factor R] [--config k=v]... [--replica-assignment 1:2,2:3] " +
	"[--under-replicated-partitions|--unavailable-partitions]"

func parseTopicsArgs(args []string, stderr io.Writer) (topicsOptions, error) {
	fs, bootstrap := toolFlags("topics", topicsUsage, stderr)
	actions := map[string]*bool{
		"create":   fs.Bool("create", false, "create a new topic"),
		"list":     fs.Bool("list", false, "list all available topics"),
		"describe": fs.Bool("describe", false, "list details for the given topics"),
		"delete":   fs.Bool("delete", false, "delete a topic"),
		"alter":    fs.Bool("alter", false, "alter the number of partitions of a topic"),
	}
	topic := fs.String("topic", "", "the topic to create, alter, describe or delete (a regular expression except with --create)")
	partitions := fs.Int("partitions", -1, "the number of partitions of the topic being created or altered")
	replication := fs.Int("replication-factor", -1, "the replication factor of each partition of the topic being created")
	var configs multiFlag
	fs.Var(&configs, "config", "a topic configuration override for the topic being created, name=value (repeatable)")
	assignment := fs.String("replica-assignment", "", "manual assignment: replicas of partition 0, 1, ... as 1:2,2:3,3:1")
	ifExists := fs.Bool("if-exists", false, "with --alter, --describe or --delete: act only if the topic exists")
	ifNotExists := fs.Bool("if-not-exists", false, "with --create: create only if the topic does not exist")
	excludeInternal := fs.Bool("exclude-internal", false, "exclude internal topics from --list and --describe")
	report := addReportFlags(fs)
	if err := fs.Parse(args); err != nil {
		return topicsOptions{}, err
	}
	if fs.NArg() > 0 {
		return topicsOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := topicsOptions{topic: *topic, partitions: -1, replication: -1, ifExists: *ifExists,
		ifNotExists: *ifNotExists, excludeInternal: *excludeInternal, report: *report}
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	if o.action, err = oneAction(actions, "command must include exactly one action: --list, --describe, --create, --alter or --delete"); err != nil {
		return o, err
	}
	if *partitions != -1 {
		if *partitions < 1 || *partitions > 1<<31-1 {
			return o, fmt.Errorf("--partitions %d: must be at least 1", *partitions)
		}
		o.partitions = int32(*partitions)
	}
	if *replication != -1 {
		if *replication < 1 || *replication > 1<<15-1 {
			return o, fmt.Errorf("--replication-factor %d: must be between 1 and 32767", *replication)
		}
		o.replication = int16(*replication)
	}
	props, err := parseProperties("config", configs, nil)
	if err != nil {
		return o, err
	}
	if len(props) > 0 {
		o.configs = map[string]*string{}
		for k, v := range props {
			o.configs[k] = &v
		}
	}
	if *assignment != "" {
		if o.assignment, err = parseReplicaAssignment(*assignment); err != nil {
			return o, err
		}
	}
	return o, o.check()
}

// check applies TopicCommandOptions.checkArgs' rules for the options we offer.
func (o topicsOptions) check() error {
	needTopic := o.action == "create" || o.action == "delete" || o.action == "alter"
	if needTopic && o.topic == "" {
		return fmt.Errorf("--%s requires --topic", o.action)
	}
	onlyWith := func(flagName string, set bool, actions ...string) error {
		if set && !contains(actions, o.action) {
			return fmt.Errorf("option --%s can only be used with --%s", flagName, strings.Join(actions, " or --"))
		}
		return nil
	}
	return errors.Join(
		onlyWith("partitions", o.partitions != -1, "create", "alter"),
		onlyWith("replication-factor", o.replication != -1, "create"),
		onlyWith("config", o.configs != nil, "create"),
		onlyWith("replica-assignment", o.assignment != nil, "create", "alter"),
		onlyWith("if-exists", o.ifExists, "alter", "describe", "delete"),
		onlyWith("if-not-exists", o.ifNotExists, "create"),
		onlyWith("exclude-internal", o.excludeInternal, "list", "describe"),
		o.report.check(o.action),
		func() error {
			if o.action == "alter" && o.partitions == -1 {
				return errors.New("--alter requires --partitions (topic configs are changed with DescribeConfigs/AlterConfigs tools)")
			}
			if o.assignment != nil && o.replication != -1 {
				return errors.New("option --replica-assignment cannot be used with --replication-factor")
			}
			return nil
		}(),
	)
}

// parseReplicaAssignment reads Kafka's "1:2,2:3" form: partitions separated by commas, their replicas by colons.
func parseReplicaAssignment(s string) (map[int32][]int32, error) {
	out := map[int32][]int32{}
	for p, part := range strings.Split(s, ",") {
		var replicas []int32
		for _, r := range strings.Split(part, ":") {
			id, err := strconv.ParseInt(strings.TrimSpace(r), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--replica-assignment %q: %q is not a broker id", s, r)
			}
			if contains32(replicas, int32(id)) {
				return nil, fmt.Errorf("--replica-assignment %q: partition %d lists broker %d twice", s, p, id)
			}
			replicas = append(replicas, int32(id))
		}
		if p > 0 && len(replicas) != len(out[0]) {
			return nil, fmt.Errorf("--replica-assignment %q: partition %d has a different replication factor", s, p)
		}
		out[int32(p)] = replicas
	}
	return out, nil
}

func contains32(list []int32, v int32) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

func runTopics(args []string, stdout, stderr io.Writer) int {
	o, err := parseTopicsArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa topics: %v\n%s\n", err, topicsUsage)
		return 2
	}
	admin, err := sarama.NewClusterAdmin(o.bootstrap, toolConfig("samsa-topics"))
	if err != nil {
		fmt.Fprintf(stderr, "Error while executing topic command : %v\n", err)
		return 1
	}
	defer admin.Close()
	if err := o.run(admin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "Error while executing topic command : %v\n", err)
		return 1
	}
	return 0
}

func (o topicsOptions) run(admin sarama.ClusterAdmin, stdout, stderr io.Writer) error {
	switch o.action {
	case "create":
		return o.create(admin, stdout)
	case "list":
		return o.list(admin, stdout)
	case "describe":
		return o.describe(admin, stdout, stderr)
	case "delete":
		return o.forEachTopic(admin, func(t string) error { return admin.DeleteTopic(t) })
	case "alter":
		return o.forEachTopic(admin, func(t string) error {
			var assignment [][]int32
			for p := int32(0); p < int32(len(o.assignment)); p++ {
				assignment = append(assignment, o.assignment[p])
			}
			return admin.CreatePartitions(t, o.partitions, assignment, false)
		})
	}
	return fmt.Errorf("unknown action %q", o.action)
}

func (o topicsOptions) create(admin sarama.ClusterAdmin, stdout io.Writer) error {
	d := &sarama.TopicDetail{NumPartitions: o.partitions, ReplicationFactor: o.replication,
		ReplicaAssignment: o.assignment, ConfigEntries: o.configs}
	err := admin.CreateTopic(o.topic, d, false)
	if o.ifNotExists && errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.ContainsAny(o.topic, "._") {
		fmt.Fprintln(stdout, "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	fmt.Fprintf(stdout, "Created topic %s.\n", o.topic)
	return nil
}

// topics returns the metadata of every topic --topic selects (all when not given), sorted by name.
func (o topicsOptions) topics(admin sarama.ClusterAdmin) ([]*sarama.TopicMetadata, error) {
	all, err := admin.DescribeTopics(nil)
	if err != nil {
		return nil, err
	}
	match, err := topicMatcher(o.topic)
	if err != nil {
		return nil, err
	}
	var out []*sarama.TopicMetadata
	for _, t := range all {
		if (o.excludeInternal && t.IsInternal) || !match(t.Name) {
			continue
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 && o.topic != "" && !o.ifExists && o.action != "list" {
		return nil, fmt.Errorf("topic '%s' does not exist as expected", o.topic)
	}
	return out, nil
}

// topicMatcher matches whole names against --topic as a regular expression (Kafka's IncludeList); an empty
// pattern matches everything, and a pattern that is not a valid expression matches only itself.
func topicMatcher(pattern string) (func(string) bool, error) {
	if pattern == "" {
		return func(string) bool { return true }, nil
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return func(name string) bool { return name == pattern }, nil
	}
	return re.MatchString, nil
}

func (o topicsOptions) forEachTopic(admin sarama.ClusterAdmin, fn func(string) error) error {
	ts, err := o.topics(admin)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := fn(t.Name); err != nil {
			return fmt.Errorf("topic %s: %w", t.Name, err)
		}
	}
	return nil
}

func (o topicsOptions) list(admin sarama.ClusterAdmin, stdout io.Writer) error {
	ts, err := o.topics(admin)
	if err != nil {
		return err
	}
	for _, t := range ts {
		fmt.Fprintln(stdout, t.Name)
	}
	return nil
}
