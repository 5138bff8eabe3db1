package purgatory

import (
	"sync"
	"sync/atomic"
	"time"
)

// Task states. A task moves idle -> pending on Add, then pending -> fired (handed to the executor) or
// pending -> cancelled, each by one compare-and-swap, so exactly one of "runs" and "Cancel returned true"
// happens. Kafka's TimerTask gets the same effect less strictly by comparing entry identities.
const (
	taskIdle int32 = iota
	taskPending
	taskFired
	taskCancelled
)

// Task is a function to run once its delay has passed on a Timer. Its list links are embedded (Kafka keeps
// them in a separate TimerTaskEntry) so one Add costs one allocation at most: the Task itself.
//
// A Task is added at most once; it is not reusable.
type Task struct {
	fn    func()
	delay time.Duration
	timer *Timer // set by Add, read by Cancel

	state atomic.Int32
	exp   int64 // expiration in clock ms, a multiple of the timer's tick; written by Add before insertion

	// list is the bucket holding the task, nil while it is moving between buckets or not in one.
	// prev and next are guarded by list.mu.
	list       atomic.Pointer[bucket]
	prev, next *Task
}

// NewTask returns a task that runs fn once delay has elapsed after it is added to a Timer.
// A negative delay counts as zero.
func NewTask(delay time.Duration, fn func()) *Task {
	return &Task{fn: fn, delay: delay}
}

// Cancel prevents the task from running. It reports whether it did so: false means the task has already
// been handed to the executor (or cancelled before). Cancelling a task that was never added makes a later
// Add a no-op. O(1): the task unlinks itself from its bucket.
func (t *Task) Cancel() bool {
	for {
		switch s := t.state.Load(); s {
		case taskIdle:
			if t.state.CompareAndSwap(taskIdle, taskCancelled) {
				return true
			}
		case taskPending:
			if t.state.CompareAndSwap(taskPending, taskCancelled) {
				t.timer.pending.Add(-1)
				t.unlink()
				return true
			}
		default:
			return false
		}
	}
}

// unlink removes the task from whatever bucket holds it. The loop covers a flush moving the task to another
// bucket between reading list and locking it (Kafka's TimerTaskEntry.remove). If a flush re-inserts the task
// after we saw nil, bucket.add notices the cancelled state and unlinks it itself.
func (t *Task) unlink() {
	for b := t.list.Load(); b != nil; b = t.list.Load() {
		b.remove(t)
	}
}

// bucket is one slot of a wheel: a circular doubly-linked list of tasks around a sentinel, with the expiration
// of the slot's current time span (Kafka's TimerTaskList). Buckets, not tasks, go into the delay queue, so the
// queue holds at most wheelSize entries per wheel however many tasks are pending.
type bucket struct {
	mu   sync.Mutex
	root Task // sentinel; root.next is the first task. Guarded by mu.

	// expiration is the start of the span the bucket currently holds, or -1 once flushed.
	expiration atomic.Int64

	// heapExp and index are the delay queue's copy of the key and the heap position (-1: not queued),
	// guarded by delayQueue.mu; a separate key keeps the heap consistent if expiration moves.
	heapExp int64
	index   int
}

func newBucket() *bucket {
	b := &bucket{index: -1}
	b.root.next, b.root.prev = &b.root, &b.root
	b.expiration.Store(-1)
	return b
}

// setExpiration reports whether the expiration changed, i.e. whether the bucket must be (re)queued.
func (b *bucket) setExpiration(ms int64) bool { return b.expiration.Swap(ms) != ms }

// add links t at the tail. Then, with both accesses sequentially consistent, either a concurrent Cancel sees
// t.list == b and unlinks t, or we see the cancelled state here and unlink it: a cancelled task never stays.
func (b *bucket) add(t *Task) {
	b.mu.Lock()
	t.list.Store(b)
	t.prev, t.next = b.root.prev, &b.root
	b.root.prev.next = t
	b.root.prev = t
	b.mu.Unlock()
	if t.state.Load() == taskCancelled {
		b.remove(t)
	}
}

func (b *bucket) remove(t *Task) {
	b.mu.Lock()
	if t.list.Load() == b {
		t.prev.next, t.next.prev = t.next, t.prev
		t.prev, t.next = nil, nil
		t.list.Store(nil)
	}
	b.mu.Unlock()
}

// flush empties the bucket and hands every task to f in one pass under the bucket lock (one cache miss per
// task; the list is discarded as a whole, so neighbours are not relinked). f re-adds the task to the wheels,
// locking another bucket: that nesting cannot deadlock because only flush nests bucket locks and it runs under
// the timer's write lock, and the other bucket is always a different one (a task from a bucket of wheel L,
// re-added once the clock reached that bucket's expiration, fits a finer wheel or has expired).
// A concurrent Cancel blocks on b.mu and then finds the task moved (list != b).
func (b *bucket) flush(f func(*Task)) {
	b.mu.Lock()
	for t := b.root.next; t != &b.root; {
		next := t.next
		t.list.Store(nil)
		t.prev, t.next = nil, nil
		f(t)
		t = next
	}
	b.root.next, b.root.prev = &b.root, &b.root
	b.expiration.Store(-1)
	b.mu.Unlock()
}
