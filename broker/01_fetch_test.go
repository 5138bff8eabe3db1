package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func fetchRequest(version int16, topic string, parts ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = version, -1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = p, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	return req
}

// decodeFetch materialises a chunked Fetch response and decodes it with kmsg.
func decodeFetch(t *testing.T, version int16, resp Response) *kmsg.FetchResponse {
	t.Helper()
	if resp.Msg != nil || resp.None {
		t.Fatalf("fetch must answer with chunks: %+v", resp)
	}
	k := kmsg.NewPtrFetchResponse()
	k.Version = version
	if err := k.ReadFrom(materializeChunks(t, resp.Chunks)); err != nil {
		t.Fatalf("v%d: %v", version, err)
	}
	return k
}

func countRecords(t *testing.T, batches []byte) int {
	t.Helper()
	n := 0
	for len(batches) > 0 {
		b, rest, err := record.Next(batches)
		if err != nil {
			break
		}
		n += int(b.NumRecords())
		batches = rest
	}
	return n
}

func TestFetch_HandlerEveryVersionDecodesWithKmsg(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	if _, err := db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 5, record.DefaultBuildOptions(), []byte("k"))}), "c"); err != nil {
		t.Fatal(err)
	}
	for v := int16(4); v <= 12; v++ {
		resp, err := db.call(handleFetch, fetchRequest(v, "t", 0, 9), "c")
		if err != nil {
			t.Fatal(err)
		}
		k := decodeFetch(t, v, resp)
		if len(k.Topics) != 1 || len(k.Topics[0].Partitions) != 2 {
			t.Fatalf("v%d: %+v", v, k)
		}
		p0, p9 := k.Topics[0].Partitions[0], k.Topics[0].Partitions[1]
		if p0.ErrorCode != 0 || p0.HighWatermark != 5 || p0.LastStableOffset != 5 || countRecords(t, p0.RecordBatches) != 5 {
			t.Fatalf("v%d partition 0: %+v", v, p0)
		}
		if v >= 5 && p0.LogStartOffset != 0 {
			t.Fatalf("v%d log start %d", v, p0.LogStartOffset)
		}
		if v >= 11 && p0.PreferredReadReplica != -1 {
			t.Fatalf("v%d preferred read replica %d", v, p0.PreferredReadReplica)
		}
		if p0.AbortedTransactions != nil {
			t.Fatalf("v%d read_uncommitted must send null aborted transactions", v)
		}
		if p9.ErrorCode != kerr.UnknownTopicOrPartition.Code || p9.HighWatermark != -1 || len(p9.RecordBatches) != 0 {
			t.Fatalf("v%d unknown partition: %+v", v, p9)
		}
	}
}

func TestFetch_ReadCommittedSendsEmptyAbortedTransactions(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	req := fetchRequest(11, "t", 0)
	req.IsolationLevel = 1
	resp, err := db.call(handleFetch, req, "c")
	if err != nil {
		t.Fatal(err)
	}
	p := decodeFetch(t, 11, resp).Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.AbortedTransactions == nil || len(p.AbortedTransactions) != 0 {
		t.Fatalf("%+v", p)
	}
}

func TestFetch_SessionsAreNeverCreated(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	for _, c := range []struct {
		name      string
		id, epoch int32
		wantErr   int16
	}{
		{"sessionless full fetch", 0, -1, 0},
		{"full fetch asking for a session gets none", 0, 0, 0},
		{"full fetch naming a session closes it", 77, -1, 0},
		{"incremental fetch of an unknown session", 77, 3, kerr.FetchSessionIDNotFound.Code},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := fetchRequest(12, "t", 0)
			req.SessionID, req.SessionEpoch = c.id, c.epoch
			resp, err := db.call(handleFetch, req, "c")
			if err != nil {
				t.Fatal(err)
			}
			k := decodeFetch(t, 12, resp)
			if k.ErrorCode != c.wantErr || k.SessionID != 0 {
				t.Fatalf("error %d session %d", k.ErrorCode, k.SessionID)
			}
			if wantTopics := c.wantErr == 0; (len(k.Topics) == 1) != wantTopics {
				t.Fatalf("topics %+v", k.Topics)
			}
		})
	}
}

