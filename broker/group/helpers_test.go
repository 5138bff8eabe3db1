package group

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// TestMain fails the run if a goroutine of this package outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			var left []string
			for _, g := range strings.Split(string(buf), "\n\n") {
				if strings.Contains(g, "broker/group.") && !strings.Contains(g, "group.TestMain(") {
					left = append(left, g)
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", strings.Join(left, "\n\n"))
				code = 1
				break
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}
	os.Exit(code)
}

// fakeClock fires timers only when the test advances it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers map[int]*fakeTimer
}

type fakeTimer struct {
	at  time.Time
	seq int
	f   func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.UnixMilli(1_600_000_000_000), timers: map[int]*fakeTimer{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	seq := c.seq
	c.timers[seq] = &fakeTimer{at: c.now.Add(d), seq: seq, f: f}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[seq]
		delete(c.timers, seq)
		return ok
	}
}

// fireNext runs the earliest timer due at or before until, moving the clock to it.
func (c *fakeClock) fireNext(until time.Time) bool {
	c.mu.Lock()
	var next *fakeTimer
	for _, t := range c.timers {
		if !t.at.After(until) && (next == nil || t.at.Before(next.at) || (t.at.Equal(next.at) && t.seq < next.seq)) {
			next = t
		}
	}
	if next == nil {
		c.mu.Unlock()
		return false
	}
	delete(c.timers, next.seq)
	if next.at.After(c.now) {
		c.now = next.at
	}
	c.mu.Unlock()
	next.f()
	return true
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

// fakeParts keeps each offsets partition in a real storage.Log and can fail or hold appends.
type fakeParts struct {
	t    testing.TB
	dir  string
	mu   sync.Mutex
	logs map[int32]*storage.Log
	fail func(partition int32, acks int16) error // non-nil result fails the append
	hold chan struct{}                           // when set, appends wait for it to close
	// readHook runs before every Log read of loading (blocks a load in tests).
	readHook func()
	appends  int
}

func newFakeParts(t testing.TB) *fakeParts {
	return &fakeParts{t: t, dir: t.TempDir(), logs: map[int32]*storage.Log{}}
}

func (f *fakeParts) log(p int32) *storage.Log {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.logs[p]
	if !ok {
		cfg := storage.DefaultConfig()
		cfg.CleanupPolicy = "compact"
		var err error
		quiet := logrus.New()
		quiet.SetOutput(io.Discard)
		l, err = storage.OpenLog(f.dir, storage.TopicPartition{Topic: TopicName, Partition: p}, cfg, 0, 0, true, logrus.NewEntry(quiet))
		if err != nil {
			f.t.Fatalf("open log: %v", err)
		}
		f.t.Cleanup(func() { _ = l.Close() })
		f.logs[p] = l
	}
	return l
}

func (f *fakeParts) Append(ctx context.Context, p int32, acks int16, _ time.Duration, batch []byte) (int64, error) {
	f.mu.Lock()
	fail, hold := f.fail, f.hold
	f.appends++
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return -1, kerr.RequestTimedOut
		}
	}
	if fail != nil {
		if err := fail(p, acks); err != nil {
			return -1, err
		}
	}
	info, err := f.log(p).AppendAsCoordinator(batch, 0) // the coordinator's origin, as the broker appends
	if err != nil {
		return -1, err
	}
	return info.FirstOffset, nil
}

type hookedLog struct {
	*storage.Log
	hook func()
}

func (h hookedLog) Read(offset int64, maxBytes int, maxOffset int64, minOne bool) (storage.ReadResult, error) {
	if h.hook != nil {
		h.hook()
	}
	return h.Log.Read(offset, maxBytes, maxOffset, minOne)
}

func (f *fakeParts) Log(p int32) (Log, bool) {
	f.mu.Lock()
	hook := f.readHook
	f.mu.Unlock()
	return hookedLog{Log: f.log(p), hook: hook}, true
}

// harness is a started coordinator over fake partitions and a fake clock, owning every offsets
// partition (loaded from empty logs).
type harness struct {
	t     testing.TB
	c     *Coordinator
	clock *fakeClock
	parts *fakeParts
	ctx   context.Context
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.InitialRebalanceDelay = 0
	return cfg
}

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	cfg := testConfig()
	for _, m := range mod {
		m(&cfg)
	}
	h := &harness{t: t, clock: newFakeClock(), parts: newFakeParts(t), ctx: context.Background()}
	h.c = New(cfg, h.parts, h.clock, nil)
	h.c.Start(context.Background())
	t.Cleanup(h.c.Stop)
	for p := int32(0); p < cfg.NumPartitions; p++ {
		h.c.OnElection(p, 0)
	}
	h.waitLoaded()
	return h
}

