package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/storage/record"
)

func cleanerManagerConfig(dir string) ManagerConfig {
	cfg := testManagerConfig(dir)
	cc := testCleanerConfig()
	cfg.Cleaner = &cc
	return cfg
}

// LogCleanerManager.cleanableOffsets and LogToClean: where cleaning starts and stops, and the
// dirty ratio.
func TestCleanerManager_CleanableOffsets(t *testing.T) {
	setup := func(t *testing.T) (*Log, *fakeClock) {
		l, clock, _ := newTestLog(t, compactConfig())
		for i := 0; l.NumSegments() < 6; i++ {
			appendKV(t, l, []kv{{key: fmt.Sprint("k", i%10), value: string(make([]byte, 300))}}, testNow+int64(i), record.DefaultBuildOptions())
		}
		sealAll(t, l)
		return l, clock
	}
	cc := DefaultCompactionConfig()
	t.Run("no checkpoint: the whole log below the active segment", func(t *testing.T) {
		l, clock := setup(t)
		ltc, reset := newLogToClean(l, 0, false, clock.now(), cc)
		if reset || ltc.firstDirty != 0 || ltc.firstUncleanable != l.view.Load().active().base || ltc.ratio != 1 || !ltc.qualifies() {
			t.Fatalf("%+v reset %v", ltc, reset)
		}
	})
	t.Run("checkpoint: dirty ratio is the bytes after it over all bytes", func(t *testing.T) {
		l, clock := setup(t)
		segs := l.view.Load().segs
		mid := segs[3].base
		ltc, _ := newLogToClean(l, mid, true, clock.now(), cc)
		var clean, dirty int64
		for _, s := range segs {
			if s.base < mid {
				clean += s.size.Load()
			} else {
				dirty += s.size.Load()
			}
		}
		if ltc.firstDirty != mid || ltc.cleanBytes != clean || ltc.cleanableBytes != dirty || ltc.ratio != float64(dirty)/float64(clean+dirty) {
			t.Fatalf("%+v, clean %d dirty %d", ltc, clean, dirty)
		}
		if ltc.qualifies() != (ltc.ratio > 0.5) {
			t.Fatal("min.cleanable.dirty.ratio not applied")
		}
	})
	t.Run("checkpoint below the log start or past the LEO resets to the log start", func(t *testing.T) {
		l, clock := setup(t)
		start := l.view.Load().segs[1].base
		if _, err := l.DeleteRecordsBefore(start); err != nil {
			t.Fatal(err)
		}
		for _, cp := range []int64{0, l.LogEndOffset() + 1} {
			ltc, reset := newLogToClean(l, cp, true, clock.now(), cc)
			if !reset || ltc.firstDirty != start {
				t.Fatalf("checkpoint %d: first dirty %d reset %v, want the log start %d", cp, ltc.firstDirty, reset, start)
			}
		}
	})
	t.Run("min.compaction.lag.ms keeps segments with recent records dirty", func(t *testing.T) {
		l, clock := setup(t)
		segs := l.view.Load().segs
		lagCC := cc
		lagCC.MinCompactionLagMs = 1000
		// Records carry timestamps testNow+i; now is such that segment 2's newest record is
		// within the lag.
		clock.set(segs[2].largestTimestamp() + 999)
		ltc, _ := newLogToClean(l, 0, false, clock.now(), lagCC)
		if ltc.firstUncleanable > segs[2].base {
			t.Fatalf("first uncleanable %d, want at most %d", ltc.firstUncleanable, segs[2].base)
		}
	})
	t.Run("max.compaction.lag.ms forces cleaning below the ratio", func(t *testing.T) {
		l, clock := setup(t)
		segs := l.view.Load().segs
		lowCC := cc
		lowCC.MinCleanableDirtyRatio = 1 // never by ratio
		ltc, _ := newLogToClean(l, segs[1].base, true, clock.now(), lowCC)
		if ltc.qualifies() {
			t.Fatal("qualifies without lag")
		}
		lowCC.MaxCompactionLagMs = 1000
		clock.set(segs[1].firstBatchTimestamp() + 1001)
		ltc, _ = newLogToClean(l, segs[1].base, true, clock.now(), lowCC)
		if !ltc.needNow || !ltc.qualifies() {
			t.Fatalf("dirty data older than max.compaction.lag.ms not cleaned: %+v", ltc)
		}
	})
}

