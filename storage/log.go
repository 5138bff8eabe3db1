package storage

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// logView is an immutable snapshot of what readers need: the segment list, the log start offset
// and the log end offset. The writer publishes a new one after every change (one small
// allocation per append); readers load it once and never lock.
type logView struct {
	segs     []*segment // by base offset; the last is the active segment
	logStart int64
	leo      int64
	closed   bool
}

func (v *logView) active() *segment { return v.segs[len(v.segs)-1] }

// floor returns the index of the segment with the largest base offset <= offset, or -1.
func (v *logView) floor(offset int64) int {
	return sort.Search(len(v.segs), func(i int) bool { return v.segs[i].base > offset }) - 1
}

// Log is one partition replica's log: a directory of segments (Kafka's Log).
//
// Writers (appends, roll, truncation, retention, DeleteRecordsBefore, Close) serialise on mu.
// Readers (Read, OffsetForTimestamp, the getters) load the published logView and take segment
// references; they never take mu, so they never wait for a writer, and a writer waits for a
// reader only while an index is trimmed, truncated or renamed under the segment's idxMu (a
// lookup's duration). fsync runs outside mu, serialised by flushMu. Lock order:
// Manager.mu -> flushMu -> mu -> segment.idxMu.
type Log struct {
	dir   string // partition directory
	tp    TopicPartition
	lg    *logrus.Entry
	clock func() int64 // ms

	cfg           atomic.Pointer[Config]
	view          atomic.Pointer[logView]
	hw            atomic.Int64
	recoveryPoint atomic.Int64 // every offset below it is fsynced
	lastFlushMs   atomic.Int64

	mu       sync.Mutex
	closed   bool   // guarded by mu
	truncGen uint64 // guarded by mu; bumped when data below the LEO is removed, so that an fsync that started before cannot raise the recovery point over rewritten offsets

	cleanTrunc cleanerTruncation // guarded by mu; lowest truncation since the log cleaner last looked

	flushMu sync.Mutex
	bg      sync.WaitGroup // flushes started by roll
	deleter *fileDeleter

	epochs *epochCache // leader-epoch-checkpoint; written under mu, read lock-free

	producers     *producerState // guarded by mu (producer_*.go)
	firstUnstable atomic.Int64   // first unstable offset (>= log start), -1 when none; written under mu
}

// logOptions are the broker-level settings a Log takes besides its Config.
type logOptions struct {
	producerIDExpirationMs int64 // transactional.id.expiration.ms; 0: DefaultProducerIDExpirationMs
}

// OpenLog opens (creating when absent) the log of tp in the partition directory
// <dir>/<topic>-<partition>, where dir is one of log.dirs. recoveryPoint and logStartOffset come
// from the log dir's checkpoint files (0 when absent); hadCleanShutdown from its
// .kafka_cleanshutdown marker. Without a clean shutdown every segment from the one holding the
// recovery point on is recovered (CRC-checked, torn tail cut, indexes rebuilt).
func OpenLog(dir string, tp TopicPartition, cfg Config, recoveryPoint, logStartOffset int64, hadCleanShutdown bool, lg *logrus.Entry) (*Log, error) {
	return openLog(filepath.Join(dir, tp.dirName()), tp, cfg, recoveryPoint, logStartOffset, hadCleanShutdown, lg, nil)
}

// openLog opens the log in partition directory pdir; clock nil means wall time.
func openLog(pdir string, tp TopicPartition, cfg Config, recoveryPoint, logStartOffset int64, clean bool, lg *logrus.Entry, clock func() int64) (*Log, error) {
	return openLogWith(pdir, tp, cfg, recoveryPoint, logStartOffset, clean, lg, clock, logOptions{})
}

