package main

// samsa topics --describe: Kafka 2.8's TopicCommand.describeTopic (AdminClient path), plus what Samsa adds for
// issue 4's visibility: each partition's high watermark and every replica's log end offset, read from the
// brokers themselves rather than from metadata.
//
//	Topic: T\tTopicId: ...\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,...
//	\tTopic: T\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2\tHW: 120\tLEO: 1=120,2=120,3=118 (under-replicated)
//
// Up to "Isr:" (and, for a partition being reassigned, "\tAdding Replicas: ..\tRemoving Replicas: ..") a line is
// Kafka's, byte for byte; "\tHW: ..\tLEO: .." and the flags are Samsa's. Where the offsets
// come from (reference 08 §6, ListOffsets "latest"):
//
//	HW     the leader's answer for replica id -1 (a consumer): only the leader answers, with the high watermark
//	LEO    each replica's own answer for replica id -2 (Kafka's DebuggingConsumerId): any replica answers,
//	       leader or follower, with its local log end offset (fetchOnlyFromLeader=false, isolation log end)
//
// One ListOffsets per broker and replica id carries every partition that broker is asked about; the brokers
// are asked in parallel. A value nobody could give (broker not alive in metadata, unreachable, or answering
// with an error such as OFFSET_NOT_AVAILABLE right after an election) prints as "?".
//
// Flags: " (under-replicated)" when the ISR is smaller than the replication factor (TopicCommand's
// isUnderReplicated: replicas being added by a reassignment do not count), " (offline)" when the leader is -1 or not among the live brokers (hasUnavailablePartitions).
// --under-replicated-partitions and --unavailable-partitions print only the matching partition lines and no
// topic headers, and exclude each other, as in Kafka 2.8.

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// ListOffsets values (ListOffsetsRequest.LATEST_TIMESTAMP, CONSUMER_REPLICA_ID, DEBUGGING_REPLICA_ID).
const (
	latestTimestamp    = -1
	consumerReplicaID  = -1
	debuggingReplicaID = -2
)

// offsetsTimeout bounds each ListOffsets exchange: a frozen broker that is still registered must cost a "?",
// not the 30 s of Sarama's default read timeout.
const offsetsTimeout = 10 * time.Second

// describeReport holds Kafka's report options; the zero value describes everything, headers included.
type describeReport struct {
	underReplicated bool // --under-replicated-partitions
	unavailable     bool // --unavailable-partitions
}

func addReportFlags(fs *flag.FlagSet) *describeReport {
	r := &describeReport{}
	fs.BoolVar(&r.underReplicated, "under-replicated-partitions", false,
		"with --describe: only show partitions whose ISR is smaller than their replica set")
	fs.BoolVar(&r.unavailable, "unavailable-partitions", false,
		"with --describe: only show partitions whose leader is not available")
	return r
}

// check applies TopicCommandOptions.checkArgs: report options go with --describe only, one at a time.
func (r describeReport) check(action string) error {
	switch {
	case r.any() && action != "describe":
		name := "under-replicated-partitions"
		if r.unavailable {
			name = "unavailable-partitions"
		}
		return fmt.Errorf("option --%s can only be used with --describe", name)
	case r.underReplicated && r.unavailable:
		return fmt.Errorf("option --under-replicated-partitions cannot be used with --unavailable-partitions")
	}
	return nil
}

func (r describeReport) any() bool { return r.underReplicated || r.unavailable }

// partitionState is one partition as --describe judges it.
type partitionState struct {
	topic string
	*sarama.PartitionMetadata
	live         map[int32]bool                              // broker ids in the Metadata answer
	reassignment *sarama.PartitionReplicaReassignmentsStatus // nil unless being reassigned
}

// replicationFactor is TopicCommand.getReplicationFactor: while a reassignment is in progress (some adding or
// removing replica still in the replica set) the factor is the replicas minus the ones being added.
func (p partitionState) replicationFactor() int {
	ra := p.reassignment
	if ra == nil {
		return len(p.Replicas)
	}
	inProgress := false
	for _, r := range p.Replicas {
		if slices.Contains(ra.AddingReplicas, r) || slices.Contains(ra.RemovingReplicas, r) {
			inProgress = true
		}
	}
	if !inProgress {
		return len(p.Replicas)
	}
	n := 0
	for _, r := range ra.Replicas {
		if !slices.Contains(ra.AddingReplicas, r) {
			n++
		}
	}
	return n
}

func (p partitionState) underReplicated() bool { return len(p.Isr) < p.replicationFactor() }

func (p partitionState) offline() bool { return p.Leader < 0 || !p.live[p.Leader] }

