package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// CleanerOffsetCheckpointFile holds, per log dir, the first dirty offset of every compacted log:
// everything below it has been cleaned at least once (LogCleanerManager's offset checkpoint,
// same text format as the other offset checkpoints).
const CleanerOffsetCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig is the broker's log.cleaner.* settings (Kafka's CleanerConfig).
type CleanerConfig struct {
	Enable                 bool    // log.cleaner.enable
	Threads                int     // log.cleaner.threads
	DedupeBufferSize       int64   // log.cleaner.dedupe.buffer.size, shared by the threads
	DedupeBufferLoadFactor float64 // log.cleaner.io.buffer.load.factor: how full the offset map may get
	IOBufferSize           int     // log.cleaner.io.buffer.size: read plus write buffer, shared by the threads
	BackoffMs              int64   // log.cleaner.backoff.ms: sleep when no log needs cleaning
}

// DefaultCleanerConfig returns Kafka 2.8's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{
		Enable:                 true,
		Threads:                1,
		DedupeBufferSize:       128 << 20,
		DedupeBufferLoadFactor: 0.9,
		IOBufferSize:           512 << 10,
		BackoffMs:              15000,
	}
}

// Validate reports settings Kafka refuses, and an offset map too small to hold one key per
// thread (Cleaner's "offset map is too small" requirement).
func (c CleanerConfig) Validate() error {
	var errs []error
	if c.Threads < 1 {
		errs = append(errs, fmt.Errorf("log.cleaner.threads %d below 1", c.Threads))
	}
	if c.DedupeBufferLoadFactor <= 0 || c.DedupeBufferLoadFactor > 1 {
		errs = append(errs, fmt.Errorf("log.cleaner.io.buffer.load.factor %v outside (0, 1]", c.DedupeBufferLoadFactor))
	}
	if c.Threads >= 1 && c.DedupeBufferLoadFactor > 0 {
		if m := newOffsetMap(c.perThreadMemory(), c.DedupeBufferLoadFactor); m.capacity() < 1 {
			errs = append(errs, fmt.Errorf("log.cleaner.dedupe.buffer.size %d too small for %d threads", c.DedupeBufferSize, c.Threads))
		}
	}
	if c.IOBufferSize < 0 {
		errs = append(errs, fmt.Errorf("log.cleaner.io.buffer.size %d below 0", c.IOBufferSize))
	}
	if c.BackoffMs < 0 {
		errs = append(errs, fmt.Errorf("log.cleaner.backoff.ms %d below 0", c.BackoffMs))
	}
	return errors.Join(errs...)
}

// perThreadMemory is Kafka's dedupeBufferSize / numThreads, capped at 2 GiB per thread.
func (c CleanerConfig) perThreadMemory() int64 {
	return min(c.DedupeBufferSize/int64(max(c.Threads, 1)), math.MaxInt32)
}

// CompactionConfig is a topic's compaction settings (the LogConfig fields the cleaner reads).
type CompactionConfig struct {
	DeleteRetentionMs      int64   // delete.retention.ms: how long tombstones stay after their segment was cleaned
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio
	MinCompactionLagMs     int64   // min.compaction.lag.ms: newer segments are not cleaned
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: older dirty data is cleaned whatever the ratio
}