func openLogWith(pdir string, tp TopicPartition, cfg Config, recoveryPoint, logStartOffset int64, clean bool, lg *logrus.Entry, clock func() int64, opts logOptions) (*Log, error) {
	if err := validTopic(tp.Topic); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", tp, err)
	}
	if lg == nil {
		l := logrus.New()
		l.Out = io.Discard
		lg = logrus.NewEntry(l)
	}
	if clock == nil {
		clock = func() int64 { return time.Now().UnixMilli() }
	}
	l := &Log{
		dir:   pdir,
		tp:    tp,
		lg:    lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),
		clock: clock,
	}
	l.cfg.Store(&cfg)
	l.deleter = newFileDeleter(l.lg)
	l.epochs = newEpochCache(filepath.Join(pdir, LeaderEpochCheckpointFile), l.lg)
	if opts.producerIDExpirationMs <= 0 {
		opts.producerIDExpirationMs = DefaultProducerIDExpirationMs
	}
	l.producers = newProducerState(pdir, opts.producerIDExpirationMs, l.lg)
	l.firstUnstable.Store(-1)
	l.lastFlushMs.Store(clock())
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return nil, ioErr("create log dir %s: %v", pdir, err)
	}
	if err := l.load(recoveryPoint, logStartOffset, clean); err != nil {
		l.deleter.close(false)
		return nil, fmt.Errorf("load log %s: %w", tp, err)
	}
	return l, nil
}

// randomJitter is Kafka's LogConfig.randomSegmentJitter: uniform in [0, min(jitter, segment.ms)).
func randomJitter(cfg Config) int64 {
	if cfg.SegmentJitterMs <= 0 {
		return 0
	}
	return rand.Int64N(min(cfg.SegmentJitterMs, cfg.SegmentMs))
}

func (l *Log) config() Config { return *l.cfg.Load() }

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// TopicPartition is the partition this log belongs to.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// Config returns the current configuration.
func (l *Log) Config() Config { return l.config() }

// SetConfig replaces the configuration (a topic config change). Segment and index sizes apply to
// segments created from now on. An invalid configuration is logged and ignored; callers validate
// with Config.Validate first.
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.lg.WithError(err).Error("ignoring invalid log config")
		return
	}
	l.cfg.Store(&cfg)
}

// LogStartOffset is the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 { return l.view.Load().logStart }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.view.Load().leo }

// RecoveryPoint is the offset below which everything is fsynced (and need not be recovered).
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// Size is the total size of the segments' .log files in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.view.Load().segs {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segments.
func (l *Log) NumSegments() int { return len(l.view.Load().segs) }

// firstSegmentBase is the base offset of the oldest segment.
func (l *Log) firstSegmentBase() int64 { return l.view.Load().segs[0].base }

// HighWatermark returns the high watermark the replica layer last set (initially the log start
// offset). Retention never deletes at or above it.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark stores hw clamped to [log start, LEO] (Log.updateHighWatermark) and returns
// the stored value. Completed transactions whose marker it passes stop holding the last stable
// offset back.
func (l *Log) SetHighWatermark(hw int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := l.view.Load()
	hw = min(max(hw, v.logStart), v.leo)
	l.hw.Store(hw)
	l.onHighWatermarkLocked(hw, v.logStart)
	return hw
}

// publishLocked stores a new view derived from the current one.
func (l *Log) publishLocked(f func(v *logView)) *logView {
	nv := *l.view.Load()
	f(&nv)
	l.view.Store(&nv)
	return &nv
}

// Close flushes the log, writes the active segment's final time-index entry, trims its indexes
// and closes the files (as soon as no reader holds a range). Pending .deleted files are removed
// now rather than after file.delete.delay.ms.
func (l *Log) Close() error { return l.close(true) }

func (l *Log) close(flush bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	// New writers now fail with ErrLogClosed; roll-triggered flushes see closed and stop.
	l.bg.Wait()
	var errs []error
	if flush {
		errs = append(errs, l.flushTo(l.LogEndOffset(), true))
	}
	l.mu.Lock()
	if flush {
		errs = append(errs, l.closeProducerStateLocked()) // Log.close: a snapshot at the LEO
	}
	v := l.publishLocked(func(v *logView) { v.closed = true })
	errs = append(errs, v.active().onBecomeInactiveLocked(l.config().Preallocate))
	l.mu.Unlock()
	for _, s := range v.segs {
		s.release()
	}
	l.deleter.close(true)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log %s: %w", l.tp, err)
	}
	return nil
}

// Delete closes the log if needed (without flushing) and removes its directory.
func (l *Log) Delete() error {
	_ = l.close(false)
	if err := os.RemoveAll(l.dir); err != nil {
		return ioErr("delete log dir %s: %v", l.dir, err)
	}
	return nil
}

// checkOpenLocked returns ErrLogClosed after Close.
func (l *Log) checkOpenLocked() error {
	if l.closed {
		return fmt.Errorf("%w: %s", ErrLogClosed, l.tp)
	}
	return nil
}
