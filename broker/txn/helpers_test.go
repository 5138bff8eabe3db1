package txn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// TestMain fails the run if a goroutine of this package outlives the tests (etcd's leak check).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if left := waitForGoroutines(func(stack string) bool {
			return strings.Contains(stack, "broker/txn.") && !strings.Contains(stack, "txn.TestMain(")
		}, 5*time.Second); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", strings.Join(left, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

func waitForGoroutines(match func(string) bool, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		var left []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if match(g) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// eventually polls cond until it holds or d passes (nats checkFor).
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
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

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeParts keeps real storage logs for the __transaction_state partitions; appends can be made to fail.
type fakeParts struct {
	dir string

	mu      sync.Mutex
	logs    map[int32]*storage.Log
	fail    error         // the next appends fail with it (nil: succeed)
	gate    chan struct{} // when set, Log waits for it to close (a slow load)
	appends int
}

func newFakeParts(t testing.TB) *fakeParts {
	f := &fakeParts{dir: t.TempDir(), logs: map[int32]*storage.Log{}}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, l := range f.logs {
			_ = l.Close()
		}
	})
	return f
}

func (f *fakeParts) log(t testing.TB, p int32) *storage.Log {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.logs[p]
	if l == nil {
		var err error
		cfg := storage.DefaultConfig()
		cfg.CleanupPolicy = "compact"
		if l, err = storage.OpenLog(f.dir, storage.TopicPartition{Topic: TopicName, Partition: p}, cfg, 0, 0, true, quietLog()); err != nil {
			t.Fatal(err)
		}
		f.logs[p] = l
	}
	return l
}

func (f *fakeParts) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeParts) appendCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.appends
}

func (f *fakeParts) Append(_ context.Context, p int32, _ time.Duration, batch []byte) (int64, error) {
	f.mu.Lock()
	l, fail := f.logs[p], f.fail
	f.mu.Unlock()
	if fail != nil {
		return -1, fail
	}
	if l == nil {
		return -1, kerr.NotLeaderForPartition
	}
	info, err := l.AppendAsLeader(batch, 0)
	if err != nil {
		return -1, err
	}
	l.SetHighWatermark(l.LogEndOffset())
	f.mu.Lock()
	f.appends++
	f.mu.Unlock()
	return info.FirstOffset, nil
}

func (f *fakeParts) Log(p int32) (Log, bool) {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.logs[p]
	return l, ok
}

