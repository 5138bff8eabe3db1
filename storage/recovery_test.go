package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

type sentBatch struct {
	base, next int64
	data       []byte
}

// fillRandom appends n random batches (1-8 records, 20-600 byte values, some gzip, timestamps
// mostly rising) and returns what is stored.
func fillRandom(t testing.TB, l *Log, rng *rand.Rand, n int) []sentBatch {
	var out []sentBatch
	for i := 0; i < n; i++ {
		opt := record.DefaultBuildOptions()
		if rng.IntN(4) == 0 {
			opt.Codec = record.CodecGzip
		}
		b := buildBatchOpt(t, 1+rng.IntN(8), 20+rng.IntN(580), testNow+int64(i)*50-rng.Int64N(120), opt)
		ai, err := l.AppendAsLeader(b, 3)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sentBatch{ai.FirstOffset, ai.LastOffset + 1, b})
	}
	return out
}

// checkLogHolds verifies that exactly the batches in want are readable at their offsets with
// their bytes, that the LEO follows the last of them and that the indexes match the .log.
func checkLogHolds(t *testing.T, l *Log, want []sentBatch, beyond []sentBatch) {
	t.Helper()
	leo := int64(0)
	if len(want) > 0 {
		leo = want[len(want)-1].next
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), leo)
	}
	for _, b := range want {
		got, _ := readBytes(t, l, b.base, 1, -1, true)
		if !bytes.Equal(got, b.data) {
			t.Fatalf("batch at %d: read %d bytes differing from the %d appended", b.base, len(got), len(b.data))
		}
	}
	for _, b := range beyond {
		res, err := l.Read(b.base, 1<<20, -1, true)
		if err == nil && len(res.Ranges) > 0 {
			res.Release()
			t.Fatalf("batch at %d after the cut is readable", b.base)
		}
		if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read after the cut: %v", err)
		}
	}
	checkIndexesAgreeWithLog(t, l)
	// Segments dropped by recovery must be gone from disk too (renamed .deleted), or the next
	// start would load them again.
	entries, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var logs []int64
	for _, e := range entries {
		if base, suf, ok := parseSegmentName(e.Name()); ok && suf == logSuffix {
			logs = append(logs, base)
		}
	}
	if fmt.Sprint(logs) != fmt.Sprint(segBases(l)) {
		t.Fatalf(".log files %v, segments %v", logs, segBases(l))
	}
}

// The crash test: a log is copied while open (the on-disk state a SIGKILL leaves: untrimmed
// preallocated indexes, no clean marker), the active .log is cut or overwritten with garbage at
// random byte positions, and the log reopened without the marker. Every batch before the cut must
// read back at its offsets with its bytes, nothing after it, and the indexes must match a linear
// scan (Log.recoverLog, F13).
func TestRecovery_CrashAtRandomCutPointsKeepsEveryBatchBeforeTheCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	sent := fillRandom(t, src, rng, 160)
	if src.NumSegments() < 5 {
		t.Fatalf("only %d segments", src.NumSegments())
	}
	image := t.TempDir()
	copyDir(t, filepath.Dir(src.Dir()), image)
	active := src.view.Load().active()
	activeSize := active.size.Load()
	activePath := filepath.Join(image, testTP.dirName(), filepath.Base(segmentFile("", active.base, logSuffix)))

	for _, rp := range []int64{0, active.base} {
		for k := 0; k < 30; k++ {
			pos := rng.Int64N(activeSize + 1)
			if k%5 == 0 { // also exact batch boundaries
				pos = activeBatchBoundary(sent, active.base, rng)
			}
			garbage := k%2 == 1
			t.Run(fmt.Sprintf("rp%d/cut%d/garbage=%v", rp, pos, garbage), func(t *testing.T) {
				dir := t.TempDir()
				copyDir(t, image, dir)
				p := filepath.Join(dir, testTP.dirName(), filepath.Base(activePath))
				if garbage {
					scribble(t, p, pos, rng)
				} else if err := os.Truncate(p, pos); err != nil {
					t.Fatal(err)
				}
				l := openTestLog(t, dir, cfg, clock, rp, 0, false)
				defer l.Close()
				var keep, gone []sentBatch
				for _, b := range sent {
					if b.base < active.base || (b.base-active.base) >= 0 && endPos(sent, b, active.base) <= pos {
						keep = append(keep, b)
					} else {
						gone = append(gone, b)
					}
				}
				checkLogHolds(t, l, keep, gone)
			})
		}
	}
}