// LogCleanerManager.grabFilthiestCompactedLog: only compacted logs, the highest dirty ratio
// first, none above min.cleanable.dirty.ratio -> nothing; a log being cleaned is not picked again.
func TestCleanerManager_GrabsFilthiestCompactedLog(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, cleanerManagerConfig(dir), clock)
	defer m.Close()
	mk := func(topic, policy string, dirty float64) *Log {
		cfg := compactConfig()
		cfg.CleanupPolicy = policy
		l, err := m.GetOrCreateLog(tp(topic, 0), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; l.NumSegments() < 5; i++ {
			appendKV(t, l, []kv{{key: "k", value: string(make([]byte, 300))}}, testNow, record.DefaultBuildOptions())
		}
		sealAll(t, l)
		segs := l.view.Load().segs
		m.cleaner.checkpoints[l.TopicPartition()] = segs[int(float64(len(segs)-1)*(1-dirty))].base
		return l
	}
	mk("deleted", "delete", 1)
	mk("slightly", "compact", 0.25)
	filthy := mk("filthy", "compact", 1)
	mk("both", "compact,delete", 0.75)
	ltc := m.cleaner.grabFilthiest(clock.now())
	if ltc == nil || ltc.log != filthy {
		t.Fatalf("picked %+v, want the filthiest compacted log", ltc)
	}
	ltc2 := m.cleaner.grabFilthiest(clock.now())
	if ltc2 == nil || ltc2.tp.Topic != "both" {
		t.Fatalf("second pick %+v, want the next dirtiest above the ratio", ltc2)
	}
	if ltc3 := m.cleaner.grabFilthiest(clock.now()); ltc3 != nil {
		t.Fatalf("third pick %s: below min.cleanable.dirty.ratio or not compacted", ltc3.tp)
	}
	m.cleaner.doneCleaning(ltc, cleanerStats{}, errCleaningAborted)
	m.cleaner.doneCleaning(ltc2, cleanerStats{}, errCleaningAborted)
}

