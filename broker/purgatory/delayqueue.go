package purgatory

import (
	"container/heap"
	"sync"
)

// delayQueue orders non-empty buckets by expiration (Kafka's java.util.concurrent.DelayQueue of
// TimerTaskList). The timer's driver sleeps until the head is due, so time advances in jumps from bucket to
// bucket instead of tick by tick: an idle wheel costs nothing.
type delayQueue struct {
	mu   sync.Mutex
	h    bucketHeap    // guarded by mu
	wake chan struct{} // capacity 1: the head changed, the driver must recompute its sleep
}

func newDelayQueue() *delayQueue { return &delayQueue{wake: make(chan struct{}, 1)} }

// offer queues b under expiration exp, or re-keys it if it is already queued.
func (q *delayQueue) offer(b *bucket, exp int64) {
	q.mu.Lock()
	b.heapExp = exp
	if b.index >= 0 {
		heap.Fix(&q.h, b.index)
	} else {
		heap.Push(&q.h, b)
	}
	head := b.index == 0
	q.mu.Unlock()
	if head {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// head returns the earliest expiration, if any bucket is queued.
func (q *delayQueue) head() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return 0, false
	}
	return q.h[0].heapExp, true
}

// pollDue removes and returns the head if it expires at or before now, else nil.
func (q *delayQueue) pollDue(now int64) *bucket {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 || q.h[0].heapExp > now {
		return nil
	}
	return heap.Pop(&q.h).(*bucket)
}

func (q *delayQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}

// bucketHeap implements heap.Interface; each bucket records its index so offer can Fix in place.
type bucketHeap []*bucket

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i].heapExp < h[j].heapExp }
func (h bucketHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *bucketHeap) Push(x any) {
	b := x.(*bucket)
	b.index = len(*h)
	*h = append(*h, b)
}

func (h *bucketHeap) Pop() any {
	old := *h
	n := len(old) - 1
	b := old[n]
	old[n] = nil
	b.index = -1
	*h = old[:n]
	return b
}
