package purgatory

import (
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// shards is the number of independently locked parts of the watch map (Kafka's DelayedOperationPurgatory
// Shards = 512): checkers of different keys rarely share a lock.
const shards = 512

// Config configures a Purgatory.
type Config struct {
	// Name identifies the purgatory in logs ("Produce", "Fetch", ...).
	Name string
	// PurgeInterval is Kafka's *.purgatory.purge.interval.requests: completed operations are purged from the
	// watch lists once the estimated number of watched operations exceeds the number still pending by more
	// than this. Default 1000.
	PurgeInterval int
	// Timer sizes the expiration timer.
	Timer TimerConfig
}

// Purgatory holds delayed operations until they complete or time out (Kafka's DelayedOperationPurgatory).
// Each operation is watched under one or more keys of type K (e.g. a topic-partition); an event on a key
// (high watermark moved, data appended) calls CheckAndComplete(key), which re-checks the operations watching
// it. Every pending operation is also in the timer, which force-completes it at its timeout.
type Purgatory[K comparable] struct {
	name          string
	purgeInterval int64
	log           *logrus.Entry
	timer         *Timer
	seed          maphash.Seed
	shards        [shards]shard[K]

	// estimated counts watch registrations since the last purge (one per TryCompleteElseWatch that watched,
	// as in Kafka); estimated - Delayed() approximates completed operations still in watch lists.
	estimated atomic.Int64
	purging   atomic.Bool   // a purge is running or requested
	purgeReq  chan struct{} // capacity 1: wakes the purge goroutine
	started   atomic.Bool   // written under lifeMu
	closing   atomic.Bool   // written under lifeMu

	lifeMu sync.Mutex         // orders Start against Shutdown
	cancel context.CancelFunc // guarded by lifeMu; set by Start
	wg     sync.WaitGroup
}

type shard[K comparable] struct {
	mu       sync.Mutex
	watchers map[K]*watchers // guarded by mu; a key is present only while its list is non-empty
}

// watchers is the list of operations watching one key (Kafka's Watchers). Lock order: shard.mu, then
// watchers.mu. Neither is held while an operation's TryComplete or callbacks run.
type watchers struct {
	mu  sync.Mutex
	ops []*DelayedOperation // guarded by mu; may include completed operations until purged
}

// New returns a purgatory. It runs no goroutine until Start; until then operations expire only when
// AdvanceClock is called (tests with a ManualClock). log may be nil.
func New[K comparable](cfg Config, log *logrus.Entry) (*Purgatory[K], error) {
	if cfg.PurgeInterval == 0 {
		cfg.PurgeInterval = 1000
	}
	if cfg.PurgeInterval < 0 {
		return nil, fmt.Errorf("purgatory %s: purge interval %d: must be >= 1", cfg.Name, cfg.PurgeInterval)
	}
	timer, err := NewTimer(cfg.Timer)
	if err != nil {
		return nil, fmt.Errorf("purgatory %s: %w", cfg.Name, err)
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	return &Purgatory[K]{
		name:          cfg.Name,
		purgeInterval: int64(cfg.PurgeInterval),
		log:           log.WithField("purgatory", cfg.Name),
		timer:         timer,
		seed:          maphash.MakeSeed(),
		purgeReq:      make(chan struct{}, 1),
	}, nil
}

// Start launches the timer (driver and executor) and the purge goroutine; they stop on ctx or Shutdown.
// Calls after the first, or after Shutdown, are ignored.
func (p *Purgatory[K]) Start(ctx context.Context) {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.closing.Load() || p.started.Load() {
		return
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.started.Store(true)
	p.timer.Start(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.purgeReq:
				p.purge()
			}
		}
	}()
}

// TryCompleteElseWatch tries to complete op; if it cannot, it watches op under every key and starts its
// expiration timer, then tries once more, because an event on a key between the first try and the watch
// would otherwise be missed. It reports whether op completed during this call by TryComplete. keys must not be
// empty (every pending operation must be reachable from a key; Kafka asserts the same).
func (p *Purgatory[K]) TryCompleteElseWatch(op *DelayedOperation, keys []K) bool {
	if len(keys) == 0 {
		panic("purgatory: TryCompleteElseWatch without watch keys")
	}
	if op.maybeTryComplete() {
		return true
	}
	if op.IsCompleted() {
		return false
	}
	if p.closing.Load() {
		op.ForceComplete()
		return false
	}
	for _, k := range keys {
		p.watch(k, op)
	}
	p.estimated.Add(1)
	// A completion from here on cancels op.task, before or after Add (Add of a cancelled task is a no-op).
	p.timer.Add(&op.task)
	if op.maybeTryComplete() {
		return true
	}
	// Shutdown sets closing before draining the shards; if its drain passed our shard before our watch, the
	// shard lock orders that drain before our read here, so we see closing and complete op ourselves.
	if p.closing.Load() {
		op.ForceComplete()
	}
	p.maybePurge()
	return false
}

func (p *Purgatory[K]) shard(key K) *shard[K] {
	return &p.shards[maphash.Comparable(p.seed, key)%shards]
}

func (p *Purgatory[K]) watch(key K, op *DelayedOperation) {
	s := p.shard(key)
	s.mu.Lock()
	w := s.watchers[key]
	if w == nil {
		if s.watchers == nil {
			s.watchers = make(map[K]*watchers)
		}
		w = &watchers{}
		s.watchers[key] = w
	}
	// Appending under the shard lock keeps removeIfEmpty from dropping the list we are adding to.
	w.mu.Lock()
	w.ops = append(w.ops, op)
	w.mu.Unlock()
	s.mu.Unlock()
}

// snapshots recycles the slices CheckAndComplete copies a watch list into, so the list lock is not held while
// TryComplete runs (Kafka iterates a ConcurrentLinkedQueue instead).
var snapshots = sync.Pool{New: func() any { return new([]*DelayedOperation) }}

// CheckAndComplete re-checks the operations watching key and returns how many it completed. Call it after the
// state an operation waits for changed (high watermark, log end, leadership), with no partition lock held.
func (p *Purgatory[K]) CheckAndComplete(key K) int {
	s := p.shard(key)
	s.mu.Lock()
	w := s.watchers[key]
	s.mu.Unlock()
	if w == nil {
		return 0
	}
	buf := snapshots.Get().(*[]*DelayedOperation)
	w.mu.Lock()
	ops := append((*buf)[:0], w.ops...)
	w.mu.Unlock()

	completed := 0
	for _, op := range ops {
		if !op.IsCompleted() && op.maybeTryComplete() {
			completed++
		}
	}
	clear(ops)
	*buf = ops[:0]
	snapshots.Put(buf)

	w.mu.Lock()
	removed := w.removeCompletedLocked()
	empty := len(w.ops) == 0
	w.mu.Unlock()
	if empty && removed > 0 {
		p.removeIfEmpty(s, key, w)
	}
	if completed > 0 {
		p.maybePurge()
	}
	return completed
}

// removeCompletedLocked drops completed operations, keeping order; it returns how many it dropped.
func (w *watchers) removeCompletedLocked() int {
	kept := w.ops[:0]
	for _, op := range w.ops {
		if !op.IsCompleted() {
			kept = append(kept, op)
		}
	}
	removed := len(w.ops) - len(kept)
	clear(w.ops[len(kept):]) // let completed operations be collected
	w.ops = kept
	return removed
}

func (p *Purgatory[K]) removeIfEmpty(s *shard[K], key K, w *watchers) {
	s.mu.Lock()
	if s.watchers[key] == w {
		w.mu.Lock()
		if len(w.ops) == 0 {
			delete(s.watchers, key)
		}
		w.mu.Unlock()
	}
	s.mu.Unlock()
}

// Watched returns the number of watch-list entries: an operation counts once per key, and completed operations
// count until CheckAndComplete or a purge removes them (Kafka's PurgatorySize metric).
func (p *Purgatory[K]) Watched() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, w := range s.watchers {
			w.mu.Lock()
			n += len(w.ops)
			w.mu.Unlock()
		}
		s.mu.Unlock()
	}
	return n
}

