//go:build integration

package integration

import (
	"testing"

	"github.com/IBM/sarama"
)

// DescribeProducers (KIP-664, v0 in Kafka 2.8) is answered by the partition leader from its producer state:
// after one idempotent send the producer is listed with its epoch and the sequence it used; a follower
// answers NOT_LEADER_OR_FOLLOWER.
func TestDescribeProducersListsTheIdempotentProducer(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 2})
	const topic = "described"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 2})
	cfg := c.SaramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	client, err := sarama.NewClient(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x")}); err != nil {
		t.Fatal(err)
	}
	req := &sarama.DescribeProducersRequest{Topics: []sarama.DescribeProducersRequestTopic{{Name: topic, PartitionIndexes: []int32{0}}}}
	leader, err := client.Leader(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.DescribeProducers(req)
	if err != nil {
		t.Fatal(err)
	}
	p := res.Topics[0].Partitions[0]
	if p.ErrorCode != sarama.ErrNoError || len(p.ActiveProducers) != 1 {
		t.Fatalf("leader answered %v with %d producers", p.ErrorCode, len(p.ActiveProducers))
	}
	if ap := p.ActiveProducers[0]; ap.ProducerID < 0 || ap.ProducerEpoch != 0 || ap.LastSequence != 0 || ap.CurrentTxnStartOffset != -1 {
		t.Fatalf("producer state %+v", ap)
	}
	for _, b := range client.Brokers() {
		if b.ID() == leader.ID() {
			continue
		}
		if err := b.Open(cfg); err != nil && err != sarama.ErrAlreadyConnected {
			t.Fatal(err)
		}
		res, err := b.DescribeProducers(req)
		if err != nil {
			t.Fatal(err)
		}
		if code := res.Topics[0].Partitions[0].ErrorCode; code != sarama.ErrNotLeaderForPartition {
			t.Fatalf("follower answered %v", code)
		}
	}
}
