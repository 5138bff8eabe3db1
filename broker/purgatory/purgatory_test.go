package purgatory

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testOp records what the purgatory does to it and checks the Operation guarantees as it goes.
type testOp struct {
	t           *testing.T
	ready       atomic.Bool
	flipOnTry   bool // first TryComplete makes the op ready (an event racing the watch)
	spin        int  // busy work inside TryComplete, to widen races
	tries       atomic.Int32
	inTry       atomic.Int32
	completes   atomic.Int32
	expirations atomic.Int32
	mu          sync.Mutex
	events      []string // guarded by mu
}

func (o *testOp) TryComplete() bool {
	if o.inTry.Add(1) != 1 {
		o.t.Error("TryComplete ran concurrently with itself")
	}
	defer o.inTry.Add(-1)
	if o.completes.Load() != 0 {
		o.t.Error("TryComplete ran after OnComplete")
	}
	o.tries.Add(1)
	for i := 0; i < o.spin; i++ {
		_ = o.ready.Load()
	}
	if o.flipOnTry {
		return o.ready.Swap(true)
	}
	return o.ready.Load()
}

func (o *testOp) OnComplete() {
	if o.inTry.Load() != 0 {
		o.t.Error("OnComplete ran concurrently with TryComplete")
	}
	o.completes.Add(1)
	o.record("complete")
}

func (o *testOp) OnExpiration() {
	o.expirations.Add(1)
	o.record("expire")
}

