package protocol

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var update = flag.Bool("update", false, "rewrite testdata/sarama with the frames Sarama sends")

// fakeBroker is the smallest broker a Sarama client accepts, built only from this package's API: it
// advertises issue 3's versions, serves one topic with one partition, keeps the produced batch and fetches
// it back. It records the first frame of every (key, version) it sees.
type fakeBroker struct {
	ln     net.Listener
	ranges []APIRange
	done   chan struct{}
	wg     sync.WaitGroup

	mu       sync.Mutex
	frames   map[[2]int16][]byte // guarded by mu
	records  []byte              // guarded by mu
	failures []error             // guarded by mu
}

// issue3Ranges are the versions the broker of issue 3 plans to serve for these APIs.
var issue3Ranges = []APIRange{{0, 3, 9}, {1, 4, 12}, {2, 1, 6}, {3, 0, 11}, {18, 0, 3}}

func startFakeBroker(t *testing.T, ranges []APIRange) *fakeBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBroker{ln: ln, done: make(chan struct{}), frames: map[[2]int16][]byte{}, ranges: ranges}
	if err := ValidateRanges(b.ranges); err != nil {
		t.Fatal(err)
	}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(func() {
		close(b.done)
		ln.Close()
		b.wg.Wait()
	})
	return b
}

func (b *fakeBroker) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Add(1)
		go b.serve(c)
	}
}

func (b *fakeBroker) fail(err error) {
	b.mu.Lock()
	b.failures = append(b.failures, err)
	b.mu.Unlock()
}

func (b *fakeBroker) serve(c net.Conn) {
	defer b.wg.Done()
	defer c.Close()
	go func() { <-b.done; c.Close() }()
	r := bufio.NewReader(c)
	supported := SupportedFunc(b.ranges)
	var buf, out []byte
	for {
		frame, err := ReadFrame(r, 100<<20, buf)
		if err != nil {
			return
		}
		buf = frame
		hdr, req, err := ParseRequest(frame, supported)
		b.mu.Lock()
		if k := [2]int16{hdr.APIKey, hdr.APIVersion}; b.frames[k] == nil {
			b.frames[k] = append([]byte(nil), frame...)
		}
		b.mu.Unlock()
		if errors.Is(err, ErrUnsupportedVersion) && hdr.APIKey == 18 {
			var own []APIRange
			for _, r := range b.ranges {
				if r.Key == 18 {
					own = append(own, r)
				}
			}
			out = AppendUnsupportedVersionAPIVersions(out[:0], hdr, APIVersionsKeys(own))
			if _, err := c.Write(out); err != nil {
				return
			}
			continue
		}
		if err != nil {
			b.fail(fmt.Errorf("%s v%d: %w", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, err))
			return
		}
		resp := b.handle(req)
		if resp == nil {
			return
		}
		out = AppendResponse(out[:0], hdr, resp)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (b *fakeBroker) handle(req kmsg.Request) kmsg.Response {
	host, portStr, _ := net.SplitHostPort(b.ln.Addr().String())
	port, _ := strconv.Atoi(portStr)
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		resp.ApiKeys = APIVersionsKeys(b.ranges)
		return resp
	case *kmsg.MetadataRequest:
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = 1, host, int32(port)
		resp.Brokers, resp.ControllerID = append(resp.Brokers, br), 1
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr("orders")
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Leader, p.Replicas, p.ISR = 1, []int32{1}, []int32{1}
		t.Partitions = append(t.Partitions, p)
		resp.Topics = append(resp.Topics, t)
		return resp
	case *kmsg.ProduceRequest:
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				b.mu.Lock()
				b.records = append([]byte(nil), rp.Records...) // base offset 0, as sent
				b.mu.Unlock()
				p := kmsg.NewProduceResponseTopicPartition()
				p.Partition = rp.Partition
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewListOffsetsResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewListOffsetsResponseTopicPartition()
				p.Partition, p.Timestamp, p.Offset = rp.Partition, -1, 1 // latest: after the one record
				if rp.Timestamp == -2 {
					p.Offset = 0
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.FetchRequest:
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range req.Topics {
			t := kmsg.NewFetchResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				p := kmsg.NewFetchResponseTopicPartition()
				p.Partition, p.HighWatermark, p.LastStableOffset = rp.Partition, 1, 1
				if rp.FetchOffset == 0 {
					b.mu.Lock()
					p.RecordBatches = b.records
					b.mu.Unlock()
				}
				t.Partitions = append(t.Partitions, p)
			}
			resp.Topics = append(resp.Topics, t)
		}
		if len(resp.Topics) > 0 && resp.Topics[0].Partitions[0].RecordBatches == nil {
			// Nothing new: hold the fetch for max_wait as a broker does, so the consumer does not spin.
			timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-b.done:
				return nil
			}
		}
		return resp
	}
	b.fail(fmt.Errorf("unexpected %s", kmsg.NameForKey(req.Key())))
	return nil
}

// A real Sarama V2_8_0_0 client (the integration tests' client) talks to a broker built on this package:
// its frames parse at the versions it picks, and our responses, header versions included, satisfy it end to
// end through produce and consume. With -update the frames become fuzz seeds in testdata/sarama.
func TestSaramaRequestsParse(t *testing.T) {
	b := startFakeBroker(t, issue3Ranges)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "samsa-test"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{b.ln.Addr().String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "orders",
		Key: sarama.StringEncoder("k1"), Value: sarama.StringEncoder("v1")}); err != nil {
		t.Fatal(err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("orders", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if string(m.Key) != "k1" || string(m.Value) != "v1" || m.Offset != 0 {
			t.Fatalf("consumed %q=%q at %d", m.Key, m.Value, m.Offset)
		}
	case err := <-pc.Errors():
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("no message consumed within 10s")
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if err := errors.Join(b.failures...); err != nil {
		t.Fatal(err)
	}
	// Sarama's choices for V2_8_0_0 (sarama *_request.go, consumer.go, produce_set.go).
	for _, want := range [][2]int16{{18, 3}, {3, 11}, {0, 9}, {2, 6}, {1, 12}} {
		if b.frames[want] == nil {
			t.Errorf("no %s v%d request seen; saw %v", kmsg.NameForKey(want[0]), want[1], keysOf(b.frames))
		}
	}
	if *update {
		dir := filepath.Join("testdata", "sarama")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for k, frame := range b.frames {
			name := fmt.Sprintf("%02d_%s_v%d.bin", k[0], kmsg.NameForKey(k[0]), k[1])
			if err := os.WriteFile(filepath.Join(dir, name), frame, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// KIP-511 end to end: a broker serving ApiVersions only up to v2 answers Sarama's v3 request in the v0
// layout with UNSUPPORTED_VERSION, and Sarama retries at v2 and carries on.
func TestSaramaRetriesApiVersionsAfterUnsupportedVersion(t *testing.T) {
	b := startFakeBroker(t, []APIRange{{0, 3, 9}, {1, 4, 12}, {2, 1, 6}, {3, 0, 11}, {18, 0, 2}})
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Metadata.Retry.Max = 0
	client, err := sarama.NewClient([]string{b.ln.Addr().String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Partitions("orders"); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := errors.Join(b.failures...); err != nil {
		t.Fatal(err)
	}
	if b.frames[[2]int16{18, 3}] == nil || b.frames[[2]int16{18, 2}] == nil {
		t.Fatalf("want ApiVersions v3 then v2; saw %v", keysOf(b.frames))
	}
}

func keysOf(m map[[2]int16][]byte) (out [][2]int16) {
	for k := range m {
		out = append(out, k)
	}
	return out
}
