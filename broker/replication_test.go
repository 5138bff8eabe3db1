package broker

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// Replication between brokers over real TCP: each test broker serves the API table on a loopback listener
// (no ZooKeeper), and followers fetch from it with protocol.Client, as in a cluster.

type tcpBroker struct {
	*Broker
	t    *testing.T
	addr *net.TCPAddr
}

func newTCPBroker(t *testing.T, id int32) *tcpBroker {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	lg := logrus.NewEntry(l)
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{t.TempDir()}, Default: storage.DefaultConfig()}, lg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := compileAPIs(apiTable)
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{cfg: config.Default(), log: lg, id: id, logs: logs, apis: a, meta: metadata.NewCache(id)}
	b.replicas = replica.NewManager(id, logs, replica.Config{ReplicaFetchWaitMaxMs: 100, ReplicaFetchBackoffMs: 20}, lg)
	ctx, cancel := context.WithCancel(context.Background())
	b.replicas.Start(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go b.serve(ctx, &listener{name: "PLAINTEXT", ln: ln}, &wg)
	t.Cleanup(func() {
		_ = ln.Close()
		cancel()
		b.conns.closeAll()
		wg.Wait()
		b.replicas.Stop()
		if err := logs.Close(); err != nil {
			t.Error(err)
		}
	})
	return &tcpBroker{Broker: b, t: t, addr: ln.Addr().(*net.TCPAddr)}
}

// become applies a v5 LeaderAndIsr for x naming leader (with its endpoint in LiveLeaders).
func (tb *tcpBroker) become(x storage.TopicPartition, leader *tcpBroker, epoch int32, isr, replicas []int32) {
	tb.t.Helper()
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch = 5, 1
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = x.Topic
	ps := kmsg.NewLeaderAndISRRequestTopicPartition()
	ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas = x.Partition, leader.id, epoch, isr, replicas
	ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
	req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
	req.LiveLeaders = []kmsg.LeaderAndISRRequestLiveLeader{{BrokerID: leader.id, Host: "127.0.0.1", Port: int32(leader.addr.Port)}}
	resp := tb.replicas.BecomeLeaderOrFollower(req, func(string) storage.Config { return storage.DefaultConfig() })
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				tb.t.Fatalf("LeaderAndIsr on broker %d: error %d", tb.id, p.ErrorCode)
			}
		}
	}
}

func (tb *tcpBroker) log(x storage.TopicPartition) *storage.Log {
	p, ok := tb.replicas.Partition(x)
	if !ok || p.Log() == nil {
		tb.t.Fatalf("broker %d has no log for %s", tb.id, x)
	}
	return p.Log()
}

// seed appends a batch as a previous leader would have written it.
func (tb *tcpBroker) seed(x storage.TopicPartition, base int64, n int, epoch int32) {
	tb.t.Helper()
	opt := record.DefaultBuildOptions()
	opt.BaseOffset, opt.PartitionLeaderEpoch = base, epoch
	recs := make([]record.BuildRecord, n)
	for i := range recs {
		recs[i] = record.BuildRecord{Value: []byte(fmt.Sprintf("e%d-o%d-n%d", epoch, base+int64(i), n)), Timestamp: 1_700_000_000_000}
	}
	b, err := record.Build(recs, opt)
	if err != nil {
		tb.t.Fatal(err)
	}
	if _, err := tb.log(x).AppendAsFollower(b); err != nil {
		tb.t.Fatal(err)
	}
}

// batchList is (base offset, epoch, CRC) per batch, what `samsa dump-log` compares across replicas.
func (tb *tcpBroker) batchList(x storage.TopicPartition) []string {
	l := tb.log(x)
	res, err := l.Read(l.LogStartOffset(), 1<<30, -1, true)
	if err != nil {
		return []string{err.Error()}
	}
	defer res.Release()
	var buf []byte
	for _, fr := range res.Ranges {
		b, err := fr.Bytes()
		if err != nil {
			return []string{err.Error()}
		}
		buf = append(buf, b...)
	}
	var out []string
	for len(buf) > 0 {
		b, rest, err := record.Next(buf)
		if err != nil {
			break
		}
		out = append(out, fmt.Sprintf("%d@e%d/%08x", b.BaseOffset(), b.PartitionLeaderEpoch(), b.CRC()))
		buf = rest
	}
	return out
}

func waitSameLogs(t *testing.T, x storage.TopicPartition, leader, follower *tcpBroker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		want, got := leader.batchList(x), follower.batchList(x)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower %d never matched leader %d:\n got  %v\n want %v", follower.id, leader.id, got, want)
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}

