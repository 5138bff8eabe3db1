//go:build integration

package integration

import (
	"debug/buildinfo"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// End-to-end figures for `make bench` (scripts/bench-e2e.sh runs them, scripts/bench.sh prints them beside
// the loopback baselines of benchbase_test.go). Nothing here asserts a speed: a benchmark fails only when
// the broker answers wrongly, so a fast wrong answer can never pass for a figure.
//
// Every benchmark starts its own one-broker cluster (all partitions on one broker: on 2 cores more broker
// processes would only compete with the client for CPU) and uses b.Loop, so the cluster and fixtures are set
// up once, outside the timer. The broker must not be a race-detector build (it is 5-10x slower): run with
// SAMSA_BIN=bin/samsa (what bench-e2e.sh does after `go build`); a -race binary skips the benchmark.

const (
	benchRecordSize      = 1024    // the 1 KiB records
	benchRecordsPerBatch = 1000    // ~1 MB batches: under message.max.bytes' default 1048588
	benchFixtureBatches  = 128     // ~131 MB pre-produced for the consume and fetch benchmarks
	benchFetchMaxBytes   = 8 << 20 // the fetch benchmarks' max_bytes
	benchTopic           = "bench"
)

// benchCluster starts a one-broker cluster with env added to the broker's environment.
func benchCluster(b *testing.B, env ...string) *Cluster {
	b.Helper()
	if info, err := buildinfo.ReadFile(samsaBin); err == nil {
		for _, s := range info.Settings {
			if s.Key == "-race" && s.Value == "true" {
				b.Skip("broker built with -race; set SAMSA_BIN to a plain build (scripts/bench-e2e.sh does)")
			}
		}
	}
	return StartCluster(b, Options{Brokers: 1, Env: env})
}

// benchTopicWith creates the benchmark topic with n partitions on c.
func benchTopicWith(c *Cluster, n int32) {
	c.CreateTopic(benchTopic, &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: 1})
}

// benchSaramaConfig tunes Sarama for throughput: acks=1, no compression, ~1 MB batches per partition,
// 5 requests in flight per connection (Kafka's max.in.flight default), large channel buffers and fetches.
func benchSaramaConfig(c *Cluster) *sarama.Config {
	cfg := c.SaramaConfig()
	cfg.ClientID = benchClientID
	cfg.ChannelBufferSize = 4096
	cfg.Net.MaxOpenRequests = 5
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Producer.Return.Successes = false  // acknowledgements are counted through the log end offsets
	cfg.Producer.MaxMessageBytes = 1000000 // one partition's batch; under message.max.bytes
	cfg.Producer.Flush.Bytes = 1 << 20
	cfg.Producer.Flush.Messages = 0
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	cfg.Consumer.Fetch.Default = 4 << 20
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	return cfg
}

func BenchmarkE2EProduce_1KiB_1Partition(b *testing.B)  { benchProduce(b, 1) }
func BenchmarkE2EProduce_1KiB_8Partitions(b *testing.B) { benchProduce(b, 8) }