// Delayed returns the number of operations waiting for completion or timeout, i.e. the timer's pending tasks
// (Kafka's NumDelayedOperations metric).
func (p *Purgatory[K]) Delayed() int { return p.timer.Size() }

// AdvanceClock expires the operations due at the clock's current time; with a ManualClock and no Start, their
// OnComplete and OnExpiration run before it returns. It returns the number expired.
func (p *Purgatory[K]) AdvanceClock() int {
	n := p.timer.AdvanceClock()
	if n > 0 {
		p.maybePurge()
	}
	return n
}

// maybePurge requests a purge when completed operations likely dominate the watch lists. The check is two
// atomic loads; the purge runs in the purge goroutine (Kafka: the expiration reaper), or here if not started.
func (p *Purgatory[K]) maybePurge() {
	if p.estimated.Load()-int64(p.timer.Size()) <= p.purgeInterval || !p.purging.CompareAndSwap(false, true) {
		return
	}
	if p.started.Load() {
		select {
		case p.purgeReq <- struct{}{}:
		default:
		}
		return
	}
	p.purge()
}

// purge removes completed operations from every watch list and drops empty lists. It resets the estimate to
// the pending count first, as Kafka does; operations completing meanwhile leave a small overestimate.
func (p *Purgatory[K]) purge() {
	defer p.purging.Store(false)
	p.estimated.Store(int64(p.timer.Size()))
	purged := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for key, w := range s.watchers {
			w.mu.Lock()
			purged += w.removeCompletedLocked()
			if len(w.ops) == 0 {
				delete(s.watchers, key)
			}
			w.mu.Unlock()
		}
		s.mu.Unlock()
	}
	p.log.WithField("purged", purged).Debug("purged watch lists")
}

// Shutdown completes every pending operation with ForceComplete (OnComplete runs, OnExpiration does not: the
// operation did not time out, the broker is stopping, so waiting clients get an answer from the current
// state), stops the timer and the purge goroutine and waits for them. Operations passed to
// TryCompleteElseWatch afterwards are completed at once. Call it even if Start's ctx has ended: that stops
// the goroutines but completes nothing. Idempotent.
func (p *Purgatory[K]) Shutdown() {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.closing.Load() {
		return
	}
	p.closing.Store(true)
	drained := p.drain()
	if p.cancel != nil {
		p.cancel()
	}
	p.timer.Stop()
	p.wg.Wait()
	p.log.WithField("completed", drained).Info("purgatory shut down")
}

// drain empties every watch list and force-completes the operations, outside the shard locks.
func (p *Purgatory[K]) drain() int {
	drained := 0
	var ops []*DelayedOperation
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, w := range s.watchers {
			w.mu.Lock()
			ops = append(ops, w.ops...)
			w.mu.Unlock()
		}
		s.watchers = nil
		s.mu.Unlock()
		for _, op := range ops {
			if op.ForceComplete() {
				drained++
			}
		}
		clear(ops)
		ops = ops[:0]
	}
	return drained
}
