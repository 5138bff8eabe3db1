package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// ManagerConfig configures a Manager, in Kafka's broker settings (milliseconds; a value <= 0 or
// Long.MaxValue disables a periodic task).
type ManagerConfig struct {
	Dirs                                 []string // log.dirs
	Default                              Config   // broker-level log defaults
	RetentionCheckIntervalMs             int64    // log.retention.check.interval.ms
	FlushSchedulerIntervalMs             int64    // log.flush.scheduler.interval.ms
	FlushOffsetCheckpointIntervalMs      int64    // log.flush.offset.checkpoint.interval.ms
	FlushStartOffsetCheckpointIntervalMs int64    // log.flush.start.offset.checkpoint.interval.ms
	FileDeleteDelayMs                    int64    // log.segment.delete.delay.ms, for deleted partition dirs (0: Default.FileDeleteDelayMs)
	// TopicConfig gives the configuration of a topic's logs found at startup (topic overrides);
	// nil means Default for every topic.
	TopicConfig func(topic string) Config
	// Cleaner holds the log.cleaner.* settings; nil means DefaultCleanerConfig() (enabled).
	Cleaner *CleanerConfig
	// TopicCompaction gives a topic's compaction settings (delete.retention.ms and the
	// compaction lags and ratio); nil means DefaultCompactionConfig() for every topic.
	TopicCompaction func(topic string) CompactionConfig
	// ProducerIDExpirationMs is transactional.id.expiration.ms, after which an idle producer's
	// state is dropped; 0 means DefaultProducerIDExpirationMs.
	ProducerIDExpirationMs int64
	// ProducerIDExpirationCheckIntervalMs is producer.id.expiration.check.interval.ms (Kafka's
	// internal 600000); 0 means that default, < 0 never.
	ProducerIDExpirationCheckIntervalMs int64
}

func (cfg ManagerConfig) logOptions() logOptions {
	return logOptions{producerIDExpirationMs: cfg.ProducerIDExpirationMs}
}

// ErrManagerClosed is returned after Manager.Close.
var ErrManagerClosed = errors.New("storage: log manager closed")

// Manager owns the logs of every log dir (Kafka's LogManager): it locks the dirs, loads and
// recovers the logs at startup, places new partitions, runs retention, flush and checkpoint
// tasks, and writes the checkpoint files and the clean shutdown marker.
type Manager struct {
	cfg     ManagerConfig
	lg      *logrus.Entry
	dirs    []*logDir
	deleter *fileDeleter // -delete partition dirs
	cleaner *logCleaner  // compaction (cleaner.go)
	clock   func() int64

	mu     sync.Mutex
	logs   map[TopicPartition]*managedLog // guarded by mu
	closed bool                           // guarded by mu

	ckMu sync.Mutex // serialises checkpoint writes (snapshot and write under it)

	taskMu  sync.Mutex
	cancel  context.CancelFunc // guarded by taskMu
	stopped bool               // guarded by taskMu
	wg      sync.WaitGroup
}

type logDir struct {
	path string
	lock *os.File
}

type managedLog struct {
	log *Log
	dir *logDir
}

// NewManager locks every dir (.lock, flock), removes each dir's .kafka_cleanshutdown marker before
// loading (so that a crash during loading means recovery next time, KAFKA-10471), reads the
// checkpoints and opens every partition directory, recovering after an unclean shutdown. Dirs
// are loaded in parallel, one goroutine each. <topic>-<p>.<uuid>-delete dirs are removed after
// the delete delay; -future dirs and unparsable names are skipped with a warning.
func NewManager(cfg ManagerConfig, lg *logrus.Entry) (*Manager, error) {
	return newManager(cfg, lg, nil)
}

