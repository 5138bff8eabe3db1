package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// writeUpdates appends rounds x keys updates, batchSize records per batch, and returns the
// expected latest record per key.
func writeUpdates(t testing.TB, l *Log, rounds, keys, batchSize int, opt record.BuildOptions) map[string]logRec {
	t.Helper()
	want := make(map[string]logRec)
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k += batchSize {
			var recs []kv
			for j := k; j < min(k+batchSize, keys); j++ {
				recs = append(recs, kv{key: fmt.Sprintf("key-%03d", j), value: fmt.Sprintf("value-%d-%d", r, j)})
			}
			first := appendKV(t, l, recs, testNow+int64(r), opt)
			for i, rec := range recs {
				want[rec.key] = logRec{offset: first + int64(i), key: rec.key, value: rec.value}
			}
		}
	}
	return want
}

func checkCompacted(t testing.TB, l *Log, want map[string]logRec) []logRec {
	t.Helper()
	recs, _ := readLog(t, l)
	if len(recs) != len(want) {
		t.Fatalf("%d records after cleaning, want one per key (%d)", len(recs), len(want))
	}
	for _, r := range recs {
		if w := want[r.key]; w != r {
			t.Fatalf("key %s: got %+v, want the latest %+v", r.key, r, w)
		}
	}
	return recs
}

