package purgatory

import (
	"context"
	"sync"
)

// executor runs expired tasks off the timer's locks (Kafka's single-thread "executor-<name>"). Its queue is
// unbounded on purpose: submit never blocks, so an expired task may itself add tasks, cancel tasks or call into
// a purgatory without deadlocking against a full queue. The queue only ever holds tasks that were pending in
// the wheel a moment ago, so its size is bounded by what callers already asked for.
//
// While no worker runs (before Start, after Stop) submit runs tasks in the submitting goroutine: that makes
// AdvanceClock on a ManualClock deterministic in tests, and nothing submitted after Stop is lost.
type executor struct {
	mu      sync.Mutex
	queue   []*Task // guarded by mu; queue[head:] are waiting
	head    int     // guarded by mu
	running bool    // guarded by mu: workers accept tasks
	wake    chan struct{}
}

func newExecutor() *executor { return &executor{wake: make(chan struct{}, 1)} }

func (e *executor) submit(tasks ...*Task) {
	if len(tasks) == 0 {
		return
	}
	e.mu.Lock()
	if !e.running {
		e.mu.Unlock()
		for _, t := range tasks {
			t.fn()
		}
		return
	}
	e.queue = append(e.queue, tasks...)
	e.mu.Unlock()
	e.signal()
}

func (e *executor) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// pop takes the oldest task, or nil. With one wake token shared by all workers, a worker that leaves tasks
// behind passes the token on.
func (e *executor) pop() *Task {
	e.mu.Lock()
	if e.head == len(e.queue) {
		e.mu.Unlock()
		return nil
	}
	t := e.queue[e.head]
	e.queue[e.head] = nil
	e.head++
	more := e.head < len(e.queue)
	if !more {
		e.queue, e.head = e.queue[:0], 0
	}
	e.mu.Unlock()
	if more {
		e.signal()
	}
	return t
}

func (e *executor) work(ctx context.Context) {
	for {
		if t := e.pop(); t != nil {
			t.fn()
			continue
		}
		select {
		case <-e.wake:
		case <-ctx.Done():
			e.drain()
			return
		}
	}
}

// drain switches submit to inline mode and runs what is still queued: Stop loses no expired task.
func (e *executor) drain() {
	e.mu.Lock()
	e.running = false
	rest := e.queue[e.head:]
	e.queue, e.head = nil, 0
	e.mu.Unlock()
	for _, t := range rest {
		t.fn()
	}
}
