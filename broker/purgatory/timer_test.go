package purgatory

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newManualTimer(t *testing.T, tick time.Duration, size int) (*Timer, *ManualClock) {
	t.Helper()
	clk := NewManualClock(0)
	tm, err := NewTimer(TimerConfig{Tick: tick, WheelSize: size, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return tm, clk
}

// linkedTasks counts tasks still linked in any bucket of any wheel level.
func linkedTasks(tm *Timer) int {
	n := 0
	for w := tm.wheel; w != nil; w = w.overflow.Load() {
		for _, b := range w.buckets {
			b.mu.Lock()
			for x := b.root.next; x != &b.root; x = x.next {
				n++
			}
			b.mu.Unlock()
		}
	}
	return n
}

func TestTimerConfigRejectsBadValues(t *testing.T) {
	for name, cfg := range map[string]TimerConfig{
		"sub-millisecond tick": {Tick: time.Microsecond},
		"fractional tick":      {Tick: 1500 * time.Microsecond},
		"one-slot wheel":       {WheelSize: 1},
		"negative workers":     {Workers: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewTimer(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// Kafka TimingWheel: a task expires when the clock reaches its expiration, never before; with tick 1 ms the
// wheel is exact. Delays straddle every level: 1 ms (wheel 1), 25 ms (wheel 2, interval 400), 500 ms (wheel 3,
// interval 8000), 10 s (wheel 4, interval 160000).
func TestTimerOverflowWheelsExpireAtExactTick(t *testing.T) {
	tm, clk := newManualTimer(t, time.Millisecond, 20)
	delays := []time.Duration{time.Millisecond, 25 * time.Millisecond, 500 * time.Millisecond, 10 * time.Second}
	firedAt := make([]time.Duration, len(delays))
	for i, d := range delays {
		tm.AfterFunc(d, func() { firedAt[i] = clk.Now() }) // inline: not started
	}
	if got := tm.wheel.levels(); got != 4 {
		t.Fatalf("wheel levels = %d, want 4 (10 s needs the 160 s wheel)", got)
	}
	if got := tm.Size(); got != 4 {
		t.Fatalf("Size = %d, want 4", got)
	}
	for clk.Now() < 10*time.Second {
		clk.Advance(time.Millisecond)
		tm.AdvanceClock()
	}
	for i, d := range delays {
		if firedAt[i] != d {
			t.Errorf("task with delay %v fired at %v", d, firedAt[i])
		}
	}
	if tm.Size() != 0 || linkedTasks(tm) != 0 || tm.queue.len() != 0 {
		t.Fatalf("leftovers: size %d, linked %d, queued buckets %d", tm.Size(), linkedTasks(tm), tm.queue.len())
	}
}

// Property: whatever the tick, wheel size and clock steps, a task runs at the first AdvanceClock at which its
// delay has elapsed (rounded up to a tick), never earlier.
func TestTimerRandomDelaysFireAtFirstAdvanceAfterDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tick    time.Duration
		size    int
		maxStep time.Duration
	}{
		{"kafka 1ms x20, small steps", time.Millisecond, 20, 3 * time.Millisecond},
		{"kafka 1ms x20, large steps", time.Millisecond, 20, 5 * time.Second},
		{"10ms x8", 10 * time.Millisecond, 8, 200 * time.Millisecond},
		{"1ms x2 deep hierarchy", time.Millisecond, 2, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.tick)))
			tm, clk := newManualTimer(t, tc.tick, tc.size)
			clk.Advance(time.Duration(rng.Int64N(int64(time.Second)))) // wheel starts unaligned
			const n = 3000
			deadline := make([]time.Duration, n)
			prev := make([]time.Duration, n) // clock at the AdvanceClock before the one that fired it
			fired := make([]time.Duration, n)
			var last time.Duration
			for i := range n {
				if i%100 == 0 { // add while time moves, so tasks land relative to a lagging wheel
					clk.Advance(time.Duration(rng.Int64N(int64(tc.maxStep))))
					now := clk.Now()
					tm.AdvanceClock()
					last = now
				}
				d := time.Duration(rng.Int64N(int64(100 * time.Second)))
				deadline[i] = clk.Now() + d
				fired[i] = -1
				tm.AfterFunc(d, func() { fired[i], prev[i] = clk.Now(), last })
			}
			for tm.Size() > 0 {
				clk.Advance(1 + time.Duration(rng.Int64N(int64(tc.maxStep))))
				now := clk.Now()
				tm.AdvanceClock()
				last = now
			}
			for i := range n {
				due := (deadline[i] + tc.tick - 1) / tc.tick * tc.tick
				switch {
				case fired[i] < 0:
					t.Fatalf("task %d never fired", i)
				case fired[i] < deadline[i]:
					t.Fatalf("task %d fired at %v before its deadline %v", i, fired[i], deadline[i])
				case prev[i] >= due:
					t.Fatalf("task %d (due %v) fired late: at %v although due at the advance at %v", i, due, fired[i], prev[i])
				}
			}
		})
	}
}

