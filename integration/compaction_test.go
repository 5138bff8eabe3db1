//go:build integration

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A compacted topic keeps the latest value per key (Kafka's LogCleaner): after many updates per key and a
// cleaner pass, a consumer reading from the beginning sees, for every key, only its latest value among the
// cleaned segments, in offset order, with the original offsets — and the latest value of every key is there.
func TestCompactedTopicKeepsLatestValuePerKey(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1, Overrides: map[string]string{
		"log.cleaner.backoff.ms": "200",
	}})
	const topic, keys, rounds = "compacted", 10, 60
	cleanup, dirty, segment := "compact", "0.01", "4096"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{
		"cleanup.policy": &cleanup, "min.cleanable.dirty.ratio": &dirty, "segment.bytes": &segment,
	}})

	cfg := c.SaramaConfig()
	cfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	latest := map[string]string{}  // key -> latest value
	offsetOf := map[string]int64{} // value -> offset it was written at
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			key, val := fmt.Sprintf("key-%d", k), fmt.Sprintf("value-%d-%03d", k, r)
			_, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key),
				Value: sarama.StringEncoder(val)})
			if err != nil {
				t.Fatal(err)
			}
			latest[key], offsetOf[val] = val, off
		}
	}
	total := keys * rounds

	// The cleaner runs in the background: poll until the log shrank well below what was written.
	var got []*sarama.ConsumerMessage
	eventually(t, 60*time.Second, func() error {
		got = consumeAll(t, c, topic)
		if len(got) > total/2 {
			return fmt.Errorf("%d of %d records still there: not compacted yet", len(got), total)
		}
		return nil
	})

	seen := map[string]string{}
	prev := int64(-1)
	for _, m := range got {
		if m.Offset <= prev {
			t.Fatalf("offsets not increasing: %d after %d", m.Offset, prev)
		}
		prev = m.Offset
		if want := offsetOf[string(m.Value)]; want != m.Offset {
			t.Fatalf("value %s read at offset %d, written at %d: offsets must be preserved", m.Value, m.Offset, want)
		}
		seen[string(m.Key)] = string(m.Value)
	}
	for k, v := range latest {
		if seen[k] != v {
			t.Fatalf("key %s: last value read %q, latest written %q", k, seen[k], v)
		}
	}
	t.Logf("compacted %d records to %d", total, len(got))
}

// consumeAll reads partition 0 of topic from the beginning to its high watermark.
func consumeAll(t *testing.T, c *Cluster, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	client := c.Client()
	defer client.Close()
	hw, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.After(20 * time.Second)
	for {
		if len(out) > 0 && out[len(out)-1].Offset >= hw-1 {
			return out
		}
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatal(err)
		case <-timeout:
			t.Fatalf("read %d records, never reached the high watermark %d", len(out), hw)
		}
	}
}