// DefaultCompactionConfig returns Kafka 2.8's defaults.
func DefaultCompactionConfig() CompactionConfig {
	return CompactionConfig{
		DeleteRetentionMs:      24 * 60 * 60 * 1000,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// Validate applies LogConfig's ranges.
func (c CompactionConfig) Validate() error {
	var errs []error
	if c.DeleteRetentionMs < 0 {
		errs = append(errs, fmt.Errorf("delete.retention.ms %d below 0", c.DeleteRetentionMs))
	}
	if c.MinCleanableDirtyRatio < 0 || c.MinCleanableDirtyRatio > 1 {
		errs = append(errs, fmt.Errorf("min.cleanable.dirty.ratio %v outside [0, 1]", c.MinCleanableDirtyRatio))
	}
	if c.MinCompactionLagMs < 0 {
		errs = append(errs, fmt.Errorf("min.compaction.lag.ms %d below 0", c.MinCompactionLagMs))
	}
	if c.MaxCompactionLagMs < 1 {
		errs = append(errs, fmt.Errorf("max.compaction.lag.ms %d below 1", c.MaxCompactionLagMs))
	}
	return errors.Join(errs...)
}

// cleanerConfig is cfg.Cleaner or the defaults.
func (cfg ManagerConfig) cleanerConfig() CleanerConfig {
	if cfg.Cleaner != nil {
		return *cfg.Cleaner
	}
	return DefaultCleanerConfig()
}

// errCleaningAborted ends a cleaning without error: shutdown, a pause (partition deletion), or
// the log changed under the cleaner (truncation, retention, close) so its output is stale.
var errCleaningAborted = errors.New("storage: log cleaning aborted")

// logCleaner is Kafka's LogCleaner plus LogCleanerManager: the cleaner goroutines, which log is
// being cleaned, paused or failed, and the cleaner-offset-checkpoint of every dir.
//
// Lock order: logCleaner.mu -> Manager.mu -> Log.mu. Nothing holding Manager.mu or Log.mu calls
// into the cleaner.
type logCleaner struct {
	m   *Manager
	cfg CleanerConfig // read by the threads; replaced only while none runs (reconfigure)
	lg  *logrus.Entry

	// The running threads: their context's cancel and their WaitGroup (under Manager.taskMu).
	parent  context.Context
	stop    context.CancelFunc
	threads sync.WaitGroup

	mu          sync.Mutex
	cond        *sync.Cond                        // signalled when a cleaning ends
	checkpoints map[TopicPartition]int64          // guarded by mu: first dirty offsets
	inProgress  map[TopicPartition]*cleaningState // guarded by mu
	paused      map[TopicPartition]int            // guarded by mu: pause count
	uncleanable map[TopicPartition]bool           // guarded by mu: a cleaning failed; skipped until the log is deleted
}

// cleaningState is one cleaning in progress; aborted asks it to stop.
type cleaningState struct{ aborted atomic.Bool }

// newLogCleaner reads every dir's cleaner-offset-checkpoint (an unreadable one is logged and
// ignored, so the logs are cleaned from their start again); an entry counts only in the dir
// holding its log. Threads start with Manager.Start.
func newLogCleaner(m *Manager, cfg CleanerConfig) (*logCleaner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("storage: log cleaner config: %w", err)
	}
	c := &logCleaner{
		m:           m,
		cfg:         cfg,
		lg:          m.lg.WithField("component", "log_cleaner"),
		checkpoints: make(map[TopicPartition]int64),
		inProgress:  make(map[TopicPartition]*cleaningState),
		paused:      make(map[TopicPartition]int),
		uncleanable: make(map[TopicPartition]bool),
	}
	c.cond = sync.NewCond(&c.mu)
	for _, d := range m.dirs {
		for tp, off := range m.readCheckpoint(d, CleanerOffsetCheckpointFile) {
			if ml, ok := m.logs[tp]; ok && ml.dir == d {
				c.checkpoints[tp] = off
			}
		}
	}
	return c, nil
}

// start runs the cleaner goroutines until ctx ends (LogCleaner.startup). Called with Manager.taskMu.
func (c *logCleaner) start(ctx context.Context) {
	c.parent = ctx
	c.startThreads()
}

// startThreads starts cfg.Threads cleaner goroutines under a context of their own, so reconfigure can
// stop them without stopping the manager's other tasks. Called with Manager.taskMu.
func (c *logCleaner) startThreads() {
	if !c.cfg.Enable || c.parent == nil {
		return
	}
	ctx, stop := context.WithCancel(c.parent)
	c.stop = stop
	for i := 0; i < c.cfg.Threads; i++ {
		c.m.wg.Add(1)
		c.threads.Add(1)
		go func() {
			defer c.m.wg.Done()
			defer c.threads.Done()
			c.run(ctx, i)
		}()
	}
	c.lg.WithFields(logrus.Fields{"threads": c.cfg.Threads, "backoff_ms": c.cfg.BackoffMs,
		"dedupe_buffer_size": c.cfg.DedupeBufferSize}).Info("started log cleaner")
}

// ReconfigureCleaner applies new log.cleaner.* settings to a running manager (dynamic broker configs):
// as Kafka's LogCleaner.reconfigure, the cleaner threads stop — a cleaning in progress is aborted and
// its partial output discarded, its log is picked again later — and start again with cfg.
func (m *Manager) ReconfigureCleaner(cfg CleanerConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("storage: log cleaner config: %w", err)
	}
	m.taskMu.Lock()
	defer m.taskMu.Unlock()
	c := m.cleaner
	if c.cfg == cfg {
		return nil
	}
	if c.stop != nil {
		c.stop()
		c.threads.Wait()
		c.stop = nil
	}
	c.cfg = cfg
	if !m.stopped {
		c.startThreads()
	}
	return nil
}