// KIP-279's fast-leader-change case over the wire: the follower's epoch 2 is unknown to the leader, two
// OffsetsForLeaderEpoch rounds bring it back to the common prefix, then Fetch v12 replicates the rest, and
// an acks=all produce completes once the follower has it.
func TestReplicationOverTCP_KIP279TruncationThenAcksAll(t *testing.T) {
	leader, follower := newTCPBroker(t, 1), newTCPBroker(t, 2)
	x := storage.TopicPartition{Topic: "orders", Partition: 0}
	// Each broker leads its own copy at epoch 0 (logs exist, nobody fetches) while the history is seeded.
	// Epoch 0: broker 2 led and wrote batches at 0 and 1; broker 1 replicated the first only. Epoch 1: broker
	// 1 led and wrote [1,6). Epoch 2: broker 2 led again without fetching epoch 1 and wrote [2,4).
	leader.become(x, leader, 0, []int32{1}, []int32{1, 2})
	follower.become(x, follower, 0, []int32{2}, []int32{1, 2})
	leader.seed(x, 0, 1, 0)
	leader.seed(x, 1, 5, 1)
	follower.seed(x, 0, 1, 0)
	follower.seed(x, 1, 1, 0)
	follower.seed(x, 2, 2, 2)
	// Epoch 3: broker 1 leads, broker 2 follows.
	leader.become(x, leader, 3, []int32{1, 2}, []int32{1, 2})
	follower.become(x, leader, 3, []int32{1, 2}, []int32{1, 2})
	waitSameLogs(t, x, leader, follower)
	if got, want := follower.log(x).EpochEntries(), leader.log(x).EpochEntries()[:2]; !slices.Equal(got, want) {
		t.Fatalf("follower epochs %v, leader's %v", got, want)
	}
	res := leader.replicas.AppendRecords(context.Background(), 5*time.Second, -1,
		map[storage.TopicPartition][]byte{x: buildTestBatch(t, 3, record.DefaultBuildOptions(), []byte("k"))})
	if r := res[x]; r.Err != nil || r.BaseOffset != 6 {
		t.Fatalf("acks=all produce: %+v", r)
	}
	waitSameLogs(t, x, leader, follower)
	if hw := leader.log(x).HighWatermark(); hw != 9 {
		t.Fatalf("leader HW %d", hw)
	}
}

func offsetForLeaderEpochRequest(version int16, topic string, current, epoch int32, parts ...int32) *kmsg.OffsetForLeaderEpochRequest {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version, req.ReplicaID = version, 2
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{rt}
	return req
}

func TestOffsetForLeaderEpoch_EveryVersion(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0}) // leader at epoch 0
	if _, err := db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 4, record.DefaultBuildOptions(), []byte("k"))}), "c"); err != nil {
		t.Fatal(err)
	}
	db.become(1, 3, []int32{1}, storage.TopicPartition{Topic: "t", Partition: 0}) // epoch 3 starts at 4
	for v := int16(0); v <= 4; v++ {
		resp, err := db.call(handleOffsetForLeaderEpoch, offsetForLeaderEpochRequest(v, "t", 3, 0, 0, 9), "c")
		if err != nil {
			t.Fatal(err)
		}
		r := resp.Msg.(*kmsg.OffsetForLeaderEpochResponse)
		back := kmsg.OffsetForLeaderEpochResponse{Version: v}
		if err := back.ReadFrom(r.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		p0, p9 := back.Topics[0].Partitions[0], back.Topics[0].Partitions[1]
		wantEpoch := int32(0)
		if v == 0 {
			wantEpoch = -1 // v0 answers have no epoch field (kmsg decodes the default)
		}
		if p0.ErrorCode != 0 || p0.EndOffset != 4 || p0.LeaderEpoch != wantEpoch {
			t.Fatalf("v%d: epoch 0 answer %+v", v, p0)
		}
		if p9.ErrorCode != kerr.UnknownTopicOrPartition.Code || p9.EndOffset != -1 {
			t.Fatalf("v%d: unknown partition %+v", v, p9)
		}
	}
	for _, c := range []struct {
		current, epoch int32
		code           int16
		end            int64
	}{
		{2, 0, kerr.FencedLeaderEpoch.Code, -1},
		{4, 0, kerr.UnknownLeaderEpoch.Code, -1},
		{-1, 3, 0, 4}, // the current epoch ends at the LEO
		{-1, 7, 0, -1},
	} {
		resp, err := db.call(handleOffsetForLeaderEpoch, offsetForLeaderEpochRequest(4, "t", c.current, c.epoch, 0), "c")
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Msg.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
		if p.ErrorCode != c.code || p.EndOffset != c.end {
			t.Fatalf("current %d epoch %d: %+v", c.current, c.epoch, p)
		}
	}
	a, err := compileAPIs(apiTable)
	if err != nil || !a.supported(int16(kmsg.OffsetForLeaderEpoch), 0) || !a.supported(int16(kmsg.OffsetForLeaderEpoch), 4) ||
		a.supported(int16(kmsg.OffsetForLeaderEpoch), 5) {
		t.Fatalf("OffsetForLeaderEpoch must be served at v0-v4 exactly (%v)", err)
	}
}

