package main

// samsa reassign-partitions: Kafka 2.8's kafka-reassign-partitions with --bootstrap-server
// (ReassignPartitionsCommand after KIP-455), built on Sarama. The reassignment file is Kafka's:
//
//	{"version":1,"partitions":[{"topic":"demo","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}
//
// ("log_dirs" optional; only "any" is accepted). Actions and their output, as Kafka prints them:
//
//	--execute  "Current partition replica assignment", a blank line, the current assignment of the
//	           partitions in the same JSON, a blank line, "Save this to use as the --reassignment-json-file
//	           option during rollback", then "Successfully started partition reassignment(s) for demo-0,...".
//	           Refused while any reassignment is in progress unless --additional.
//	--verify   "Status of partition reassignment:" then per partition "Reassignment of partition demo-0 is
//	           complete." or "... is still in progress." (or "There is no active reassignment of partition
//	           demo-0, but replica set is 1,2 rather than 2,3."); when none is in progress, the replication
//	           throttles are cleared as in Kafka ("Clearing broker-level throttles on brokers 1,2,3",
//	           "Clearing topic-level throttles on topic demo") unless --preserve-throttles.
//	--cancel   "Successfully cancelled partition reassignment(s) for: demo-0" or "None of the specified
//	           partition reassignments are active.", then clears throttles like --verify.
//	--list     "Current partition reassignments:" then "demo-0: replicas: 1,2,3. adding: 3. removing: 1."
//	           per partition, or "No partition reassignments found."
//	--generate --topics-to-move-json-file F ({"topics":[{"topic":"demo"}],"version":1}) --broker-list 1,2,3:
//	           "Current partition replica assignment" and "Proposed partition reassignment configuration",
//	           each followed by its JSON (Kafka's rack-unaware round robin, see generate in reassign_generate.go).
//
// Alter/ListPartitionReassignments go to the controller as raw requests: Sarama's ClusterAdmin methods
// take one topic with every partition from 0 (a nil entry cancels), which cannot express a file naming
// some partitions of several topics. Failures print "Error: ..." on stderr and exit 1; usage errors exit 2.
// Deviations: no --throttle, --replica-alter-log-dirs-throttle or --timeout (Samsa has no replication
// throttling; the throttle keys are still cleared so a Kafka-set throttle does not linger); --verify decides
// "in progress" from the file's partitions only (Kafka: any reassignment in the cluster) before clearing.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

type reassignOptions struct {
	bootstrap         []string
	action            string // execute, verify, cancel, list or generate
	jsonFile          string
	topicsFile        string
	brokers           []int32 // --broker-list of --generate
	additional        bool
	preserveThrottles bool
}

const reassignUsage = "usage: samsa reassign-partitions --bootstrap-server HOST:PORT " +
	"(--execute|--verify|--cancel --reassignment-json-file F | --list | --generate --topics-to-move-json-file F --broker-list 1,2) " +
	"[--additional] [--preserve-throttles]"

