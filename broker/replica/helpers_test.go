package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// TestMain fails the run when goroutines of this package (or the purgatories it starts) outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if (strings.Contains(g, "broker/replica.") || strings.Contains(g, "broker/purgatory.")) &&
				!strings.Contains(g, "replica.TestMain") && !strings.Contains(g, "replica.waitForLeaks") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(200 * time.Microsecond) // polling interval
	}
}

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

type fixture struct {
	t    *testing.T
	dir  string
	logs *storage.Manager
	m    *Manager
	now  atomic.Int64
}

func testLogConfig() storage.Config {
	c := storage.DefaultConfig()
	c.FileDeleteDelayMs = 0
	return c
}

// newFixture runs broker 1's replica manager over a fresh storage.Manager in a temp dir.
func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return openFixture(t, t.TempDir(), cfg)
}

func openFixture(t *testing.T, dir string, cfg Config) *fixture {
	t.Helper()
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{dir}, Default: testLogConfig()}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, dir: dir, logs: logs}
	f.now.Store(1_700_000_000_000)
	f.m = NewManager(1, logs, cfg, quietLog())
	f.m.now = f.now.Load
	t.Cleanup(f.close)
	return f
}

func (f *fixture) close() {
	f.m.Stop()
	if err := f.logs.Close(); err != nil {
		f.t.Errorf("close logs: %v", err)
	}
}

func tp(topic string, p int32) storage.TopicPartition {
	return storage.TopicPartition{Topic: topic, Partition: p}
}

// lair builds a v5 LeaderAndIsr with one partition state per tp.
func lair(controllerEpoch int32, leader, leaderEpoch int32, isr, replicas []int32, tps ...storage.TopicPartition) *kmsg.LeaderAndISRRequest {
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version = 5
	req.ControllerID = 1
	req.ControllerEpoch = controllerEpoch
	for _, x := range tps {
		var ts *kmsg.LeaderAndISRRequestTopicState
		for i := range req.TopicStates {
			if req.TopicStates[i].Topic == x.Topic {
				ts = &req.TopicStates[i]
			}
		}
		if ts == nil {
			req.TopicStates = append(req.TopicStates, kmsg.NewLeaderAndISRRequestTopicState())
			ts = &req.TopicStates[len(req.TopicStates)-1]
			ts.Topic = x.Topic
			ts.TopicID = [16]byte{byte(len(x.Topic)), 7}
		}
		ps := kmsg.NewLeaderAndISRRequestTopicPartition()
		ps.Partition, ps.ControllerEpoch, ps.Leader, ps.LeaderEpoch = x.Partition, controllerEpoch, leader, leaderEpoch
		ps.ISR, ps.Replicas, ps.IsNew = isr, replicas, true
		ts.PartitionStates = append(ts.PartitionStates, ps)
	}
	return req
}

func (f *fixture) apply(req *kmsg.LeaderAndISRRequest) *kmsg.LeaderAndISRResponse {
	f.t.Helper()
	return f.m.BecomeLeaderOrFollower(req, func(string) storage.Config { return testLogConfig() })
}

// lead makes broker 1 the sole replica and leader of tps at leader epoch 0.
func (f *fixture) lead(tps ...storage.TopicPartition) {
	f.t.Helper()
	resp := f.apply(lair(1, 1, 0, []int32{1}, []int32{1}, tps...))
	for _, c := range lairCodes(resp) {
		if c != 0 {
			f.t.Fatalf("LeaderAndIsr: %v", lairCodes(resp))
		}
	}
}

// lairCodes flattens a LeaderAndIsr response's partition error codes in order.
func lairCodes(resp *kmsg.LeaderAndISRResponse) []int16 {
	var out []int16
	for _, p := range resp.Partitions {
		out = append(out, p.ErrorCode)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, p.ErrorCode)
		}
	}
	return out
}

// batch builds one producer batch of n records with values of size bytes.
func batch(t testing.TB, n, size int) []byte {
	t.Helper()
	recs := make([]record.BuildRecord, n)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = record.BuildRecord{Key: []byte(fmt.Sprintf("k%d", i)), Value: v, Timestamp: 1_700_000_000_000 + int64(i)}
	}
	b, err := record.Build(recs, record.DefaultBuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) produce(acks int16, timeout time.Duration, req map[storage.TopicPartition][]byte) map[storage.TopicPartition]ProduceResult {
	return f.m.AppendRecords(context.Background(), timeout, acks, req)
}

// mustProduce appends one batch of n records with acks=1 and returns its base offset.
func (f *fixture) mustProduce(x storage.TopicPartition, n, size int) int64 {
	f.t.Helper()
	res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: batch(f.t, n, size)})[x]
	if res.Err != nil {
		f.t.Fatalf("produce to %s: %v", x, res.Err)
	}
	return res.BaseOffset
}

func code(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return -1
}

// consumerFetch is a sessionless read_uncommitted consumer fetch of one partition at offset.
func consumerFetch(x storage.TopicPartition, offset int64, maxBytes int32) FetchParams {
	return FetchParams{
		ReplicaID: -1, MaxBytes: 1 << 20, Isolation: IsolationHighWatermark, FetchOnlyFromLeader: true,
		Partitions: []FetchPartition{{TopicPartition: x, FetchOffset: offset, LogStartOffset: -1, MaxBytes: maxBytes, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}},
	}
}

// readAll materialises a result's ranges and releases them.
func readAll(t *testing.T, r *FetchResult) []byte {
	t.Helper()
	defer r.Release()
	var out []byte
	for _, fr := range r.Ranges {
		b, err := fr.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// batchOffsets lists the base offsets of the complete batches in buf.
func batchOffsets(t *testing.T, buf []byte) []int64 {
	t.Helper()
	var out []int64
	for len(buf) > 0 {
		b, rest, err := record.Next(buf)
		if err != nil {
			break // a cut last batch is allowed in fetch responses
		}
		out = append(out, b.BaseOffset())
		buf = rest
	}
	return out
}