// Kafka SystemTimer on a real clock: a 50 ms task runs no earlier than 50 ms and not much later
// (2 ticks + scheduling slack, generous for -race on a shared 2-core machine).
func TestTimerExpiresWithinTwoTicksOnSystemClock(t *testing.T) {
	tm, err := NewTimer(TimerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tm.Start(context.Background())
	defer tm.Stop()
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 50 * time.Millisecond, 120 * time.Millisecond} {
		done := make(chan time.Duration, 1)
		start := time.Now()
		tm.AfterFunc(d, func() { done <- time.Since(start) })
		select {
		case got := <-done:
			if got < d {
				t.Errorf("delay %v: fired after %v, before the deadline", d, got)
			}
			if limit := d + 2*time.Millisecond + 150*time.Millisecond; got > limit {
				t.Errorf("delay %v: fired after %v, later than %v", d, got, limit)
			}
			t.Logf("delay %v fired after %v", d, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("delay %v: never fired", d)
		}
	}
}

func TestTimerCancelPreventsRun(t *testing.T) {
	tm, clk := newManualTimer(t, time.Millisecond, 20)
	var ran [4]atomic.Bool
	tasks := make([]*Task, 4)
	for i := range tasks {
		tasks[i] = tm.AfterFunc(time.Duration(i+1)*100*time.Millisecond, func() { ran[i].Store(true) })
	}
	if !tasks[1].Cancel() || !tasks[3].Cancel() {
		t.Fatal("Cancel of a pending task returned false")
	}
	if tasks[1].Cancel() {
		t.Fatal("second Cancel returned true")
	}
	if got := tm.Size(); got != 2 {
		t.Fatalf("Size after 2 cancels = %d, want 2", got)
	}
	clk.Advance(time.Second)
	if got := tm.AdvanceClock(); got != 2 {
		t.Fatalf("AdvanceClock expired %d, want 2", got)
	}
	for i, want := range []bool{true, false, true, false} {
		if ran[i].Load() != want {
			t.Errorf("task %d ran = %v, want %v", i, ran[i].Load(), want)
		}
	}
	if tasks[0].Cancel() {
		t.Error("Cancel after the task ran returned true")
	}
	if linkedTasks(tm) != 0 {
		t.Error("cancelled tasks still linked")
	}

	t.Run("cancel before add makes add a no-op", func(t *testing.T) {
		task := NewTask(0, func() { t.Error("cancelled task ran") })
		task.Cancel()
		tm.Add(task)
		if tm.Size() != 0 {
			t.Fatal("cancelled task counted")
		}
	})
	t.Run("adding twice panics", func(t *testing.T) {
		task := tm.AfterFunc(time.Hour, func() {})
		defer task.Cancel()
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		tm.Add(task)
	})
}

// Exactly one of "the task ran" and "Cancel returned true" holds, however Cancel races the flushes that move
// tasks between wheels and expire them; and no cancelled task stays linked.
func TestTimerCancelRacingExpiryIsExactlyOnce(t *testing.T) {
	tm, clk := newManualTimer(t, time.Millisecond, 4) // small wheel: many cascades
	const n = 20000
	ran := make([]atomic.Int32, n)
	cancelled := make([]atomic.Int32, n)
	tasks := make([]*Task, n)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range tasks {
		tasks[i] = tm.AfterFunc(time.Duration(rng.Int64N(int64(200*time.Millisecond))), func() { ran[i].Add(1) })
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < n; i += 4 {
				if tasks[i].Cancel() {
					cancelled[i].Add(1)
				}
			}
		})
	}
	for tm.Size() > 0 || clk.Now() < 200*time.Millisecond {
		clk.Advance(time.Millisecond)
		tm.AdvanceClock()
	}
	wg.Wait()
	for i := range n {
		if r, c := ran[i].Load(), cancelled[i].Load(); r+c != 1 {
			t.Fatalf("task %d: ran %d times, cancelled %d times", i, r, c)
		}
	}
	if got := linkedTasks(tm); got != 0 {
		t.Fatalf("%d tasks still linked", got)
	}
}

