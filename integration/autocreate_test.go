//go:build integration

package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// metadataRequest asks one broker for topics with the v4+ allow_auto_topic_creation flag set as given.
func metadataRequest(t *testing.T, c *Cluster, id int32, allow bool, topics ...string) *sarama.TopicMetadata {
	t.Helper()
	cfg := c.SaramaConfig()
	b := sarama.NewBroker(c.Addr(id))
	if err := b.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	req := sarama.NewMetadataRequest(cfg.Version, topics)
	req.AllowAutoTopicCreation = allow
	md, err := b.GetMetadata(req)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if len(md.Topics) != 1 {
		t.Fatalf("metadata for %v answered %d topics", topics, len(md.Topics))
	}
	return md.Topics[0]
}

// With auto.create.topics.enable=true, a Metadata request for an unknown topic that allows auto-creation
// creates it with num.partitions and default.replication.factor (Kafka answers LEADER_NOT_AVAILABLE until
// the partitions have leaders); a request that does not allow it gets UNKNOWN_TOPIC_OR_PARTITION.
func TestMetadataAutoCreatesUnknownTopicWhenEnabled(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1, Overrides: map[string]string{
		"auto.create.topics.enable": "true", "num.partitions": "2", "default.replication.factor": "1"}})

	if tm := metadataRequest(t, c, 1, false, "auto-not-allowed"); !errors.Is(tm.Err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("request without allow_auto_topic_creation: %v, want %v", tm.Err, sarama.ErrUnknownTopicOrPartition)
	}
	if ok, err := c.ZK().Exists("/brokers/topics/auto-not-allowed"); err != nil || ok {
		t.Errorf("topic created although the request did not allow it (%v)", err)
	}

	const topic = "auto-created"
	first := metadataRequest(t, c, 1, true, topic)
	if !errors.Is(first.Err, sarama.ErrNoError) && !errors.Is(first.Err, sarama.ErrLeaderNotAvailable) {
		t.Fatalf("first metadata for %s: %v, want no error or %v", topic, first.Err, sarama.ErrLeaderNotAvailable)
	}
	eventually(t, 30*time.Second, func() error {
		tm := metadataRequest(t, c, 1, true, topic)
		if !errors.Is(tm.Err, sarama.ErrNoError) {
			return fmt.Errorf("topic error %v", tm.Err)
		}
		if len(tm.Partitions) != 2 {
			return fmt.Errorf("%d partitions, want num.partitions=2", len(tm.Partitions))
		}
		for _, p := range tm.Partitions {
			if p.Leader != 1 || len(p.Replicas) != 1 {
				return fmt.Errorf("partition %d: leader %d replicas %v", p.ID, p.Leader, p.Replicas)
			}
		}
		return nil
	})
	if ok, err := c.ZK().Exists("/brokers/topics/" + topic); err != nil || !ok {
		t.Errorf("/brokers/topics/%s missing (%v)", topic, err)
	}
	// The new topic takes records.
	if _, _, err := sendToPartition(c, &sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.StringEncoder("x")}); err != nil {
		t.Fatalf("produce to the auto-created topic: %v", err)
	}
	consumePartition(t, c, topic, 1, 1)
}

// With auto.create.topics.enable=false, Metadata for an unknown topic is UNKNOWN_TOPIC_OR_PARTITION even
// when the request allows auto-creation, and nothing appears in ZooKeeper.
func TestMetadataUnknownTopicWhenAutoCreateDisabled(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1, Overrides: map[string]string{"auto.create.topics.enable": "false"}})
	const topic = "auto-disabled"
	for i := 0; i < 2; i++ {
		if tm := metadataRequest(t, c, 1, true, topic); !errors.Is(tm.Err, sarama.ErrUnknownTopicOrPartition) {
			t.Fatalf("metadata for %s: %v, want %v", topic, tm.Err, sarama.ErrUnknownTopicOrPartition)
		}
	}
	if ok, err := c.ZK().Exists("/brokers/topics/" + topic); err != nil || ok {
		t.Fatalf("topic znode exists (%v) although auto-creation is disabled", err)
	}
	md, err := c.MetadataFrom(c.Addr(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range md.Topics {
		if tm.Name == topic {
			t.Fatalf("all-topics metadata lists %s", topic)
		}
	}
}
