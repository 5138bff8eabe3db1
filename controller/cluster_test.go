package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/zkregistry"
)

// chrootSeq makes chroots unique across -count runs.
var chrootSeq atomic.Int64

// testCluster is a chroot in the shared ZooKeeper with fake brokers, each running a real Controller on its
// own ZooKeeper session, as a broker process would.
type testCluster struct {
	t       *testing.T
	connect string
	admin   *zkregistry.Client // the test's own session (admin tools)
	brokers map[int32]*fakeBroker
}

func newCluster(t *testing.T) *testCluster {
	t.Helper()
	cl := &testCluster{
		t: t,
		connect: fmt.Sprintf("%s/%s-%d", zkServer.Addr(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()),
			chrootSeq.Add(1)),
		brokers: make(map[int32]*fakeBroker),
	}
	cl.admin = cl.dialZK()
	if err := cl.admin.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	return cl
}

func (cl *testCluster) dialZK() *zkregistry.Client {
	cl.t.Helper()
	c, err := zkregistry.Dial(zkregistry.Config{Connect: cl.connect, SessionTimeout: 6 * time.Second, Log: testLog(cl.t)})
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.t.Cleanup(c.Close)
	return c
}

// fakeBroker registers in /brokers/ids, runs a Controller, and answers LeaderAndIsr, UpdateMetadata and
// StopReplica with success (or stopReplicaError), recording every request.
type fakeBroker struct {
	id    int32
	zk    *zkregistry.Client
	ln    net.Listener
	epoch int64
	ctrl  *Controller

	stopReplicaError atomic.Int32 // error code StopReplica answers per partition
	killOnce         sync.Once
	wg               sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool // guarded by mu
	got   []kmsg.Request    // guarded by mu
}

// start brings up broker id (a new incarnation if it ran before).
func (cl *testCluster) start(id int32, cfg ...func(*Config)) *fakeBroker {
	cl.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cl.t.Fatal(err)
	}
	b := &fakeBroker{id: id, ln: ln, conns: make(map[net.Conn]bool), zk: cl.dialZK()}
	b.wg.Add(1)
	go b.accept()
	port := int32(ln.Addr().(*net.TCPAddr).Port)
	b.epoch, err = b.zk.RegisterBroker(zkregistry.BrokerInfo{ID: id, JMXPort: -1, Timestamp: time.Now().UnixMilli(),
		Endpoints: []zkregistry.Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: port}}})
	if err != nil {
		cl.t.Fatal(err)
	}
	c := Config{BrokerID: id, InterBrokerListener: "PLAINTEXT", RequestTimeout: 5 * time.Second, RetryBackoff: 20 * time.Millisecond}
	for _, f := range cfg {
		f(&c)
	}
	b.ctrl = New(c, b.zk, testLog(cl.t))
	b.ctrl.Start(context.Background())
	cl.brokers[id] = b
	cl.t.Cleanup(b.kill)
	return b
}

// kill stops the broker as a crash would look to the others: its session ends (registration gone, and
// /controller if it held it), its port closes.
func (b *fakeBroker) kill() {
	b.killOnce.Do(func() {
		b.zk.Close()
		b.ctrl.Stop()
		b.ln.Close()
		b.mu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
}

func (b *fakeBroker) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns[c] = true
		b.mu.Unlock()
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.serve(c)
		}()
	}
}

func (b *fakeBroker) serve(c net.Conn) {
	defer c.Close()
	for {
		frame, err := protocol.ReadFrame(c, 100<<20, nil)
		if err != nil {
			return
		}
		hdr, req, err := protocol.ParseRequest(frame, nil)
		if err != nil {
			return
		}
		resp := b.answer(req)
		if resp == nil {
			return
		}
		b.mu.Lock()
		b.got = append(b.got, req)
		b.mu.Unlock()
		if _, err := c.Write(protocol.AppendResponse(nil, hdr, resp)); err != nil {
			return
		}
	}
}

func (b *fakeBroker) answer(req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.LeaderAndISRRequest:
		resp := r.ResponseKind().(*kmsg.LeaderAndISRResponse)
		for _, ts := range r.TopicStates {
			rt := kmsg.LeaderAndISRResponseTopic{TopicID: ts.TopicID}
			for _, p := range ts.PartitionStates {
				rt.Partitions = append(rt.Partitions, kmsg.LeaderAndISRResponseTopicPartition{Partition: p.Partition})
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.UpdateMetadataRequest:
		return r.ResponseKind()
	case *kmsg.StopReplicaRequest:
		resp := r.ResponseKind().(*kmsg.StopReplicaResponse)
		for _, t := range r.Topics {
			for _, p := range t.PartitionStates {
				resp.Partitions = append(resp.Partitions, kmsg.StopReplicaResponsePartition{
					Topic: t.Topic, Partition: p.Partition, ErrorCode: int16(b.stopReplicaError.Load())})
			}
		}
		return resp
	}
	return nil
}

func (b *fakeBroker) requests() []kmsg.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]kmsg.Request(nil), b.got...)
}