// run is CleanerThread.doWork: clean the filthiest log, or back off when none qualifies.
func (c *logCleaner) run(ctx context.Context, id int) {
	w := newCleanerWorker(id, c.cfg, c.lg)
	backoff := time.NewTimer(0)
	defer backoff.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		if c.cleanFilthiest(ctx, w) {
			continue
		}
		backoff.Reset(msDuration(c.cfg.BackoffMs))
		select {
		case <-ctx.Done():
			return
		case <-backoff.C:
		}
	}
}

// cleanFilthiest cleans one log and reports whether it did (an aborted cleaning backs off).
func (c *logCleaner) cleanFilthiest(ctx context.Context, w *cleanerWorker) bool {
	ltc := c.grabFilthiest(c.m.clock())
	if ltc == nil {
		return false
	}
	stats, err := w.clean(ctx, ltc)
	c.doneCleaning(ltc, stats, err)
	return err == nil
}

// grabFilthiest picks, among compacted logs not being cleaned, paused or failed, the one with the
// highest dirty ratio above min.cleanable.dirty.ratio, or with dirty data older than
// max.compaction.lag.ms, and marks it in progress (LogCleanerManager.grabFilthiestCompactedLog).
func (c *logCleaner) grabFilthiest(now int64) *logToClean {
	logs := c.m.snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	var best *logToClean
	rewrite := make(map[*logDir]bool)
	for _, ml := range logs {
		l, tp := ml.log, ml.log.TopicPartition()
		if c.inProgress[tp] != nil {
			continue // its truncation notes stay for after the cleaning
		}
		cp, has := c.checkpoints[tp]
		if off, truncated := l.takeTruncation(); truncated && has && cp > off {
			// LogCleanerManager.maybeTruncateCheckpoint: offsets above the cut may be rewritten.
			cp = off
			c.checkpoints[tp] = off
			rewrite[ml.dir] = true
		}
		if !l.config().hasPolicy("compact") || c.paused[tp] > 0 || c.uncleanable[tp] {
			continue
		}
		cc := c.m.compactionConfig(tp.Topic)
		ltc, reset := newLogToClean(l, cp, has, now, cc)
		if reset {
			if !l.config().hasPolicy("delete") {
				c.lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "checkpoint": cp,
					"first_dirty_offset": ltc.firstDirty}).Warn("resetting first dirty offset: checkpointed offset is outside the log")
			}
			c.checkpoints[tp] = ltc.firstDirty
			rewrite[ml.dir] = true
		}
		if ltc.totalBytes == 0 || !ltc.qualifies() {
			continue
		}
		if best == nil || ltc.ratio > best.ratio {
			ltc.dir = ml.dir
			best = ltc
		}
	}
	for d := range rewrite {
		c.writeCheckpointLocked(d, logs)
	}
	if best != nil {
		best.state = &cleaningState{}
		c.inProgress[best.tp] = best.state
	}
	return best
}

