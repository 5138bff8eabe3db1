package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/IBM/sarama"
)

// kafka-topics --describe prints TopicDescription; Kafka omits TopicId when the broker has none (all zero).
func TestTopicHeaderMatchesKafkaTopicsLayout(t *testing.T) {
	md := &sarama.TopicMetadata{Name: "orders", Uuid: sarama.Uuid{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Partitions: []*sarama.PartitionMetadata{
			{ID: 1, Leader: -1, Replicas: []int32{2, 3}},
			{ID: 0, Leader: 1, Replicas: []int32{1, 2}, Isr: []int32{1, 2}},
		}}
	var b strings.Builder
	writeTopicHeader(&b, md, map[string]string{"retention.ms": "100", "cleanup.policy": "compact"}, nil)
	want := "Topic: orders\tTopicId: AQIDBAUGBwgJCgsMDQ4PEA\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: cleanup.policy=compact,retention.ms=100\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	writeTopicHeader(&b, &sarama.TopicMetadata{Name: "old"}, nil, nil)
	if got := b.String(); got != "Topic: old\tPartitionCount: 0\tReplicationFactor: 0\tConfigs: \n" {
		t.Fatalf("got %q", got)
	}
}

// The partition line is Kafka's PartitionDescription up to Isr, then HW, every replica's LEO in replica order
// ("?" when unknown) and the flags.
func TestPartitionLineAddsHighWatermarkLogEndOffsetsAndFlags(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true}
	k := partitionKey{"orders", 0}
	full := offsets{
		hw:  map[partitionKey]int64{k: 120},
		leo: map[replicaKey]int64{{k, 1}: 120, {k, 2}: 120, {k, 3}: 118},
	}
	cases := []struct {
		name string
		p    sarama.PartitionMetadata
		offs offsets
		want string
	}{
		{"in sync", sarama.PartitionMetadata{Leader: 1, Replicas: []int32{1, 2, 3}, Isr: []int32{1, 2, 3}}, full,
			"\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tHW: 120\tLEO: 1=120,2=120,3=118\n"},
		{"ISR smaller than replicas is under-replicated", sarama.PartitionMetadata{Leader: 1, Replicas: []int32{1, 2, 3}, Isr: []int32{1, 2}}, full,
			"\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2\tHW: 120\tLEO: 1=120,2=120,3=118 (under-replicated)\n"},
		{"replica order is kept, unanswered replicas are ?", sarama.PartitionMetadata{Leader: 3, Replicas: []int32{3, 4, 1}, Isr: []int32{3, 4, 1}},
			offsets{leo: map[replicaKey]int64{{k, 3}: 7}},
			"\tTopic: orders\tPartition: 0\tLeader: 3\tReplicas: 3,4,1\tIsr: 3,4,1\tHW: ?\tLEO: 3=7,4=?,1=?\n"},
		{"no leader is offline", sarama.PartitionMetadata{Leader: -1, Replicas: []int32{2}, Isr: []int32{2}}, offsets{},
			"\tTopic: orders\tPartition: 0\tLeader: none\tReplicas: 2\tIsr: 2\tHW: ?\tLEO: 2=? (offline)\n"},
		{"leader not among live brokers is offline", sarama.PartitionMetadata{Leader: 9, Replicas: []int32{9, 1}, Isr: []int32{9}}, offsets{},
			"\tTopic: orders\tPartition: 0\tLeader: 9\tReplicas: 9,1\tIsr: 9\tHW: ?\tLEO: 9=?,1=? (under-replicated) (offline)\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			writePartitionLine(&b, partitionState{topic: "orders", PartitionMetadata: &c.p, live: live}, c.offs)
			if b.String() != c.want {
				t.Fatalf("got\n%q\nwant\n%q", b.String(), c.want)
			}
		})
	}
}

// A partition being reassigned prints Kafka 2.8's "Adding Replicas" and "Removing Replicas" after Isr, and its
// replication factor (header and under-replication) leaves out the replicas being added
// (TopicCommand.getReplicationFactor): moving [1,2] to [2,3] with ISR [1,2] is not under-replicated.
func TestPartitionLineShowsReassignmentAsKafkaDoes(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true}
	ra := &sarama.PartitionReplicaReassignmentsStatus{Replicas: []int32{2, 3, 1}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}
	p := sarama.PartitionMetadata{ID: 0, Leader: 2, Replicas: []int32{2, 3, 1}, Isr: []int32{1, 2}}
	var b strings.Builder
	writePartitionLine(&b, partitionState{topic: "orders", PartitionMetadata: &p, live: live, reassignment: ra}, offsets{})
	want := "\tTopic: orders\tPartition: 0\tLeader: 2\tReplicas: 2,3,1\tIsr: 1,2\tAdding Replicas: 3\tRemoving Replicas: 1\tHW: ?\tLEO: 2=?,3=?,1=?\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	writeTopicHeader(&b, &sarama.TopicMetadata{Name: "orders", Partitions: []*sarama.PartitionMetadata{&p}}, nil,
		map[int32]*sarama.PartitionReplicaReassignmentsStatus{0: ra})
	if got := b.String(); !strings.Contains(got, "\tReplicationFactor: 2\t") {
		t.Fatalf("header %q: replication factor should leave out the adding replica", got)
	}
	// Finished between the two reads: no adding/removing replica left in the set, the full set counts.
	done := sarama.PartitionMetadata{ID: 0, Leader: 2, Replicas: []int32{2, 3}, Isr: []int32{2}}
	ps := partitionState{topic: "orders", PartitionMetadata: &done, live: live,
		reassignment: &sarama.PartitionReplicaReassignmentsStatus{Replicas: []int32{2, 3, 1}, AddingReplicas: []int32{}, RemovingReplicas: []int32{1}}}
	if ps.replicationFactor() != 2 || !ps.underReplicated() {
		t.Fatalf("finished reassignment: factor %d, under-replicated %v", ps.replicationFactor(), ps.underReplicated())
	}
}