// endPos is the end position of b inside the segment starting at base.
func endPos(sent []sentBatch, b sentBatch, base int64) int64 {
	var pos int64
	for _, s := range sent {
		if s.base >= base && s.base <= b.base {
			pos += int64(len(s.data))
		}
	}
	return pos
}

func activeBatchBoundary(sent []sentBatch, base int64, rng *rand.Rand) int64 {
	var bounds []int64
	var pos int64
	for _, s := range sent {
		if s.base >= base {
			bounds = append(bounds, pos)
			pos += int64(len(s.data))
		}
	}
	bounds = append(bounds, pos)
	return bounds[rng.IntN(len(bounds))]
}

// scribble overwrites the file from pos to its end with random bytes.
func scribble(t testing.TB, path string, pos int64, rng *rand.Rand) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, st.Size()-pos)
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(junk, pos); err != nil {
		t.Fatal(err)
	}
}

// F14: index files that are missing, garbled, zero-filled or of the wrong length are rebuilt from
// the .log, after a clean shutdown and after a crash; orphan index files are deleted.
func TestRecovery_RebuildsMissingOrCorruptIndexes(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	sent := fillRandom(t, src, rng, 120)
	crashImage := t.TempDir()
	copyDir(t, filepath.Dir(src.Dir()), crashImage)
	crashRP := src.view.Load().active().base
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	cleanImage := t.TempDir()
	copyDir(t, filepath.Dir(src.Dir()), cleanImage)
	target := src.view.Load().segs[1].base // a segment below every recovery point
	file := func(dir, suffix string) string {
		return filepath.Join(dir, testTP.dirName(), filepath.Base(segmentFile("", target, suffix)))
	}
	corruptions := map[string]func(t *testing.T, dir string){
		"delete index":     func(t *testing.T, dir string) { os.Remove(file(dir, indexSuffix)) },
		"delete timeindex": func(t *testing.T, dir string) { os.Remove(file(dir, timeIndexSuffix)) },
		"zero-fill timeindex": func(t *testing.T, dir string) {
			st, _ := os.Stat(file(dir, timeIndexSuffix))
			os.WriteFile(file(dir, timeIndexSuffix), make([]byte, st.Size()), 0o644)
		},
		"zero-fill index": func(t *testing.T, dir string) {
			st, _ := os.Stat(file(dir, indexSuffix))
			os.WriteFile(file(dir, indexSuffix), make([]byte, st.Size()), 0o644)
		},
		"two garbage bytes in index": func(t *testing.T, dir string) {
			f, _ := os.OpenFile(file(dir, indexSuffix), os.O_RDWR, 0)
			f.WriteAt([]byte{0x7f, 0x13}, 9) // inside the second entry's relative offset
			f.Close()
		},
		"garbage last index entry": func(t *testing.T, dir string) {
			st, _ := os.Stat(file(dir, indexSuffix))
			f, _ := os.OpenFile(file(dir, indexSuffix), os.O_RDWR, 0)
			f.WriteAt([]byte{0, 0, 0, 1, 0, 0, 0, 3}, st.Size()-8) // (base+1, position 3): mid-batch
			f.Close()
		},
		"index with odd length": func(t *testing.T, dir string) {
			f, _ := os.OpenFile(file(dir, indexSuffix), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte{1, 2, 3})
			f.Close()
		},
		"random garbage over timeindex": func(t *testing.T, dir string) { scribble(t, file(dir, timeIndexSuffix), 0, rng) },
		"orphan index": func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, testTP.dirName(), "00000000000099999999.index"), make([]byte, 16), 0o644)
		},
	}
	for name, corrupt := range corruptions {
		for _, clean := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/clean=%v", name, clean), func(t *testing.T) {
				dir := t.TempDir()
				rp := int64(0)
				if clean {
					copyDir(t, cleanImage, dir)
				} else {
					copyDir(t, crashImage, dir)
					rp = crashRP
				}
				corrupt(t, dir)
				l := openTestLog(t, dir, cfg, clock, rp, 0, clean)
				defer l.Close()
				checkLogHolds(t, l, sent, nil)
				if fileExists(filepath.Join(dir, testTP.dirName(), "00000000000099999999.index")) {
					t.Fatal("orphan index not deleted")
				}
				largest, recs := decodeSegmentsT(t, l)
				for ts := testNow - 200; ts < testNow+6200; ts += 97 {
					off, got, found, err := l.OffsetForTimestamp(ts)
					wOff, wTs, wFound := bruteOffsetForTimestamp(largest, recs, 0, ts)
					if err != nil || off != wOff || got != wTs || found != wFound {
						t.Fatalf("timestamp %d: (%d, %d, %v, %v), scan (%d, %d, %v)", ts, off, got, found, err, wOff, wTs, wFound)
					}
				}
			})
		}
	}
}

