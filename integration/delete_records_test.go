//go:build integration

package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// DeleteRecords and DescribeLogDirs through Sarama's ClusterAdmin as Kafka 2.8 answers them (reference 03 §10,
// Sarama's TestFuncAdminDeleteRecords and TestFuncAdminDescribeLogDirs): the leader moves its log start offset,
// answers once every alive follower reported the same log start, the new log start survives a leader failover
// and a restart of every broker (log-start-offset-checkpoint), and reads below it are out of range.
func TestDeleteRecordsMovesLogStartOnEveryReplica(t *testing.T) {
	const topic = "delete-records"
	all := []int32{1, 2, 3}
	c := StartCluster(t, Options{Brokers: 3})
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 3})
	waitFullISR(t, c.ZK(), topic, 2, all, 30*time.Second)
	produceEach(t, c, topic, 2, 10)
	admin := c.Admin()

	t.Run("BeforeOffset5", func(t *testing.T) {
		if err := admin.DeleteRecords(topic, map[int32]int64{0: 5}); err != nil {
			t.Fatalf("DeleteRecords: %v", err)
		}
		if got := drEarliest(t, c, topic, 0); got != 5 {
			t.Fatalf("earliest offset %d, want 5", got)
		}
		// The answer waited for the low watermark: every replica's log start is 5 already.
		for _, id := range all {
			if got, err := drReplicaLogStart(c, id, topic, 0); err != nil || got != 5 {
				t.Fatalf("broker %d log start %d (%v), want 5", id, got, err)
			}
		}
		// Again, straight to the leader: the low watermark is in the answer.
		part := drDeleteRecords(t, c, drLeaderOf(t, c, topic, 0), topic, 0, 5)
		if !errors.Is(part.Err, sarama.ErrNoError) || part.LowWatermark != 5 {
			t.Fatalf("repeated DeleteRecords: %v, low watermark %d", part.Err, part.LowWatermark)
		}
	})

	t.Run("ReadBelowLogStartIsOutOfRange", func(t *testing.T) {
		resp := drFetch(t, c, drLeaderOf(t, c, topic, 0), topic, 0, 2)
		if b := resp.GetBlock(topic, 0); b == nil || !errors.Is(b.Err, sarama.ErrOffsetOutOfRange) {
			t.Fatalf("fetch at 2: %+v", b)
		}
		msgs := drConsumeFrom(t, c, topic, 0, sarama.OffsetOldest, 5)
		if msgs[0].Offset != 5 || msgs[4].Offset != 9 {
			t.Fatalf("consumed offsets %d..%d, want 5..9", msgs[0].Offset, msgs[4].Offset)
		}
	})

	t.Run("HighWatermarkSentinel", func(t *testing.T) {
		if err := admin.DeleteRecords(topic, map[int32]int64{1: -1}); err != nil {
			t.Fatalf("DeleteRecords(-1): %v", err)
		}
		if got := drEarliest(t, c, topic, 1); got != 10 {
			t.Fatalf("earliest offset %d, want the high watermark 10", got)
		}
	})

	t.Run("AboveHighWatermarkIsOutOfRange", func(t *testing.T) {
		err := admin.DeleteRecords(topic, map[int32]int64{0: 11})
		if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
			t.Fatalf("DeleteRecords(11): %v, want OFFSET_OUT_OF_RANGE", err)
		}
		if got := drEarliest(t, c, topic, 0); got != 5 {
			t.Fatalf("earliest offset %d after a refused deletion", got)
		}
		part := drDeleteRecords(t, c, 1, "no-such-topic", 0, 1)
		if !errors.Is(part.Err, sarama.ErrUnknownTopicOrPartition) || part.LowWatermark != -1 {
			t.Fatalf("unknown topic: %v, low watermark %d", part.Err, part.LowWatermark)
		}
	})

	t.Run("DescribeLogDirs", func(t *testing.T) {
		dirs, err := admin.DescribeLogDirs(all)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range all {
			if len(dirs[id]) != 1 || dirs[id][0].Path != c.DataDir(id) || !errors.Is(dirs[id][0].ErrorCode, sarama.ErrNoError) {
				t.Fatalf("broker %d: log dirs %+v, want one: %s", id, dirs[id], c.DataDir(id))
			}
			sizes := map[int32]int64{}
			for _, tp := range dirs[id][0].Topics {
				if tp.Topic != topic {
					continue
				}
				for _, p := range tp.Partitions {
					if p.IsTemporary || p.OffsetLag != 0 {
						t.Errorf("broker %d partition %d: %+v", id, p.PartitionID, p)
					}
					sizes[p.PartitionID] = p.Size
				}
			}
			if len(sizes) != 2 || sizes[0] <= 0 || sizes[1] <= 0 {
				t.Fatalf("broker %d: sizes of %s's partitions %v, want 2 non-zero", id, topic, sizes)
			}
		}
	})

	t.Run("SurvivesLeaderFailoverAndRestart", func(t *testing.T) {
		c := c.For(t)
		victim := drLeaderOf(t, c, topic, 0)
		c.Kill(victim)
		c.WaitForLeaders(topic, 2)
		if got := drEarliest(t, c, topic, 0); got != 5 {
			t.Fatalf("earliest offset %d from the new leader, want 5", got)
		}
		// Every broker down at once: only log-start-offset-checkpoint can bring the offsets back (the killed
		// broker may have none and follows the leader's again).
		var rest []int32
		for _, id := range all {
			if id != victim {
				rest = append(rest, id)
				c.Stop(id)
			}
		}
		for _, id := range append(rest, victim) {
			c.Start(id)
		}
		c.WaitForLeaders(topic, 2)
		if got := drEarliest(t, c, topic, 0); got != 5 {
			t.Fatalf("earliest offset %d after restarting every broker, want 5", got)
		}
		if got := drEarliest(t, c, topic, 1); got != 10 {
			t.Fatalf("partition 1: earliest offset %d after restarting every broker, want 10", got)
		}
		eventually(t, 20*time.Second, func() error {
			for _, id := range all {
				if got, err := drReplicaLogStart(c, id, topic, 0); err != nil || got != 5 {
					return fmt.Errorf("broker %d log start %d (%v), want 5", id, got, err)
				}
			}
			return nil
		})
	})
}