func TestTimerConcurrentAddsAllFire(t *testing.T) {
	tm, err := NewTimer(TimerConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	tm.Start(context.Background())
	defer tm.Stop()
	var fired atomic.Int64
	const goroutines, per = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range per {
				tm.AfterFunc(time.Duration(rng.Int64N(int64(30*time.Millisecond))), func() { fired.Add(1) })
			}
		})
	}
	wg.Wait()
	eventually(t, 10*time.Second, "all tasks to fire", func() bool { return fired.Load() == goroutines*per })
	if tm.Size() != 0 {
		t.Fatalf("Size = %d after all fired", tm.Size())
	}
}

// A clock jump far past every deadline expires everything in one AdvanceClock, cascading through all levels.
func TestTimerClockJumpExpiresEverything(t *testing.T) {
	tm, clk := newManualTimer(t, time.Millisecond, 20)
	var fired atomic.Int64
	rng := rand.New(rand.NewPCG(3, 3))
	for range 1000 {
		tm.AfterFunc(time.Duration(rng.Int64N(int64(time.Hour))), func() { fired.Add(1) })
	}
	clk.Advance(2 * time.Hour)
	if got := tm.AdvanceClock(); got != 1000 || fired.Load() != 1000 {
		t.Fatalf("expired %d, fired %d, want 1000", got, fired.Load())
	}
}

func TestTimerStopRunsExpiredTasksAndLeavesNoGoroutines(t *testing.T) {
	clk := NewManualClock(0)
	tm, err := NewTimer(TimerConfig{Workers: 1, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	tm.Start(context.Background())
	var fired atomic.Int64
	block := make(chan struct{})
	tm.AfterFunc(time.Millisecond, func() { <-block; fired.Add(1) })
	for range 100 {
		tm.AfterFunc(time.Millisecond, func() { fired.Add(1) })
	}
	pending := tm.AfterFunc(time.Hour, func() { t.Error("pending task ran at Stop") })
	clk.Advance(time.Millisecond)
	if got := tm.AdvanceClock(); got != 101 { // handed to the (blocked) worker
		t.Fatalf("expired %d, want 101", got)
	}
	close(block)
	tm.Stop()
	if fired.Load() != 101 {
		t.Fatalf("fired %d expired tasks by Stop, want 101", fired.Load())
	}
	assertNoWorkers(t)
	tm.Start(context.Background()) // ignored after Stop
	assertNoWorkers(t)
	if !pending.Cancel() {
		t.Fatal("pending task not cancellable after Stop")
	}
	// After Stop an expired task runs in the goroutine that expired it instead of being lost.
	ran := false
	tm.AfterFunc(time.Millisecond, func() { ran = true })
	clk.Advance(time.Millisecond)
	tm.AdvanceClock()
	if !ran {
		t.Fatal("expired task after Stop did not run")
	}
}

// The executor's drain (a worker seeing ctx end) runs what is queued and switches submit to inline.
func TestExecutorDrainRunsQueuedThenInline(t *testing.T) {
	e := newExecutor()
	e.running = true
	n := 0
	for range 10 {
		e.submit(&Task{fn: func() { n++ }})
	}
	if n != 0 {
		t.Fatal("ran before drain")
	}
	e.drain()
	if n != 10 {
		t.Fatalf("drain ran %d, want 10", n)
	}
	e.submit(&Task{fn: func() { n++ }})
	if n != 11 {
		t.Fatal("submit after drain did not run inline")
	}
}

func TestTimerStopBeforeStartIsFinal(t *testing.T) {
	tm, err := NewTimer(TimerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tm.Stop()
	tm.Start(context.Background())
	assertNoWorkers(t)
	tm.Stop()
}

func TestTimerStopsWhenContextEnds(t *testing.T) {
	tm, err := NewTimer(TimerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm.Start(ctx)
	cancel()
	assertNoWorkers(t)
	tm.Stop()
}

// Delays are clamped: a negative delay is due at once, an absurd one neither overflows the wheel arithmetic
// nor builds unbounded levels.
func TestTimerClampsNegativeAndHugeDelays(t *testing.T) {
	tm, _ := newManualTimer(t, time.Millisecond, 20)
	ran := false
	tm.AfterFunc(-time.Second, func() { ran = true })
	if !ran {
		t.Fatal("negative delay did not run at once")
	}
	huge := tm.AfterFunc(time.Duration(math.MaxInt64), func() { t.Error("huge delay ran") })
	if levels := tm.wheel.levels(); levels > 11 {
		t.Fatalf("%d wheel levels for a clamped delay", levels)
	}
	if !huge.Cancel() || tm.Size() != 0 {
		t.Fatal("huge-delay task not cancellable")
	}
}

func TestManualClockRefusesToGoBackwards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	NewManualClock(0).Advance(-1)
}