func decodeSegmentsT(t *testing.T, l *Log) ([]int64, [][]tsRecord) { return decodeSegments(t, l) }

// A clean shutdown is trusted: segments are not scanned, so a bad CRC in the middle of a segment
// goes unnoticed (Kafka does the same); after an unclean shutdown the segments from the one
// holding the recovery point are scanned and the log is cut at the bad batch, later segments
// deleted, and the truncation logged with the bytes removed.
func TestRecovery_UncleanShutdownScansFromRecoveryPointOnly(t *testing.T) {
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	sent := fillRandom(t, src, rand.New(rand.NewPCG(3, 3)), 120)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	segs := src.view.Load().segs
	// Flip a byte inside the records of the 3rd batch of segment 1.
	var victim sentBatch
	var victimPos int64
	n := 0
	for _, b := range sent {
		if b.base >= segs[1].base && b.base < segs[2].base {
			if n == 2 {
				victim = b
				break
			}
			victimPos += int64(len(b.data))
			n++
		}
	}
	image := t.TempDir()
	copyDir(t, filepath.Dir(src.Dir()), image)
	p := filepath.Join(image, testTP.dirName(), filepath.Base(segmentFile("", segs[1].base, logSuffix)))
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte{0xee}, victimPos+record.HeaderSize+2)
	f.Close()
	segSize := segs[1].size.Load()

	run := func(name string, rp int64, clean bool, check func(t *testing.T, l *Log, hook *logtest.Hook)) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, image, dir)
			lg, hook := logtest.NewNullLogger()
			l, err := openLog(filepath.Join(dir, testTP.dirName()), testTP, cfg, rp, 0, clean, logrus.NewEntry(lg), clock.fn())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			check(t, l, hook)
		})
	}
	run("clean shutdown trusted", 0, true, func(t *testing.T, l *Log, _ *logtest.Hook) {
		if l.LogEndOffset() != sent[len(sent)-1].next {
			t.Fatalf("LEO %d", l.LogEndOffset())
		}
	})
	run("recovery point above corruption", segs[2].base, false, func(t *testing.T, l *Log, _ *logtest.Hook) {
		if l.LogEndOffset() != sent[len(sent)-1].next {
			t.Fatalf("LEO %d: a segment below the recovery point was recovered", l.LogEndOffset())
		}
	})
	run("recovery point below corruption", 0, false, func(t *testing.T, l *Log, hook *logtest.Hook) {
		var keep, gone []sentBatch
		for _, b := range sent {
			if b.base < victim.base {
				keep = append(keep, b)
			} else {
				gone = append(gone, b)
			}
		}
		checkLogHolds(t, l, keep, gone)
		if l.NumSegments() != 2 {
			t.Fatalf("segments %v: later segments not deleted", segBases(l))
		}
		var logged bool
		for _, e := range hook.AllEntries() {
			if e.Message == "truncated invalid bytes at the end of segment" && e.Data["bytes_removed"] == segSize-victimPos {
				logged = true
			}
		}
		if !logged {
			t.Fatalf("truncation of %d bytes not logged", segSize-victimPos)
		}
	})
}

