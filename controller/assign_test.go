package controller

import (
	"errors"
	"reflect"
	"testing"
)

func brokersNoRack(ids ...int32) []BrokerRack {
	out := make([]BrokerRack, len(ids))
	for i, id := range ids {
		out[i] = BrokerRack{ID: id}
	}
	return out
}

// Kafka's AdminRackAwareTest/AssignmentTest style: with a fixed start index the layout is deterministic.
func TestAssignReplicas_RackUnawareFixedStartMatchesKafka(t *testing.T) {
	// Kafka's AdminTest.testReplicaAssignment: brokers 0..4, 10 partitions, rf 3, fixedStartIndex 0.
	want := map[int32][]int32{
		0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
		5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2},
	}
	got, err := AssignReplicas(brokersNoRack(0, 1, 2, 3, 4), 10, 3, AssignOptions{FixedStartIndex: 0, StartPartitionID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

func TestAssignReplicas_EveryPartitionHasDistinctReplicas(t *testing.T) {
	for _, rf := range []int16{1, 2, 3} {
		got, err := AssignReplicas(brokersNoRack(3, 1, 2), 12, rf, NewTopicAssignOptions())
		if err != nil {
			t.Fatal(err)
		}
		leaders := map[int32]int{}
		for p := int32(0); p < 12; p++ {
			rs := got[p]
			if len(rs) != int(rf) {
				t.Fatalf("rf %d: partition %d has %v", rf, p, rs)
			}
			seen := map[int32]bool{}
			for _, r := range rs {
				if seen[r] {
					t.Fatalf("rf %d: duplicate replica in %v", rf, rs)
				}
				seen[r] = true
			}
			leaders[rs[0]]++
		}
		for id, n := range leaders { // leaders spread evenly: 12 partitions over 3 brokers
			if n != 4 {
				t.Fatalf("rf %d: broker %d leads %d partitions, want 4 (%v)", rf, id, n, got)
			}
		}
	}
}

func TestAssignReplicas_RackAlternatedListMatchesKafka(t *testing.T) {
	// Kafka's example: racks r1:{0,5} r2:{3,4} r3:{1,2} -> 0,3,1,5,4,2
	bs := []BrokerRack{{0, "r1"}, {1, "r3"}, {2, "r3"}, {3, "r2"}, {4, "r2"}, {5, "r1"}}
	var got []int32
	for _, b := range rackAlternated(bs) {
		got = append(got, b.ID)
	}
	if want := []int32{0, 3, 1, 5, 4, 2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestAssignReplicas_RackAwareSpreadsReplicasAcrossRacks(t *testing.T) {
	bs := []BrokerRack{{0, "r1"}, {1, "r3"}, {2, "r3"}, {3, "r2"}, {4, "r2"}, {5, "r1"}}
	rack := map[int32]string{}
	for _, b := range bs {
		rack[b.ID] = b.Rack
	}
	got, err := AssignReplicas(bs, 12, 3, NewTopicAssignOptions())
	if err != nil {
		t.Fatal(err)
	}
	for p, rs := range got {
		racks := map[string]bool{}
		for _, r := range rs {
			racks[rack[r]] = true
		}
		if len(racks) != 3 {
			t.Fatalf("partition %d replicas %v use racks %v, want 3 distinct", p, rs, racks)
		}
	}
}

func TestAssignReplicas_RejectsBadInput(t *testing.T) {
	cases := []struct {
		name    string
		brokers []BrokerRack
		parts   int32
		rf      int16
		want    error
	}{
		{"zero partitions", brokersNoRack(1), 0, 1, ErrInvalidPartitions},
		{"zero rf", brokersNoRack(1), 1, 0, ErrInvalidReplicationFactor},
		{"rf above brokers", brokersNoRack(1, 2), 1, 3, ErrInvalidReplicationFactor},
		{"some racks missing", []BrokerRack{{1, "a"}, {2, ""}}, 1, 1, ErrInconsistentRacks},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := AssignReplicas(c.brokers, c.parts, c.rf, NewTopicAssignOptions()); !errors.Is(err, c.want) {
				t.Fatalf("got %v want %v", err, c.want)
			}
		})
	}
}

func TestAssignReplicas_AddPartitionsContinueFromPartitionCount(t *testing.T) {
	bs := brokersNoRack(1, 2, 3)
	start := AddPartitionsStartIndex(bs, 2)
	if start != 1 {
		t.Fatalf("start index %d want 1", start)
	}
	got, err := AssignReplicas(bs, 2, 1, AssignOptions{FixedStartIndex: start, StartPartitionID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[3]; !ok || len(got) != 2 {
		t.Fatalf("new partitions should be 3 and 4: %v", got)
	}
}
