package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Log.legacyFetchOffsetsBefore (ListOffsets v0, LogTest.testGetOffsetsBeforeLatestTime/EarliestTime and
// OffsetIndex-free lookups by segment mtime): segment base offsets by last-modified time plus the log end
// offset "now", newest first, up to maxNum.
func TestLog_LegacyOffsetsBefore(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	t1 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	touch := func(base int64, at time.Time) {
		t.Helper()
		p := filepath.Join(l.Dir(), fmt.Sprintf("%020d.log", base))
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, l, 3, 10, testNow)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, 2, 10, testNow)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	touch(0, t1)
	touch(3, t2)
	now := time.Now().UnixMilli()
	if got := l.LegacyOffsetsBefore(-1, now, 10); !slices.Equal(got, []int64{5, 3, 0}) {
		t.Fatalf("latest with an empty active segment: %v, want [5 3 0]", got)
	}
	mustAppend(t, l, 1, 10, testNow) // the active segment (base 5) now holds data: the log end offset joins
	for _, c := range []struct {
		ts     int64
		maxNum int
		want   []int64
	}{
		{-1, 10, []int64{6, 5, 3, 0}},
		{-1, 2, []int64{6, 5}},
		{-2, 10, []int64{0}},
		{t1.UnixMilli(), 10, []int64{0}},
		{t2.UnixMilli() + 1, 10, []int64{3, 0}},
		{t2.UnixMilli(), 1, []int64{3}},
		{t1.UnixMilli() - 1, 10, []int64{}},
		{-1, 0, []int64{}},
	} {
		if got := l.LegacyOffsetsBefore(c.ts, now, c.maxNum); !slices.Equal(got, c.want) {
			t.Errorf("ts %d max %d: %v, want %v", c.ts, c.maxNum, got, c.want)
		}
	}
}