func newManager(cfg ManagerConfig, lg *logrus.Entry, clock func() int64) (*Manager, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("storage: no log dirs")
	}
	if err := cfg.Default.Validate(); err != nil {
		return nil, fmt.Errorf("storage: default log config: %w", err)
	}
	if lg == nil {
		lg = logrus.NewEntry(logrus.New())
		lg.Logger.Out = discard{}
	}
	if clock == nil {
		clock = func() int64 { return time.Now().UnixMilli() }
	}
	m := &Manager{cfg: cfg, lg: lg, clock: clock, logs: make(map[TopicPartition]*managedLog)}
	m.deleter = newFileDeleter(lg)
	ok := false
	defer func() {
		if !ok {
			for _, ml := range m.logs {
				_ = ml.log.close(false)
			}
			m.deleter.close(false)
			m.unlockDirs()
		}
	}()
	seen := make(map[string]bool)
	for _, p := range cfg.Dirs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("storage: log dir %s: %w", p, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("storage: duplicate log dir %s", abs)
		}
		seen[abs] = true
		d, err := lockDir(abs)
		if err != nil {
			return nil, err
		}
		m.dirs = append(m.dirs, d)
	}
	type loaded struct {
		logs []*managedLog
		err  error
	}
	results := make([]loaded, len(m.dirs))
	var wg sync.WaitGroup
	for i, d := range m.dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].logs, results[i].err = m.loadDir(d)
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		errs = append(errs, r.err)
		for _, ml := range r.logs {
			tp := ml.log.TopicPartition()
			if prev, dup := m.logs[tp]; dup {
				errs = append(errs, fmt.Errorf("storage: duplicate log directories for %s: %s and %s", tp, prev.log.Dir(), ml.log.Dir()))
				_ = ml.log.close(false)
				continue
			}
			m.logs[tp] = ml
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cleaner, err := newLogCleaner(m, cfg.cleanerConfig())
	if err != nil {
		return nil, err
	}
	m.cleaner = cleaner
	ok = true
	return m, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// lockDir creates dir if needed and takes an exclusive flock on dir/.lock.
func lockDir(dir string) (*logDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, ioErr("create log dir %s: %v", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, ioErr("open lock file in %s: %v", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: failed to acquire lock on %s: another broker is using this directory: %w", filepath.Join(dir, LockFile), err)
	}
	return &logDir{path: dir, lock: f}, nil
}

func (m *Manager) unlockDirs() {
	for _, d := range m.dirs {
		_ = unix.Flock(int(d.lock.Fd()), unix.LOCK_UN)
		_ = d.lock.Close()
	}
}

func (m *Manager) topicConfig(topic string) Config {
	if m.cfg.TopicConfig != nil {
		return m.cfg.TopicConfig(topic)
	}
	return m.cfg.Default
}

func (m *Manager) deleteDelay() time.Duration {
	if m.cfg.FileDeleteDelayMs > 0 {
		return msDuration(m.cfg.FileDeleteDelayMs)
	}
	return msDuration(m.cfg.Default.FileDeleteDelayMs)
}

// readCheckpoint reads one checkpoint of a dir; a garbled file is logged and treated as empty,
// which makes recovery start from 0 (LogManager.loadLogs).
func (m *Manager) readCheckpoint(d *logDir, name string) map[TopicPartition]int64 {
	cp, err := ReadOffsetCheckpoint(filepath.Join(d.path, name))
	if err != nil {
		m.lg.WithError(err).WithField("log_dir", d.path).Warn("ignoring unreadable checkpoint file")
		return map[TopicPartition]int64{}
	}
	return cp
}

func (m *Manager) loadDir(d *logDir) ([]*managedLog, error) {
	lg := m.lg.WithField("log_dir", d.path)
	marker := filepath.Join(d.path, CleanShutdownFile)
	clean := false
	if _, err := os.Stat(marker); err == nil {
		clean = true
		if err := os.Remove(marker); err != nil {
			return nil, ioErr("remove %s: %v", marker, err)
		}
		if err := syncDir(d.path); err != nil {
			return nil, ioErr("sync %s: %v", d.path, err)
		}
	}
	rps := m.readCheckpoint(d, RecoveryPointCheckpointFile)
	starts := m.readCheckpoint(d, LogStartOffsetCheckpointFile)
	hws := m.readCheckpoint(d, ReplicationCheckpointFile)
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, ioErr("list %s: %v", d.path, err)
	}
	var logs []*managedLog
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, "-delete"):
			lg.WithField("dir", name).Info("removing partition directory scheduled for deletion")
			m.deleter.schedule(m.deleteDelay(), true, filepath.Join(d.path, name))
			continue
		case strings.HasSuffix(name, "-future"):
			lg.WithField("dir", name).Warn("skipping future log directory: log dir moves are not supported")
			continue
		}
		tp, err := parseTopicPartitionDir(name)
		if err != nil {
			lg.WithError(err).Warn("skipping directory that is not a partition")
			continue
		}
		l, err := openLogWith(filepath.Join(d.path, name), tp, m.topicConfig(tp.Topic), rps[tp], starts[tp], clean, m.lg, m.clock, m.cfg.logOptions())
		if err != nil {
			for _, ml := range logs {
				_ = ml.log.close(false)
			}
			return nil, err
		}
		if hw, ok := hws[tp]; ok {
			l.SetHighWatermark(hw)
		}
		logs = append(logs, &managedLog{log: l, dir: d})
	}
	lg.WithFields(logrus.Fields{"logs": len(logs), "clean_shutdown": clean}).Info("loaded log dir")
	return logs, nil
}