func (o *testOp) record(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

func newManualPurgatory[K comparable](t *testing.T, purgeInterval int) (*Purgatory[K], *ManualClock) {
	t.Helper()
	clk := NewManualClock(0)
	p, err := New[K](Config{Name: "test", PurgeInterval: purgeInterval, Timer: TimerConfig{Clock: clk}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Shutdown)
	return p, clk
}

func TestTryCompleteElseWatchCompletesReadyOperationWithoutWatching(t *testing.T) {
	p, _ := newManualPurgatory[string](t, 0)
	op := &testOp{t: t}
	op.ready.Store(true)
	d := NewDelayedOperation(op, time.Second)
	if d.Operation() != op || d.Timeout() != time.Second {
		t.Fatal("accessors")
	}
	if !p.TryCompleteElseWatch(d, []string{"a"}) {
		t.Fatal("ready operation not completed")
	}
	if op.completes.Load() != 1 || p.Watched() != 0 || p.Delayed() != 0 {
		t.Fatalf("completes %d, watched %d, delayed %d", op.completes.Load(), p.Watched(), p.Delayed())
	}
}

// Kafka DelayedOperationTest.testRequestSatisfaction: an event on any watched key completes the operation.
func TestCheckAndCompleteCompletesWatchersOfKey(t *testing.T) {
	p, clk := newManualPurgatory[string](t, 0)
	op := &testOp{t: t}
	d := NewDelayedOperation(op, time.Second)
	if p.TryCompleteElseWatch(d, []string{"a", "b"}) {
		t.Fatal("completed while not ready")
	}
	if p.Watched() != 2 || p.Delayed() != 1 {
		t.Fatalf("watched %d, delayed %d; want 2, 1", p.Watched(), p.Delayed())
	}
	if n := p.CheckAndComplete("a"); n != 0 {
		t.Fatalf("CheckAndComplete completed %d while not ready", n)
	}
	if n := p.CheckAndComplete("nobody"); n != 0 {
		t.Fatal("unwatched key completed something")
	}
	op.ready.Store(true)
	if n := p.CheckAndComplete("b"); n != 1 {
		t.Fatalf("CheckAndComplete(b) = %d, want 1", n)
	}
	if p.Delayed() != 0 {
		t.Fatal("timer task not cancelled on completion")
	}
	if p.Watched() != 1 { // still listed under "a" until "a" is checked or purged
		t.Fatalf("watched %d, want 1", p.Watched())
	}
	if n := p.CheckAndComplete("a"); n != 0 || p.Watched() != 0 {
		t.Fatalf("second key: completed %d, watched %d", n, p.Watched())
	}
	clk.Advance(2 * time.Second)
	p.AdvanceClock()
	if op.completes.Load() != 1 || op.expirations.Load() != 0 {
		t.Fatalf("completes %d, expirations %d; want 1, 0", op.completes.Load(), op.expirations.Load())
	}
}

// Kafka DelayedOperationTest.testRequestExpiry: at its timeout an operation completes (OnComplete with the
// state at hand) and then OnExpiration runs; not a tick earlier.
func TestOperationExpiresAtTimeoutCompletingThenExpiring(t *testing.T) {
	p, clk := newManualPurgatory[int](t, 0)
	op := &testOp{t: t}
	p.TryCompleteElseWatch(NewDelayedOperation(op, 50*time.Millisecond), []int{1})
	clk.Advance(49 * time.Millisecond)
	if p.AdvanceClock() != 0 || op.completes.Load() != 0 {
		t.Fatal("expired before its timeout")
	}
	clk.Advance(time.Millisecond)
	if p.AdvanceClock() != 1 {
		t.Fatal("did not expire at its timeout")
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if len(op.events) != 2 || op.events[0] != "complete" || op.events[1] != "expire" {
		t.Fatalf("events %v, want [complete expire]", op.events)
	}
}

// Overflow wheels through the purgatory: timeouts of 1 ms, 25 ms, 500 ms and 10 s each expire exactly then.
func TestOperationTimeoutsAcrossWheelLevels(t *testing.T) {
	p, clk := newManualPurgatory[int](t, 0)
	timeouts := []time.Duration{time.Millisecond, 25 * time.Millisecond, 500 * time.Millisecond, 10 * time.Second}
	ops := make([]*testOp, len(timeouts))
	for i, d := range timeouts {
		ops[i] = &testOp{t: t}
		p.TryCompleteElseWatch(NewDelayedOperation(ops[i], d), []int{i})
	}
	for clk.Now() < 10*time.Second {
		clk.Advance(time.Millisecond)
		p.AdvanceClock()
		for i, d := range timeouts {
			want := int32(0)
			if clk.Now() >= d {
				want = 1
			}
			if got := ops[i].expirations.Load(); got != want {
				t.Fatalf("at %v: op with timeout %v expired %d times, want %d", clk.Now(), d, got, want)
			}
		}
	}
}

// On the system clock a 50 ms operation expires no earlier than 50 ms and within 2 ticks plus slack.
func TestOperationExpiresOnTimeOnSystemClock(t *testing.T) {
	p, err := New[string](Config{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	defer p.Shutdown()
	op := &testOp{t: t}
	start := time.Now()
	p.TryCompleteElseWatch(NewDelayedOperation(op, 50*time.Millisecond), []string{"tp"})
	eventually(t, 5*time.Second, "expiry", func() bool { return op.expirations.Load() == 1 })
	got := time.Since(start) // an upper bound on the real expiry time (polling adds <1ms)
	if got < 50*time.Millisecond || got > 50*time.Millisecond+2*time.Millisecond+150*time.Millisecond {
		t.Fatalf("expired after %v, want within [50ms, 202ms]", got)
	}
	t.Logf("50ms operation expired after %v", got)
}

// An event between the first TryComplete and the watch would be missed without the second try.
func TestTryCompleteElseWatchRetriesAfterWatching(t *testing.T) {
	p, _ := newManualPurgatory[string](t, 0)
	op := &testOp{t: t, flipOnTry: true}
	if !p.TryCompleteElseWatch(NewDelayedOperation(op, time.Second), []string{"a"}) {
		t.Fatal("second try did not complete the operation")
	}
	if op.tries.Load() != 2 || op.completes.Load() != 1 || p.Delayed() != 0 {
		t.Fatalf("tries %d, completes %d, delayed %d", op.tries.Load(), op.completes.Load(), p.Delayed())
	}
}

func TestTryCompleteElseWatchRequiresKeys(t *testing.T) {
	p, _ := newManualPurgatory[string](t, 0)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic without keys")
		}
	}()
	p.TryCompleteElseWatch(NewDelayedOperation(&testOp{t: t}, time.Second), nil)
}

// Kafka's maybeTryComplete: checkers of one operation under many keys never run TryComplete concurrently,
// and exactly one of them reports the completion.
func TestTryCompleteRunsOneAtATimePerOperation(t *testing.T) {
	p, _ := newManualPurgatory[int](t, 0)
	op := &testOp{t: t, spin: 200}
	keys := []int{0, 1, 2, 3, 4, 5, 6, 7}
	p.TryCompleteElseWatch(NewDelayedOperation(op, time.Hour), keys)
	var completed atomic.Int32
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			for i := range 2000 {
				if k == 0 && i == 1000 {
					op.ready.Store(true)
				}
				completed.Add(int32(p.CheckAndComplete(k)))
			}
		})
	}
	wg.Wait()
	if completed.Load() != 1 || op.completes.Load() != 1 {
		t.Fatalf("reported %d completions, OnComplete ran %d times", completed.Load(), op.completes.Load())
	}
}

