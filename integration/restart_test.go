//go:build integration

package integration

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
)

// A broker restarted with the same id and log.dirs keeps every acknowledged record, after a clean shutdown
// (SIGTERM: clean-shutdown marker, no recovery) and after a crash (SIGKILL: log recovery from the recovery
// point; the page cache survives, so nothing acknowledged is lost). New records continue at the old log end.
func TestRestartedBrokerKeepsItsData(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	for _, variant := range []struct {
		name string
		down func(c *Cluster, id int32)
	}{
		{"SIGTERM", (*Cluster).Stop},
		{"SIGKILL", (*Cluster).Kill},
	} {
		t.Run(variant.name, func(t *testing.T) {
			c := c.For(t)
			const victim = 2
			topic := "restart-" + variant.name
			// Every partition on the victim, so everything read afterwards came back from its disk.
			c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
				ReplicaAssignment: map[int32][]int32{0: {victim}, 1: {victim}}})
			want := produceSync(t, c, topic, 0, 200)

			variant.down(c, victim)
			c.Start(victim)
			c.WaitForLeaders(topic, 2)

			checkReadBack(t, c, topic, 2, want, true)
			// Offsets continue where the log ended before the restart.
			more := produceSync(t, c, topic, 200, 20)
			next := map[int32]int64{}
			for _, s := range want {
				next[s.partition] = s.offset + 1
			}
			for _, s := range more {
				if s.offset != next[s.partition] {
					t.Fatalf("after restart %q got offset %d in partition %d, want %d", s.value, s.offset, s.partition, next[s.partition])
				}
				next[s.partition]++
			}
			checkReadBack(t, c, topic, 2, append(want, more...), true)
		})
	}
}

// produceSync sends records from..from+n-1 with keys through one SyncProducer batch and returns them in send order.
func produceSync(t *testing.T, c *Cluster, topic string, from, n int) []sent {
	t.Helper()
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), c.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(keyFor(from + i)),
			Value: sarama.StringEncoder(fmt.Sprintf("%s-%04d", topic, from+i))}
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	out := make([]sent, n)
	for i, m := range msgs {
		out[i] = sent{keyFor(from + i), string(m.Value.(sarama.StringEncoder)), m.Partition, m.Offset}
	}
	return out
}