// records reads partition p back: (transactional id, value or nil for a tombstone) in log order.
func (f *fakeParts) records(t *testing.T, p int32) []loggedRecord {
	t.Helper()
	l, _ := f.Log(p)
	res, err := l.Read(0, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	var out []loggedRecord
	for _, fr := range res.Ranges {
		data, err := fr.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		for len(data) > 0 {
			b, rest, err := record.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			data = rest
			if err := b.Records(0, func(r record.Record) error {
				id, err := DecodeKey(r.Key)
				if err != nil {
					return err
				}
				lr := loggedRecord{id: id}
				if r.Value != nil {
					v, err := DecodeValue(r.Value)
					if err != nil {
						return err
					}
					lr.value = &v
				}
				out = append(out, lr)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

type loggedRecord struct {
	id    string
	value *Value
}

// fakePIDs hands out producer ids from 1000 on.
type fakePIDs struct {
	mu   sync.Mutex
	next int64
}

func (p *fakePIDs) GenerateProducerID() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == 0 {
		p.next = 1000
	}
	p.next++
	return p.next - 1, nil
}

// sentMarker is one marker a fake broker received.
type sentMarker struct {
	broker     int32
	producerID int64
	epoch      int16
	commit     bool
	coordEpoch int32
	partitions []TopicPartition
}

// fakeTransport routes markers by a leader table and answers through answer (default: NONE everywhere).
type fakeTransport struct {
	mu      sync.Mutex
	leaders map[TopicPartition]int32 // absent: unknown partition; -1: no leader
	answer  func(broker int32, tp TopicPartition) (int16, error)
	hold    chan struct{} // when set, Send blocks until it is closed
	sent    []sentMarker
	lookups int
}

func (f *fakeTransport) leaderCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func newFakeTransport() *fakeTransport {
	return &fakeTransport{leaders: map[TopicPartition]int32{}}
}

func (f *fakeTransport) setLeader(tp TopicPartition, id int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leaders[tp] = id
}

func (f *fakeTransport) setAnswer(a func(broker int32, tp TopicPartition) (int16, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

func (f *fakeTransport) markers() []sentMarker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

func (f *fakeTransport) Leader(tp TopicPartition) (int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	id, ok := f.leaders[tp]
	return id, ok
}

func (f *fakeTransport) Send(ctx context.Context, id int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	f.mu.Lock()
	hold, answer := f.hold, f.answer
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	var sendErr error
	for _, m := range req.Markers {
		sm := sentMarker{broker: id, producerID: m.ProducerID, epoch: m.ProducerEpoch, commit: m.Committed, coordEpoch: m.CoordinatorEpoch}
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				tp := TopicPartition{Topic: t.Topic, Partition: p}
				var code int16
				if answer != nil {
					var err error
					if code, err = answer(id, tp); err != nil {
						sendErr = err
					}
				}
				if code == 0 && sendErr == nil {
					sm.partitions = append(sm.partitions, tp)
				}
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
		f.mu.Lock()
		f.sent = append(f.sent, sm)
		f.mu.Unlock()
	}
	if sendErr != nil {
		return nil, sendErr
	}
	return resp, nil
}

// testCoordinator is a started coordinator over fake partitions (one __transaction_state partition, led
// at epoch 5 unless the test loads differently), a fake clock and a fake marker transport.
type testCoordinator struct {
	*Coordinator
	t         testing.TB
	parts     *fakeParts
	clock     *fakeClock
	transport *fakeTransport
	pids      *fakePIDs
}

func newTestCoordinator(t testing.TB, parts *fakeParts) *testCoordinator {
	t.Helper()
	if parts == nil {
		parts = newFakeParts(t)
	}
	clock := &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
	tr := newFakeTransport()
	pids := &fakePIDs{}
	cfg := DefaultConfig()
	cfg.NumPartitions = 1
	cfg.AbortTimedOutInterval = 0 // the tests call the periodic tasks themselves
	cfg.RemoveExpiredInterval = 0
	cfg.RetryBackoff = 5 * time.Millisecond
	c := New(cfg, parts, pids, tr, clock, quietLog())
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	return &testCoordinator{Coordinator: c, t: t, parts: parts, clock: clock, transport: tr, pids: pids}
}

// elect makes the coordinator lead partition 0 at epoch and waits for the load.
func (tc *testCoordinator) elect(epoch int32) {
	tc.t.Helper()
	tc.parts.log(tc.t, 0)
	tc.OnElection(0, epoch)
	eventually(tc.t, 5*time.Second, "partition loaded", func() bool {
		tc.state.statusMu.Lock()
		defer tc.state.statusMu.Unlock()
		e, ok := tc.state.owned[0]
		return ok && e == epoch
	})
}

func (tc *testCoordinator) describe(id string) Snapshot {
	tc.t.Helper()
	s, err := tc.Describe(id)
	if err != nil {
		tc.t.Fatalf("describe %s: %v", id, err)
	}
	return s
}

// waitState waits until id is in state want with no change pending.
func (tc *testCoordinator) waitState(id string, want State) {
	tc.t.Helper()
	eventually(tc.t, 5*time.Second, fmt.Sprintf("%s in state %s", id, want), func() bool {
		s, err := tc.Describe(id)
		return err == nil && s.State == want && !s.Pending
	})
}

func (tc *testCoordinator) initPID(id string, timeoutMs int32) (int64, int16) {
	tc.t.Helper()
	pid, epoch, err := tc.InitProducerID(context.Background(), id, timeoutMs, nil)
	if err != nil {
		tc.t.Fatalf("InitProducerID(%s): %v", id, err)
	}
	return pid, epoch
}

func wantErr(t *testing.T, got, want error) {
	t.Helper()
	if want == nil && got == nil {
		return
	}
	if !errors.Is(got, want) {
		t.Fatalf("error %v, want %v", got, want)
	}
}

var ctx = context.Background()
