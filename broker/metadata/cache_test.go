package metadata

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func updateV7(controllerEpoch int32, brokers []int32, topic string, parts ...kmsg.UpdateMetadataRequestTopicPartition) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = 7
	req.ControllerID = 1
	req.ControllerEpoch = controllerEpoch
	for _, id := range brokers {
		lb := kmsg.NewUpdateMetadataRequestLiveBroker()
		lb.ID = id
		lb.Endpoints = []kmsg.UpdateMetadataRequestLiveBrokerEndpoint{{Port: 9090 + id, Host: "127.0.0.1", ListenerName: "PLAINTEXT"}}
		req.LiveBrokers = append(req.LiveBrokers, lb)
	}
	if topic != "" {
		req.TopicStates = []kmsg.UpdateMetadataRequestTopicState{{Topic: topic, PartitionStates: parts}}
	}
	return req
}

func part(p, leader int32) kmsg.UpdateMetadataRequestTopicPartition {
	return kmsg.UpdateMetadataRequestTopicPartition{Partition: p, Leader: leader, LeaderEpoch: 1, ISR: []int32{leader}, Replicas: []int32{leader}}
}

func TestCache_UpsertsPartitionsAndReplacesBrokers(t *testing.T) {
	c := NewCache(1)
	if _, err := c.Update(updateV7(1, []int32{1, 2, 3}, "t", part(0, 1), part(1, 2))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(updateV7(1, []int32{1, 3}, "t", part(1, 3))); err != nil {
		t.Fatal(err)
	}
	s := c.Snapshot()
	if len(s.Brokers) != 2 || s.Brokers[1].ID != 3 {
		t.Fatalf("brokers not replaced: %+v", s.Brokers)
	}
	tp := s.Topics["t"]
	if p0, _ := tp.Partition(0); p0.Leader != 1 {
		t.Fatalf("partition 0 lost: %+v", tp)
	}
	if p1, _ := tp.Partition(1); p1.Leader != 3 {
		t.Fatalf("partition 1 not updated: %+v", tp)
	}
	if e, ok := s.Brokers[1].Endpoint("PLAINTEXT"); !ok || e.Port != 9093 {
		t.Fatalf("endpoint: %+v", s.Brokers[1])
	}
}

func TestCache_LeaderDuringDeleteRemovesPartitionsAndTopic(t *testing.T) {
	c := NewCache(1)
	_, _ = c.Update(updateV7(1, []int32{1}, "t", part(0, 1), part(1, 1)))
	deleted, err := c.Update(updateV7(1, []int32{1}, "t", part(0, LeaderDuringDelete), part(1, LeaderDuringDelete)))
	if err != nil {
		t.Fatal(err)
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %v", deleted)
	}
	if _, ok := c.Snapshot().Topics["t"]; ok {
		t.Fatal("topic still cached after all partitions deleted")
	}
}

func TestCache_StaleControllerEpochIsRefused(t *testing.T) {
	c := NewCache(1)
	_, _ = c.Update(updateV7(5, []int32{1}, ""))
	if _, err := c.Update(updateV7(4, []int32{1, 2}, "")); !errors.Is(err, ErrStaleControllerEpoch) {
		t.Fatalf("got %v", err)
	}
	if len(c.Snapshot().Brokers) != 1 {
		t.Fatal("stale update applied")
	}
}

func TestCache_OldSnapshotsAreImmutable(t *testing.T) {
	c := NewCache(1)
	_, _ = c.Update(updateV7(1, []int32{1}, "t", part(0, 1)))
	before := c.Snapshot()
	changed := c.Changed()
	_, _ = c.Update(updateV7(1, []int32{1}, "t", part(0, 1), part(1, 1)))
	<-changed
	if len(before.Topics["t"].Partitions) != 1 {
		t.Fatal("published snapshot was modified")
	}
	if len(c.Snapshot().Topics["t"].Partitions) != 2 {
		t.Fatal("new snapshot missing partition")
	}
}

func TestCache_V4PartitionStatesGroupedByTopic(t *testing.T) {
	c := NewCache(1)
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = 4
	req.ControllerEpoch = 1
	req.PartitionStates = []kmsg.UpdateMetadataRequestTopicPartition{{Topic: "a", Partition: 0, Leader: 1}, {Topic: "b", Partition: 0, Leader: 1}, {Topic: "a", Partition: 1, Leader: 1}}
	if _, err := c.Update(req); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Snapshot().Topics["a"].Partitions); n != 2 {
		t.Fatalf("topic a has %d partitions", n)
	}
}