// DescribeOptions.shouldPrintTopicPartition: no report prints all; each report prints only its partitions.
func TestReportOptionsSelectPartitionsAsKafkaDoes(t *testing.T) {
	live := map[int32]bool{1: true, 2: true}
	state := func(leader int32, isr ...int32) partitionState {
		return partitionState{topic: "t", PartitionMetadata: &sarama.PartitionMetadata{Leader: leader, Replicas: []int32{1, 2}, Isr: isr}, live: live}
	}
	healthy, under, noLeader, deadLeader := state(1, 1, 2), state(1, 1), state(-1, 1, 2), state(3, 1, 2)
	cases := []struct {
		name   string
		report describeReport
		want   []bool // healthy, under, noLeader, deadLeader
	}{
		{"describe", describeReport{}, []bool{true, true, true, true}},
		{"under-replicated-partitions", describeReport{underReplicated: true}, []bool{false, true, false, false}},
		{"unavailable-partitions", describeReport{unavailable: true}, []bool{false, false, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []bool
			for _, p := range []partitionState{healthy, under, noLeader, deadLeader} {
				got = append(got, c.report.selects(p))
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TopicCommandOptions.checkArgs: the report options go with --describe, and only one at a time.
func TestReportOptionsArgs(t *testing.T) {
	cases := []struct {
		args    string
		want    describeReport
		wantErr string
	}{
		{args: "--describe --under-replicated-partitions", want: describeReport{underReplicated: true}},
		{args: "--describe --topic t --unavailable-partitions", want: describeReport{unavailable: true}},
		{args: "--list --under-replicated-partitions", wantErr: "--under-replicated-partitions can only be used with --describe"},
		{args: "--delete --topic t --unavailable-partitions", wantErr: "--unavailable-partitions can only be used with --describe"},
		{args: "--describe --under-replicated-partitions --unavailable-partitions", wantErr: "cannot be used with --unavailable-partitions"},
	}
	for _, c := range cases {
		t.Run(c.args, func(t *testing.T) {
			o, err := parseTopicsArgs(strings.Fields("--bootstrap-server a:1 "+c.args), io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil || o.report != c.want {
				t.Fatalf("%+v, %v", o.report, err)
			}
		})
	}
}

// fakeBrokers answers listOffsetsFunc calls like Samsa brokers would: replica id -2 gets the broker's own LEO
// of any replica it holds; -1 gets the HW, from the leader only. It records every call.
type fakeBrokers struct {
	leo, hw map[replicaKey]int64 // what each broker would answer
	down    map[int32]bool

	mu    sync.Mutex
	calls []string // "broker/replicaID/n partitions"
}

func (f *fakeBrokers) list(id, replicaID int32, parts []partitionKey) (map[partitionKey]int64, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%d/%d/%d", id, replicaID, len(parts)))
	f.mu.Unlock()
	if f.down[id] {
		return nil, errors.New("connection refused")
	}
	src := f.hw
	if replicaID == debuggingReplicaID {
		src = f.leo
	}
	out := map[partitionKey]int64{}
	for _, k := range parts {
		if v, ok := src[replicaKey{k, id}]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// Each replica's LEO comes from its own broker with replica id -2 (any replica answers, reference 08 §6), the
// HW from the leader with replica id -1; a broker not alive in metadata is not asked, and one that fails
// leaves only its own values unknown. One request per broker and replica id.
func TestGatherOffsetsAsksEachReplicaForItsLogEndAndTheLeaderForTheHighWatermark(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true}
	a0, a1, b0 := partitionKey{"a", 0}, partitionKey{"a", 1}, partitionKey{"b", 0}
	parts := []partitionState{
		{topic: "a", PartitionMetadata: &sarama.PartitionMetadata{ID: 0, Leader: 1, Replicas: []int32{1, 2, 3}, Isr: []int32{1, 2}}, live: live},
		{topic: "a", PartitionMetadata: &sarama.PartitionMetadata{ID: 1, Leader: 2, Replicas: []int32{2, 4}, Isr: []int32{2}}, live: live},
		{topic: "b", PartitionMetadata: &sarama.PartitionMetadata{ID: 0, Leader: -1, Replicas: []int32{3}, Isr: []int32{3}}, live: live},
	}
	f := &fakeBrokers{
		leo:  map[replicaKey]int64{{a0, 1}: 10, {a0, 2}: 10, {a0, 3}: 8, {a1, 2}: 5, {b0, 3}: 4},
		hw:   map[replicaKey]int64{{a0, 1}: 9, {a1, 2}: 5, {a0, 2}: 99 /* not the leader: must not be used */},
		down: map[int32]bool{3: true},
	}
	got := gatherOffsets(parts, f.list)
	wantHW := map[partitionKey]int64{a0: 9, a1: 5}
	wantLEO := map[replicaKey]int64{{a0, 1}: 10, {a0, 2}: 10, {a1, 2}: 5} // broker 3 down, broker 4 not alive
	if !maps.Equal(got.hw, wantHW) || !maps.Equal(got.leo, wantLEO) {
		t.Fatalf("hw %v leo %v; want hw %v leo %v", got.hw, got.leo, wantHW, wantLEO)
	}
	slices.Sort(f.calls)
	if want := []string{"1/-1/1", "1/-2/1", "2/-1/1", "2/-2/2", "3/-2/2"}; !slices.Equal(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
}
