package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// A test cluster of replica managers over real logs, connected by an in-process transport that serves
// Fetch, OffsetForLeaderEpoch and ListOffsets from the target manager the way the broker's handlers do,
// and a fake controller that answers AlterIsr like Kafka's (leader epoch and zkVersion checks).

var errBrokerDown = errors.New("test: broker down (connection refused)")

type testBroker struct {
	id         int32
	dir        string
	logs       *storage.Manager
	m          *Manager
	stopped    atomic.Bool
	down       atomic.Bool  // every request fails, as with a refused connection
	blockFetch atomic.Bool  // Fetch fails, OffsetForLeaderEpoch and ListOffsets are answered
	now        atomic.Int64 // the manager's clock, ms
}

type testCluster struct {
	t       testing.TB
	mu      sync.Mutex // guards brokers: fetchers dial while a test restarts a broker
	cfg     Config
	brokers map[int32]*testBroker
	ctrl    *fakeController
	ctx     context.Context
}

// newTestCluster starts managers for ids. cfg applies to every broker (fetcher timings shortened).
func newTestCluster(t testing.TB, cfg Config, ids ...int32) *testCluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if cfg.ReplicaFetchWaitMaxMs == 0 {
		cfg.ReplicaFetchWaitMaxMs = 100
	}
	if cfg.ReplicaFetchBackoffMs == 0 {
		cfg.ReplicaFetchBackoffMs = 20
	}
	c := &testCluster{t: t, cfg: cfg, brokers: map[int32]*testBroker{}, ctrl: newFakeController(), ctx: ctx}
	for _, id := range ids {
		c.start(id, t.TempDir())
	}
	return c
}

// start runs broker id's manager over dir (a restart when dir holds its previous logs).
func (c *testCluster) start(id int32, dir string) *testBroker {
	c.t.Helper()
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{dir}, Default: testLogConfig()}, quietLog())
	if err != nil {
		c.t.Fatal(err)
	}
	b := &testBroker{id: id, dir: dir, logs: logs}
	b.now.Store(time.Now().UnixMilli())
	cfg := c.cfg
	cfg.DialLeader = func(ctx context.Context, addr string) (LeaderConn, error) {
		var target int32
		if _, err := fmt.Sscanf(addr, "broker-%d:9092", &target); err != nil {
			return nil, err
		}
		tb, ok := c.broker(target)
		if !ok || tb.down.Load() || tb.stopped.Load() {
			return nil, errBrokerDown
		}
		return &loopConn{c: c, target: tb}, nil
	}
	cfg.AlterISR = c.ctrl.alterISR
	cfg.LeaderAlive = func(id int32) bool { _, ok := c.broker(id); return ok }
	b.m = NewManager(id, logs, cfg, quietLog())
	b.m.now = b.now.Load
	b.m.Start(c.ctx)
	c.mu.Lock()
	c.brokers[id] = b
	c.mu.Unlock()
	c.t.Cleanup(func() { b.stop() })
	return b
}

var stopMu sync.Mutex

func (b *testBroker) stop() {
	stopMu.Lock()
	defer stopMu.Unlock()
	if b.stopped.Swap(true) {
		return
	}
	b.m.Stop()
	_ = b.logs.Close()
}

// restart stops broker id and starts it again over the same log dir.
func (c *testCluster) restart(id int32, beforeStart func(dir string)) *testBroker {
	c.t.Helper()
	b := c.brokers[id]
	b.stop()
	if beforeStart != nil {
		beforeStart(b.dir)
	}
	return c.start(id, b.dir)
}

func (c *testCluster) broker(id int32) (*testBroker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.brokers[id]
	return b, ok
}

func addrOf(id int32) string { return fmt.Sprintf("broker-%d:9092", id) }

// lair applies a LeaderAndIsr for tp to every broker in to (the controller's view is updated first).
func (c *testCluster) lair(tp storage.TopicPartition, leader, epoch int32, isr, replicas []int32, to ...int32) {
	c.t.Helper()
	zk := c.ctrl.set(tp, leader, epoch, isr)
	for _, id := range to {
		req := lair(1, leader, epoch, isr, replicas, tp)
		req.BrokerEpoch = 100
		req.TopicStates[0].PartitionStates[0].ZKVersion = zk
		if _, ok := c.broker(leader); ok {
			req.LiveLeaders = append(req.LiveLeaders, kmsg.LeaderAndISRRequestLiveLeader{BrokerID: leader, Host: fmt.Sprintf("broker-%d", leader), Port: 9092})
		}
		resp := c.brokers[id].m.BecomeLeaderOrFollower(req, func(string) storage.Config { return testLogConfig() })
		for _, code := range lairCodes(resp) {
			if code != 0 {
				c.t.Fatalf("LeaderAndIsr on broker %d: %v", id, lairCodes(resp))
			}
		}
	}
}

func (c *testCluster) log(id int32, tp storage.TopicPartition) *storage.Log {
	p, ok := c.brokers[id].m.Partition(tp)
	if !ok || p.Log() == nil {
		c.t.Fatalf("broker %d has no log for %s", id, tp)
	}
	return p.Log()
}