// benchProduce measures Sarama's AsyncProducer sending 1 KiB records, one per iteration. The timer runs
// until the producer has been closed, that is until every record is acknowledged; the log end offsets are
// then checked against the number of records sent.
func benchProduce(b *testing.B, partitions int32) {
	c := benchCluster(b)
	benchTopicWith(c, partitions)
	p, err := sarama.NewAsyncProducer(c.Bootstrap(), benchSaramaConfig(c))
	if err != nil {
		b.Fatalf("producer: %v", err)
	}
	var firstErr error
	var failed int
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for e := range p.Errors() {
			if failed++; firstErr == nil {
				firstErr = e
			}
		}
	}()
	value := sarama.ByteEncoder(benchValue(benchRecordSize))
	b.SetBytes(benchRecordSize)
	for b.Loop() {
		p.Input() <- &sarama.ProducerMessage{Topic: benchTopic, Value: value}
	}
	b.StartTimer() // b.Loop stopped it; the records still in flight are part of the work
	p.AsyncClose()
	<-errsDone // closed once every record is acknowledged or failed
	b.StopTimer()
	if firstErr != nil {
		b.Fatalf("%d records failed, first: %v", failed, firstErr)
	}
	var total int64
	cl := c.Client()
	for i := range partitions {
		end, err := cl.GetOffset(benchTopic, i, sarama.OffsetNewest)
		if err != nil {
			b.Fatalf("log end offset of partition %d: %v", i, err)
		}
		total += end
	}
	if total != int64(b.N) {
		b.Fatalf("logs hold %d records, sent %d", total, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkE2EConsume_1KiB_1Partition(b *testing.B)  { benchConsume(b, 1) }
func BenchmarkE2EConsume_1KiB_8Partitions(b *testing.B) { benchConsume(b, 8) }

// benchConsume measures Sarama's Consumer reading pre-produced 1 KiB records, one per iteration. Each
// partition is read from the start again when its end is reached, so the benchmark can run for as long as
// b.Loop wants without producing more.
func benchConsume(b *testing.B, partitions int32) {
	c := benchCluster(b)
	benchTopicWith(c, partitions)
	ends := produceFixture(b, c.Addr(1), benchTopic, partitions, benchFixtureBatches, benchRecordsPerBatch, benchRecordSize)
	consumer, err := sarama.NewConsumer(c.Bootstrap(), benchSaramaConfig(c))
	if err != nil {
		b.Fatalf("consumer: %v", err)
	}
	defer consumer.Close()

	// Partition readers hand the loop credits (records read) rather than messages, without blocking when
	// the loop is busy, so fanning in costs about one channel operation per record.
	credits := make(chan int, 1024)
	errc := make(chan error, partitions)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := consumeRepeatedly(consumer, p, ends[p], credits, stop); err != nil {
				errc <- err
			}
		}()
	}
	b.SetBytes(benchRecordSize)
	credit := 0
	for b.Loop() {
		for credit == 0 {
			select {
			case credit = <-credits:
			case err := <-errc:
				b.Fatal(err)
			}
		}
		credit--
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// consumeRepeatedly reads partition p from its first offset to end, over and over, until stop is closed,
// sending the number of records read on credits.
func consumeRepeatedly(consumer sarama.Consumer, p int32, end int64, credits chan<- int, stop <-chan struct{}) error {
	for {
		pc, err := consumer.ConsumePartition(benchTopic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("consume partition %d: %w", p, err)
		}
		pending, atEnd, err := consumeToEnd(pc, p, end, credits, stop)
		closePartitionConsumer(pc)
		if err != nil || !atEnd {
			return err
		}
		select {
		case credits <- pending:
		case <-stop:
			return nil
		}
	}
}

// consumeToEnd reads pc up to offset end-1 and returns the records read but not yet credited. atEnd is
// false when stop was closed first.
func consumeToEnd(pc sarama.PartitionConsumer, p int32, end int64, credits chan<- int, stop <-chan struct{}) (pending int, atEnd bool, err error) {
	for {
		select {
		case m := <-pc.Messages():
			if len(m.Value) != benchRecordSize || m.Key != nil {
				return 0, false, fmt.Errorf("partition %d offset %d: key %d bytes, value %d bytes", p, m.Offset, len(m.Key), len(m.Value))
			}
			pending++
			if m.Offset >= end-1 {
				return pending, true, nil
			}
			select {
			case credits <- pending:
				pending = 0
			default:
			}
		case err := <-pc.Errors():
			return 0, false, fmt.Errorf("partition %d: %w", p, err)
		case <-stop:
			return 0, false, nil
		}
	}
}

// closePartitionConsumer closes pc, draining its channels as Sarama requires.
func closePartitionConsumer(pc sarama.PartitionConsumer) {
	pc.AsyncClose()
	for range pc.Messages() {
	}
	for range pc.Errors() {
	}
}

func BenchmarkE2EProduceRaw_1MBBatch_1Partition(b *testing.B) { benchProduceRaw(b) }

// benchProduceRaw measures the broker's produce path without a client library: one connection, the same
// ~1 MB batch of 1000 1 KiB records sent over and over, 5 requests in flight (the "raw produce",
// to compare with loopback TCP on one connection).
func benchProduceRaw(b *testing.B) {
	const inFlight = 5
	c := benchCluster(b)
	benchTopicWith(c, 1)
	w := dialWire(b, c.Addr(1))
	version := w.version(b, kmsg.Produce, 8)
	batch := appendRecordBatch(nil, benchRecordsPerBatch, benchRecordSize)
	frame := appendRequest(nil, 0, produceRequest(version, benchTopic, 0, batch))
	var sent, acked int32
	receive := func() {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = version
		if err := w.receive(acked, resp); err != nil {
			b.Fatalf("produce: %v", err)
		}
		if err := produceError(resp); err != nil {
			b.Fatal(err)
		}
		acked++
	}
	b.SetBytes(benchRecordsPerBatch * benchRecordSize)
	for b.Loop() {
		if sent-acked == inFlight {
			receive()
		}
		putCorrID(frame, sent)
		if _, err := w.nc.Write(frame); err != nil {
			b.Fatalf("produce: %v", err)
		}
		sent++
	}
	b.StartTimer() // the acknowledgements still outstanding are part of the work
	for acked < sent {
		receive()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*benchRecordsPerBatch/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkE2EFetchSendfile(b *testing.B) { benchFetch(b) }
func BenchmarkE2EFetchCopy(b *testing.B)     { benchFetch(b, "SAMSA_FETCH_SENDFILE=0") }

// benchFetch measures fetch throughput of one pre-produced partition (page cached, as just written) with
// raw Fetch requests of max_bytes 8 MiB on one connection, one request per iteration, reading the log from
// the start again at its end. The Copy variant runs the broker with sendfile turned off (broker/conn.go).
func benchFetch(b *testing.B, env ...string) {
	c := benchCluster(b, env...)
	benchTopicWith(c, 1)
	ends := produceFixture(b, c.Addr(1), benchTopic, 1, benchFixtureBatches, benchRecordsPerBatch, benchRecordSize)
	f := newFetcher(b, c.Addr(1), benchTopic, 0, benchFetchMaxBytes)
	var offset, total int64
	for b.Loop() {
		next, n, err := f.fetch(offset)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(n)
		if offset = next; offset >= ends[0] {
			offset = 0
		}
	}
	// Responses vary in size (whole batches up to max_bytes), so bytes per iteration are not fixed for
	// b.SetBytes: MB/s is reported from the record bytes actually received.
	b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
	b.ReportMetric(float64(total)/float64(b.N), "B/fetch")
}

// putCorrID sets the correlation id of a request frame built by appendRequest.
func putCorrID(frame []byte, corr int32) {
	frame[corrIDOffset] = byte(corr >> 24)
	frame[corrIDOffset+1] = byte(corr >> 16)
	frame[corrIDOffset+2] = byte(corr >> 8)
	frame[corrIDOffset+3] = byte(corr)
}
