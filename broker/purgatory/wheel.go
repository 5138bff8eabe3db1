package purgatory

import "sync/atomic"

// wheel is one level of the hierarchical timing wheel (Kafka's TimingWheel). It has size buckets, each
// covering tick ms; together they cover interval = tick*size ms starting at currentTime. A task beyond the
// interval goes to the overflow wheel, whose tick is this wheel's interval. When an overflow bucket expires,
// its tasks are re-added and fall into finer wheels ("cascade"), down to the 1-tick wheel where they expire.
//
// Locking: add runs under the timer's read lock, advanceClock under its write lock; so currentTime is stable
// during add. Buckets have their own locks for concurrent adds and cancels.
type wheel struct {
	tick, size, interval int64 // ms, slots, ms
	currentTime          int64 // multiple of tick; written only under the timer's write lock
	buckets              []*bucket
	queue                *delayQueue

	// overflow is created lazily by whichever concurrent add first needs it.
	overflow atomic.Pointer[wheel]
}

func newWheel(tick, size, start int64, q *delayQueue) *wheel {
	w := &wheel{
		tick:        tick,
		size:        size,
		interval:    tick * size,
		currentTime: start - start%tick,
		buckets:     make([]*bucket, size),
		queue:       q,
	}
	for i := range w.buckets {
		w.buckets[i] = newBucket()
	}
	return w
}

// add inserts t into the finest wheel whose span holds its expiration and reports false if it has already
// expired (expiration within the current tick), leaving it to the caller to run.
func (w *wheel) add(t *Task) bool {
	switch {
	case t.exp < w.currentTime+w.tick:
		return false
	case t.exp < w.currentTime+w.interval:
		// The virtual bucket id is absolute, so a slot is reused only after the clock passed its old span.
		vid := t.exp / w.tick
		b := w.buckets[vid%w.size]
		b.add(t)
		// Queue the bucket only when its span changed: once per span, not once per task.
		if exp := vid * w.tick; b.setExpiration(exp) {
			w.queue.offer(b, exp)
		}
		return true
	default:
		return w.overflowWheel().add(t)
	}
}

func (w *wheel) overflowWheel() *wheel {
	if o := w.overflow.Load(); o != nil {
		return o
	}
	// The overflow starts at our currentTime so its first bucket covers the span right after ours.
	o := newWheel(w.interval, w.size, w.currentTime, w.queue)
	if w.overflow.CompareAndSwap(nil, o) {
		return o
	}
	return w.overflow.Load()
}

// advanceClock moves this wheel and its overflow wheels to ms (rounded down to each wheel's tick).
func (w *wheel) advanceClock(ms int64) {
	if ms < w.currentTime+w.tick {
		return
	}
	w.currentTime = ms - ms%w.tick
	if o := w.overflow.Load(); o != nil {
		o.advanceClock(w.currentTime)
	}
}

// levels counts this wheel and its overflow wheels (tests and debugging).
func (w *wheel) levels() int {
	n := 0
	for ; w != nil; w = w.overflow.Load() {
		n++
	}
	return n
}