// selects reports whether the partition's line is printed under this report (DescribeOptions.shouldPrintTopicPartition).
func (r describeReport) selects(p partitionState) bool {
	return !r.any() || (r.underReplicated && p.underReplicated()) || (r.unavailable && p.offline())
}

func (o topicsOptions) describe(admin sarama.ClusterAdmin, stdout, stderr io.Writer) error {
	ts, err := o.topics(admin)
	if err != nil || len(ts) == 0 {
		return err
	}
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return err
	}
	live := map[int32]bool{}
	addrs := map[int32]string{}
	for _, b := range brokers {
		live[b.ID()] = true
		addrs[b.ID()] = b.Addr()
	}
	var configs map[string]map[string]string
	if !o.report.any() {
		configs = describeConfigs(admin, ts, stderr)
	}
	reassigning := listReassignments(admin, ts, stderr)
	selected := map[string][]partitionState{}
	var all []partitionState
	for _, t := range ts {
		for _, p := range sortedPartitions(t) {
			ps := partitionState{topic: t.Name, PartitionMetadata: p, live: live, reassignment: reassigning[t.Name][p.ID]}
			if o.report.selects(ps) {
				selected[t.Name] = append(selected[t.Name], ps)
				all = append(all, ps)
			}
		}
	}
	cfg := toolConfig("samsa-topics")
	cfg.Net.ReadTimeout = offsetsTimeout
	offs := gatherOffsets(all, func(id, replicaID int32, parts []partitionKey) (map[partitionKey]int64, error) {
		return saramaListOffsets(addrs[id], cfg, replicaID, parts)
	})
	var b strings.Builder
	for _, t := range ts {
		if !o.report.any() {
			writeTopicHeader(&b, t, configs[t.Name], reassigning[t.Name])
		}
		for _, p := range selected[t.Name] {
			writePartitionLine(&b, p, offs)
		}
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// listReassignments asks the controller which of the topics' partitions are being reassigned
// (ListPartitionReassignments, as TopicCommand does). A failure is a warning and shows no reassignments.
func listReassignments(admin sarama.ClusterAdmin, ts []*sarama.TopicMetadata, stderr io.Writer) map[string]map[int32]*sarama.PartitionReplicaReassignmentsStatus {
	out := map[string]map[int32]*sarama.PartitionReplicaReassignmentsStatus{}
	for _, t := range ts {
		ids := make([]int32, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		st, err := admin.ListPartitionReassignments(t.Name, ids)
		if err != nil {
			fmt.Fprintf(stderr, "WARNING: could not list reassignments of %s (%v)\n", t.Name, err)
			continue
		}
		out[t.Name] = st[t.Name]
	}
	return out
}

// describeConfigs returns each topic's non-default configs (TopicDescription's Configs). A failure is a
// warning: the partition lines matter more than the configs.
func describeConfigs(admin sarama.ClusterAdmin, ts []*sarama.TopicMetadata, stderr io.Writer) map[string]map[string]string {
	configs := map[string]map[string]string{}
	resources := make([]*sarama.ConfigResource, len(ts))
	for i, t := range ts {
		resources[i] = &sarama.ConfigResource{Type: sarama.TopicResource, Name: t.Name}
	}
	results, err := admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "WARNING: could not describe topic configs (%v); Configs left empty\n", err)
	}
	for _, r := range results {
		m := map[string]string{}
		for _, e := range r.Configs {
			if !e.Default {
				m[e.Name] = e.Value
			}
		}
		configs[r.Name] = m
	}
	return configs
}

func sortedPartitions(t *sarama.TopicMetadata) []*sarama.PartitionMetadata {
	parts := append([]*sarama.PartitionMetadata(nil), t.Partitions...)
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	return parts
}

// partitionKey names a partition; replicaKey one replica of it (the broker holding that copy).
type partitionKey struct {
	topic     string
	partition int32
}

type replicaKey struct {
	partitionKey
	broker int32
}

// offsets is what the brokers answered; a missing entry is unknown and prints as "?".
type offsets struct {
	hw  map[partitionKey]int64 // from the leader, replica id -1
	leo map[replicaKey]int64   // from each replica's broker, replica id -2
}

// listOffsetsFunc sends one ListOffsets "latest" for parts with replicaID to broker id and returns the offset
// of every partition answered without error.
type listOffsetsFunc func(id, replicaID int32, parts []partitionKey) (map[partitionKey]int64, error)

