package storage

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/storage/record"
)

// compactConfig is testConfig with cleanup.policy=compact and 4 KiB segments.
func compactConfig() Config {
	cfg := testConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 4 << 10
	cfg.IndexIntervalBytes = 256
	return cfg
}

// kv is one record to append; tomb makes it a tombstone (null value).
type kv struct {
	key, value string
	tomb       bool
}

// appendKV appends recs as one batch (as leader) and returns the first offset.
func appendKV(t testing.TB, l *Log, recs []kv, ts int64, opt record.BuildOptions) int64 {
	t.Helper()
	b := make([]record.BuildRecord, len(recs))
	for i, r := range recs {
		b[i] = record.BuildRecord{Key: []byte(r.key), Timestamp: ts + int64(i)}
		if !r.tomb {
			b[i].Value = []byte(r.value)
		}
	}
	batch, err := record.Build(b, opt)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	ai, err := l.AppendAsLeader(batch, 0)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return ai.FirstOffset
}

// logRec is one record read back from a log.
type logRec struct {
	offset int64
	key    string
	value  string
	tomb   bool
}

// readLog reads every batch from the log start to the LEO through Log.Read, checking CRCs and
// that offsets only increase, and returns the records and batches.
func readLog(t testing.TB, l *Log) ([]logRec, []record.Batch) {
	t.Helper()
	var recs []logRec
	var batches []record.Batch
	offset := l.LogStartOffset()
	leo := l.LogEndOffset()
	last := int64(-1)
	for offset < leo {
		data, _ := readBytes(t, l, offset, 1<<20, -1, true)
		if len(data) == 0 {
			break // the records up to the LEO were cleaned away and the active segment is empty
		}
		for _, b := range splitBatches(t, data) {
			if b.NextOffset() <= offset {
				continue
			}
			if !b.CRCValid() {
				t.Fatalf("batch at %d: CRC mismatch", b.BaseOffset())
			}
			batches = append(batches, append(record.Batch(nil), b...))
			err := b.Records(0, func(r record.Record) error {
				if r.Offset <= last {
					return fmt.Errorf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				recs = append(recs, logRec{offset: r.Offset, key: string(r.Key), value: string(r.Value), tomb: r.Value == nil})
				return nil
			})
			if err != nil {
				t.Fatalf("batch at %d: %v", b.BaseOffset(), err)
			}
			offset = b.NextOffset()
		}
	}
	return recs, batches
}

// latest maps each key to its last record.
func latest(recs []logRec) map[string]logRec {
	m := make(map[string]logRec)
	for _, r := range recs {
		m[r.key] = r
	}
	return m
}

func testCleanerConfig() CleanerConfig {
	cfg := DefaultCleanerConfig()
	cfg.DedupeBufferSize = 1 << 20
	cfg.IOBufferSize = 128 << 10
	cfg.BackoffMs = 2
	return cfg
}

func testWorker(t testing.TB) *cleanerWorker {
	return newCleanerWorker(0, testCleanerConfig(), testLogger(t))
}

// cleanOnce cleans l from firstDirty (-1: no checkpoint), as the cleaner thread would after
// picking it, and returns the stats.
func cleanOnce(t testing.TB, l *Log, w *cleanerWorker, firstDirty, now int64, cc CompactionConfig) cleanerStats {
	t.Helper()
	st, err := tryClean(l, w, firstDirty, now, cc)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

func tryClean(l *Log, w *cleanerWorker, firstDirty, now int64, cc CompactionConfig) (cleanerStats, error) {
	ltc, _ := newLogToClean(l, firstDirty, firstDirty >= 0, now, cc)
	return w.clean(context.Background(), ltc)
}

// sealAll rolls so that everything is in non-active segments and moves the HW to the LEO.
func sealAll(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
}

func setSegmentMtime(t testing.TB, l *Log, base, ms int64) {
	t.Helper()
	tm := time.UnixMilli(ms)
	if err := os.Chtimes(segmentFile(l.dir, base, logSuffix), tm, tm); err != nil {
		t.Fatal(err)
	}
}

func hasTombstone(recs []logRec) bool {
	for _, r := range recs {
		if r.tomb {
			return true
		}
	}
	return false
}
