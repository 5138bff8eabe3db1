package purgatory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// TimerConfig sizes a Timer. Zero fields take Kafka's defaults.
type TimerConfig struct {
	Tick      time.Duration // width of a bucket of the finest wheel, whole milliseconds; default 1ms
	WheelSize int           // buckets per wheel; default 20
	Workers   int           // executor goroutines running expired tasks; default 1 (Kafka: one thread)
	Clock     Clock         // default SystemClock()
}

func (c TimerConfig) withDefaults() (TimerConfig, error) {
	if c.Tick == 0 {
		c.Tick = time.Millisecond
	}
	if c.WheelSize == 0 {
		c.WheelSize = 20
	}
	if c.Workers == 0 {
		c.Workers = 1
	}
	if c.Clock == nil {
		c.Clock = SystemClock()
	}
	var errs []error
	if c.Tick < time.Millisecond || c.Tick%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("tick %v: must be a whole number of milliseconds >= 1ms", c.Tick))
	}
	if c.WheelSize < 2 {
		errs = append(errs, fmt.Errorf("wheel size %d: must be >= 2", c.WheelSize))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers %d: must be >= 1", c.Workers))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("purgatory: timer config: %w", err)
	}
	return c, nil
}

// maxDelayMs caps delays so that expirations and overflow-wheel intervals stay far from int64 overflow
// (2^40 ms is about 35 years; with 20 slots that is at most 10 wheel levels).
const maxDelayMs = 1 << 40

// Timer is a hierarchical timing wheel (Kafka's SystemTimer + TimingWheel): Add and Cancel are O(1), and a
// single driver goroutine sleeps on a delay queue of buckets until the earliest one is due, then advances the
// wheels and hands expired tasks to the executor. A task never runs before its delay has elapsed on the
// Clock; it runs at most one tick plus scheduling latency later.
//
// Without Start no goroutine exists: AdvanceClock expires whatever is due at the clock's current time and runs
// the tasks in the calling goroutine (deterministic tests with a ManualClock).
type Timer struct {
	clock   Clock
	tickNs  int64
	tickMs  int64
	workers int

	// mu is Kafka's readWriteLock: Add holds it shared (adds to different buckets proceed in parallel),
	// AdvanceClock exclusively, so the wheels' currentTime never moves under an Add.
	mu      sync.RWMutex
	wheel   *wheel
	queue   *delayQueue
	exec    *executor
	pending atomic.Int64 // tasks added and neither fired nor cancelled

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc // set by Start
	wg        sync.WaitGroup
}

// NewTimer returns a stopped timer whose wheel starts at the clock's current time.
func NewTimer(cfg TimerConfig) (*Timer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Timer{
		clock:   cfg.Clock,
		tickNs:  int64(cfg.Tick),
		tickMs:  cfg.Tick.Milliseconds(),
		workers: cfg.Workers,
		queue:   newDelayQueue(),
		exec:    newExecutor(),
	}
	t.wheel = newWheel(t.tickMs, int64(cfg.WheelSize), t.nowMs(), t.queue)
	return t, nil
}

func (t *Timer) nowMs() int64 { return int64(t.clock.Now() / time.Millisecond) }

// Start launches the driver goroutine and the executor workers; they stop when ctx is done or Stop is called.
// Calls after the first, or after Stop, are ignored.
func (t *Timer) Start(ctx context.Context) {
	t.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(ctx)
		t.cancel = cancel
		t.exec.mu.Lock()
		t.exec.running = true
		t.exec.mu.Unlock()
		for range t.workers {
			t.goroutine(func() { t.exec.work(ctx) })
		}
		t.goroutine(func() { t.drive(ctx) })
	})
}