// §1: .deleted and .cleaned files are removed at load; index .swap files are deleted; a .log.swap
// replaces the segments it covers; a .swap at or above a .cleaned offset is discarded.
func TestRecovery_TemporaryFilesAndSwaps(t *testing.T) {
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	sent := fillRandom(t, src, rand.New(rand.NewPCG(5, 5)), 100)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	segs := src.view.Load().segs
	pdir := src.Dir()
	read := func(base int64) []byte {
		b, err := os.ReadFile(segmentFile(pdir, base, logSuffix))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Cleaner output merging segments 0 and 1, crashed before the swap completed.
	merged := append(read(segs[0].base), read(segs[1].base)...)
	os.WriteFile(segmentFile(pdir, segs[0].base, logSuffix+swapSuffix), merged, 0o644)
	os.WriteFile(segmentFile(pdir, segs[0].base, indexSuffix+swapSuffix), []byte("junk"), 0o644)
	os.WriteFile(segmentFile(pdir, segs[3].base, logSuffix+cleanedSuffix), []byte("junk"), 0o644)
	os.WriteFile(segmentFile(pdir, segs[3].base, logSuffix+swapSuffix), []byte("junk"), 0o644)
	os.WriteFile(segmentFile(pdir, 77, logSuffix+deletedSuffix), []byte("junk"), 0o644)

	l := openTestLog(t, filepath.Dir(pdir), cfg, clock, 0, 0, true)
	defer l.Close()
	checkLogHolds(t, l, sent, nil)
	if bases := segBases(l); bases[0] != segs[0].base || bases[1] != segs[2].base {
		t.Fatalf("segments after swap %v", bases)
	}
	entries, _ := os.ReadDir(pdir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == swapSuffix || filepath.Ext(e.Name()) == cleanedSuffix || filepath.Ext(e.Name()) == deletedSuffix {
			t.Fatalf("temporary file %s left", e.Name())
		}
	}
}

// Log.recoverLog: a checkpointed log start offset above the LEO (segments removed behind our
// back) deletes every segment and restarts the log at the log start offset.
func TestRecovery_LogStartAboveLogEndRestartsLog(t *testing.T) {
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	appendBatchesOf5(t, src, 4)
	src.Close()
	l := openTestLog(t, filepath.Dir(src.Dir()), cfg, clock, 20, 500, true)
	defer l.Close()
	if l.LogStartOffset() != 500 || l.LogEndOffset() != 500 || l.Size() != 0 || l.NumSegments() != 1 {
		t.Fatalf("start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
}

// After a clean shutdown the recovery point is the LEO; after a crash it is
// min(checkpoint, LEO), never advanced by recovery itself.
func TestRecovery_RecoveryPointAfterLoad(t *testing.T) {
	cfg := testConfig()
	src, clock, _ := newTestLog(t, cfg)
	appendBatchesOf5(t, src, 4)
	src.Close()
	for _, c := range []struct {
		rp    int64
		clean bool
		want  int64
	}{{5, true, 20}, {5, false, 5}, {50, false, 20}} {
		dir := t.TempDir()
		copyDir(t, filepath.Dir(src.Dir()), dir)
		l := openTestLog(t, dir, cfg, clock, c.rp, 0, c.clean)
		if l.RecoveryPoint() != c.want {
			t.Fatalf("rp %d clean %v: recovery point %d, want %d", c.rp, c.clean, l.RecoveryPoint(), c.want)
		}
		l.Close()
	}
}

// A preallocated .log (log.preallocate) left untrimmed by a crash ends in zeros; recovery cuts
// them off.
func TestRecovery_PreallocatedSegmentTailCut(t *testing.T) {
	cfg := testConfig()
	cfg.Preallocate = true
	src, clock, _ := newTestLog(t, cfg)
	sent := fillRandom(t, src, rand.New(rand.NewPCG(8, 8)), 40)
	image := t.TempDir()
	copyDir(t, filepath.Dir(src.Dir()), image)
	st, _ := os.Stat(filepath.Join(image, testTP.dirName(), filepath.Base(segmentFile("", src.view.Load().active().base, logSuffix))))
	if st.Size() != cfg.SegmentBytes {
		t.Fatalf("active segment file %d bytes, want preallocated %d", st.Size(), cfg.SegmentBytes)
	}
	l := openTestLog(t, image, cfg, clock, 0, 0, false)
	defer l.Close()
	checkLogHolds(t, l, sent, nil)
	src.Close()
	if st, _ := os.Stat(segmentFile(src.Dir(), src.view.Load().active().base, logSuffix)); st.Size() != src.view.Load().active().size.Load() {
		t.Fatalf("closed preallocated segment not trimmed: %d bytes", st.Size())
	}
}