// drEarliest is ListOffsets(earliest) from the partition's current leader, with a fresh client.
func drEarliest(t *testing.T, c *Cluster, topic string, partition int32) int64 {
	t.Helper()
	cl := c.Client()
	off, err := cl.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("earliest offset of %s-%d: %v", topic, partition, err)
	}
	return off
}

// drLeaderOf asks a fresh client for the partition's leader.
func drLeaderOf(t *testing.T, c *Cluster, topic string, partition int32) int32 {
	t.Helper()
	b, err := c.Client().Leader(topic, partition)
	if err != nil {
		t.Fatalf("leader of %s-%d: %v", topic, partition, err)
	}
	return b.ID()
}

func drOpenBroker(t *testing.T, c *Cluster, id int32) *sarama.Broker {
	t.Helper()
	b := sarama.NewBroker(c.Addr(id))
	if err := b.Open(c.SaramaConfig()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// drReplicaLogStart is broker id's own log start offset for the partition, leader or follower: ListOffsets
// earliest with the debugging replica id -2, which any replica answers.
func drReplicaLogStart(c *Cluster, id int32, topic string, partition int32) (int64, error) {
	b := sarama.NewBroker(c.Addr(id))
	if err := b.Open(c.SaramaConfig()); err != nil {
		return -1, err
	}
	defer b.Close()
	req := &sarama.OffsetRequest{Version: 1}
	req.SetReplicaID(-2)
	req.AddBlock(topic, partition, sarama.OffsetOldest, 1)
	resp, err := b.GetAvailableOffsets(req)
	if err != nil {
		return -1, err
	}
	blk := resp.GetBlock(topic, partition)
	if blk == nil {
		return -1, errors.New("no block in the answer")
	}
	if !errors.Is(blk.Err, sarama.ErrNoError) {
		return -1, blk.Err
	}
	return blk.Offset, nil
}

// drDeleteRecords sends one DeleteRecords v2 for one partition to broker id.
func drDeleteRecords(t *testing.T, c *Cluster, id int32, topic string, partition int32, offset int64) *sarama.DeleteRecordsResponsePartition {
	t.Helper()
	req := &sarama.DeleteRecordsRequest{Version: 2, Timeout: 10 * time.Second,
		Topics: map[string]*sarama.DeleteRecordsRequestTopic{topic: {PartitionOffsets: map[int32]int64{partition: offset}}}}
	resp, err := drOpenBroker(t, c, id).DeleteRecords(req)
	if err != nil {
		t.Fatal(err)
	}
	rt, ok := resp.Topics[topic]
	if !ok || rt.Partitions[partition] == nil {
		t.Fatalf("no answer for %s-%d: %+v", topic, partition, resp)
	}
	return rt.Partitions[partition]
}

// drFetch sends one consumer Fetch (v11) at offset to broker id.
func drFetch(t *testing.T, c *Cluster, id int32, topic string, partition int32, offset int64) *sarama.FetchResponse {
	t.Helper()
	req := &sarama.FetchRequest{Version: 11, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20}
	req.AddBlock(topic, partition, offset, 1<<20, -1)
	resp, err := drOpenBroker(t, c, id).Fetch(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// drConsumeFrom reads n records of the partition starting at offset with a fresh consumer.
func drConsumeFrom(t *testing.T, c *Cluster, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cons, err := sarama.NewConsumer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("consume %s-%d from %d: %v", topic, partition, offset, err)
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consume %s-%d: %v", topic, partition, err)
		case <-timeout.C:
			t.Fatalf("consume %s-%d: %d of %d records", topic, partition, len(out), n)
		}
	}
	return out
}