// goroutine is the one place this package starts goroutines, so Stop can wait for all of them.
func (t *Timer) goroutine(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// Stop ends the driver and the workers and waits for them. Tasks already expired run before Stop returns;
// tasks still pending stay in the wheel and run only if AdvanceClock is called later. Idempotent.
func (t *Timer) Stop() {
	t.startOnce.Do(func() {}) // a Start after Stop must not launch goroutines nobody waits for
	t.stopOnce.Do(func() {
		if t.cancel != nil {
			t.cancel()
		}
	})
	t.wg.Wait()
}

// AfterFunc adds a task running f after d and returns it for cancellation, like time.AfterFunc.
func (t *Timer) AfterFunc(d time.Duration, f func()) *Task {
	task := NewTask(d, f)
	t.Add(task)
	return task
}

// Add schedules task to run once its delay has elapsed: not before, and within about a tick after (a zero
// delay included, as the wheel's clock moves in ticks). Adding a cancelled task does nothing; adding a task
// twice panics.
func (t *Timer) Add(task *Task) {
	task.timer = t
	if !task.state.CompareAndSwap(taskIdle, taskPending) {
		if task.state.Load() == taskCancelled {
			return
		}
		panic("purgatory: task added twice")
	}
	t.pending.Add(1)
	task.exp = t.expiration(task.delay)

	t.mu.RLock()
	run := !t.wheel.add(task) && t.fire(task)
	t.mu.RUnlock()
	// Submit outside the lock: a task may call Add, and a waiting writer blocks new readers.
	if run {
		t.exec.submit(task)
	}
}

// expiration rounds now+delay up to a whole tick, so a task is never due before its delay has elapsed even
// though the clock is read in truncated milliseconds.
func (t *Timer) expiration(delay time.Duration) int64 {
	d := int64(max(delay, 0))
	if d > maxDelayMs*int64(time.Millisecond) {
		d = maxDelayMs * int64(time.Millisecond)
	}
	at := int64(t.clock.Now()) + d
	return (at + t.tickNs - 1) / t.tickNs * t.tickMs
}

// fire claims an expired task for running; false if a Cancel won.
func (t *Timer) fire(task *Task) bool {
	if task.state.CompareAndSwap(taskPending, taskFired) {
		t.pending.Add(-1)
		return true
	}
	return false
}

// Size returns the number of pending tasks (added, not yet expired or cancelled).
func (t *Timer) Size() int { return int(t.pending.Load()) }

// AdvanceClock expires every bucket due at the clock's current time: it advances the wheels to each bucket's
// expiration and re-adds the bucket's tasks, which either fall into a finer wheel or have expired. Expired
// tasks are handed to the executor after the lock is released (or run here if the timer is not started).
// It returns the number of tasks expired. The driver calls it; tests with a ManualClock call it directly.
func (t *Timer) AdvanceClock() int {
	now := t.nowMs()
	if exp, ok := t.queue.head(); !ok || exp > now {
		return 0 // the common case for the driver and for tests: no write lock
	}
	buf := expiredBufs.Get().(*[]*Task)
	expired := (*buf)[:0]
	t.mu.Lock()
	for b := t.queue.pollDue(now); b != nil; b = t.queue.pollDue(now) {
		t.wheel.advanceClock(b.expiration.Load())
		b.flush(func(task *Task) {
			if task.state.Load() != taskPending {
				return // cancelled while the bucket was being flushed
			}
			if !t.wheel.add(task) && t.fire(task) {
				expired = append(expired, task)
			}
		})
	}
	t.mu.Unlock()
	// submit copies into the executor's queue or runs the tasks, so the slice is free again afterwards.
	t.exec.submit(expired...)
	n := len(expired)
	clear(expired)
	*buf = expired[:0]
	expiredBufs.Put(buf)
	return n
}

// expiredBufs recycles AdvanceClock's slices of expired tasks: the driver calls it once per due bucket.
var expiredBufs = sync.Pool{New: func() any { return new([]*Task) }}

// drive sleeps until the earliest bucket is due, a new earliest bucket is queued, or ctx ends.
func (t *Timer) drive(ctx context.Context) {
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	for {
		t.AdvanceClock()
		var due <-chan time.Time
		if exp, ok := t.queue.head(); ok {
			d := exp - t.nowMs()
			if d <= 0 {
				continue
			}
			// Sleeping d ms from a truncated reading wakes at or after exp: AdvanceClock then finds it due.
			sleep.Reset(time.Duration(d) * time.Millisecond)
			due = sleep.C
		} else {
			sleep.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.queue.wake:
		case <-due:
		}
	}
}