// LogCleanerTest.testCleanSegments: many updates per key compact to the latest value of each
// key, readable in offset order with the original offsets, indexes matching the new files, and
// the result survives a restart with and without recovery.
func TestCleaner_ManyUpdatesPerKeyCompactToLatestValuesWithOriginalOffsets(t *testing.T) {
	l, clock, dir := newTestLog(t, compactConfig())
	want := writeUpdates(t, l, 20, 50, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	before, segsBefore := l.Size(), l.NumSegments()
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	if st.endOffset != l.LogEndOffset() {
		t.Fatalf("cleaned up to %d, want everything below the active segment (%d)", st.endOffset, l.LogEndOffset())
	}
	checkCompacted(t, l, want)
	if l.Size() >= before/10 || l.NumSegments() != segsBefore {
		// Groups are formed by the sizes before cleaning: full segments are not merged yet.
		t.Fatalf("size %d -> %d, segments %d -> %d", before, l.Size(), segsBefore, l.NumSegments())
	}
	if st.messagesRead != 1000 || st.messagesWritten != 50 || st.bytesRead != before || st.bytesWritten != l.Size() {
		t.Fatalf("stats: read %d records %d bytes, wrote %d records %d bytes (log %d -> %d bytes)",
			st.messagesRead, st.bytesRead, st.messagesWritten, st.bytesWritten, before, l.Size())
	}
	checkIndexesAgreeWithLog(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, clean := range []bool{true, false} {
		l2 := openTestLog(t, dir, compactConfig(), clock, 0, 0, clean)
		checkCompacted(t, l2, want)
		checkIndexesAgreeWithLog(t, l2)
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// LogCleanerManager.cleanableOffsets: the active segment is always uncleanable; its duplicates
// stay and the next first dirty offset is its base offset.
func TestCleaner_ActiveSegmentIsNeverCleaned(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	writeUpdates(t, l, 5, 20, 10, record.DefaultBuildOptions())
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	active := l.view.Load().active().base
	for i := 0; i < 5; i++ {
		appendKV(t, l, []kv{{key: "key-000", value: fmt.Sprint("active-", i)}}, testNow, record.DefaultBuildOptions())
	}
	l.SetHighWatermark(l.LogEndOffset())
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	if st.endOffset != active {
		t.Fatalf("end offset %d, want the active segment's base %d", st.endOffset, active)
	}
	recs, _ := readLog(t, l)
	var inActive []string
	for _, r := range recs {
		if r.offset >= active {
			inActive = append(inActive, r.value)
		}
	}
	if len(inActive) != 5 {
		t.Fatalf("active segment records after cleaning: %v", inActive)
	}
	if l.view.Load().active().base != active {
		t.Fatal("active segment replaced")
	}
}

// The high watermark (Kafka: the last stable offset) bounds cleaning: the segment holding it and
// everything after stay dirty.
func TestCleaner_NeverCleansAtOrAboveHighWatermark(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	writeUpdates(t, l, 10, 50, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	bases := segBases(l)
	hwSeg := bases[len(bases)/2]
	l.SetHighWatermark(hwSeg + 1)
	ltc, _ := newLogToClean(l, 0, false, clock.now(), DefaultCompactionConfig())
	if ltc.firstUncleanable != hwSeg {
		t.Fatalf("first uncleanable %d, want the base %d of the segment holding the HW", ltc.firstUncleanable, hwSeg)
	}
	untouched := map[int64]*segment{}
	for _, s := range l.view.Load().segs {
		if s.base >= hwSeg {
			untouched[s.base] = s
		}
	}
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	if st.endOffset > hwSeg {
		t.Fatalf("cleaned to %d, past the HW segment %d", st.endOffset, hwSeg)
	}
	for _, s := range l.view.Load().segs {
		if s.base >= hwSeg && untouched[s.base] != s {
			t.Fatalf("segment %d at or above the HW was rewritten", s.base)
		}
	}
}

// LogCleanerTest delete-horizon rule (§8.1): a tombstone removes older values of its key at once
// but stays while its segment was modified within delete.retention.ms of the last clean
// segment, then goes; values of other keys stay.
func TestCleaner_TombstonesRetainedThenRemovedAfterDeleteRetention(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	cc := DefaultCompactionConfig()
	cc.DeleteRetentionMs = 1000
	opt := record.DefaultBuildOptions()
	var vals []kv
	for i := 0; i < 10; i++ {
		vals = append(vals, kv{key: fmt.Sprint("k", i), value: string(bytes.Repeat([]byte{'v'}, 100))})
	}
	appendKV(t, l, vals, testNow, opt)
	sealAll(t, l)
	var tombs []kv
	for i := 0; i < 5; i++ {
		tombs = append(tombs, kv{key: fmt.Sprint("k", i), tomb: true})
	}
	appendKV(t, l, tombs, testNow, opt)
	sealAll(t, l)
	bases := segBases(l)
	setSegmentMtime(t, l, bases[0], testNow)
	setSegmentMtime(t, l, bases[1], testNow+100)

	// First cleaning: no clean segment yet, the horizon is 0: tombstones stay, shadowed values go.
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), cc)
	recs, _ := readLog(t, l)
	if len(recs) != 10 || !hasTombstone(recs) {
		t.Fatalf("after the first cleaning: %v", recs)
	}
	for _, r := range recs {
		if r.key < "k5" && !r.tomb {
			t.Fatalf("value of deleted key %s survived", r.key)
		}
	}
	// New data (a segment too big to be grouped with the old one), modified 2 s later.
	appendKV(t, l, []kv{{key: "big", value: string(bytes.Repeat([]byte{'b'}, 3500))}}, testNow, opt)
	sealAll(t, l)
	bases = segBases(l)
	setSegmentMtime(t, l, bases[len(bases)-2], testNow+2100)
	// Second cleaning: the last clean segment is the one holding the tombstones: they stay.
	st = cleanOnce(t, l, testWorker(t), st.endOffset, clock.now(), cc)
	if recs, _ = readLog(t, l); !hasTombstone(recs) {
		t.Fatal("tombstones removed within delete.retention.ms")
	}
	appendKV(t, l, []kv{{key: "x", value: "x"}}, testNow, opt)
	sealAll(t, l)
	// Third cleaning: the last clean segment is 2 s newer than the tombstones' one, more than
	// delete.retention.ms: they go.
	cleanOnce(t, l, testWorker(t), st.endOffset, clock.now(), cc)
	recs, _ = readLog(t, l)
	if hasTombstone(recs) {
		t.Fatalf("tombstones kept past delete.retention.ms: %v", recs)
	}
	got := latest(recs)
	for _, k := range []string{"k5", "k6", "k7", "k8", "k9", "big", "x"} {
		if _, ok := got[k]; !ok {
			t.Fatalf("key %s lost: %v", k, recs)
		}
	}
	if len(got) != 7 {
		t.Fatalf("keys %v", got)
	}
}

// MemoryRecords.filterTo on compressed batches: a batch losing records is rebuilt with the same
// codec, base offset and last offset delta; one keeping all of them is copied unchanged.
func TestCleaner_CompressedBatchesRecompressedWithSameCodec(t *testing.T) {
	for _, c := range []record.Codec{record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			l, clock, _ := newTestLog(t, compactConfig())
			opt := record.DefaultBuildOptions()
			opt.Codec = c
			want := writeUpdates(t, l, 3, 30, 7, opt)
			// A final batch that keeps everything: it must be copied byte for byte.
			var recs []kv
			for i := 0; i < 5; i++ {
				recs = append(recs, kv{key: fmt.Sprint("last-", i), value: "v"})
			}
			first := appendKV(t, l, recs, testNow, opt)
			for i, r := range recs {
				want[r.key] = logRec{offset: first + int64(i), key: r.key, value: r.value}
			}
			_, origBatches := readLog(t, l)
			orig := map[int64]record.Batch{}
			for _, b := range origBatches {
				orig[b.BaseOffset()] = b
			}
			sealAll(t, l)
			cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
			checkCompacted(t, l, want)
			_, batches := readLog(t, l)
			for _, b := range batches {
				o := orig[b.BaseOffset()]
				if o == nil {
					t.Fatalf("batch at %d was not a batch before", b.BaseOffset())
				}
				if b.Compression() != c || b.LastOffsetDelta() != o.LastOffsetDelta() {
					t.Fatalf("batch at %d: codec %v last delta %d, was %v %d", b.BaseOffset(), b.Compression(), b.LastOffsetDelta(), o.Compression(), o.LastOffsetDelta())
				}
				if b.NumRecords() == o.NumRecords() && !bytes.Equal(b, o) {
					t.Fatalf("batch at %d keeps all records but was rewritten", b.BaseOffset())
				}
			}
		})
	}
}

// LogCleaner's RecordFilter.checkBatchRetention: the last data batch of a producer stays as an
// empty batch (its sequence numbers are needed for duplicate detection); earlier emptied
// batches of the same producer go.
func TestCleaner_LastBatchOfProducerRetainedEmpty(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	idem := record.DefaultBuildOptions()
	idem.ProducerID, idem.ProducerEpoch = 7, 0
	idem.BaseSequence = 0
	firstBatch := appendKV(t, l, []kv{{key: "a", value: "1"}, {key: "b", value: "1"}}, testNow, idem)
	idem.BaseSequence = 2
	lastBatch := appendKV(t, l, []kv{{key: "a", value: "2"}, {key: "b", value: "2"}}, testNow, idem)
	appendKV(t, l, []kv{{key: "a", value: "3"}, {key: "b", value: "3"}}, testNow, record.DefaultBuildOptions())
	sealAll(t, l)
	cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	recs, batches := readLog(t, l)
	if len(recs) != 2 || recs[0].value != "3" || recs[1].value != "3" {
		t.Fatalf("records %v", recs)
	}
	var empty []record.Batch
	for _, b := range batches {
		if b.BaseOffset() == firstBatch {
			t.Fatal("an earlier emptied batch of the producer was kept")
		}
		if b.NumRecords() == 0 {
			empty = append(empty, b)
		}
	}
	if len(empty) != 1 {
		t.Fatalf("%d empty batches, want the producer's last one", len(empty))
	}
	e := empty[0]
	if e.BaseOffset() != lastBatch || e.LastOffset() != lastBatch+1 || e.ProducerID() != 7 || e.BaseSequence() != 2 || e.LastSequence() != 3 {
		t.Fatalf("empty batch: base %d last %d pid %d seq %d..%d", e.BaseOffset(), e.LastOffset(), e.ProducerID(), e.BaseSequence(), e.LastSequence())
	}
}

// Cleaner.shouldRetainRecord: a record without a key in a compacted log (written before the
// policy changed, or replicated) is removed.
func TestCleaner_RecordsWithoutKeyAreRemoved(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	appendKV(t, l, []kv{{key: "a", value: "1"}}, testNow, record.DefaultBuildOptions())
	opt := record.DefaultBuildOptions()
	opt.BaseOffset = l.LogEndOffset()
	b, err := record.Build([]record.BuildRecord{{Value: []byte("no key"), Timestamp: testNow}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	sealAll(t, l)
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	recs, _ := readLog(t, l)
	if len(recs) != 1 || recs[0].key != "a" || st.invalidMessages != 1 {
		t.Fatalf("records %v, invalid %d", recs, st.invalidMessages)
	}
}

// Kafka refuses records without a key on a compacted topic at append (LogValidator); storage
// asks record.Validate to check it for compacted logs.
func TestAppend_CompactedLogRejectsRecordsWithoutKey(t *testing.T) {
	l, _, _ := newTestLog(t, compactConfig())
	b, err := record.Build([]record.BuildRecord{{Value: []byte("v"), Timestamp: testNow}}, record.DefaultBuildOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(b, 0); !errors.Is(err, record.ErrInvalidRecord) {
		t.Fatalf("keyless record on a compacted log: %v, want ErrInvalidRecord", err)
	}
}

// Cleaner.buildOffsetMap with a full map: a cleaning covers only the offsets the map holds, and
// successive cleanings finish the job.
func TestCleaner_PartialCleaningWhenOffsetMapIsFull(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	want := writeUpdates(t, l, 3, 100, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	w := testWorker(t)
	w.memory = 40 * mapSlotSize // 36 keys
	firstUncleanable := l.view.Load().active().base
	dirty := int64(-1)
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatal("cleaning makes no progress")
		}
		st := cleanOnce(t, l, w, dirty, clock.now(), DefaultCompactionConfig())
		if !st.mapFull && st.endOffset != firstUncleanable {
			t.Fatalf("map not full but cleaning stopped at %d", st.endOffset)
		}
		if st.endOffset <= dirty {
			t.Fatalf("no progress: %d -> %d", dirty, st.endOffset)
		}
		dirty = st.endOffset
		if dirty == firstUncleanable {
			break
		}
	}
	checkCompacted(t, l, want)
}

// A map too small for the keys of one batch cannot make progress: the cleaning fails (Kafka
// refuses such a configuration up front).
func TestCleaner_OffsetMapSmallerThanOneBatchFails(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	writeUpdates(t, l, 2, 20, 20, record.DefaultBuildOptions())
	sealAll(t, l)
	w := testWorker(t)
	w.memory = 10 * mapSlotSize
	if _, err := tryClean(l, w, -1, clock.now(), DefaultCompactionConfig()); err == nil || errors.Is(err, errCleaningAborted) {
		t.Fatalf("clean with a 9-key map and 20-key batches: %v", err)
	}
}

// Cleaner.groupSegmentsBySize: consecutive segments are merged while their total size (before
// cleaning) fits segment.bytes, so repeated cleanings do not leave ever smaller segments.
func TestCleaner_GroupsSmallSegmentsUpToSegmentBytes(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	writeUpdates(t, l, 10, 40, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	st := cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	if n := l.NumSegments(); n < 4 {
		t.Fatalf("%d segments: full segments merged on the first cleaning", n)
	}
	want := writeUpdates(t, l, 1, 40, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	cleanOnce(t, l, testWorker(t), st.endOffset, clock.now(), DefaultCompactionConfig())
	checkCompacted(t, l, want)
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("%d segments after the second cleaning, want the small ones merged into one plus the active one", n)
	}
}

// Log.replaceSegments refuses a swap when the log changed under the cleaner: truncated, closed,
// or the cleaned segments deleted meanwhile.
func TestCleaner_SwapRefusedWhenLogChanged(t *testing.T) {
	t.Run("truncated", func(t *testing.T) {
		l, _, _ := newTestLog(t, compactConfig())
		writeUpdates(t, l, 10, 20, 10, record.DefaultBuildOptions())
		sealAll(t, l)
		snap, err := l.cleaningSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.release()
		if err := l.TruncateTo(l.LogEndOffset() - 1); err != nil {
			t.Fatal(err)
		}
		if ok, err := l.replaceSegments(nil, snap.view.segs[:1], snap.gen); ok || err != nil {
			t.Fatalf("swap after truncation: %v %v", ok, err)
		}
	})
	t.Run("segments deleted", func(t *testing.T) {
		l, _, _ := newTestLog(t, compactConfig())
		writeUpdates(t, l, 10, 20, 10, record.DefaultBuildOptions())
		sealAll(t, l)
		snap, err := l.cleaningSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.release()
		if _, err := l.DeleteRecordsBefore(snap.view.segs[1].base); err != nil {
			t.Fatal(err)
		}
		if _, err := l.DeleteOldSegments(testNow, l.HighWatermark()); err != nil {
			t.Fatal(err)
		}
		if ok, err := l.replaceSegments(nil, snap.view.segs[:1], snap.gen); ok || err != nil {
			t.Fatalf("swap of a deleted segment: %v %v", ok, err)
		}
	})
	t.Run("truncation during cleaning discards the output", func(t *testing.T) {
		l, _, dir := newTestLog(t, compactConfig())
		writeUpdates(t, l, 10, 20, 10, record.DefaultBuildOptions())
		sealAll(t, l)
		w := testWorker(t)
		w.omap = newOffsetMap(w.memory, w.loadFactor)
		snap, err := l.cleaningSnapshot()
		if err != nil {
			t.Fatal(err)
		}
		defer snap.release()
		var st cleanerStats
		noop := func() error { return nil }
		if _, err := w.buildOffsetMap(snap.view, 0, snap.view.active().base, &st, noop); err != nil {
			t.Fatal(err)
		}
		// The truncation lands after the map was built, before the group is swapped in.
		if err := l.TruncateTo(l.LogEndOffset() - 1); err != nil {
			t.Fatal(err)
		}
		group := snap.view.segs[:2]
		err = w.cleanSegments(l, group, l.config(), 0, snap.gen, &producerLastBatches{view: snap.view}, &st, noop)
		if !errors.Is(err, errCleaningAborted) {
			t.Fatalf("clean after a truncation: %v, want aborted", err)
		}
		if segs := l.view.Load().segs; segs[0] != group[0] || segs[1] != group[1] {
			t.Fatal("segments replaced after a truncation")
		}
		for _, suf := range []string{cleanedSuffix, swapSuffix} {
			if m, _ := filepath.Glob(filepath.Join(dir, testTP.dirName(), "*"+suf)); len(m) > 0 {
				t.Fatalf("output files left: %v", m)
			}
		}
	})
}

// A crash at any point of the swap sequence (§1) recovers to a consistent log: leftover
// .cleaned files are deleted (the old segments are intact), a .swap log replaces the segments
// it covers whether or not they were already renamed .deleted, and a .swap at or after a
// .cleaned is from an unfinished cleaning and is deleted.
func TestCleaner_RecoveryAfterCrashMidSwap(t *testing.T) {
	build := func(t *testing.T) (cleanDir, dirtyDir string, want map[string]logRec, dirtyRecs []logRec, cleaned []int64) {
		l, clock, dir := newTestLog(t, compactConfig())
		want = writeUpdates(t, l, 10, 30, 10, record.DefaultBuildOptions())
		sealAll(t, l)
		dirtyDir = t.TempDir()
		copyDir(t, dir, dirtyDir)
		dirtyRecs, _ = readLog(t, l)
		cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
		for _, s := range l.view.Load().segs[:l.NumSegments()-1] {
			cleaned = append(cleaned, s.base)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, dirtyDir, want, dirtyRecs, cleaned
	}
	part := func(dir string) string { return filepath.Join(dir, testTP.dirName()) }
	copyFile := func(t *testing.T, from, to string) {
		t.Helper()
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(t *testing.T, dir string) *Log {
		l := openTestLog(t, dir, compactConfig(), newFakeClock(testNow), 0, 0, false)
		t.Cleanup(func() { _ = l.Close() })
		return l
	}
	t.Run("cleaned files left before the swap", func(t *testing.T) {
		cleanDir, dirty, _, dirtyRecs, cleaned := build(t)
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			copyFile(t, segmentFile(part(cleanDir), cleaned[0], suf), segmentFile(part(dirty), cleaned[0], suf)+cleanedSuffix)
		}
		l := open(t, dirty)
		recs, _ := readLog(t, l)
		if fmt.Sprint(recs) != fmt.Sprint(dirtyRecs) {
			t.Fatal("log differs from before the cleaning")
		}
		if fileExists(segmentFile(part(dirty), cleaned[0], logSuffix) + cleanedSuffix) {
			t.Fatal(".cleaned file left")
		}
	})
	for _, tc := range []struct {
		name       string
		deleteOlds bool
	}{{"swap files left, old segments in place", false}, {"swap files left, old segments renamed deleted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cleanDir, dirty, want, _, cleaned := build(t)
			l0 := open(t, dirty)
			olds := segBases(l0)
			_ = l0.Close()
			for _, base := range cleaned {
				for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
					copyFile(t, segmentFile(part(cleanDir), base, suf), segmentFile(part(dirty), base, suf)+swapSuffix)
				}
			}
			if tc.deleteOlds {
				for _, b := range olds[:len(olds)/2] {
					for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
						p := segmentFile(part(dirty), b, suf)
						copyFile(t, p, p+deletedSuffix)
						if err := os.Remove(p); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			l := open(t, dirty)
			checkCompacted(t, l, want)
			checkIndexesAgreeWithLog(t, l)
			for _, suf := range []string{swapSuffix, deletedSuffix} {
				if m, _ := filepath.Glob(filepath.Join(part(dirty), "*"+suf)); len(m) > 0 {
					t.Fatalf("files left: %v", m)
				}
			}
		})
	}
	t.Run("swap at or after a cleaned file is from an unfinished cleaning", func(t *testing.T) {
		cleanDir, dirty, _, dirtyRecs, cleaned := build(t)
		copyFile(t, segmentFile(part(cleanDir), cleaned[0], logSuffix), segmentFile(part(dirty), cleaned[0], logSuffix)+cleanedSuffix)
		copyFile(t, segmentFile(part(cleanDir), cleaned[0], logSuffix), segmentFile(part(dirty), cleaned[0], logSuffix)+swapSuffix)
		l := open(t, dirty)
		recs, _ := readLog(t, l)
		if fmt.Sprint(recs) != fmt.Sprint(dirtyRecs) {
			t.Fatal("log differs from before the cleaning")
		}
	})
}

// Readers use segment references: a range read before a swap stays readable (the old file)
// after the cleaned segment replaced it and the old one was renamed .deleted.
func TestCleaner_RangeReadBeforeSwapStaysReadable(t *testing.T) {
	l, clock, _ := newTestLog(t, compactConfig())
	writeUpdates(t, l, 10, 30, 10, record.DefaultBuildOptions())
	sealAll(t, l)
	res, err := l.Read(0, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	before, err := res.Ranges[0].Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cleanOnce(t, l, testWorker(t), -1, clock.now(), DefaultCompactionConfig())
	after, err := res.Ranges[0].Bytes()
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("range read before the swap changed: %v", err)
	}
	for _, b := range splitBatches(t, after) {
		if !b.CRCValid() {
			t.Fatal("old range corrupt")
		}
	}
}
