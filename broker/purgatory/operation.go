package purgatory

import (
	"sync"
	"sync/atomic"
	"time"
)

// Operation is the behaviour of a delayed operation (Kafka's DelayedOperation subclasses: DelayedProduce,
// DelayedFetch, ...). The purgatory guarantees:
//
//   - TryComplete runs in at most one goroutine at a time per operation, and never after completion.
//   - Exactly one of the completion paths wins; OnComplete then runs exactly once, and OnExpiration runs
//     once after it only when the win was the timeout.
//   - OnComplete and OnExpiration run with no purgatory, timer or operation lock held, and never concurrently
//     with TryComplete of the same operation.
type Operation interface {
	// TryComplete checks whether the operation can complete now (e.g. every partition's high watermark has
	// reached the required offset) and returns true if so; the purgatory then completes it. It must be quick
	// and must not call ForceComplete on its own operation (that deadlocks; return true instead).
	TryComplete() bool
	// OnComplete does the completion work, typically sending the response built from the current state.
	OnComplete()
	// OnExpiration runs after OnComplete when the operation completed by timing out (metrics, logging).
	OnExpiration()
}

// DelayedOperation is an Operation waiting in a Purgatory, with its timeout. Create it with
// NewDelayedOperation and pass it to exactly one Purgatory.TryCompleteElseWatch.
type DelayedOperation struct {
	op      Operation
	timeout time.Duration

	completed atomic.Bool // the exactly-once switch: set by compare-and-swap, under mu (see ForceComplete)

	// mu is Kafka's per-operation lock: TryComplete runs holding it. pending records that a caller found mu
	// taken and left its check to the holder (Kafka's tryCompletePending in maybeTryComplete).
	mu      sync.Mutex
	pending atomic.Bool

	task Task // expiration timer task, embedded to save an allocation
}

// NewDelayedOperation wraps op with its timeout (e.g. a produce request's TimeoutMs).
func NewDelayedOperation(op Operation, timeout time.Duration) *DelayedOperation {
	d := &DelayedOperation{op: op, timeout: timeout}
	d.task.delay = timeout
	d.task.fn = d.expire
	return d
}

// Operation returns the wrapped operation.
func (d *DelayedOperation) Operation() Operation { return d.op }

// Timeout returns the delay after which the operation expires once it is watched.
func (d *DelayedOperation) Timeout() time.Duration { return d.timeout }

// IsCompleted reports whether the operation has completed, by any path.
func (d *DelayedOperation) IsCompleted() bool { return d.completed.Load() }

// ForceComplete completes the operation now unless it already completed: it cancels the expiration timer and
// runs OnComplete, and reports whether this call was the one that completed it. It waits for a TryComplete of
// the same operation running in another goroutine, so it must not be called from TryComplete.
func (d *DelayedOperation) ForceComplete() bool {
	d.mu.Lock()
	won := d.completed.CompareAndSwap(false, true)
	d.mu.Unlock()
	if won {
		d.finish()
	}
	return won
}

// finish runs after the winning compare-and-swap, outside mu. Kafka calls onComplete inside forceComplete,
// which (called from tryComplete) holds the operation lock; we release it first because OnComplete sends
// responses and takes partition locks, and holding our lock there would stall other keys' checkers and invite
// lock-order inversions. The CAS already excludes every other completion path.
func (d *DelayedOperation) finish() {
	d.task.Cancel()
	d.op.OnComplete()
}

// expire is the timer task (Kafka's DelayedOperation.run).
func (d *DelayedOperation) expire() {
	if d.ForceComplete() {
		d.op.OnExpiration()
	}
}

// maybeTryComplete runs TryComplete unless another goroutine is already running it, in which case that
// goroutine is asked to run it once more: callers never block on each other and no check is lost (Kafka 2.x
// DelayedOperation.maybeTryComplete). It reports whether this call completed the operation.
func (d *DelayedOperation) maybeTryComplete() bool {
	for !d.completed.Load() {
		if !d.mu.TryLock() {
			// If the flag was already set, the holder will see it after unlocking. If we set it, the holder
			// may have looked already, so try the lock once more ourselves.
			if d.pending.Swap(true) {
				return false
			}
			continue
		}
		d.pending.Store(false)
		won := !d.completed.Load() && d.op.TryComplete() && d.completed.CompareAndSwap(false, true)
		d.mu.Unlock()
		if won {
			d.finish()
			return true
		}
		if !d.pending.Load() {
			return false
		}
	}
	return false
}