func TestFetchEncode_DivergingEpochMatchesKmsg(t *testing.T) {
	f := &fetchResponse{version: 12, topics: []fetchResponseTopic{{name: "t", partitions: []fetchResponsePartition{
		{partition: 0, highWatermark: 9, lastStableOffset: 9, logStartOffset: 0, diverging: &divergingEpoch{epoch: 3, endOffset: 17}},
		{partition: 1, highWatermark: 2, lastStableOffset: 2, logStartOffset: 0},
	}}}}
	got := materializeChunks(t, f.chunks())
	k := kmsg.NewPtrFetchResponse()
	k.Version = 12
	rt := kmsg.NewFetchResponseTopic()
	rt.Topic = "t"
	p0 := kmsg.NewFetchResponseTopicPartition()
	p0.Partition, p0.HighWatermark, p0.LastStableOffset, p0.LogStartOffset = 0, 9, 9, 0
	p0.DivergingEpoch.Epoch, p0.DivergingEpoch.EndOffset = 3, 17
	p0.PreferredReadReplica, p0.RecordBatches = -1, []byte{}
	p1 := kmsg.NewFetchResponseTopicPartition()
	p1.Partition, p1.HighWatermark, p1.LastStableOffset, p1.LogStartOffset = 1, 2, 2, 0
	p1.PreferredReadReplica, p1.RecordBatches = -1, []byte{}
	rt.Partitions = []kmsg.FetchResponseTopicPartition{p0, p1}
	k.Topics = []kmsg.FetchResponseTopic{rt}
	if want := k.AppendTo(nil); !slices.Equal(got, want) {
		t.Fatalf("hand encoding\n %x\nkmsg\n %x", got, want)
	}
	back := kmsg.NewPtrFetchResponse()
	back.Version = 12
	if err := back.ReadFrom(got); err != nil || back.Topics[0].Partitions[0].DivergingEpoch.EndOffset != 17 {
		t.Fatalf("decode: %v %+v", err, back.Topics[0].Partitions[0].DivergingEpoch)
	}
}

// fakeControllerServer answers AlterIsr on a TCP listener with scripted top-level errors first.
type fakeControllerServer struct {
	ln       net.Listener
	conns    atomic.Int32
	requests atomic.Int32
	topErrs  []int16
	mu       sync.Mutex
	got      []*kmsg.AlterPartitionRequest
	wg       sync.WaitGroup
}

func newFakeControllerServer(t *testing.T, topErrs ...int16) *fakeControllerServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeControllerServer{ln: ln, topErrs: topErrs}
	supported := protocol.SupportedFunc([]protocol.APIRange{{Key: int16(kmsg.AlterPartition), Min: 0, Max: 0}})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer nc.Close()
				for {
					frame, err := protocol.ReadFrame(nc, 1<<20, nil)
					if err != nil {
						return
					}
					hdr, msg, err := protocol.ParseRequest(frame, supported)
					if err != nil {
						return
					}
					req := msg.(*kmsg.AlterPartitionRequest)
					n := s.requests.Add(1)
					s.mu.Lock()
					s.got = append(s.got, req)
					s.mu.Unlock()
					resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
					if int(n) <= len(s.topErrs) {
						resp.ErrorCode = s.topErrs[n-1]
					} else {
						for _, t := range req.Topics {
							rt := kmsg.NewAlterPartitionResponseTopic()
							rt.Topic = t.Topic
							for _, p := range t.Partitions {
								rp := kmsg.NewAlterPartitionResponseTopicPartition()
								rp.Partition, rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = p.Partition, req.BrokerID, p.LeaderEpoch, p.NewISR, p.PartitionEpoch+1
								rt.Partitions = append(rt.Partitions, rp)
							}
							resp.Topics = append(resp.Topics, rt)
						}
					}
					if _, err := nc.Write(protocol.AppendResponse(nil, hdr, resp)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); s.wg.Wait() })
	return s
}

func alterRequest() *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version, req.BrokerID, req.BrokerEpoch = 0, 2, 77
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.NewISR, rp.PartitionEpoch = 0, 4, []int32{2, 3}, 9
	rt.Partitions = []kmsg.AlterPartitionRequestTopicPartition{rp}
	req.Topics = []kmsg.AlterPartitionRequestTopic{rt}
	return req
}

