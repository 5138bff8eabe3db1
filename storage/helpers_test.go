package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// TestMain fails the run when goroutines started by this package outlive the tests
// (etcd's leak check, simplified): poll with a deadline, then list the survivors.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "samsa/storage.") && !strings.Contains(g, "storage.TestMain") &&
				!strings.Contains(g, "storage.waitForLeaks") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeClock is a settable millisecond clock.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(ms)
	return c
}
func (c *fakeClock) now() int64       { return c.ms.Load() }
func (c *fakeClock) advance(ms int64) { c.ms.Add(ms) }
func (c *fakeClock) set(ms int64)     { c.ms.Store(ms) }
func (c *fakeClock) fn() func() int64 { return c.now }

const testNow = int64(1_700_000_000_000)

// testConfig is a small-segment configuration that rolls often and indexes densely.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	cfg.SegmentIndexBytes = 64 << 10
	cfg.FileDeleteDelayMs = 0
	return cfg
}

func testLogger(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.Out = io.Discard
	if testing.Verbose() {
		l.Out = os.Stderr
		l.Level = logrus.DebugLevel
	}
	return logrus.NewEntry(l)
}

var testTP = TopicPartition{Topic: "test-topic", Partition: 3}

// openTestLog opens testTP's log under dir with a fake clock.
func openTestLog(t testing.TB, dir string, cfg Config, clock *fakeClock, rp, ls int64, clean bool) *Log {
	t.Helper()
	l, err := openLog(filepath.Join(dir, testTP.dirName()), testTP, cfg, rp, ls, clean, testLogger(t), clock.fn())
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	return l
}

func newTestLog(t testing.TB, cfg Config) (*Log, *fakeClock, string) {
	t.Helper()
	dir := t.TempDir()
	clock := newFakeClock(testNow)
	l := openTestLog(t, dir, cfg, clock, 0, 0, true)
	t.Cleanup(func() { _ = l.Close() })
	return l, clock, dir
}

// buildBatch makes a producer batch of n records with values of valueSize bytes, timestamps ts,
// ts+1, ...
func buildBatch(t testing.TB, n, valueSize int, ts int64) []byte {
	return buildBatchOpt(t, n, valueSize, ts, record.DefaultBuildOptions())
}

func buildBatchOpt(t testing.TB, n, valueSize int, ts int64, opt record.BuildOptions) []byte {
	t.Helper()
	recs := make([]record.BuildRecord, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(i + j + int(ts))
		}
		recs[i] = record.BuildRecord{Key: []byte(fmt.Sprintf("k%d", i)), Value: v, Timestamp: ts + int64(i)}
	}
	b, err := record.Build(recs, opt)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return b
}

// mustAppend appends a fresh batch as leader and returns its info and the stored bytes.
func mustAppend(t testing.TB, l *Log, n, valueSize int, ts int64) (AppendInfo, []byte) {
	t.Helper()
	b := buildBatch(t, n, valueSize, ts)
	ai, err := l.AppendAsLeader(b, 7)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return ai, b
}

// readAll reads the range of a Read at offset and releases it.
func readBytes(t testing.TB, l *Log, offset int64, maxBytes int, maxOffset int64, minOne bool) ([]byte, ReadResult) {
	t.Helper()
	res, err := l.Read(offset, maxBytes, maxOffset, minOne)
	if err != nil {
		t.Fatalf("read at %d: %v", offset, err)
	}
	defer res.Release()
	var out []byte
	for _, fr := range res.Ranges {
		b, err := fr.Bytes()
		if err != nil {
			t.Fatalf("read range: %v", err)
		}
		out = append(out, b...)
	}
	return out, res
}

// splitBatches splits whole batches off buf (a partial tail is ignored).
func splitBatches(t testing.TB, buf []byte) []record.Batch {
	t.Helper()
	var out []record.Batch
	for {
		b, rest, err := record.Next(buf)
		if err == io.EOF || errors.Is(err, record.ErrTruncated) {
			return out
		}
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		out = append(out, b)
		buf = rest
	}
}

// expectedIndex is what a linear scan of a .log yields under Kafka's rule: an offset entry
// (last offset, position) when more than interval bytes lie between the last entry's position and
// the batch, and time entries (max ts so far, its offset) with it, plus a final time entry
// (finalAdded) as roll, close and recovery write.
func expectedIndex(t testing.TB, logBytes []byte, interval int) (offs, times [][2]int64, finalAdded bool) {
	t.Helper()
	var pos, lastEntry int64
	maxTs, offMax := int64(-1), int64(0)
	for _, b := range splitBatches(t, logBytes) {
		if b.MaxTimestamp() > maxTs {
			maxTs, offMax = b.MaxTimestamp(), b.LastOffset()
		}
		if pos-lastEntry > int64(interval) {
			offs = append(offs, [2]int64{b.LastOffset(), pos})
			if maxTs > lastTs(times) {
				times = append(times, [2]int64{maxTs, offMax})
			}
			lastEntry = pos
		}
		pos += int64(len(b))
	}
	if maxTs > lastTs(times) {
		times = append(times, [2]int64{maxTs, offMax})
		finalAdded = true
	}
	return offs, times, finalAdded
}

func lastTs(times [][2]int64) int64 {
	if len(times) == 0 {
		return -1
	}
	return times[len(times)-1][0]
}

// checkIndexesAgreeWithLog verifies every segment's index entries against a linear scan. The
// active segment may lack the final time entry (written only at roll, close and recovery).
func checkIndexesAgreeWithLog(t testing.TB, l *Log) {
	t.Helper()
	cfg := l.Config()
	v := l.view.Load()
	for _, s := range v.segs {
		data := make([]byte, s.size.Load())
		if _, err := s.log.ReadAt(data, 0); err != nil && len(data) > 0 {
			t.Fatalf("read segment %d: %v", s.base, err)
		}
		offs, times, final := expectedIndex(t, data, cfg.IndexIntervalBytes)
		var gotOffs, gotTimes [][2]int64
		for i := 0; i < s.oidx.Entries(); i++ {
			o, p := s.oidx.Entry(i)
			gotOffs = append(gotOffs, [2]int64{o, int64(p)})
		}
		for i := 0; i < s.tidx.Entries(); i++ {
			ts, o := s.tidx.Entry(i)
			gotTimes = append(gotTimes, [2]int64{ts, o})
		}
		if fmt.Sprint(gotOffs) != fmt.Sprint(offs) {
			t.Fatalf("segment %d offset index %v, linear scan gives %v", s.base, gotOffs, offs)
		}
		ok := fmt.Sprint(gotTimes) == fmt.Sprint(times)
		if !ok && s == v.active() && final {
			ok = fmt.Sprint(gotTimes) == fmt.Sprint(times[:len(times)-1])
		}
		if !ok {
			t.Fatalf("segment %d time index %v, linear scan gives %v", s.base, gotTimes, times)
		}
	}
}

// copyDir copies a directory tree of regular files.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy dir: %v", err)
	}
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var _ = bytes.Equal
var _ = rand.IntN
