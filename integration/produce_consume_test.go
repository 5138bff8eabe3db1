//go:build integration

package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Metadata (any broker) lists every live broker with its advertised endpoint, and the controller's id.
func TestMetadataListsEveryBrokerAndTheController(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	for _, id := range []int32{1, 2, 3} {
		md, err := c.MetadataFrom(c.Addr(id), nil)
		if err != nil {
			t.Fatalf("metadata from broker %d: %v", id, err)
		}
		got := map[int32]string{}
		for _, b := range md.Brokers {
			got[b.ID()] = b.Addr()
		}
		for _, want := range []int32{1, 2, 3} {
			if got[want] != c.Addr(want) {
				t.Errorf("broker %d's metadata: broker %d at %q, want %q", id, want, got[want], c.Addr(want))
			}
		}
		if len(got) != 3 {
			t.Errorf("broker %d's metadata lists %d brokers: %v", id, len(got), got)
		}
		if md.ControllerID < 1 || md.ControllerID > 3 {
			t.Errorf("broker %d's metadata: controller id %d", id, md.ControllerID)
		}
		if md.ClusterID == nil || *md.ClusterID == "" {
			t.Errorf("broker %d's metadata: no cluster id", id)
		}
	}
	// The controller in Metadata is the one ZooKeeper elected.
	data, _, err := c.ZK().Get("/controller")
	if err != nil {
		t.Fatal(err)
	}
	md, err := c.MetadataFrom(c.Addr(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"brokerid":%d`, md.ControllerID); !strings.Contains(string(data), want) {
		t.Errorf("/controller is %s, metadata says controller %d", data, md.ControllerID)
	}
}

// A SyncProducer with keys: every record gets the next offset of its partition, records with the same key
// land in the same partition, and a Consumer reads back exactly what was acknowledged (counts, contents,
// offsets, per-partition order).
func TestSyncProducerKeyedRecordsReadBackExactly(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	const topic, partitions = "sync-keyed", 6
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1})

	prod, err := sarama.NewSyncProducerFromClient(c.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	var want []sent
	next := map[int32]int64{}
	keyPartition := map[string]int32{}
	record := func(key, value string, p int32, off int64) {
		t.Helper()
		if off != next[p] {
			t.Fatalf("%q got offset %d in partition %d, want %d", value, off, p, next[p])
		}
		next[p]++
		if kp, ok := keyPartition[key]; ok && kp != p {
			t.Fatalf("key %q went to partitions %d and %d", key, kp, p)
		}
		keyPartition[key] = p
		want = append(want, sent{key, value, p, off})
	}
	// One at a time...
	for i := 0; i < 240; i++ {
		key, value := keyFor(i), fmt.Sprintf("sync-%04d", i)
		p, off, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key),
			Value: sarama.StringEncoder(value)})
		if err != nil {
			t.Fatalf("send %s: %v", value, err)
		}
		record(key, value, p, off)
	}
	// ...and in batches spanning partitions (one Produce request per broker).
	for b := 0; b < 4; b++ {
		var msgs []*sarama.ProducerMessage
		for i := 0; i < 60; i++ {
			n := 240 + b*60 + i
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(keyFor(n)),
				Value: sarama.StringEncoder(fmt.Sprintf("sync-%04d", n))})
		}
		if err := prod.SendMessages(msgs); err != nil {
			t.Fatalf("send batch %d: %v", b, err)
		}
		// Within one partition a batch keeps send order, so offsets are checked in that order.
		for _, m := range msgs {
			record(string(m.Key.(sarama.StringEncoder)), string(m.Value.(sarama.StringEncoder)), m.Partition, m.Offset)
		}
	}
	used := 0
	for p := int32(0); p < partitions; p++ {
		if next[p] > 0 {
			used++
		}
	}
	if used < 3 {
		t.Fatalf("20 keys used only %d of %d partitions", used, partitions)
	}
	checkReadBack(t, c, topic, partitions, want, true)
}

// An AsyncProducer with every codec Kafka 2.8 has, at acks 1 and acks 0: the broker accepts each codec and a
// Consumer reads back exactly what was sent, in order per partition. With acks 0 nothing is acknowledged, so
// consuming afterwards is the only check.
func TestAsyncProducerEveryCodecAndAcks(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
		sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD}
	for _, codec := range codecs {
		for _, acks := range []sarama.RequiredAcks{sarama.WaitForLocal, sarama.NoResponse} {
			name := fmt.Sprintf("%s/acks=%d", codec, acks)
			t.Run(name, func(t *testing.T) {
				c := c.For(t)
				topic := fmt.Sprintf("async-%s-acks%d", codec, acks)
				const partitions = 3
				c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1})
				want := produceAsync(t, c, topic, codec, acks, 300)
				checkReadBack(t, c, topic, partitions, want, acks != sarama.NoResponse)
			})
		}
	}
}

// produceAsync sends n keyed records and returns them in send order with the partition (and, with acks,
// offset) Sarama reported. Compressible values and a 50-record flush make multi-record compressed batches.
func produceAsync(t *testing.T, c *Cluster, topic string, codec sarama.CompressionCodec, acks sarama.RequiredAcks, n int) []sent {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Producer.Compression = codec
	cfg.Producer.RequiredAcks = acks
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Net.MaxOpenRequests = 1 // keeps per-partition order even if a request is retried
	prod, err := sarama.NewAsyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	// The feeder must be gone before Close (deferred above, so it runs after this): a send on the closed
	// input channel would panic and hide the real failure.
	stop := make(chan struct{})
	var feeder sync.WaitGroup
	feeder.Add(1)
	defer func() { close(stop); feeder.Wait() }()
	go func() {
		defer feeder.Done()
		for i := 0; i < n; i++ {
			value := fmt.Sprintf("%s-%04d-%s", topic, i, strings.Repeat("compressible ", 8))
			select {
			case prod.Input() <- &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(keyFor(i)),
				Value: sarama.StringEncoder(value), Metadata: i}:
			case <-stop:
				return
			}
		}
	}()
	results := make([]sent, n)
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for done := 0; done < n; done++ {
		select {
		case m := <-prod.Successes():
			i := m.Metadata.(int)
			results[i] = sent{keyFor(i), string(m.Value.(sarama.StringEncoder)), m.Partition, m.Offset}
		case perr := <-prod.Errors():
			t.Fatalf("produce %v: %v", perr.Msg.Metadata, perr.Err)
		case <-timeout.C:
			t.Fatalf("%d of %d records acknowledged after 30s", done, n)
		}
	}
	if acks != sarama.NoResponse {
		// Offsets per partition are dense and follow send order.
		next := map[int32]int64{}
		for _, r := range results {
			if r.offset != next[r.partition] {
				t.Fatalf("%q: offset %d in partition %d, want %d", r.value, r.offset, r.partition, next[r.partition])
			}
			next[r.partition]++
		}
	}
	parts := map[int32]bool{}
	for _, r := range results {
		parts[r.partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("20 keys used partitions %v only", parts)
	}
	return results
}