// GetOrCreateLog returns tp's log, creating it empty in the log dir with the fewest partitions
// (ties: the first in log.dirs) when absent. cfg is used only when creating.
func (m *Manager) GetOrCreateLog(tp TopicPartition, cfg Config) (*Log, error) {
	if err := validTopic(tp.Topic); err != nil {
		return nil, err
	}
	if tp.Partition < 0 {
		return nil, fmt.Errorf("storage: negative partition %d", tp.Partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrManagerClosed
	}
	if ml, ok := m.logs[tp]; ok {
		return ml.log, nil
	}
	counts := make(map[*logDir]int)
	for _, ml := range m.logs {
		counts[ml.dir]++
	}
	d := m.dirs[0]
	for _, c := range m.dirs[1:] {
		if counts[c] < counts[d] {
			d = c
		}
	}
	l, err := openLogWith(filepath.Join(d.path, tp.dirName()), tp, cfg, 0, 0, true, m.lg, m.clock, m.cfg.logOptions())
	if err != nil {
		return nil, err
	}
	m.logs[tp] = &managedLog{log: l, dir: d}
	m.lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "log_dir": d.path}).Info("created log")
	return l, nil
}

// Log returns tp's log.
func (m *Manager) Log(tp TopicPartition) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ml, ok := m.logs[tp]
	if !ok {
		return nil, false
	}
	return ml.log, true
}

// Logs returns a copy of the log map.
func (m *Manager) Logs() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.logs))
	for tp, ml := range m.logs {
		out[tp] = ml.log
	}
	return out
}

// Dirs returns the absolute log dir paths in log.dirs order.
func (m *Manager) Dirs() []string {
	out := make([]string, len(m.dirs))
	for i, d := range m.dirs {
		out[i] = d.path
	}
	return out
}

// DirLogs returns the logs of every log dir, keyed by the dir's absolute path as Dirs lists it
// (every dir has an entry, possibly empty). Used by DescribeLogDirs (LogManager.allLogs grouped by
// parent dir).
func (m *Manager) DirLogs() map[string][]*Log {
	out := make(map[string][]*Log, len(m.dirs))
	for _, d := range m.dirs {
		out[d.path] = nil
	}
	for _, ml := range m.snapshot() {
		out[ml.dir.path] = append(out[ml.dir.path], ml.log)
	}
	return out
}

func (m *Manager) snapshot() []*managedLog {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*managedLog, 0, len(m.logs))
	for _, ml := range m.logs {
		out = append(out, ml)
	}
	return out
}

// DeleteLog closes tp's log without flushing, renames its directory to
// <topic>-<p>.<32 hex>-delete (StopReplica delete=true), rewrites the dir's checkpoints without it
// and removes the directory after the delete delay. Unknown partitions are a no-op.
func (m *Manager) DeleteLog(tp TopicPartition) error {
	m.cleaner.abortAndPause(tp) // before mu: the cleaner takes mu to finish (lock order in cleaner.go)
	defer m.cleaner.forget(tp)
	defer m.cleaner.resume(tp)
	// Under mu, so that a GetOrCreateLog for the same partition cannot open the old directory
	// between the close and the rename (Kafka's logCreationOrDeletionLock).
	m.mu.Lock()
	ml, ok := m.logs[tp]
	if !ok {
		m.mu.Unlock()
		return nil
	}
	delete(m.logs, tp)
	_ = ml.log.close(false)
	target := filepath.Join(ml.dir.path, deleteDirName(tp))
	err := os.Rename(ml.log.Dir(), target)
	m.mu.Unlock()
	if err != nil {
		return ioErr("rename %s for deletion: %v", ml.log.Dir(), err)
	}
	if err := syncDir(ml.dir.path); err != nil {
		return ioErr("sync %s: %v", ml.dir.path, err)
	}
	m.deleter.schedule(m.deleteDelay(), true, target)
	m.lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "dir": target}).Info("scheduled log for deletion")
	return errors.Join(m.checkpointRecoveryPoints(), m.checkpointLogStartOffsets())
}

// deleteDirName is Log.logDeleteDirName: the topic is cut so the name fits 255 characters.
func deleteDirName(tp TopicPartition) string {
	var id [16]byte
	_, _ = rand.Read(id[:])
	suffix := fmt.Sprintf("-%d.%s-delete", tp.Partition, hex.EncodeToString(id[:]))
	topic := tp.Topic
	if n := 255 - len(suffix); len(topic) > n {
		topic = topic[:n]
	}
	return topic + suffix
}