// leaderAndIsr returns the last LeaderAndIsr partition state received for tp, with its request.
func (b *fakeBroker) leaderAndIsr(tp TopicPartition) (kmsg.LeaderAndISRRequestTopicPartition, *kmsg.LeaderAndISRRequest, bool) {
	reqs := b.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		r, ok := reqs[i].(*kmsg.LeaderAndISRRequest)
		if !ok {
			continue
		}
		for _, ts := range r.TopicStates {
			for _, p := range ts.PartitionStates {
				if ts.Topic == tp.Topic && p.Partition == tp.Partition {
					return p, r, true
				}
			}
		}
	}
	return kmsg.LeaderAndISRRequestTopicPartition{}, nil, false
}

// updateMetadata returns the last UpdateMetadata partition state received for tp, with its request.
func (b *fakeBroker) updateMetadata(tp TopicPartition) (kmsg.UpdateMetadataRequestTopicPartition, *kmsg.UpdateMetadataRequest, bool) {
	reqs := b.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		r, ok := reqs[i].(*kmsg.UpdateMetadataRequest)
		if !ok {
			continue
		}
		for _, ts := range r.TopicStates {
			for _, p := range ts.PartitionStates {
				if ts.Topic == tp.Topic && p.Partition == tp.Partition {
					return p, r, true
				}
			}
		}
	}
	return kmsg.UpdateMetadataRequestTopicPartition{}, nil, false
}

// lastUpdateMetadata returns the last UpdateMetadata received.
func (b *fakeBroker) lastUpdateMetadata() *kmsg.UpdateMetadataRequest {
	reqs := b.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if r, ok := reqs[i].(*kmsg.UpdateMetadataRequest); ok {
			return r
		}
	}
	return nil
}

// stopReplica returns the last StopReplica partition state received for tp.
func (b *fakeBroker) stopReplica(tp TopicPartition) (kmsg.StopReplicaRequestTopicPartitionState, *kmsg.StopReplicaRequest, bool) {
	reqs := b.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		r, ok := reqs[i].(*kmsg.StopReplicaRequest)
		if !ok {
			continue
		}
		for _, t := range r.Topics {
			for _, p := range t.PartitionStates {
				if t.Topic == tp.Topic && p.Partition == tp.Partition {
					return p, r, true
				}
			}
		}
	}
	return kmsg.StopReplicaRequestTopicPartitionState{}, nil, false
}

func liveBrokerIDs(r *kmsg.UpdateMetadataRequest) []int32 {
	if r == nil {
		return nil
	}
	ids := make([]int32, 0, len(r.LiveBrokers))
	for _, b := range r.LiveBrokers {
		ids = append(ids, b.ID)
	}
	return ids
}

// state reads a partition state znode (ok false when absent).
func (cl *testCluster) state(tp TopicPartition) (zkregistry.PartitionState, bool) {
	st, err := cl.admin.GetPartitionState(tp)
	if err != nil {
		return zkregistry.PartitionState{}, false
	}
	return st, true
}

func (cl *testCluster) exists(path string) bool {
	st, err := cl.admin.Exists(path)
	if err != nil {
		cl.t.Fatal(err)
	}
	return st != nil
}

// startActive starts the brokers in order and waits until the first is the controller and every live broker
// is known to it (each has received UpdateMetadata listing all of them).
func (cl *testCluster) startActive(ids ...int32) {
	cl.t.Helper()
	first := cl.start(ids[0])
	eventually(cl.t, 20*time.Second, "first broker elected", first.ctrl.IsActive)
	for _, id := range ids[1:] {
		cl.start(id)
	}
	for _, id := range ids {
		b := cl.brokers[id]
		eventually(cl.t, 20*time.Second, "brokers known to the controller", func() bool {
			return len(liveBrokerIDs(b.lastUpdateMetadata())) == len(ids)
		})
	}
}

// createTopic creates a topic as the admin path does and waits for every partition's state znode.
func (cl *testCluster) createTopic(name string, parts map[int32][]int32, config map[string]string) zkregistry.UUID {
	cl.t.Helper()
	id, err := cl.admin.CreateTopic(name, zkregistry.TopicAssignment{Partitions: parts}, config)
	if err != nil {
		cl.t.Fatal(err)
	}
	eventually(cl.t, 20*time.Second, "partitions of "+name+" initialized", func() bool {
		for p := range parts {
			if _, ok := cl.state(TopicPartition{Topic: name, Partition: p}); !ok {
				return false
			}
		}
		return true
	})
	return id
}

// inspect runs fn on the active controller's loop.
func inspect(t *testing.T, c *Controller, fn func(cc *controllerContext)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.call(ctx, func() {
		if c.cc != nil {
			fn(c.cc)
		}
	}); err != nil {
		t.Fatal(err)
	}
}
