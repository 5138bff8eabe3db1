//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// ClusterAdmin's topic lifecycle as Kafka 2.8 answers it: CreateTopics (and its refusals), Metadata through
// DescribeTopics, ListTopics, CreatePartitions (grow only), DeleteTopics (gone from metadata, ZooKeeper and disk).
func TestClusterAdminTopicLifecycle(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	admin := c.Admin()
	const topic = "admin-lifecycle"
	retention := "3600000"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}})

	t.Run("CreateTopicRefusals", func(t *testing.T) {
		cases := []struct {
			name   string
			topic  string
			detail sarama.TopicDetail
			want   sarama.KError
		}{
			{"existing topic", topic, sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrTopicAlreadyExists},
			{"replication factor above live brokers", "admin-rf4", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 4}, sarama.ErrInvalidReplicationFactor},
			{"zero partitions", "admin-p0", sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 1}, sarama.ErrInvalidPartitions},
			{"illegal character", "admin/slash", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
			{"name of dots", "..", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
			{"unknown config", "admin-badcfg", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
				ConfigEntries: map[string]*string{"no.such.config": &retention}}, sarama.ErrInvalidConfig},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				d := tc.detail
				err := admin.CreateTopic(tc.topic, &d, false)
				if !errors.Is(err, tc.want) {
					t.Fatalf("CreateTopic(%q): %v, want %v", tc.topic, err, tc.want)
				}
			})
		}
	})

	t.Run("DescribeTopics", func(t *testing.T) {
		md, err := admin.DescribeTopics([]string{topic})
		if err != nil {
			t.Fatal(err)
		}
		if len(md) != 1 || md[0].Name != topic || !errors.Is(md[0].Err, sarama.ErrNoError) {
			t.Fatalf("DescribeTopics: %+v", md)
		}
		if md[0].Uuid == (sarama.Uuid{}) {
			t.Errorf("no topic id in Metadata v%d", md[0].Version)
		}
		leaders := map[int32]bool{}
		for _, p := range md[0].Partitions {
			if len(p.Replicas) != 1 || len(p.Isr) != 1 || p.Isr[0] != p.Replicas[0] || p.Leader != p.Replicas[0] {
				t.Errorf("partition %d: leader %d replicas %v isr %v", p.ID, p.Leader, p.Replicas, p.Isr)
			}
			leaders[p.Leader] = true
		}
		if len(md[0].Partitions) != 3 {
			t.Fatalf("%d partitions, want 3", len(md[0].Partitions))
		}
		// Kafka's assignment spreads 3 single-replica partitions over 3 brokers.
		if len(leaders) != 3 {
			t.Errorf("3 partitions led by brokers %v, want one each", leaders)
		}
	})

	t.Run("ListTopics", func(t *testing.T) {
		// Sarama builds ListTopics from Metadata plus DescribeConfigs.
		topics, err := admin.ListTopics()
		if err != nil {
			t.Fatal(err)
		}
		d, ok := topics[topic]
		if !ok {
			t.Fatalf("ListTopics has no %s: %v", topic, topics)
		}
		if d.NumPartitions != 3 || d.ReplicationFactor != 1 {
			t.Errorf("ListTopics: %d partitions, RF %d", d.NumPartitions, d.ReplicationFactor)
		}
		if v := d.ConfigEntries["retention.ms"]; v == nil || *v != retention {
			t.Errorf("ListTopics: retention.ms override %v, want %s", v, retention)
		}
	})

	t.Run("CreatePartitions", func(t *testing.T) {
		c := c.For(t)
		if err := admin.CreatePartitions(topic, 2, nil, false); !errors.Is(err, sarama.ErrInvalidPartitions) {
			t.Errorf("shrinking to 2 partitions: %v, want %v", err, sarama.ErrInvalidPartitions)
		}
		if err := admin.CreatePartitions("admin-missing", 4, nil, false); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Errorf("growing a missing topic: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
		}
		if err := admin.CreatePartitions(topic, 5, nil, false); err != nil {
			t.Fatal(err)
		}
		c.WaitForLeaders(topic, 5)
		// The new partitions take records.
		for _, p := range []int32{3, 4} {
			msg := &sarama.ProducerMessage{Topic: topic, Partition: p, Value: sarama.StringEncoder(fmt.Sprint("p", p))}
			if _, _, err := sendToPartition(c, msg); err != nil {
				t.Fatalf("produce to new partition %d: %v", p, err)
			}
		}
		for _, p := range []int32{3, 4} {
			got := consumePartition(t, c, topic, p, 1)
			if string(got[0].Value) != fmt.Sprint("p", p) {
				t.Errorf("partition %d holds %q", p, got[0].Value)
			}
		}
	})

	t.Run("DeleteTopic", func(t *testing.T) {
		c := c.For(t)
		if err := admin.DeleteTopic("admin-missing"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			t.Errorf("deleting a missing topic: %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
		}
		if err := admin.DeleteTopic(topic); err != nil {
			t.Fatal(err)
		}
		z := c.ZK()
		eventually(t, 30*time.Second, func() error {
			for _, id := range []int32{1, 2, 3} {
				md, err := c.MetadataFrom(c.Addr(id), []string{topic})
				if err != nil {
					return err
				}
				if len(md.Topics) != 1 || !errors.Is(md.Topics[0].Err, sarama.ErrUnknownTopicOrPartition) {
					return fmt.Errorf("broker %d still knows %s", id, topic)
				}
			}
			for _, p := range []string{"/brokers/topics/" + topic, "/config/topics/" + topic, "/admin/delete_topics/" + topic} {
				if ok, err := z.Exists(p); err != nil || ok {
					return fmt.Errorf("%s still exists (%v)", p, err)
				}
			}
			// Kafka renames a deleted partition's directory to <topic>-<p>.<id>-delete, removed later.
			for _, id := range []int32{1, 2, 3} {
				dirs, err := os.ReadDir(c.DataDir(id))
				if err != nil {
					return err
				}
				for _, d := range dirs {
					if d.IsDir() && strings.HasPrefix(d.Name(), topic+"-") && !strings.HasSuffix(d.Name(), "-delete") {
						return fmt.Errorf("partition directory %s remains", filepath.Join(c.DataDir(id), d.Name()))
					}
				}
			}
			return nil
		})
		all, err := admin.DescribeTopics(nil) // every topic, through Metadata
		if err != nil {
			t.Fatal(err)
		}
		for _, md := range all {
			if md.Name == topic {
				t.Errorf("all-topics Metadata still lists %s", topic)
			}
		}
	})
}

// sendToPartition produces one record to the partition the message names (manual partitioner).
func sendToPartition(c *Cluster, msg *sarama.ProducerMessage) (int32, int64, error) {
	cfg := c.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		return 0, 0, err
	}
	defer prod.Close()
	return prod.SendMessage(msg)
}