// batches lists (base offset, epoch, CRC) of every batch in broker id's log of tp: the comparison Kafka's
// EpochDrivenReplicationProtocolAcceptanceTest makes.
func (c *testCluster) batches(id int32, tp storage.TopicPartition) []string {
	c.t.Helper()
	l := c.log(id, tp)
	res, err := l.Read(l.LogStartOffset(), 1<<30, -1, true)
	if err != nil {
		return []string{"read error: " + err.Error()} // e.g. truncated under the read: not in sync yet
	}
	defer res.Release()
	var buf []byte
	for _, fr := range res.Ranges {
		b, err := fr.Bytes()
		if err != nil {
			return []string{"read error: " + err.Error()}
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

// waitInSync waits until every broker in ids has the same batches as the leader's log and its LEO.
func (c *testCluster) waitInSync(tp storage.TopicPartition, leader int32, ids ...int32) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		want := c.batches(leader, tp)
		same := true
		for _, id := range ids {
			if got := c.batches(id, tp); !slices.Equal(got, want) {
				same = false
				if time.Now().After(deadline) {
					c.t.Fatalf("broker %d's log of %s never matched leader %d's:\n got  %v\n want %v", id, tp, leader, got, want)
				}
			}
		}
		if same {
			return
		}
		time.Sleep(2 * time.Millisecond) // polling interval
	}
}

// produce appends one batch of n records to broker id as leader with acks.
func (c *testCluster) produce(id int32, tp storage.TopicPartition, n int, acks int16, timeout time.Duration) ProduceResult {
	return c.brokers[id].m.AppendRecords(context.Background(), timeout, acks, map[storage.TopicPartition][]byte{tp: batch(c.t, n, 20)})[tp]
}

// appendEpochs writes batches with explicit offsets and epochs to broker id's log, as if it had replicated
// or led them earlier: each spec is {base offset, records, epoch}.
func (c *testCluster) appendEpochs(id int32, tp storage.TopicPartition, specs ...[3]int64) {
	c.t.Helper()
	l := c.log(id, tp)
	for _, s := range specs {
		recs := make([]record.BuildRecord, s[1])
		for i := range recs {
			// The same spec on two brokers gives the same bytes: the batch one leader wrote and the other replicated.
			recs[i] = record.BuildRecord{Value: []byte(fmt.Sprintf("e%d-o%d-n%d", s[2], s[0]+int64(i), s[1])), Timestamp: 1_700_000_000_000}
		}
		opt := record.DefaultBuildOptions()
		opt.BaseOffset, opt.PartitionLeaderEpoch = s[0], int32(s[2])
		b, err := record.Build(recs, opt)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := l.AppendAsFollower(b); err != nil {
			c.t.Fatalf("seed broker %d at %d: %v", id, s[0], err)
		}
	}
}

// loopConn is the in-process transport: it answers as the target broker's handlers would.
type loopConn struct {
	c      *testCluster
	target *testBroker
	closed atomic.Bool
}

func (lc *loopConn) Close() error { lc.closed.Store(true); return nil }

func (lc *loopConn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if lc.closed.Load() || lc.target.down.Load() {
		return nil, errBrokerDown
	}
	m := lc.target.m
	if lc.target.stopped.Load() {
		return nil, errBrokerDown
	}
	switch r := req.(type) {
	case *kmsg.FetchRequest:
		if lc.target.blockFetch.Load() {
			return nil, errBrokerDown
		}
		return loopFetch(ctx, m, r), nil
	case *kmsg.OffsetForLeaderEpochRequest:
		resp := r.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition = p.Partition
				eo, err := m.LastOffsetForLeaderEpoch(tp(t.Topic, p.Partition), p.CurrentLeaderEpoch, p.LeaderEpoch)
				rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = code(err), eo.LeaderEpoch, eo.EndOffset
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	case *kmsg.ListOffsetsRequest:
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range r.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition = p.Partition
				lk, err := m.FetchOffsetForTimestamp(tp(t.Topic, p.Partition), p.Timestamp, IsolationLogEnd, p.CurrentLeaderEpoch, true)
				rp.ErrorCode, rp.Offset = code(err), lk.Offset
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return nil, fmt.Errorf("loopConn: unexpected %T", req)
}

// divergingAnswers counts Fetch answers that carried a DivergingEpoch.
var divergingAnswers atomic.Int64

func loopFetch(ctx context.Context, m *Manager, r *kmsg.FetchRequest) *kmsg.FetchResponse {
	params := FetchParams{
		ReplicaID: r.ReplicaID, MaxWait: time.Duration(r.MaxWaitMillis) * time.Millisecond, MinBytes: r.MinBytes,
		MaxBytes: r.MaxBytes, Isolation: FetchIsolation(r.ReplicaID, r.IsolationLevel), FetchOnlyFromLeader: true,
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			params.Partitions = append(params.Partitions, FetchPartition{TopicPartition: tp(t.Topic, p.Partition),
				FetchOffset: p.FetchOffset, LogStartOffset: p.LogStartOffset, MaxBytes: p.PartitionMaxBytes,
				CurrentLeaderEpoch: p.CurrentLeaderEpoch, LastFetchedEpoch: p.LastFetchedEpoch})
		}
	}
	results := m.FetchMessages(ctx, params)
	resp := r.ResponseKind().(*kmsg.FetchResponse)
	for i, fp := range params.Partitions {
		res := &results[i]
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != fp.TopicPartition.Topic {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = fp.TopicPartition.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition, rp.ErrorCode = fp.TopicPartition.Partition, code(res.Err)
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
		if d := res.DivergingEpoch; d != nil {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = d.LeaderEpoch, d.EndOffset
			divergingAnswers.Add(1)
		}
		for _, fr := range res.Ranges {
			b, err := fr.Bytes()
			if err == nil {
				rp.RecordBatches = append(rp.RecordBatches, b...)
			}
		}
		res.Release()
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	return resp
}

// fakeController answers AlterIsr as Kafka's controller does (reference 02 §14) over its own copy of each
// partition's state, and can be told to fail.
type fakeController struct {
	mu       sync.Mutex
	state    map[storage.TopicPartition]*ctrlPartition
	requests []*kmsg.AlterPartitionRequest
	failNext []error       // transport errors for the next requests
	topErr   []int16       // top-level error codes for the next requests
	hold     chan struct{} // when set, requests wait for it to close
	held     atomic.Int32  // requests that waited on hold
}

type ctrlPartition struct {
	leader, epoch int32
	isr           []int32
	zkVersion     int32
}

func newFakeController() *fakeController {
	return &fakeController{state: map[storage.TopicPartition]*ctrlPartition{}}
}

// set records the state the controller sends in LeaderAndIsr and returns its zkVersion.
func (fc *fakeController) set(x storage.TopicPartition, leader, epoch int32, isr []int32) int32 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	st, ok := fc.state[x]
	if !ok {
		st = &ctrlPartition{}
		fc.state[x] = st
	}
	if ok && st.leader == leader && st.epoch == epoch && slices.Equal(st.isr, isr) {
		return st.zkVersion // resending the state (a broker startup) writes no znode
	}
	st.leader, st.epoch, st.isr = leader, epoch, slices.Clone(isr)
	st.zkVersion++
	return st.zkVersion
}

func (fc *fakeController) isr(x storage.TopicPartition) []int32 {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return slices.Clone(fc.state[x].isr)
}

func (fc *fakeController) numRequests() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.requests)
}