func TestAlterISRClient_SendsToTheControllerAndReconnectsAfterNotController(t *testing.T) {
	srv := newFakeControllerServer(t, kerr.NotController.Code)
	port := int32(srv.ln.Addr().(*net.TCPAddr).Port)
	snap := &metadata.Snapshot{ControllerID: -1}
	var snapMu sync.Mutex
	c := newAlterISRClient(2, "PLAINTEXT", func() *metadata.Snapshot { snapMu.Lock(); defer snapMu.Unlock(); return snap }, 5*time.Second)
	defer c.close()
	ctx := context.Background()
	if _, err := c.send(ctx, alterRequest()); err == nil {
		t.Fatal("no controller known: the send must fail (and the replica manager retry)")
	}
	snapMu.Lock()
	snap = &metadata.Snapshot{ControllerID: 3, Brokers: []metadata.Broker{{ID: 3, Endpoints: []metadata.Endpoint{
		{Listener: "OTHER", Host: "127.0.0.1", Port: 1}, {Listener: "PLAINTEXT", Host: "127.0.0.1", Port: port}}}}}
	snapMu.Unlock()
	resp, err := c.send(ctx, alterRequest())
	if err != nil || resp.ErrorCode != kerr.NotController.Code {
		t.Fatalf("first answer: %+v %v", resp, err)
	}
	resp, err = c.send(ctx, alterRequest())
	if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || !slices.Equal(resp.Topics[0].Partitions[0].ISR, []int32{2, 3}) ||
		resp.Topics[0].Partitions[0].PartitionEpoch != 10 {
		t.Fatalf("second answer: %+v %v", resp, err)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Fatalf("%d connections: NOT_CONTROLLER must drop the connection", n)
	}
	srv.mu.Lock()
	got := srv.got[1]
	srv.mu.Unlock()
	if got.BrokerID != 2 || got.BrokerEpoch != 77 || got.Topics[0].Topic != "orders" || got.Topics[0].Partitions[0].PartitionEpoch != 9 {
		t.Fatalf("request as received: %+v", got)
	}
	// A connection error surfaces as an error; the next send dials again.
	_ = srv.ln.Close()
	c.close()
	if _, err := c.send(ctx, alterRequest()); err == nil {
		t.Fatal("send to a closed controller succeeded")
	}
}

// The replica manager's ISR changes reach a controller over the wire through the client.
func TestAlterISRClient_DrivesReplicaManagerShrink(t *testing.T) {
	srv := newFakeControllerServer(t)
	port := int32(srv.ln.Addr().(*net.TCPAddr).Port)
	snap := &metadata.Snapshot{ControllerID: 3, Brokers: []metadata.Broker{{ID: 3, Endpoints: []metadata.Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: port}}}}}
	c := newAlterISRClient(1, "PLAINTEXT", func() *metadata.Snapshot { return snap }, 5*time.Second)
	defer c.close()
	l := logrus.New()
	l.SetOutput(io.Discard)
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{t.TempDir()}, Default: storage.DefaultConfig()}, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	m := replica.NewManager(1, logs, replica.Config{ReplicaLagTimeMaxMs: 100, AlterISR: c.send}, logrus.NewEntry(l))
	ctx, cancel := context.WithCancel(context.Background())
	m.Start(ctx)
	defer func() { cancel(); m.Stop(); _ = logs.Close() }()
	x := storage.TopicPartition{Topic: "orders", Partition: 0}
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch, req.BrokerEpoch = 5, 1, 55
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = x.Topic
	ps := kmsg.NewLeaderAndISRRequestTopicPartition()
	ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas, ps.ZKVersion = 0, 1, 4, []int32{1, 2}, []int32{1, 2}, 9
	ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
	req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
	m.BecomeLeaderOrFollower(req, func(string) storage.Config { return storage.DefaultConfig() })
	res := m.AppendRecords(ctx, time.Second, 1, map[storage.TopicPartition][]byte{x: buildTestBatch(t, 1, record.DefaultBuildOptions(), nil)})
	if res[x].Err != nil {
		t.Fatal(res[x].Err)
	}
	// Broker 2 never fetches: the isr-expiration task (every 50 ms here) proposes {1} after 100 ms.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, _ := m.Partition(x)
		if st := p.State(); slices.Equal(st.ISR, []int32{1}) && st.ZKVersion == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ISR never shrank: %+v", p.State())
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
	srv.mu.Lock()
	got := srv.got[0]
	srv.mu.Unlock()
	if got.BrokerEpoch != 55 || got.Topics[0].Partitions[0].LeaderEpoch != 4 || !slices.Equal(got.Topics[0].Partitions[0].NewISR, []int32{1}) {
		t.Fatalf("AlterIsr as received: %+v", got)
	}
}
