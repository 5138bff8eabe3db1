package storage

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func testManagerConfig(dirs ...string) ManagerConfig {
	return ManagerConfig{
		Dirs:                                 dirs,
		Default:                              testConfig(),
		RetentionCheckIntervalMs:             300000,
		FlushSchedulerIntervalMs:             1<<63 - 1,
		FlushOffsetCheckpointIntervalMs:      60000,
		FlushStartOffsetCheckpointIntervalMs: 60000,
		FileDeleteDelayMs:                    60000,
	}
}

func newTestManager(t *testing.T, cfg ManagerConfig, clock *fakeClock) *Manager {
	t.Helper()
	m, err := newManager(cfg, testLogger(t), clock.fn())
	if err != nil {
		t.Fatalf("new manager: %v", err)
	}
	return m
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

// LogManager.lockLogDirs: a dir in use by another broker cannot be opened.
func TestManager_LocksLogDirs(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, testManagerConfig(dir), clock)
	if _, err := newManager(testManagerConfig(dir), testLogger(t), clock.fn()); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("second manager on a locked dir: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := newTestManager(t, testManagerConfig(dir), clock)
	m2.Close()
}

// LogManager.nextLogDirs: a new partition goes to the dir with the fewest partitions.
func TestManager_NewPartitionsGoToDirWithFewestLogs(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	clock := newFakeClock(testNow)
	m := newTestManager(t, testManagerConfig(dirs[1]), clock)
	for p := int32(0); p < 2; p++ {
		if _, err := m.GetOrCreateLog(tp("pre", p), testConfig()); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	m = newTestManager(t, testManagerConfig(dirs...), clock)
	defer m.Close()
	for p := int32(0); p < 7; p++ {
		if _, err := m.GetOrCreateLog(tp("new", p), testConfig()); err != nil {
			t.Fatal(err)
		}
	}
	counts := map[string]int{}
	for _, l := range m.Logs() {
		counts[filepath.Dir(l.Dir())]++
	}
	if counts[dirs[0]] != 3 || counts[dirs[1]] != 3 || counts[dirs[2]] != 3 {
		t.Fatalf("partitions per dir %v", counts)
	}
	l1, _ := m.GetOrCreateLog(tp("new", 0), testConfig())
	l2, ok := m.Log(tp("new", 0))
	if !ok || l1 != l2 {
		t.Fatal("GetOrCreateLog did not return the existing log")
	}
	if _, err := m.GetOrCreateLog(tp("../evil", 0), testConfig()); err == nil {
		t.Fatal("illegal topic name accepted")
	}
}

// LogManager.shutdown writes the checkpoints and .kafka_cleanshutdown; the next start deletes the
// marker before loading, trusts the logs and takes the recovery point at the LEO.
func TestManager_CloseWritesCheckpointsAndCleanShutdownMarker(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, testManagerConfig(dir), clock)
	a, _ := m.GetOrCreateLog(tp("a", 0), testConfig())
	b, _ := m.GetOrCreateLog(tp("b", 1), testConfig())
	appendBatchesOf5(t, a, 4)
	appendBatchesOf5(t, b, 2)
	b.SetHighWatermark(10)
	if _, err := b.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckpointHighWatermarks(map[TopicPartition]int64{tp("a", 0): 20, tp("b", 1): 10, tp("gone", 0): 3}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string { b, _ := os.ReadFile(filepath.Join(dir, name)); return string(b) }
	if got := read(RecoveryPointCheckpointFile); got != "0\n2\na 0 20\nb 1 10\n" {
		t.Fatalf("recovery point checkpoint %q", got)
	}
	if got := read(LogStartOffsetCheckpointFile); got != "0\n1\nb 1 5\n" {
		t.Fatalf("log start checkpoint %q", got)
	}
	if got := read(ReplicationCheckpointFile); got != "0\n2\na 0 20\nb 1 10\n" {
		t.Fatalf("replication checkpoint %q", got)
	}
	if !fileExists(filepath.Join(dir, CleanShutdownFile)) {
		t.Fatal("no clean shutdown marker")
	}
	m = newTestManager(t, testManagerConfig(dir), clock)
	defer m.Close()
	if fileExists(filepath.Join(dir, CleanShutdownFile)) {
		t.Fatal("marker still present after loading")
	}
	b2, ok := m.Log(tp("b", 1))
	if !ok || b2.LogStartOffset() != 5 || b2.LogEndOffset() != 10 || b2.RecoveryPoint() != 10 || b2.HighWatermark() != 10 {
		t.Fatalf("reloaded b-1: start %d end %d rp %d hw %d", b2.LogStartOffset(), b2.LogEndOffset(), b2.RecoveryPoint(), b2.HighWatermark())
	}
	hws, err := m.ReadHighWatermarks()
	if err != nil || hws[tp("a", 0)] != 20 || len(hws) != 2 {
		t.Fatalf("high watermarks %v %v", hws, err)
	}
}

// KAFKA-10471: the marker is removed before loading, so a crash during loading (or at any time
// before the next clean close) means recovery at the next start.
func TestManager_CrashAfterCleanStartRecoversNextTime(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, testManagerConfig(dir), clock)
	l, _ := m.GetOrCreateLog(tp("a", 0), testConfig())
	appendBatchesOf5(t, l, 30)
	m.Close()
	m = newTestManager(t, testManagerConfig(dir), clock)
	crash := t.TempDir()
	copyDir(t, dir, crash) // what a SIGKILL now would leave
	m.Close()
	os.Remove(filepath.Join(crash, LockFile))
	// A garbled recovery point checkpoint is ignored: recovery starts from 0.
	os.WriteFile(filepath.Join(crash, RecoveryPointCheckpointFile), []byte("0\n7\ngarbage"), 0o644)
	lg, hook := logtest.NewNullLogger()
	m2, err := newManager(testManagerConfig(crash), logrus.NewEntry(lg), clock.fn())
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	recovered := 0
	for _, e := range hook.AllEntries() {
		if e.Message == "recovered unflushed segment" {
			recovered++
		}
	}
	l2, _ := m2.Log(tp("a", 0))
	if recovered != l2.NumSegments() || l2.LogEndOffset() != 150 {
		t.Fatalf("recovered %d of %d segments, LEO %d", recovered, l2.NumSegments(), l2.LogEndOffset())
	}
}

// StopReplica(delete): the dir is renamed <topic>-<p>.<32 hex>-delete, left out of the
// checkpoints, and removed after the delay; such dirs found at startup are removed, not loaded.
func TestManager_DeleteLogRenamesDirAndRemovesItLater(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	cfg := testManagerConfig(dir)
	cfg.FileDeleteDelayMs = 200
	m := newTestManager(t, cfg, clock)
	defer m.Close()
	l, _ := m.GetOrCreateLog(tp("doomed", 4), testConfig())
	m.GetOrCreateLog(tp("kept", 0), testConfig())
	appendBatchesOf5(t, l, 2)
	if err := m.DeleteLog(tp("doomed", 4)); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Log(tp("doomed", 4)); ok {
		t.Fatal("log still registered")
	}
	entries, _ := os.ReadDir(dir)
	re := regexp.MustCompile(`^doomed-4\.[0-9a-f]{32}-delete$`)
	var renamed string
	for _, e := range entries {
		if re.MatchString(e.Name()) {
			renamed = e.Name()
		}
	}
	if renamed == "" || fileExists(filepath.Join(dir, "doomed-4")) {
		t.Fatalf("dir not renamed for deletion: %v", entries)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, RecoveryPointCheckpointFile)); strings.Contains(string(got), "doomed") {
		t.Fatalf("deleted log still checkpointed: %q", got)
	}
	eventually(t, 5*time.Second, "deleted dir removed", func() bool { return !fileExists(filepath.Join(dir, renamed)) })

	stale := filepath.Join(dir, "old-0.0123456789abcdef0123456789abcdef-delete")
	os.MkdirAll(stale, 0o755)
	m.Close()
	m2 := newTestManager(t, cfg, clock)
	defer m2.Close()
	if len(m2.Logs()) != 1 {
		t.Fatalf("logs after restart %v", m2.Logs())
	}
	eventually(t, 5*time.Second, "stale -delete dir removed", func() bool { return !fileExists(stale) })
	if name := deleteDirName(tp(strings.Repeat("t", 249), 1)); len(name) > 255 {
		t.Fatalf("delete dir name of %d characters", len(name))
	}
}