// waitLoaded polls until no partition is loading.
func (h *harness) waitLoaded() {
	h.t.Helper()
	eventually(h.t, 5*time.Second, "partitions loaded", func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		for _, o := range h.c.owned {
			if o.loading {
				return false
			}
		}
		return true
	})
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

// flush waits until every group has run everything posted so far (twice: a closure may post more).
func (h *harness) flush() {
	h.t.Helper()
	for range 2 {
		for _, g := range h.c.snapshotGroups() {
			done := make(chan struct{})
			if !g.box.post(func() { close(done) }) {
				continue
			}
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				h.t.Fatal("group goroutine did not run a flush")
			}
		}
	}
}

// advance moves the fake clock by d, firing due timers one at a time and letting groups process each.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.flush()
	until := h.clock.Now().Add(d)
	for h.clock.fireNext(until) {
		h.flush()
	}
	h.clock.set(until)
	h.flush()
}

// state returns a group's state name ("" when absent).
func (h *harness) state(groupID string) string {
	h.flush()
	h.c.mu.Lock()
	g := h.c.groups[groupID]
	h.c.mu.Unlock()
	if g == nil {
		return ""
	}
	return g.view.Load().state.String()
}

// inGroup runs f on the group's goroutine and waits.
func (h *harness) inGroup(groupID string, f func(g *group)) {
	h.t.Helper()
	h.c.mu.Lock()
	g := h.c.groups[groupID]
	h.c.mu.Unlock()
	if g == nil {
		h.t.Fatalf("no group %s", groupID)
	}
	done := make(chan struct{})
	g.box.post(func() { f(g); close(done) })
	<-done
}

const (
	testGroup    = "groupId"
	protoType    = "consumer"
	session      = 10000
	rebalanceTmo = 30000
)

func protocols(names ...string) []kmsg.JoinGroupRequestProtocol {
	if len(names) == 0 {
		names = []string{"range"}
	}
	var out []kmsg.JoinGroupRequestProtocol
	for _, n := range names {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = n, subscription("topic")
		out = append(out, p)
	}
	return out
}

// subscription is a consumer protocol subscription (v0) to topics.
func subscription(topics ...string) []byte {
	var w writer
	w.int16(0)
	w.int32(int32(len(topics)))
	for _, t := range topics {
		w.string(t)
	}
	w.bytes(nil)
	return w.b
}

type joinOpt func(*kmsg.JoinGroupRequest)

func withInstance(id string) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.InstanceID = &id } }
func withVersion(v int16) joinOpt    { return func(r *kmsg.JoinGroupRequest) { r.Version = v } }
func withProtocols(ps ...kmsg.JoinGroupRequestProtocol) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.Protocols = ps }
}
func withProtocolType(t string) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.ProtocolType = t } }
func withSession(ms int32) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = ms }
}
func withRebalance(ms int32) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.RebalanceTimeoutMillis = ms }
}
func withGroup(g string) joinOpt { return func(r *kmsg.JoinGroupRequest) { r.Group = g } }

func joinReq(memberID string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 3 // below v4: no MEMBER_ID_REQUIRED round trip unless a test asks for it
	r.Group, r.MemberID, r.ProtocolType = testGroup, memberID, protoType
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = session, rebalanceTmo
	r.Protocols = protocols()
	for _, o := range opts {
		o(r)
	}
	return r
}

// joinAsync sends a JoinGroup and returns the channel its answer arrives on.
func (h *harness) joinAsync(r *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	return startAsync(h, func() *kmsg.JoinGroupResponse {
		return h.c.JoinGroup(h.ctx, r, Client{ID: "client", Host: "/127.0.0.1"})
	})
}

// startAsync runs call on a goroutine and returns once the request ran on its group's goroutine (it may
// be parked there) or was answered without one.
func startAsync[T any](h *harness, call func() T) <-chan T {
	h.t.Helper()
	ch := make(chan T, 1)
	before := h.c.handled.Load()
	go func() { ch <- call() }()
	eventually(h.t, 10*time.Second, "request to reach its group", func() bool {
		return h.c.handled.Load() > before || len(ch) > 0
	})
	return ch
}

func await1[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
	}
	var zero T
	return zero
}

// notAnswered checks that a parked request has no answer (after the groups processed everything).
func notAnswered[T any](t testing.TB, h *harness, ch <-chan T, what string) {
	t.Helper()
	h.flush()
	select {
	case v := <-ch:
		t.Fatalf("%s answered early: %+v", what, v)
	default:
	}
}

