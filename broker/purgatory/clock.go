package purgatory

import (
	"sync/atomic"
	"time"
)

// Clock is the monotonic time source of a Timer. Only differences matter: Now is the time elapsed since an
// arbitrary, fixed origin. Tests inject a ManualClock to drive the timing wheel deterministically (Kafka's
// MockTime plays this role in its timer and purgatory tests).
type Clock interface {
	Now() time.Duration
}

// SystemClock returns a Clock backed by the runtime's monotonic clock, with its origin at the call.
func SystemClock() Clock { return systemClock{origin: time.Now()} }

type systemClock struct{ origin time.Time }

// Now uses time.Since, which reads the monotonic clock, so wall-clock steps never move the wheel.
func (c systemClock) Now() time.Duration { return time.Since(c.origin) }

// ManualClock is a Clock that moves only when told to. It is safe for concurrent use.
type ManualClock struct {
	now atomic.Int64 // nanoseconds since the origin
}

// NewManualClock returns a clock reading start.
func NewManualClock(start time.Duration) *ManualClock {
	c := &ManualClock{}
	c.now.Store(int64(start))
	return c
}

// Now returns the current manual time.
func (c *ManualClock) Now() time.Duration { return time.Duration(c.now.Load()) }

// Advance moves the clock forward by d; a negative d panics because the wheel assumes monotonic time.
func (c *ManualClock) Advance(d time.Duration) {
	if d < 0 {
		panic("purgatory: ManualClock moved backwards")
	}
	c.now.Add(int64(d))
}