// CheckpointHighWatermarks writes replication-offset-checkpoint in every dir with the entries of
// hw whose log lives there (ReplicaManager.checkpointHighWatermarks).
func (m *Manager) CheckpointHighWatermarks(hw map[TopicPartition]int64) error {
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	per := make(map[*logDir]map[TopicPartition]int64)
	for _, d := range m.dirs {
		per[d] = make(map[TopicPartition]int64)
	}
	for _, ml := range m.snapshot() {
		if v, ok := hw[ml.log.TopicPartition()]; ok {
			per[ml.dir][ml.log.TopicPartition()] = v
		}
	}
	var errs []error
	for _, d := range m.dirs {
		errs = append(errs, WriteOffsetCheckpoint(filepath.Join(d.path, ReplicationCheckpointFile), per[d]))
	}
	return errors.Join(errs...)
}

// ReadHighWatermarks reads every dir's replication-offset-checkpoint; when a partition appears in
// several, the dir holding its log wins.
func (m *Manager) ReadHighWatermarks() (map[TopicPartition]int64, error) {
	home := make(map[TopicPartition]*logDir)
	for _, ml := range m.snapshot() {
		home[ml.log.TopicPartition()] = ml.dir
	}
	out := make(map[TopicPartition]int64)
	for _, d := range m.dirs {
		cp, err := ReadOffsetCheckpoint(filepath.Join(d.path, ReplicationCheckpointFile))
		if err != nil {
			return nil, err
		}
		for tp, v := range cp {
			if _, ok := out[tp]; !ok || home[tp] == d {
				out[tp] = v
			}
		}
	}
	return out, nil
}

// checkpointRecoveryPoints writes recovery-point-offset-checkpoint in every dir, then lets every
// log drop the producer snapshots a recovery from there no longer needs
// (LogManager.checkpointRecoveryOffsetsAndCleanSnapshotsInDir).
func (m *Manager) checkpointRecoveryPoints() error {
	err := m.writeCheckpoints(RecoveryPointCheckpointFile, func(l *Log) (int64, bool) {
		return l.RecoveryPoint(), true
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, ml := range m.snapshot() {
		errs = append(errs, ml.log.deleteSnapshotsAfterRecoveryPointCheckpoint())
	}
	return errors.Join(errs...)
}

// checkpointLogStartOffsets writes log-start-offset-checkpoint, listing only logs whose start
// offset is above their first segment's base (LogManager.checkpointLogStartOffsetsInDir).
func (m *Manager) checkpointLogStartOffsets() error {
	return m.writeCheckpoints(LogStartOffsetCheckpointFile, func(l *Log) (int64, bool) {
		ls := l.LogStartOffset()
		return ls, ls > l.firstSegmentBase()
	})
}

func (m *Manager) writeCheckpoints(name string, value func(l *Log) (int64, bool)) error {
	m.ckMu.Lock()
	defer m.ckMu.Unlock()
	per := make(map[*logDir]map[TopicPartition]int64)
	for _, d := range m.dirs {
		per[d] = make(map[TopicPartition]int64)
	}
	for _, ml := range m.snapshot() {
		if v, ok := value(ml.log); ok {
			per[ml.dir][ml.log.TopicPartition()] = v
		}
	}
	var errs []error
	for _, d := range m.dirs {
		errs = append(errs, WriteOffsetCheckpoint(filepath.Join(d.path, name), per[d]))
	}
	return errors.Join(errs...)
}

// Close stops the periodic tasks, flushes and closes every log, writes the recovery-point and
// log-start checkpoints, then .kafka_cleanshutdown in every dir whose logs all closed cleanly,
// and releases the dir locks (LogManager.shutdown). Pending -delete dirs stay for the next start.
func (m *Manager) Close() error {
	m.stopTasks()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	logs := m.snapshot()
	failed := make(map[*logDir]bool)
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range m.dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, ml := range logs {
				if ml.dir != d {
					continue
				}
				if err := ml.log.Close(); err != nil {
					mu.Lock()
					failed[d] = true
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	ckErr := errors.Join(m.checkpointRecoveryPoints(), m.checkpointLogStartOffsets())
	errs = append(errs, ckErr)
	for _, d := range m.dirs {
		if failed[d] || ckErr != nil {
			continue
		}
		marker := filepath.Join(d.path, CleanShutdownFile)
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			errs = append(errs, ioErr("write %s: %v", marker, err))
			continue
		}
		if err := syncDir(d.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, ioErr("sync %s: %v", d.path, err))
		}
	}
	m.deleter.close(false)
	m.unlockDirs()
	return errors.Join(errs...)
}
