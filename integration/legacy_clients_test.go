//go:build integration

package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Old clients against the v2-only log (produce_legacy.go, fetch_legacy.go, list_offsets_legacy.go): Sarama at
// 0.8.2 (produce v0 / fetch v0 / list offsets v0, magic 0), 0.10.0 (produce v2 / fetch v2, magic 1) and 0.10.2
// (fetch v3) produce with every codec they have, and consumers of every generation, 2.8 included, read back
// exactly the keys, values and offsets (timestamps where both formats carry them). A topic with
// message.downconversion.enable=false refuses old consumers (UNSUPPORTED_VERSION) and still serves new ones.

var legacyVersions = []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V0_10_0_0, sarama.V0_10_2_0, sarama.V2_8_0_0}

func legacyConfig(c *Cluster, v sarama.KafkaVersion) *sarama.Config {
	cfg := c.SaramaConfig()
	cfg.Version = v
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return cfg
}

func legacyCodecs(v sarama.KafkaVersion) []sarama.CompressionCodec {
	codecs := []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy}
	if v.IsAtLeast(sarama.V0_10_0_0) {
		codecs = append(codecs, sarama.CompressionLZ4)
	}
	return codecs
}

type legacyTopic struct {
	name     string
	producer sarama.KafkaVersion
	codec    sarama.CompressionCodec
	sent     []*sarama.ProducerMessage
}

func TestLegacyClientsProduceAndConsumeEveryVersion(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	const n = 12
	var topics []*legacyTopic
	for _, pv := range legacyVersions {
		for _, codec := range legacyCodecs(pv) {
			lt := &legacyTopic{name: strings.ReplaceAll(fmt.Sprintf("legacy-%s-%s", pv, codec), ".", "_"), producer: pv, codec: codec}
			c.CreateTopic(lt.name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
			topics = append(topics, lt)
		}
	}
	for _, pv := range legacyVersions {
		cfg := legacyConfig(c, pv)
		for _, lt := range topics {
			if lt.producer != pv {
				continue
			}
			cfg.Producer.Compression = lt.codec
			cfg.Producer.Flush.Messages = n / 2 // two requests, each one compressed wrapper
			cfg.Producer.Flush.Frequency = 50 * time.Millisecond
			prod, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
			if err != nil {
				t.Fatalf("%s producer: %v", pv, err)
			}
			for i := 0; i < n; i++ {
				lt.sent = append(lt.sent, &sarama.ProducerMessage{Topic: lt.name, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)),
					Value: sarama.StringEncoder(fmt.Sprintf("value-%d-%s", i, lt.name)), Timestamp: base.Add(time.Duration(i) * time.Millisecond)})
			}
			if err := prod.SendMessages(lt.sent[:n/2]); err != nil {
				t.Fatalf("%s: %v", lt.name, err)
			}
			if err := prod.SendMessages(lt.sent[n/2:]); err != nil {
				t.Fatalf("%s: %v", lt.name, err)
			}
			_ = prod.Close()
			for i, m := range lt.sent {
				if m.Offset != int64(i) {
					t.Fatalf("%s: message %d acknowledged at offset %d", lt.name, i, m.Offset)
				}
			}
		}
	}
	for _, cv := range legacyVersions {
		cl, err := sarama.NewClient(c.Bootstrap(), legacyConfig(c, cv))
		if err != nil {
			t.Fatalf("%s client: %v", cv, err)
		}
		cons, err := sarama.NewConsumerFromClient(cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range topics {
			if cv == sarama.V0_8_2_0 && lt.codec == sarama.CompressionLZ4 {
				// Magic 0 LZ4 carries Kafka 0.8's header checksum (as a 2.8 broker writes it), which Sarama's
				// reader refuses: Sarama itself only uses LZ4 from 0.10.
				continue
			}
			got := legacyConsume(t, cons, lt.name, n)
			for i, m := range got {
				want := lt.sent[i]
				wk, _ := want.Key.Encode()
				wv, _ := want.Value.Encode()
				if m.Offset != int64(i) || string(m.Key) != string(wk) || string(m.Value) != string(wv) {
					t.Fatalf("%s read by %s: message %d = offset %d %q=%q", lt.name, cv, i, m.Offset, m.Key, m.Value)
				}
				withTs := lt.producer.IsAtLeast(sarama.V0_10_0_0) && cv.IsAtLeast(sarama.V0_10_0_0)
				if withTs && !m.Timestamp.Equal(want.Timestamp) {
					t.Fatalf("%s read by %s: message %d timestamp %v, want %v", lt.name, cv, i, m.Timestamp, want.Timestamp)
				}
			}
			// ListOffsets v0 (0.8.2, 0.10.0) and v1+ agree on the end.
			if end, err := cl.GetOffset(lt.name, 0, sarama.OffsetNewest); err != nil || end != n {
				t.Fatalf("%s: latest offset by %s = %d, %v", lt.name, cv, end, err)
			}
			if start, err := cl.GetOffset(lt.name, 0, sarama.OffsetOldest); err != nil || start != 0 {
				t.Fatalf("%s: earliest offset by %s = %d, %v", lt.name, cv, start, err)
			}
		}
		_ = cons.Close()
		_ = cl.Close()
	}
}

func legacyConsume(t *testing.T, cons sarama.Consumer, topic string, n int) []*sarama.ConsumerMessage {
	t.Helper()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s: %v", topic, err)
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
			t.Fatalf("consume %s: %v", topic, err)
		case <-timeout.C:
			t.Fatalf("consume %s: %d of %d messages after 20s", topic, len(out), n)
		}
	}
	return out
}

// message.downconversion.enable=false: an old consumer gets UNSUPPORTED_VERSION for the partition (KafkaApis
// maybeConvertFetchedData), a 2.8 consumer reads on.
func TestLegacyConsumerRefusedWhenDownConversionDisabled(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	const topic = "no-downconversion"
	off := "false"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"message.downconversion.enable": &off}})
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), c.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("v")}); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()
	for _, v := range []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V0_10_2_0} {
		cons, err := sarama.NewConsumer(c.Bootstrap(), legacyConfig(c, v))
		if err != nil {
			t.Fatal(err)
		}
		pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-pc.Messages():
			t.Fatalf("%s consumer read %+v", v, m)
		case err := <-pc.Errors():
			if !errors.Is(err, sarama.ErrUnsupportedVersion) {
				t.Fatalf("%s consumer: %v, want UNSUPPORTED_VERSION", v, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s consumer: no error after 20s", v)
		}
		_ = pc.Close()
		_ = cons.Close()
	}
	cons, err := sarama.NewConsumer(c.Bootstrap(), legacyConfig(c, sarama.V2_8_0_0))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if got := legacyConsume(t, cons, topic, 1); string(got[0].Value) != "v" {
		t.Fatalf("2.8 consumer read %q", got[0].Value)
	}
}