func (fc *fakeController) alterISR(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	fc.mu.Lock()
	hold := fc.hold
	fc.mu.Unlock()
	if hold != nil {
		fc.held.Add(1)
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.requests = append(fc.requests, req)
	if len(fc.failNext) > 0 {
		err := fc.failNext[0]
		fc.failNext = fc.failNext[1:]
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if len(fc.topErr) > 0 {
		resp.ErrorCode = fc.topErr[0]
		fc.topErr = fc.topErr[1:]
		return resp, nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionResponseTopicPartition()
			rp.Partition = p.Partition
			st, ok := fc.state[tp(t.Topic, p.Partition)]
			switch {
			case !ok:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.LeaderEpoch < st.epoch:
				rp.ErrorCode = kerr.FencedLeaderEpoch.Code
			case p.PartitionEpoch != st.zkVersion:
				rp.ErrorCode = kerr.InvalidUpdateVersion.Code
			default:
				st.isr = slices.Clone(p.NewISR)
				st.zkVersion++
				rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = req.BrokerID, st.epoch, slices.Clone(st.isr), st.zkVersion
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

func TestFetcherID_JavaHashOfTopicAndPartition(t *testing.T) {
	// Values computed with Kafka's formula: Utils.abs(31 * "topic".hashCode + p) % n.
	for _, c := range []struct {
		topic string
		p     int32
		n     int
		want  int
	}{
		{"orders", 0, 1, 0},
		{"orders", 0, 3, int(abs32(31*javaHash("orders")) % 3)},
		{"orders", 7, 4, int(abs32(31*javaHash("orders")+7) % 4)},
		{strings.Repeat("z", 40), 2, 5, int(abs32(31*javaHash(strings.Repeat("z", 40))+2) % 5)},
	} {
		if got := fetcherID(tp(c.topic, c.p), c.n); got != c.want || got < 0 || got >= c.n {
			t.Errorf("fetcherID(%s-%d, %d) = %d, want %d", c.topic, c.p, c.n, got, c.want)
		}
	}
	if javaHash("orders") != -1008770331 { // "orders".hashCode() in Java
		t.Fatalf("javaHash = %d", javaHash("orders"))
	}
}

func javaHash(s string) int32 {
	var h int32
	for _, c := range s {
		h = 31*h + int32(c)
	}
	return h
}

func abs32(v int32) int32 {
	if v == -1<<31 {
		return 0
	}
	if v < 0 {
		return -v
	}
	return v
}