// join sends a JoinGroup, advancing the clock by the initial rebalance delay, and waits for the answer.
// Below v4 the member id is not required, so a dynamic member joins in one round trip.
func (h *harness) join(r *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	h.t.Helper()
	ch := h.joinAsync(r)
	h.flush()
	h.advance(h.c.cfg.InitialRebalanceDelay)
	return await1(h.t, ch)
}

// joinNew joins a new dynamic member with the KIP-394 round trip (v5: MEMBER_ID_REQUIRED first).
func (h *harness) joinNewAsync(opts ...joinOpt) <-chan *kmsg.JoinGroupResponse {
	h.t.Helper()
	opts = append([]joinOpt{withVersion(5)}, opts...)
	first := h.c.JoinGroup(h.ctx, joinReq("", opts...), Client{ID: "client", Host: "/127.0.0.1"})
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		h.t.Fatalf("first join: error %v, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(first.ErrorCode))
	}
	return h.joinAsync(joinReq(first.MemberID, opts...))
}

func syncReq(gen int32, memberID string, assignments map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 3
	r.Group, r.Generation, r.MemberID = testGroup, gen, memberID
	ids := make([]string, 0, len(assignments))
	for id := range assignments {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = id, []byte(assignments[id])
		r.GroupAssignment = append(r.GroupAssignment, a)
	}
	return r
}

func (h *harness) syncAsync(r *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	return startAsync(h, func() *kmsg.SyncGroupResponse { return h.c.SyncGroup(h.ctx, r) })
}

func (h *harness) heartbeat(memberID string, gen int32, instance *string) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 3
	r.Group, r.MemberID, r.Generation, r.InstanceID = testGroup, memberID, gen, instance
	return h.c.Heartbeat(h.ctx, r).ErrorCode
}

func (h *harness) leave(members ...LeaveMember) *kmsg.LeaveGroupResponse {
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version = 3
	r.Group = testGroup
	for _, m := range members {
		rm := kmsg.NewLeaveGroupRequestMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		r.Members = append(r.Members, rm)
	}
	return h.c.LeaveGroup(h.ctx, r)
}

// stableGroup joins one member and syncs it: a Stable group of generation 1 led by the returned member.
func (h *harness) stableGroup(opts ...joinOpt) (memberID string, gen int32) {
	h.t.Helper()
	jr := h.join(joinReq("", opts...))
	if jr.ErrorCode != 0 {
		h.t.Fatalf("join: %v", kerr.ErrorForCode(jr.ErrorCode))
	}
	sr := await1(h.t, h.syncAsync(syncReq(jr.Generation, jr.MemberID, map[string]string{jr.MemberID: "assignment"})))
	if sr.ErrorCode != 0 {
		h.t.Fatalf("sync: %v", kerr.ErrorForCode(sr.ErrorCode))
	}
	if s := h.state(testGroup); s != "Stable" {
		h.t.Fatalf("state %s, want Stable", s)
	}
	return jr.MemberID, jr.Generation
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

func commitParts(offsets map[TopicPartition]int64) []CommitPartition {
	var out []CommitPartition
	for tp, o := range offsets {
		out = append(out, CommitPartition{TopicPartition: tp, Offset: o, LeaderEpoch: -1, CommitTimestamp: 0, ExpireTimestamp: -1})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

func (h *harness) commit(groupID, memberID string, gen int32, offsets map[TopicPartition]int64) []int16 {
	parts := commitParts(offsets)
	now := h.clock.Now().UnixMilli()
	for i := range parts {
		parts[i].CommitTimestamp = now
	}
	return h.c.CommitOffsets(h.ctx, groupID, memberID, nil, gen, parts)
}

func (h *harness) fetched(groupID string, tps ...TopicPartition) map[TopicPartition]int64 {
	h.t.Helper()
	code, offs := h.c.FetchOffsets(h.ctx, groupID, tps, false)
	if code != 0 {
		h.t.Fatalf("fetch offsets: %v", kerr.ErrorForCode(code))
	}
	out := map[TopicPartition]int64{}
	for _, o := range offs {
		out[o.TopicPartition] = o.Offset
	}
	return out
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}

func wantCodes(t *testing.T, what string, got []int16, want int16) {
	t.Helper()
	for i, c := range got {
		if c != want {
			t.Fatalf("%s[%d]: got %s, want %s", what, i, errName(c), errName(want))
		}
	}
}
