package group

import "time"

// Clock is the coordinator's time source. Timers fire by calling f on some goroutine; the coordinator's f
// only posts an event to a group's mailbox, so a test clock may call it synchronously from Advance.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
