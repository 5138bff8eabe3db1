package storage

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// fileDeleter removes files (or directories) after a delay: segments renamed .deleted after
// file.delete.delay.ms, partition dirs renamed -delete after the same delay (Kafka schedules
// these on its KafkaScheduler). One timer per scheduled deletion; close stops them all.
type fileDeleter struct {
	lg      *logrus.Entry
	mu      sync.Mutex
	closed  bool
	pending map[*pendingDelete]struct{}
	wg      sync.WaitGroup // timers that fired and are deleting
}

type pendingDelete struct {
	timer     *time.Timer
	paths     []string
	removeAll bool
}

func newFileDeleter(lg *logrus.Entry) *fileDeleter {
	return &fileDeleter{lg: lg, pending: make(map[*pendingDelete]struct{})}
}

// msDuration converts a Kafka millisecond setting, saturating instead of overflowing
// (Long.MaxValue means "never" in several settings).
func msDuration(ms int64) time.Duration {
	if ms > math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

// schedule deletes paths after delay; removeAll deletes directories recursively. After close the
// deletion runs at once.
func (d *fileDeleter) schedule(delay time.Duration, removeAll bool, paths ...string) {
	p := &pendingDelete{paths: paths, removeAll: removeAll}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.remove(p)
		return
	}
	d.wg.Add(1)
	d.pending[p] = struct{}{}
	p.timer = time.AfterFunc(delay, func() {
		defer d.wg.Done()
		d.mu.Lock()
		_, ok := d.pending[p]
		delete(d.pending, p)
		d.mu.Unlock()
		if ok {
			d.remove(p)
		}
	})
	d.mu.Unlock()
}

func (d *fileDeleter) remove(p *pendingDelete) {
	for _, path := range p.paths {
		var err error
		if p.removeAll {
			err = os.RemoveAll(path)
		} else {
			err = os.Remove(path)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.lg.WithError(err).WithField("path", path).Warn("delete file failed")
		} else {
			d.lg.WithField("path", path).Debug("deleted file")
		}
	}
}

// pendingCount is the number of deletions not yet started (tests).
func (d *fileDeleter) pendingCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

// close stops every timer; runPending deletes their files now, otherwise they stay for the next
// startup to find. It waits for deletions already running.
func (d *fileDeleter) close(runPending bool) {
	d.mu.Lock()
	d.closed = true
	var stopped []*pendingDelete
	for p := range d.pending {
		if p.timer.Stop() {
			stopped = append(stopped, p)
			d.wg.Done()
		}
		delete(d.pending, p)
	}
	d.mu.Unlock()
	if runPending {
		for _, p := range stopped {
			d.remove(p)
		}
	}
	d.wg.Wait()
}