// The periodic tasks: retention below each log's HW and the recovery-point checkpoint; they stop
// on Close (TestMain checks for leaked goroutines).
func TestManager_PeriodicRetentionAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	cfg := testManagerConfig(dir)
	cfg.RetentionCheckIntervalMs = 10
	cfg.FlushOffsetCheckpointIntervalMs = 10
	cfg.FlushStartOffsetCheckpointIntervalMs = 10
	cfg.FlushSchedulerIntervalMs = 10
	logCfg := testConfig()
	logCfg.RetentionMs = 1000
	logCfg.FlushMs = 5
	m := newTestManager(t, cfg, clock)
	defer m.Close()
	l, _ := m.GetOrCreateLog(tp("r", 0), logCfg)
	fillSegments(t, l, 4, func(int) int64 { return testNow - 10000 })
	if m.runRetention(); l.NumSegments() != 4 {
		t.Fatal("retention deleted segments above the high watermark")
	}
	m.Start(context.Background())
	m.Start(context.Background()) // second Start is a no-op
	l.SetHighWatermark(l.LogEndOffset())
	eventually(t, 5*time.Second, "retention", func() bool { return l.NumSegments() == 1 })
	mustAppend(t, l, 1, 1, testNow)
	eventually(t, 5*time.Second, "flush by flush.ms", func() bool {
		clock.advance(10) // time passes; the roll's own flush may have reset the flush.ms timer
		return l.RecoveryPoint() == l.LogEndOffset()
	})
	eventually(t, 5*time.Second, "checkpoints", func() bool {
		rp, _ := os.ReadFile(filepath.Join(dir, RecoveryPointCheckpointFile))
		ls, _ := os.ReadFile(filepath.Join(dir, LogStartOffsetCheckpointFile))
		return strings.Contains(string(rp), "r 0 ") && string(ls) == "0\n0\n"
	})
}