// The cleaner threads compact a log, write cleaner-offset-checkpoint (Kafka's format) with the
// first dirty offset, and a restarted manager reads it back, so the clean part is not redone.
func TestCleanerManager_CleansAndCheckpointsFirstDirtyOffset(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, cleanerManagerConfig(dir), clock)
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := writeUpdates(t, l, 20, 30, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	active := l.view.Load().active().base
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Start(ctx)
	eventually(t, 10*time.Second, "cleaner checkpoint at the active segment", func() bool {
		return m.CleanerCheckpoints()[l.TopicPartition()] == active
	})
	checkCompacted(t, l, want)
	cp, err := ReadOffsetCheckpoint(filepath.Join(dir, CleanerOffsetCheckpointFile))
	if err != nil || cp[l.TopicPartition()] != active || len(cp) != 1 {
		t.Fatalf("checkpoint file %v %v, want %d", cp, err, active)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := newTestManager(t, cleanerManagerConfig(dir), clock)
	defer m2.Close()
	if got := m2.CleanerCheckpoints()[l.TopicPartition()]; got != active {
		t.Fatalf("checkpoint after restart %d, want %d", got, active)
	}
	l2, _ := m2.Log(l.TopicPartition())
	checkCompacted(t, l2, want)
	if ltc := m2.cleaner.grabFilthiest(clock.now()); ltc != nil {
		t.Fatalf("clean log picked again after restart: %+v", ltc)
	}
}

// LogManager.truncateTo -> LogCleaner.maybeTruncateCheckpoint: a truncation below the cleaner
// checkpoint moves it back, so rewritten offsets are cleaned again.
func TestCleanerManager_TruncationBelowCheckpointMovesItBack(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, cleanerManagerConfig(dir), clock)
	defer m.Close()
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	writeUpdates(t, l, 10, 30, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	m.cleaner.checkpoints[l.TopicPartition()] = l.LogEndOffset()
	cut := l.LogEndOffset() - 15
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	if ltc := m.cleaner.grabFilthiest(clock.now()); ltc != nil {
		m.cleaner.doneCleaning(ltc, cleanerStats{}, errCleaningAborted)
	}
	if got := m.CleanerCheckpoints()[l.TopicPartition()]; got != cut {
		t.Fatalf("checkpoint %d after truncation to %d", got, cut)
	}
	cp, _ := ReadOffsetCheckpoint(filepath.Join(dir, CleanerOffsetCheckpointFile))
	if cp[l.TopicPartition()] != cut {
		t.Fatalf("checkpoint file %v", cp)
	}
}

// LogCleanerManager.abortAndPauseCleaning: the caller waits until the cleaning in progress has
// stopped; a paused log is not picked until resumed. DeleteLog uses it and drops the checkpoint.
func TestCleanerManager_AbortAndPauseWaitsForCleaningToStop(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	m := newTestManager(t, cleanerManagerConfig(dir), clock)
	defer m.Close()
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	writeUpdates(t, l, 10, 30, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	ltc := m.cleaner.grabFilthiest(clock.now())
	if ltc == nil {
		t.Fatal("nothing to clean")
	}
	var paused atomic.Bool
	go func() {
		m.cleaner.abortAndPause(ltc.tp)
		paused.Store(true)
	}()
	eventually(t, 5*time.Second, "abort requested", ltc.state.aborted.Load)
	if paused.Load() {
		t.Fatal("abortAndPause returned while the cleaning runs")
	}
	_, err = testWorker(t).clean(context.Background(), ltc)
	if err != errCleaningAborted {
		t.Fatalf("aborted cleaning returned %v", err)
	}
	m.cleaner.doneCleaning(ltc, cleanerStats{}, err)
	eventually(t, 5*time.Second, "abortAndPause returns", paused.Load)
	if m.cleaner.grabFilthiest(clock.now()) != nil {
		t.Fatal("paused log picked")
	}
	m.cleaner.resume(ltc.tp)
	ltc = m.cleaner.grabFilthiest(clock.now())
	if ltc == nil {
		t.Fatal("resumed log not picked")
	}
	m.cleaner.doneCleaning(ltc, cleanerStats{endOffset: 5}, nil)
	if err := m.DeleteLog(ltc.tp); err != nil {
		t.Fatal(err)
	}
	if cp := m.CleanerCheckpoints(); len(cp) != 0 {
		t.Fatalf("checkpoint of a deleted log kept: %v", cp)
	}
}

// Readers keep working while the cleaner swaps segments under them: every read returns whole,
// CRC-valid batches with increasing offsets, and the log stays a correct history of each key.
func TestCleanerManager_ReadersDuringCleaning(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	cfg := cleanerManagerConfig(dir)
	cfg.TopicCompaction = func(string) CompactionConfig {
		cc := DefaultCompactionConfig()
		cc.MinCleanableDirtyRatio = 0.1
		return cc
	}
	m := newTestManager(t, cfg, clock)
	defer m.Close()
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Start(ctx)

	const keys = 40
	var wg sync.WaitGroup
	var stop atomic.Bool
	var readerErr atomic.Value
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := readWholeLog(l); err != nil {
					readerErr.Store(err)
					return
				}
			}
		}()
	}
	want := make(map[string]string)
	cleanings := 0
	lastCP := int64(-1)
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; cleanings < 4; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d cleanings in time", cleanings)
		}
		var recs []kv
		for k := 0; k < 10; k++ {
			key := fmt.Sprintf("key-%02d", (round*10+k)%keys)
			recs = append(recs, kv{key: key, value: fmt.Sprint(round)})
			want[key] = fmt.Sprint(round)
		}
		appendKV(t, l, recs, testNow, record.DefaultBuildOptions())
		l.SetHighWatermark(l.LogEndOffset())
		if cp, ok := m.CleanerCheckpoints()[l.TopicPartition()]; ok && cp != lastCP {
			cleanings++
			lastCP = cp
		}
		if err, _ := readerErr.Load().(error); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err, _ := readerErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	recs, _ := readLog(t, l)
	got := latest(recs)
	for k, v := range want {
		if got[k].value != v {
			t.Fatalf("key %s: %q, want %q", k, got[k].value, v)
		}
	}
}