// doneCleaning records the new first dirty offset after a successful cleaning, marks the log
// uncleanable after a failure, and wakes anyone waiting for the cleaning to stop.
func (c *logCleaner) doneCleaning(ltc *logToClean, stats cleanerStats, err error) {
	fields := logrus.Fields{"topic": ltc.tp.Topic, "partition": ltc.tp.Partition, "first_dirty_offset": ltc.firstDirty}
	switch {
	case err == nil:
		stats.log(c.lg.WithFields(fields))
	case errors.Is(err, errCleaningAborted):
		c.lg.WithFields(fields).WithField("reason", err.Error()).Info("log cleaning aborted")
	default:
		c.lg.WithFields(fields).WithError(err).Error("log cleaning failed; the partition will not be cleaned again until it is deleted or the broker restarts")
	}
	logs := c.m.snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inProgress, ltc.tp)
	c.cond.Broadcast()
	switch {
	case err == nil:
		c.checkpoints[ltc.tp] = stats.endOffset
		c.writeCheckpointLocked(ltc.dir, logs)
	case !errors.Is(err, errCleaningAborted):
		c.uncleanable[ltc.tp] = true
	}
}

// writeCheckpointLocked rewrites dir's cleaner-offset-checkpoint with the entries of the logs it
// holds (entries of deleted logs drop out). A failure is logged: the cleaner repeats work after a
// restart but loses nothing.
func (c *logCleaner) writeCheckpointLocked(d *logDir, logs []*managedLog) {
	entries := make(map[TopicPartition]int64)
	for _, ml := range logs {
		tp := ml.log.TopicPartition()
		if off, ok := c.checkpoints[tp]; ok && ml.dir == d {
			entries[tp] = off
		}
	}
	if err := WriteOffsetCheckpoint(filepath.Join(d.path, CleanerOffsetCheckpointFile), entries); err != nil {
		c.lg.WithError(err).WithField("log_dir", d.path).Error("writing cleaner offset checkpoint failed")
	}
}

// abortAndPause stops a cleaning of tp in progress, waits for it to end and keeps tp from being
// cleaned until resume (LogCleanerManager.abortAndPauseCleaning).
func (c *logCleaner) abortAndPause(tp TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused[tp]++
	for {
		st := c.inProgress[tp]
		if st == nil {
			return
		}
		st.aborted.Store(true)
		c.cond.Wait()
	}
}

// resume undoes one abortAndPause.
func (c *logCleaner) resume(tp TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused[tp]--; c.paused[tp] <= 0 {
		delete(c.paused, tp)
	}
}

// forget drops a deleted log's checkpoint entry and failure mark and rewrites the checkpoints
// (LogManager.asyncDelete -> cleaner.updateCheckpoints).
func (c *logCleaner) forget(tp TopicPartition) {
	logs := c.m.snapshot()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.uncleanable, tp)
	if _, ok := c.checkpoints[tp]; !ok {
		return
	}
	delete(c.checkpoints, tp)
	for _, d := range c.m.dirs {
		c.writeCheckpointLocked(d, logs)
	}
}

// CleanerCheckpoints returns the first dirty offset of every compacted log the cleaner has
// processed (LogCleanerManager.allCleanerCheckpoints).
func (m *Manager) CleanerCheckpoints() map[TopicPartition]int64 {
	m.cleaner.mu.Lock()
	defer m.cleaner.mu.Unlock()
	out := make(map[TopicPartition]int64, len(m.cleaner.checkpoints))
	for tp, off := range m.cleaner.checkpoints {
		out[tp] = off
	}
	return out
}

func (m *Manager) compactionConfig(topic string) CompactionConfig {
	if m.cfg.TopicCompaction != nil {
		return m.cfg.TopicCompaction(topic)
	}
	return DefaultCompactionConfig()
}

// logToClean is one log's cleanable range and dirtiness (Kafka's LogToClean).
type logToClean struct {
	tp               TopicPartition
	log              *Log
	dir              *logDir
	cc               CompactionConfig
	firstDirty       int64 // first offset not yet cleaned
	firstUncleanable int64 // base offset of the first segment that must not be cleaned
	cleanBytes       int64
	cleanableBytes   int64
	totalBytes       int64
	ratio            float64
	needNow          bool // max.compaction.lag.ms passed for some dirty data
	state            *cleaningState
}

// qualifies is grabFilthiestCompactedLog's filter.
func (t *logToClean) qualifies() bool {
	return (t.needNow && t.cleanableBytes > 0) || t.ratio > t.cc.MinCleanableDirtyRatio
}