// gatherOffsets asks every live broker, in parallel, for the LEO of the replicas it holds and, where it leads,
// the HW. A broker that fails leaves its values unknown; nothing else is affected.
func gatherOffsets(parts []partitionState, list listOffsetsFunc) offsets {
	type ask struct{ leo, hw []partitionKey }
	asks := map[int32]*ask{}
	askOf := func(id int32) *ask {
		if asks[id] == nil {
			asks[id] = &ask{}
		}
		return asks[id]
	}
	for _, p := range parts {
		k := partitionKey{p.topic, p.ID}
		for _, r := range p.Replicas {
			if p.live[r] {
				askOf(r).leo = append(askOf(r).leo, k)
			}
		}
		if !p.offline() {
			askOf(p.Leader).hw = append(askOf(p.Leader).hw, k)
		}
	}
	out := offsets{hw: map[partitionKey]int64{}, leo: map[replicaKey]int64{}}
	var mu sync.Mutex // guards out
	var wg sync.WaitGroup
	for id, a := range asks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var leo, hw map[partitionKey]int64
			if len(a.leo) > 0 {
				leo, _ = list(id, debuggingReplicaID, a.leo) // an error means "?" for each, nothing more
			}
			if len(a.hw) > 0 {
				hw, _ = list(id, consumerReplicaID, a.hw)
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range leo {
				out.leo[replicaKey{k, id}] = v
			}
			for k, v := range hw {
				out.hw[k] = v
			}
		}()
	}
	wg.Wait()
	return out
}

// saramaListOffsets is a listOffsetsFunc over one fresh Sarama connection to addr (ListOffsets v6 at
// V2_8_0_0). The connection is the tool's own, not the admin client's: each broker is asked directly.
func saramaListOffsets(addr string, cfg *sarama.Config, replicaID int32, parts []partitionKey) (map[partitionKey]int64, error) {
	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return nil, err
	}
	defer b.Close()
	req := sarama.NewOffsetRequest(cfg.Version)
	if replicaID != consumerReplicaID { // Sarama sends -1 unless told otherwise
		req.SetReplicaID(replicaID)
	}
	for _, k := range parts {
		req.AddBlock(k.topic, k.partition, latestTimestamp, 1)
	}
	resp, err := b.GetAvailableOffsets(req)
	if err != nil {
		return nil, err
	}
	out := map[partitionKey]int64{}
	for _, k := range parts {
		if blk := resp.GetBlock(k.topic, k.partition); blk != nil && blk.Err == sarama.ErrNoError {
			out[k] = blk.Offset
		}
	}
	return out, nil
}

// writeTopicHeader prints Kafka 2.8's TopicDescription line.
// The replication factor is the first partition's, discounting replicas being added (getReplicationFactor).
func writeTopicHeader(b *strings.Builder, t *sarama.TopicMetadata, configs map[string]string, reassigning map[int32]*sarama.PartitionReplicaReassignmentsStatus) {
	rf := 0
	if parts := sortedPartitions(t); len(parts) > 0 {
		rf = partitionState{PartitionMetadata: parts[0], reassignment: reassigning[parts[0].ID]}.replicationFactor()
	}
	var cfg []string
	for _, k := range sortedKeys(configs) {
		cfg = append(cfg, k+"="+configs[k])
	}
	b.WriteString("Topic: " + t.Name)
	if t.Uuid != (sarama.Uuid{}) {
		b.WriteString("\tTopicId: " + t.Uuid.String())
	}
	fmt.Fprintf(b, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n", len(t.Partitions), rf, strings.Join(cfg, ","))
}

// writePartitionLine prints Kafka 2.8's PartitionDescription line, then Samsa's HW, LEO and flags.
func writePartitionLine(b *strings.Builder, p partitionState, offs offsets) {
	leader := "none"
	if p.Leader >= 0 {
		leader = strconv.Itoa(int(p.Leader))
	}
	k := partitionKey{p.topic, p.ID}
	fmt.Fprintf(b, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
		p.topic, p.ID, leader, joinIDs(p.Replicas), joinIDs(p.Isr))
	if ra := p.reassignment; ra != nil {
		fmt.Fprintf(b, "\tAdding Replicas: %s\tRemoving Replicas: %s", joinIDs(ra.AddingReplicas), joinIDs(ra.RemovingReplicas))
	}
	fmt.Fprintf(b, "\tHW: %s\tLEO: ", known(offs.hw, k))
	for i, r := range p.Replicas {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%d=%s", r, known(offs.leo, replicaKey{k, r}))
	}
	if p.underReplicated() {
		b.WriteString(" (under-replicated)")
	}
	if p.offline() {
		b.WriteString(" (offline)")
	}
	b.WriteByte('\n')
}

// known prints m[k], or "?" when no broker answered for k.
func known[K comparable](m map[K]int64, k K) string {
	if v, ok := m[k]; ok {
		return strconv.FormatInt(v, 10)
	}
	return "?"
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