// readWholeLog reads from the log start to the LEO as a consumer would.
func readWholeLog(l *Log) error {
	offset := l.LogStartOffset()
	leo := l.LogEndOffset()
	last := int64(-1)
	for offset < leo {
		res, err := l.Read(offset, 64<<10, -1, true)
		if err != nil {
			return err
		}
		var data []byte
		for _, fr := range res.Ranges {
			b, err := fr.Bytes()
			if err != nil {
				res.Release()
				return err
			}
			data = append(data, b...)
		}
		res.Release()
		if len(data) == 0 {
			return nil
		}
		progressed := false
		for len(data) > 0 {
			b, rest, err := record.Next(data)
			if err != nil {
				break // a batch cut by maxBytes
			}
			data = rest
			if b.NextOffset() <= offset {
				continue
			}
			if !b.CRCValid() {
				return fmt.Errorf("batch at %d: CRC mismatch", b.BaseOffset())
			}
			if b.BaseOffset() <= last {
				return fmt.Errorf("batch at %d after offset %d", b.BaseOffset(), last)
			}
			if err := b.Records(0, func(record.Record) error { return nil }); err != nil {
				return fmt.Errorf("batch at %d: %v", b.BaseOffset(), err)
			}
			last = b.LastOffset()
			offset = b.NextOffset()
			progressed = true
		}
		if !progressed {
			return fmt.Errorf("no progress reading at %d", offset)
		}
	}
	return nil
}

// LogCleaner.reconfigure (dynamic log.cleaner.* broker configs): a running manager whose cleaner is
// disabled starts cleaning once reconfigured with it enabled, with the new thread count; a bad config
// is refused and leaves the running one in place; disabling again stops the threads.
func TestCleanerManager_ReconfigureRestartsThreads(t *testing.T) {
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	cfg := cleanerManagerConfig(dir)
	cfg.Cleaner.Enable = false
	m := newTestManager(t, cfg, clock)
	defer m.Close()
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := writeUpdates(t, l, 20, 30, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	active := l.view.Load().active().base
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.Start(ctx)
	if _, ok := m.CleanerCheckpoints()[l.TopicPartition()]; ok {
		t.Fatal("disabled cleaner cleaned")
	}

	bad := *cfg.Cleaner
	bad.Threads = 0
	if err := m.ReconfigureCleaner(bad); err == nil {
		t.Fatal("threads=0 accepted")
	}
	on := *cfg.Cleaner
	on.Enable, on.Threads = true, 2
	if err := m.ReconfigureCleaner(on); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "cleaner checkpoint at the active segment", func() bool {
		return m.CleanerCheckpoints()[l.TopicPartition()] == active
	})
	checkCompacted(t, l, want)

	off := on
	off.Enable = false
	if err := m.ReconfigureCleaner(off); err != nil {
		t.Fatal(err)
	}
	m.taskMu.Lock()
	stopped := m.cleaner.stop == nil
	m.taskMu.Unlock()
	if !stopped {
		t.Fatal("disabled cleaner still has threads")
	}
}