// newLogToClean computes the cleanable range of l (LogCleanerManager.cleanableOffsets and
// calculateCleanableBytes). The first dirty offset is the checkpoint, or the log start when there
// is none or it lies outside [log start, LEO] (reset reports such a checkpoint). Cleaning stops
// before the first of: the active segment, the last stable offset (at most the HW: nothing of an
// open transaction is cleaned), and the first dirty segment with a record newer than
// min.compaction.lag.ms; rounded down to that segment's base offset.
func newLogToClean(l *Log, checkpoint int64, has bool, now int64, cc CompactionConfig) (*logToClean, bool) {
	v := l.view.Load()
	firstDirty, reset := v.logStart, false
	if has {
		if checkpoint < v.logStart || checkpoint > v.leo {
			reset = true
		} else {
			firstDirty = checkpoint
		}
	}
	active := v.active()
	uncleanable := min(l.LastStableOffset(), active.base)
	if cc.MinCompactionLagMs > 0 {
		for _, s := range v.segsBetween(firstDirty, active.base) {
			if s.largestTimestamp() > now-cc.MinCompactionLagMs {
				uncleanable = min(uncleanable, s.base)
				break
			}
		}
	}
	uncleanable = max(uncleanable, firstDirty)
	firstUncleanable := active.base
	if segs := v.segsBetween(uncleanable, active.base); len(segs) > 0 {
		firstUncleanable = segs[0].base
	}
	t := &logToClean{tp: l.tp, log: l, cc: cc, firstDirty: firstDirty, firstUncleanable: firstUncleanable}
	for _, s := range v.segsBetween(math.MinInt64, firstDirty) {
		t.cleanBytes += s.size.Load()
	}
	for _, s := range v.segsBetween(min(firstDirty, firstUncleanable), firstUncleanable) {
		t.cleanableBytes += s.size.Load()
	}
	t.totalBytes = t.cleanBytes + t.cleanableBytes
	if t.totalBytes > 0 {
		t.ratio = float64(t.cleanableBytes) / float64(t.totalBytes)
	}
	t.needNow = maxCompactionDelay(v, firstDirty, now, cc) > 0
	return t, reset
}

// maxCompactionDelay is how long past max.compaction.lag.ms the oldest dirty batch is (by the
// first batch timestamp of each dirty non-active segment), 0 if none is
// (LogCleanerManager.maxCompactionDelay).
func maxCompactionDelay(v *logView, firstDirty, now int64, cc CompactionConfig) int64 {
	cleanUntil := now - max(cc.MaxCompactionLagMs, 0)
	if cleanUntil <= 0 {
		return 0 // max.compaction.lag.ms unset (Long.MaxValue)
	}
	earliest := int64(math.MaxInt64)
	for _, s := range v.segsBetween(firstDirty, v.active().base) {
		if ts := s.firstBatchTimestamp(); ts > 0 {
			earliest = min(earliest, ts)
		}
	}
	if earliest < cleanUntil {
		return cleanUntil - earliest
	}
	return 0
}

// segsBetween is Log.logSegments(from, to): the segments holding offsets in [from, to), i.e.
// from the one containing from (or the first) up to those with base offset < to.
func (v *logView) segsBetween(from, to int64) []*segment {
	if from >= to {
		return nil
	}
	i := max(v.floor(from), 0)
	j := i
	for j < len(v.segs) && v.segs[j].base < to {
		j++
	}
	return v.segs[i:j]
}

// cleanerTruncation remembers the lowest offset a log was truncated to since the cleaner last
// looked, so that its checkpoint moves back (Kafka: LogManager.truncateTo ->
// cleaner.maybeTruncateCheckpoint). Guarded by Log.mu.
type cleanerTruncation struct {
	set    bool
	offset int64
}

// noteTruncationLocked is called by TruncateTo and TruncateFullyAndStartAt.
func (l *Log) noteTruncationLocked(offset int64) {
	if !l.cleanTrunc.set || offset < l.cleanTrunc.offset {
		l.cleanTrunc = cleanerTruncation{set: true, offset: offset}
	}
}

// takeTruncation returns and clears the truncation note.
func (l *Log) takeTruncation() (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.cleanTrunc
	l.cleanTrunc = cleanerTruncation{}
	return t.offset, t.set
}