func parseReassignArgs(args []string, stderr io.Writer) (reassignOptions, error) {
	fs, bootstrap := toolFlags("reassign-partitions", reassignUsage, stderr)
	actions := map[string]*bool{
		"execute":  fs.Bool("execute", false, "start the reassignment of --reassignment-json-file"),
		"verify":   fs.Bool("verify", false, "report the status of the reassignment of --reassignment-json-file"),
		"cancel":   fs.Bool("cancel", false, "cancel the active reassignments of --reassignment-json-file's partitions"),
		"list":     fs.Bool("list", false, "list every partition being reassigned"),
		"generate": fs.Bool("generate", false, "propose an assignment of --topics-to-move-json-file's topics over --broker-list"),
	}
	jsonFile := fs.String("reassignment-json-file", "", `the reassignment: {"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2,3]}]}`)
	topicsFile := fs.String("topics-to-move-json-file", "", `with --generate: {"topics":[{"topic":"foo"}],"version":1}`)
	brokerList := fs.String("broker-list", "", `with --generate: the brokers to spread the topics over, "1,2,3"`)
	additional := fs.Bool("additional", false, "with --execute: start even though other reassignments are in progress")
	preserve := fs.Bool("preserve-throttles", false, "with --verify or --cancel: leave the replication throttles in place")
	if err := fs.Parse(args); err != nil {
		return reassignOptions{}, err
	}
	if fs.NArg() > 0 {
		return reassignOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := reassignOptions{jsonFile: *jsonFile, topicsFile: *topicsFile, additional: *additional, preserveThrottles: *preserve}
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	if o.action, err = oneAction(actions, "command must include exactly one action: --execute, --verify, --cancel, --list or --generate"); err != nil {
		return o, err
	}
	if o.brokers, err = parseBrokerList(*brokerList); err != nil {
		return o, err
	}
	needJSON := o.action == "execute" || o.action == "verify" || o.action == "cancel"
	switch {
	case needJSON && o.jsonFile == "":
		return o, fmt.Errorf("--%s requires --reassignment-json-file", o.action)
	case !needJSON && o.jsonFile != "":
		return o, fmt.Errorf("--reassignment-json-file cannot be used with --%s", o.action)
	case o.action == "generate" && (o.topicsFile == "" || len(o.brokers) == 0):
		return o, errors.New("--generate requires --topics-to-move-json-file and --broker-list")
	case o.action != "generate" && (o.topicsFile != "" || o.brokers != nil):
		return o, errors.New("--topics-to-move-json-file and --broker-list can only be used with --generate")
	case o.additional && o.action != "execute":
		return o, errors.New("--additional can only be used with --execute")
	case o.preserveThrottles && o.action != "verify" && o.action != "cancel":
		return o, errors.New("--preserve-throttles can only be used with --verify or --cancel")
	}
	return o, nil
}

// reassignTarget is one partition of the reassignment file.
type reassignTarget struct {
	tp       topicPartition
	replicas []int32
}

// parseReassignmentJSON reads the file as ReassignPartitionsCommand.parsePartitionReassignmentData and
// parseExecuteAssignmentArgs check it: version 1, a non-empty list, each partition once with a non-empty
// replica list naming each broker once, log_dirs (if given) as long as replicas.
func parseReassignmentJSON(data []byte) ([]reassignTarget, error) {
	var doc struct {
		Version    *int `json:"version"`
		Partitions []struct {
			Topic     *string  `json:"topic"`
			Partition *int32   `json:"partition"`
			Replicas  []int32  `json:"replicas"`
			LogDirs   []string `json:"log_dirs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reassignment json file: %w", err)
	}
	if doc.Version != nil && *doc.Version != 1 {
		return nil, fmt.Errorf("not supported version field value %d", *doc.Version)
	}
	if len(doc.Partitions) == 0 {
		return nil, errors.New("partition reassignment list cannot be empty")
	}
	var out []reassignTarget
	seen := map[topicPartition]bool{}
	var dups, dupReplicas []string
	for i, p := range doc.Partitions {
		if p.Topic == nil || p.Partition == nil {
			return nil, fmt.Errorf("partitions[%d]: topic and partition are required", i)
		}
		tp := topicPartition{*p.Topic, *p.Partition}
		if len(p.Replicas) == 0 {
			return nil, errors.New("partition replica list cannot be empty")
		}
		if p.LogDirs != nil && len(p.LogDirs) != len(p.Replicas) {
			return nil, fmt.Errorf("size of replicas list %v is different from size of log dirs list %v for partition %s",
				p.Replicas, p.LogDirs, tp)
		}
		for _, d := range p.LogDirs {
			if d != "any" {
				return nil, fmt.Errorf("partition %s: log_dirs other than \"any\" are not supported (no AlterReplicaLogDirs)", tp)
			}
		}
		if seen[tp] {
			dups = append(dups, tp.String())
		}
		seen[tp] = true
		var twice []string
		for j, r := range p.Replicas {
			if contains32(p.Replicas[:j], r) && !contains(twice, strconv.Itoa(int(r))) {
				twice = append(twice, strconv.Itoa(int(r)))
			}
		}
		if len(twice) > 0 {
			dupReplicas = append(dupReplicas, fmt.Sprintf("%s contains multiple entries for %s", tp, strings.Join(twice, ",")))
		}
		out = append(out, reassignTarget{tp, p.Replicas})
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("partition reassignment contains duplicate topic partitions: %s", strings.Join(dups, ","))
	}
	if len(dupReplicas) > 0 {
		return nil, fmt.Errorf("partition replica lists may not contain duplicate entries: %s", strings.Join(dupReplicas, ". "))
	}
	return out, nil
}

// formatReassignmentJSON is ReassignPartitionsCommand.formatAsReassignmentJson: partitions sorted by topic
// and number, every log dir "any".
func formatReassignmentJSON(assignment map[topicPartition][]int32) string {
	type partJSON struct {
		Topic     string   `json:"topic"`
		Partition int32    `json:"partition"`
		Replicas  []int32  `json:"replicas"`
		LogDirs   []string `json:"log_dirs"`
	}
	doc := struct {
		Version    int        `json:"version"`
		Partitions []partJSON `json:"partitions"`
	}{Version: 1, Partitions: []partJSON{}}
	for _, tp := range sortedTPs(assignment) {
		replicas := assignment[tp]
		dirs := make([]string, len(replicas))
		for i := range dirs {
			dirs[i] = "any"
		}
		doc.Partitions = append(doc.Partitions, partJSON{tp.topic, tp.partition, append([]int32{}, replicas...), dirs})
	}
	out, _ := json.Marshal(doc) // only strings and numbers: cannot fail
	return string(out)
}

func sortedTPs[V any](m map[topicPartition]V) []topicPartition {
	out := make([]topicPartition, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return lessTP(out[i], out[j]) })
	return out
}

func joinTPs(tps []topicPartition) string {
	s := make([]string, len(tps))
	for i, tp := range tps {
		s[i] = tp.String()
	}
	return strings.Join(s, ",")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func runReassign(args []string, stdout, stderr io.Writer) int {
	o, err := parseReassignArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa reassign-partitions: %v\n%s\n", err, reassignUsage)
		return 2
	}
	var targets []reassignTarget
	if o.jsonFile != "" {
		data, err := os.ReadFile(o.jsonFile)
		if err == nil {
			targets, err = parseReassignmentJSON(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return 1
		}
	}
	client, admin, err := openAdmin(o.bootstrap, "samsa-reassign-partitions")
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer client.Close()
	r := reassigner{client: client, admin: admin, out: stdout}
	switch o.action {
	case "execute":
		err = r.execute(targets, o.additional)
	case "verify":
		err = r.verify(targets, o.preserveThrottles)
	case "cancel":
		err = r.cancel(targets, o.preserveThrottles)
	case "list":
		err = r.list()
	case "generate":
		err = r.generate(o.topicsFile, o.brokers)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

// reassigner runs the actions against one cluster.
type reassigner struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
	out    io.Writer
}

func (r reassigner) execute(targets []reassignTarget, additional bool) error {
	if !additional {
		all, err := r.allTopicPartitions()
		if err != nil {
			return err
		}
		current, err := r.listReassigning(all)
		if err != nil {
			return err
		}
		if len(current) > 0 {
			return errors.New("cannot execute because there is an existing partition assignment. Use --additional to " +
				"override this and create a new partition assignment in addition to the existing one.")
		}
	}
	live := brokerIDs(r.client.Brokers())
	for _, t := range targets {
		for _, id := range t.replicas {
			if !contains32(live, id) {
				return fmt.Errorf("unknown broker id %d", id)
			}
		}
	}
	tps := make([]topicPartition, len(targets))
	for i, t := range targets {
		tps[i] = t.tp
	}
	current, err := r.currentAssignment(tps)
	if err != nil {
		return err
	}
	for _, tp := range tps {
		if _, ok := current[tp]; !ok {
			return fmt.Errorf("unable to find partition: %s", tp)
		}
	}
	fmt.Fprintf(r.out, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n",
		formatReassignmentJSON(current))
	proposed := map[topicPartition][]int32{}
	for _, t := range targets {
		proposed[t.tp] = t.replicas
	}
	if err := r.alter(proposed, "Error reassigning partition(s):"); err != nil {
		return err
	}
	fmt.Fprintf(r.out, "Successfully started partition reassignment%s for %s\n", plural(len(proposed)), joinTPs(sortedTPs(proposed)))
	return nil
}

func (r reassigner) verify(targets []reassignTarget, preserveThrottles bool) error {
	byTopic := map[string][]int32{}
	var tps []topicPartition
	for _, t := range targets {
		byTopic[t.tp.topic] = append(byTopic[t.tp.topic], t.tp.partition)
		tps = append(tps, t.tp)
	}
	active, err := r.listReassigning(byTopic)
	if err != nil {
		return err
	}
	current, err := r.currentAssignment(tps)
	if err != nil {
		return err
	}
	states := map[topicPartition]string{}
	ongoing := false
	for _, t := range targets {
		if _, ok := active[t.tp]; ok {
			ongoing = true
			states[t.tp] = fmt.Sprintf("Reassignment of partition %s is still in progress.", t.tp)
			continue
		}
		if cur := current[t.tp]; !equal32(cur, t.replicas) {
			states[t.tp] = fmt.Sprintf("There is no active reassignment of partition %s, but replica set is %s rather than %s.",
				t.tp, joinIDs(cur), joinIDs(t.replicas))
			continue
		}
		states[t.tp] = fmt.Sprintf("Reassignment of partition %s is complete.", t.tp)
	}
	fmt.Fprintln(r.out, "Status of partition reassignment:")
	for _, tp := range sortedTPs(states) {
		fmt.Fprintln(r.out, states[tp])
	}
	if ongoing || preserveThrottles {
		return nil
	}
	fmt.Fprintln(r.out)
	return r.clearThrottles(targets)
}

func (r reassigner) cancel(targets []reassignTarget, preserveThrottles bool) error {
	byTopic := map[string][]int32{}
	for _, t := range targets {
		byTopic[t.tp.topic] = append(byTopic[t.tp.topic], t.tp.partition)
	}
	active, err := r.listReassigning(byTopic)
	if err != nil {
		return err
	}
	cancels := map[topicPartition][]int32{}
	for tp, st := range active {
		if len(st.AddingReplicas) > 0 || len(st.RemovingReplicas) > 0 {
			cancels[tp] = nil // a null replica list cancels (KIP-455)
		}
	}
	if len(cancels) == 0 {
		fmt.Fprintln(r.out, "None of the specified partition reassignments are active.")
	} else {
		if err := r.alter(cancels, fmt.Sprintf("Error cancelling partition reassignment%s for:", plural(len(cancels)))); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "Successfully cancelled partition reassignment%s for: %s\n", plural(len(cancels)), joinTPs(sortedTPs(cancels)))
	}
	if preserveThrottles {
		return nil
	}
	return r.clearThrottles(targets)
}

func (r reassigner) list() error {
	all, err := r.allTopicPartitions()
	if err != nil {
		return err
	}
	active, err := r.listReassigning(all)
	if err != nil {
		return err
	}
	fmt.Fprint(r.out, formatReassignmentList(active))
	return nil
}

// formatReassignmentList is ReassignPartitionsCommand.curReassignmentsToString plus its newline.
func formatReassignmentList(active map[topicPartition]*sarama.PartitionReplicaReassignmentsStatus) string {
	if len(active) == 0 {
		return "No partition reassignments found.\n"
	}
	var b strings.Builder
	b.WriteString("Current partition reassignments:\n")
	for _, tp := range sortedTPs(active) {
		st := active[tp]
		fmt.Fprintf(&b, "%s: replicas: %s.", tp, joinIDs(st.Replicas))
		if len(st.AddingReplicas) > 0 {
			fmt.Fprintf(&b, " adding: %s.", joinIDs(st.AddingReplicas))
		}
		if len(st.RemovingReplicas) > 0 {
			fmt.Fprintf(&b, " removing: %s.", joinIDs(st.RemovingReplicas))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// The throttle keys ReassignPartitionsCommand.clearAllThrottles removes.
var (
	brokerThrottleKeys = []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate",
		"replica.alter.log.dirs.io.max.bytes.per.second"}
	topicThrottleKeys = []string{"leader.replication.throttled.replicas", "follower.replication.throttled.replicas"}
)

// clearThrottles deletes the replication throttles from every live broker, every target replica's broker
// and every topic of the file, as Kafka does once a reassignment is done: it cannot know which brokers an
// earlier --execute --throttle touched.
func (r reassigner) clearThrottles(targets []reassignTarget) error {
	brokers := brokerIDs(r.client.Brokers())
	var topics []string
	for _, t := range targets {
		for _, id := range t.replicas {
			if !contains32(brokers, id) {
				brokers = append(brokers, id)
			}
		}
		if !contains(topics, t.tp.topic) {
			topics = append(topics, t.tp.topic)
		}
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i] < brokers[j] })
	sort.Strings(topics)
	fmt.Fprintf(r.out, "Clearing broker-level throttles on broker%s %s\n", plural(len(brokers)), joinIDs(brokers))
	for _, id := range brokers {
		if err := r.deleteConfigs(sarama.BrokerResource, strconv.Itoa(int(id)), brokerThrottleKeys); err != nil {
			return fmt.Errorf("clear throttles of broker %d: %w", id, err)
		}
	}
	fmt.Fprintf(r.out, "Clearing topic-level throttles on topic%s %s\n", plural(len(topics)), strings.Join(topics, ","))
	for _, t := range topics {
		if err := r.deleteConfigs(sarama.TopicResource, t, topicThrottleKeys); err != nil {
			return fmt.Errorf("clear throttles of topic %s: %w", t, err)
		}
	}
	return nil
}

func (r reassigner) deleteConfigs(typ sarama.ConfigResourceType, name string, keys []string) error {
	ops := map[string]sarama.IncrementalAlterConfigsEntry{}
	for _, k := range keys {
		ops[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
	}
	return r.admin.IncrementalAlterConfig(typ, name, ops, false)
}

// currentAssignment reads the replicas of the given partitions from a fresh Metadata request; partitions
// of unknown topics are left out.
func (r reassigner) currentAssignment(tps []topicPartition) (map[topicPartition][]int32, error) {
	var topics []string
	for _, tp := range tps {
		if !contains(topics, tp.topic) {
			topics = append(topics, tp.topic)
		}
	}
	md, err := r.admin.DescribeTopics(topics)
	if err != nil {
		return nil, err
	}
	out := map[topicPartition][]int32{}
	for _, t := range md {
		if t.Err != sarama.ErrNoError {
			continue
		}
		for _, p := range t.Partitions {
			tp := topicPartition{t.Name, p.ID}
			if containsTP(tps, tp) {
				out[tp] = p.Replicas
			}
		}
	}
	return out, nil
}

func containsTP(tps []topicPartition, tp topicPartition) bool {
	for _, e := range tps {
		if e == tp {
			return true
		}
	}
	return false
}

func equal32(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// allTopicPartitions lists every partition of the cluster, for --list and --execute's check: Sarama's
// ListPartitionReassignmentsRequest cannot send the null topic list that means "all".
func (r reassigner) allTopicPartitions() (map[string][]int32, error) {
	md, err := r.admin.DescribeTopics(nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]int32{}
	for _, t := range md {
		for _, p := range t.Partitions {
			out[t.Name] = append(out[t.Name], p.ID)
		}
	}
	return out, nil
}

// withController runs fn against the controller, refreshing it and retrying when the broker asked has
// stopped being controller (NOT_CONTROLLER), as the AdminClient does.
func (r reassigner) withController(fn func(*sarama.Broker) (sarama.KError, error)) error {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		ctrl, err := r.client.Controller()
		if err == nil {
			_ = ctrl.Open(r.client.Config()) // ErrAlreadyConnected when open; a real failure shows below
			var code sarama.KError
			code, err = fn(ctrl)
			if err == nil && code == sarama.ErrNoError {
				return nil
			}
			if err == nil {
				err = code
			}
		}
		last = err
		if !errors.Is(err, sarama.ErrNotController) && !errors.Is(err, sarama.ErrControllerNotAvailable) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond) // backoff before asking for the new controller
		_, _ = r.client.RefreshController()
	}
	return last
}

// listReassigning returns the partitions among parts with a reassignment in progress.
func (r reassigner) listReassigning(parts map[string][]int32) (map[topicPartition]*sarama.PartitionReplicaReassignmentsStatus, error) {
	out := map[topicPartition]*sarama.PartitionReplicaReassignmentsStatus{}
	if len(parts) == 0 {
		return out, nil
	}
	req := &sarama.ListPartitionReassignmentsRequest{TimeoutMs: 30000}
	for topic, ps := range parts {
		req.AddBlock(topic, ps)
	}
	err := r.withController(func(b *sarama.Broker) (sarama.KError, error) {
		resp, err := b.ListPartitionReassignments(req)
		if err != nil {
			return 0, err
		}
		if resp.ErrorCode == sarama.ErrNoError {
			for topic, ps := range resp.TopicStatus {
				for p, st := range ps {
					out[topicPartition{topic, p}] = st
				}
			}
		}
		return resp.ErrorCode, nil
	})
	return out, err
}

// alter sends one AlterPartitionReassignments request (nil replicas cancel) and reports the partitions
// the controller refused, one per line under header. The request goes out as kmsg over protocol.Client:
// Sarama decodes the per-partition errors of this response into unexported fields.
func (r reassigner) alter(assignment map[topicPartition][]int32, header string) error {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 30000
	byTopic := map[string]int{}
	for _, tp := range sortedTPs(assignment) {
		i, ok := byTopic[tp.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.topic] = i
			t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			t.Topic = tp.topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		p.Partition, p.Replicas = tp.partition, assignment[tp]
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	failed := map[topicPartition]error{}
	err := r.withController(func(b *sarama.Broker) (sarama.KError, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
		defer cancel()
		c, err := protocol.Dial(ctx, b.Addr(), "samsa-reassign-partitions", 30*time.Second)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		kr, err := c.Request(ctx, req)
		if err != nil {
			return 0, err
		}
		resp := kr.(*kmsg.AlterPartitionAssignmentsResponse)
		if resp.ErrorCode != 0 {
			return sarama.KError(resp.ErrorCode), nil
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 {
					continue
				}
				text := javaMessage(sarama.KError(p.ErrorCode))
				if p.ErrorMessage != nil && *p.ErrorMessage != "" {
					text = *p.ErrorMessage
				}
				failed[topicPartition{t.Topic, p.Partition}] = errors.New(text)
			}
		}
		return sarama.ErrNoError, nil
	})
	if err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	lines := []string{header}
	for _, tp := range sortedTPs(failed) {
		lines = append(lines, fmt.Sprintf("%s: %s", tp, failed[tp]))
	}
	return errors.New(strings.Join(lines, "\n"))
}