func TestFetch_FetchMaxBytesCapsResponse(t *testing.T) {
	x, y := storage.TopicPartition{Topic: "t", Partition: 0}, storage.TopicPartition{Topic: "t", Partition: 1}
	db := newDataBroker(t, nil, x, y)
	db.cfg = db.cfg.Clone()
	db.cfg.FetchMaxBytes = 10
	for _, p := range []int32{0, 1} {
		db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{p: buildTestBatch(t, 3, record.DefaultBuildOptions(), nil)}), "c")
	}
	resp, err := db.call(handleFetch, fetchRequest(10, "t", 0, 1), "c")
	if err != nil {
		t.Fatal(err)
	}
	k := decodeFetch(t, 10, resp)
	if n := countRecords(t, k.Topics[0].Partitions[0].RecordBatches); n != 3 {
		t.Fatalf("first partition: %d records (KIP-74: its first batch)", n)
	}
	if n := len(k.Topics[0].Partitions[1].RecordBatches); n != 0 {
		t.Fatalf("second partition: %d bytes over fetch.max.bytes", n)
	}
}

// TestFetch_SendfileOverTCP writes a chunked Fetch response through the connection's writer on a real TCP
// socket (sendfile for the file ranges) and decodes the frame on the other end.
func TestFetch_SendfileOverTCP(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	for range 3 {
		db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 4, record.DefaultBuildOptions(), []byte("k"))}), "c")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	l := logrus.New()
	l.SetOutput(io.Discard)
	c := &Conn{b: db.Broker, nc: server, log: logrus.NewEntry(l)}
	for _, v := range []int16{4, 11, 12} {
		resp, err := db.call(handleFetch, fetchRequest(v, "t", 0), "c")
		if err != nil {
			t.Fatal(err)
		}
		hdr := protocol.RequestHeader{APIKey: int16(kmsg.Fetch), APIVersion: v, CorrelationID: 42}
		errc := make(chan error, 1)
		go func() { errc <- c.write(hdr, resp) }()
		_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(client, size[:]); err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(client, frame); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(frame)); corr != 42 {
			t.Fatalf("correlation id %d", corr)
		}
		body := frame[4:]
		if v >= 12 {
			body = body[1:] // response header v1: empty tagged fields
		}
		k := kmsg.NewPtrFetchResponse()
		k.Version = v
		if err := k.ReadFrom(body); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if n := countRecords(t, k.Topics[0].Partitions[0].RecordBatches); n != 12 {
			t.Fatalf("v%d: %d records over sendfile", v, n)
		}
	}
}

func TestFetch_MinBytesWaitsForProduce(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	req := fetchRequest(12, "t", 0)
	req.MaxWaitMillis, req.MinBytes = 60_000, 1
	done := make(chan Response, 1)
	go func() {
		resp, err := db.call(handleFetch, req, "c")
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	// Wait until the fetch is parked, then produce: the append wakes it.
	deadline := time.Now().Add(5 * time.Second)
	for _, parked := db.replicas.Delayed(); parked != 1; _, parked = db.replicas.Delayed() {
		if time.Now().After(deadline) {
			t.Fatal("fetch never parked in the purgatory")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	if _, err := db.call(handleProduce, produceRequest(9, 1, "t", map[int32][]byte{0: buildTestBatch(t, 2, record.DefaultBuildOptions(), nil)}), "c"); err != nil {
		t.Fatal(err)
	}
	resp := <-done
	if n := countRecords(t, decodeFetch(t, 12, resp).Topics[0].Partitions[0].RecordBatches); n != 2 {
		t.Fatalf("%d records", n)
	}
}