// Kafka's forceComplete CAS: with checkers, a force-completer and the expiration timer racing, every
// operation completes exactly once, and expires at most once and only if the timer won. Class 0 operations
// become ready (checkers race the timer), class 1 also get force-completed, class 2 never become ready but
// checkers keep running their TryComplete while the timer expires them.
func TestCompletesExactlyOnceUnderConcurrentCheckAndExpiry(t *testing.T) {
	p, err := New[int](Config{Name: "test", PurgeInterval: 50, Timer: TimerConfig{Workers: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	defer p.Shutdown()
	const n, keys = 3000, 16
	ops := make([]*testOp, n)
	dops := make([]*DelayedOperation, n)
	rng := rand.New(rand.NewPCG(11, 11))
	for i := range ops {
		ops[i] = &testOp{t: t}
		dops[i] = NewDelayedOperation(ops[i], time.Duration(rng.Int64N(int64(20*time.Millisecond))))
	}
	var stop atomic.Bool
	var forced atomic.Int32
	var wg sync.WaitGroup
	for g := range 3 { // checkers
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for !stop.Load() {
				if i := r.IntN(n); i%3 != 2 {
					ops[i].ready.Store(true)
				}
				p.CheckAndComplete(r.IntN(keys))
			}
		})
	}
	wg.Go(func() { // force-completer
		r := rand.New(rand.NewPCG(9, 9))
		for !stop.Load() {
			if i := r.IntN(n); i%3 == 1 && dops[i].ForceComplete() {
				forced.Add(1)
			}
		}
	})
	for i, d := range dops {
		p.TryCompleteElseWatch(d, []int{i % keys, (i * 7) % keys})
	}
	eventually(t, 20*time.Second, "every operation to complete", func() bool {
		for _, d := range dops {
			if !d.IsCompleted() {
				return false
			}
		}
		return true
	})
	stop.Store(true)
	wg.Wait()
	expired := [3]int{}
	for i, op := range ops {
		// OnComplete (and OnExpiration) run just after the CAS, so poll for them briefly.
		eventually(t, 5*time.Second, "callbacks", func() bool {
			return op.completes.Load() == 1 && (i%3 != 2 || op.expirations.Load() == 1)
		})
		if op.completes.Load() != 1 || op.expirations.Load() > 1 {
			t.Fatalf("op %d: completes %d, expirations %d", i, op.completes.Load(), op.expirations.Load())
		}
		expired[i%3] += int(op.expirations.Load())
	}
	eventually(t, 5*time.Second, "timer to drain", func() bool { return p.Delayed() == 0 })
	t.Logf("%d ops; expired per class %v; %d force-completed", n, expired, forced.Load())
}

// Kafka's purgeInterval: operations completed without a check on their keys (expired, forced) stay in the
// watch lists until the estimate of completed entries exceeds the interval, then one purge drops them all.
func TestPurgeRemovesCompletedOperationsFromWatchLists(t *testing.T) {
	p, _ := newManualPurgatory[int](t, 10)
	var dops []*DelayedOperation
	for i := range 12 {
		d := NewDelayedOperation(&testOp{t: t}, time.Hour)
		p.TryCompleteElseWatch(d, []int{i, 1000})
		dops = append(dops, d)
	}
	for _, d := range dops[:11] {
		d.ForceComplete()
	}
	if p.Watched() != 24 || p.Delayed() != 1 {
		t.Fatalf("before purge: watched %d, delayed %d; want 24, 1", p.Watched(), p.Delayed())
	}
	// 13 watched so far, 2 pending: 11 > 10 triggers the purge (inline: the purgatory is not started).
	p.TryCompleteElseWatch(NewDelayedOperation(&testOp{t: t}, time.Hour), []int{99})
	if p.Watched() != 3 {
		t.Fatalf("after purge: watched %d, want 3", p.Watched())
	}
	if got := p.estimated.Load(); got != 2 {
		t.Fatalf("estimate after purge = %d, want the 2 pending", got)
	}
}

func TestPurgeRunsInBackgroundWhenStarted(t *testing.T) {
	p, err := New[int](Config{Name: "test", PurgeInterval: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	defer p.Shutdown()
	for i := range 20 {
		d := NewDelayedOperation(&testOp{t: t}, time.Hour)
		p.TryCompleteElseWatch(d, []int{i, -1})
		d.ForceComplete()
	}
	eventually(t, 5*time.Second, "background purge", func() bool { return p.Watched() < 40 })
}

// Shutdown answers every waiting operation (OnComplete, no OnExpiration), completes later ones at once and
// stops every goroutine.
func TestShutdownCompletesPendingOperations(t *testing.T) {
	p, err := New[string](Config{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	ops := make([]*testOp, 100)
	for i := range ops {
		ops[i] = &testOp{t: t}
		p.TryCompleteElseWatch(NewDelayedOperation(ops[i], time.Hour), []string{"a", string(rune('b' + i%3))})
	}
	p.Shutdown()
	for i, op := range ops {
		if op.completes.Load() != 1 || op.expirations.Load() != 0 {
			t.Fatalf("op %d: completes %d, expirations %d", i, op.completes.Load(), op.expirations.Load())
		}
	}
	if p.Delayed() != 0 || p.Watched() != 0 {
		t.Fatalf("after Shutdown: delayed %d, watched %d", p.Delayed(), p.Watched())
	}
	assertNoWorkers(t)
	late := &testOp{t: t}
	if p.TryCompleteElseWatch(NewDelayedOperation(late, time.Hour), []string{"a"}) || late.completes.Load() != 1 {
		t.Fatalf("operation after Shutdown: completes %d", late.completes.Load())
	}
	p.Shutdown()
	p.Start(context.Background()) // ignored after Shutdown
	assertNoWorkers(t)
}

// Operations watched while Shutdown drains are completed by one side or the other, never left waiting.
func TestShutdownRacingTryCompleteElseWatchLeavesNothingPending(t *testing.T) {
	p, err := New[int](Config{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Start(context.Background())
	const n = 4000
	ops := make([]*testOp, n)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < n; i += 4 {
				ops[i] = &testOp{t: t}
				p.TryCompleteElseWatch(NewDelayedOperation(ops[i], time.Hour), []int{i % 64})
			}
		})
	}
	p.Shutdown()
	wg.Wait()
	for i, op := range ops {
		if op.completes.Load() != 1 {
			t.Fatalf("op %d: completes %d", i, op.completes.Load())
		}
	}
}

// Shutdown after Start's context ended still drains; the goroutines are already gone.
func TestShutdownAfterContextEnds(t *testing.T) {
	p, err := New[int](Config{Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.Start(ctx)
	op := &testOp{t: t}
	p.TryCompleteElseWatch(NewDelayedOperation(op, time.Hour), []int{1})
	cancel()
	assertNoWorkers(t)
	p.Shutdown()
	if op.completes.Load() != 1 {
		t.Fatal("not drained")
	}
}

func TestStructWatchKeys(t *testing.T) {
	type topicPartition struct {
		Topic     string
		Partition int32
	}
	p, _ := newManualPurgatory[topicPartition](t, 0)
	op := &testOp{t: t}
	p.TryCompleteElseWatch(NewDelayedOperation(op, time.Second), []topicPartition{{"t", 0}, {"t", 1}})
	op.ready.Store(true)
	if p.CheckAndComplete(topicPartition{"t", 2}) != 0 || p.CheckAndComplete(topicPartition{"t", 1}) != 1 {
		t.Fatal("struct keys not matched by value")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New[int](Config{PurgeInterval: -1}, nil); err == nil {
		t.Fatal("negative purge interval accepted")
	}
	if _, err := New[int](Config{Timer: TimerConfig{WheelSize: 1}}, nil); err == nil {
		t.Fatal("bad timer config accepted")
	}
}
