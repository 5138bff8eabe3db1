package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

func newTimeIndex(t testing.TB, maxIndexSize int) *TimeIndex {
	t.Helper()
	idx, err := OpenTimeIndex(filepath.Join(t.TempDir(), "00000000000000001000.timeindex"), testBase, maxIndexSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func mustMaybeAppend(t testing.TB, idx *TimeIndex, ts, offset int64) {
	t.Helper()
	if err := idx.MaybeAppend(ts, offset, false); err != nil {
		t.Fatalf("MaybeAppend(%d, %d): %v", ts, offset, err)
	}
}

func TestTimeIndex_NewFileIsPreallocatedToMaxIndexSizeRoundedDown(t *testing.T) {
	idx := newTimeIndex(t, 10<<20)
	if got := fileSize(t, idx.Path()); got != 873813*12 {
		t.Fatalf("file size = %d, want %d", got, 873813*12)
	}
	if idx.MaxEntries() != 873813 {
		t.Fatalf("MaxEntries = %d, want 873813", idx.MaxEntries())
	}
}

func TestTimeIndex_FileLayoutIsBigEndianTimestampThenRelativeOffset(t *testing.T) {
	idx := newTimeIndex(t, 120)
	mustMaybeAppend(t, idx, 0x0102030405060708, testBase+0x0a0b0c0d)
	mustMaybeAppend(t, idx, 0x7102030405060708, testBase+0x7a0b0c0d)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(idx.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0a, 0x0b, 0x0c, 0x0d,
		0x71, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x7a, 0x0b, 0x0c, 0x0d,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file = % x\nwant   % x", got, want)
	}
}

func TestTimeIndex_FullAtMaxEntriesMinusOne(t *testing.T) {
	idx := newTimeIndex(t, 4*12)
	for k := int64(1); k <= 3; k++ {
		if idx.IsFull() {
			t.Fatalf("full after %d entries of 4 slots", k-1)
		}
		mustMaybeAppend(t, idx, 100*k, testBase+k)
	}
	if !idx.IsFull() {
		t.Fatal("not full at MaxEntries-1")
	}
	// The full check comes first, even for an append that would be skipped.
	for _, ts := range []int64{400, 1} {
		if err := idx.MaybeAppend(ts, testBase+4, false); !errors.Is(err, ErrFull) {
			t.Fatalf("MaybeAppend(%d) at MaxEntries-1: err = %v, want ErrFull", ts, err)
		}
	}
}

func TestTimeIndex_SkipFullCheckUsesReservedSlot(t *testing.T) {
	idx := newTimeIndex(t, 3*12)
	mustMaybeAppend(t, idx, 100, testBase+1)
	mustMaybeAppend(t, idx, 200, testBase+2)
	// Roll/close: the segment's final entry goes into the reserved slot.
	if err := idx.MaybeAppend(300, testBase+3, true); err != nil {
		t.Fatal(err)
	}
	if idx.Entries() != 3 {
		t.Fatalf("entries = %d, want 3", idx.Entries())
	}
	// Repeating the final entry (close after roll) is a no-op, not an error.
	if err := idx.MaybeAppend(300, testBase+3, true); err != nil {
		t.Fatal(err)
	}
	if err := idx.MaybeAppend(400, testBase+4, true); !errors.Is(err, ErrFull) {
		t.Fatalf("no slot left: err = %v, want ErrFull", err)
	}
}

func TestTimeIndex_MaybeAppendOnlyAppendsTimestampAboveLast(t *testing.T) {
	idx := newTimeIndex(t, 12*10)
	mustMaybeAppend(t, idx, 100, testBase+5)
	mustMaybeAppend(t, idx, 100, testBase+6) // same timestamp: skipped
	mustMaybeAppend(t, idx, 99, testBase+7)  // lower timestamp: skipped (Kafka throws; see doc.go)
	if idx.Entries() != 1 {
		t.Fatalf("entries = %d, want 1", idx.Entries())
	}
	mustMaybeAppend(t, idx, 101, testBase+5) // same offset, larger timestamp: appended
	if ts, off := idx.LastEntry(); ts != 101 || off != testBase+5 {
		t.Fatalf("LastEntry = (%d, %d), want (101, %d)", ts, off, testBase+5)
	}
}

func TestTimeIndex_MaybeAppendRejectsDecreasingOffset(t *testing.T) {
	idx := newTimeIndex(t, 12*10)
	mustMaybeAppend(t, idx, 100, testBase+5)
	for _, ts := range []int64{200, 50} {
		if err := idx.MaybeAppend(ts, testBase+4, false); !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("MaybeAppend(%d, base+4) after base+5: err = %v, want ErrInvalidEntry", ts, err)
		}
	}
	if err := idx.MaybeAppend(200, testBase-1, false); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("offset below base: err = %v, want ErrInvalidEntry", err)
	}
}

func TestTimeIndex_MaybeAppendRejectsRelativeOffsetOverflow(t *testing.T) {
	idx := newTimeIndex(t, 12*10)
	if err := idx.MaybeAppend(5, testBase-1, false); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("offset below base on empty index: err = %v, want ErrOffsetOverflow", err)
	}
	if err := idx.MaybeAppend(5, testBase+math.MaxInt32+1, false); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("err = %v, want ErrOffsetOverflow", err)
	}
}

func TestTimeIndex_EmptyIndexSkipsNoTimestamp(t *testing.T) {
	// Magic v0 batches carry NoTimestamp (-1): the time index stays empty.
	idx := newTimeIndex(t, 12*10)
	mustMaybeAppend(t, idx, NoTimestamp, testBase+1)
	mustMaybeAppend(t, idx, -5, testBase+2)
	if idx.Entries() != 0 {
		t.Fatalf("entries = %d, want 0", idx.Entries())
	}
	if ts, off := idx.LastEntry(); ts != NoTimestamp || off != testBase {
		t.Fatalf("LastEntry of empty index = (%d, %d), want (-1, base)", ts, off)
	}
	mustMaybeAppend(t, idx, 0, testBase+3)
	if idx.Entries() != 1 {
		t.Fatalf("timestamp 0 not appended")
	}
}

func TestTimeIndex_LookupReturnsLargestTimestampNotAbove(t *testing.T) {
	// 2000 entries, beyond the 682-entry warm tail.
	idx := newTimeIndex(t, 2001*12)
	for k := int64(0); k < 2000; k++ {
		mustMaybeAppend(t, idx, 1000+10*k, testBase+3*k)
	}
	cases := []struct {
		name   string
		target int64
		ts     int64
		off    int64
	}{
		{"below first timestamp", 999, NoTimestamp, testBase},
		{"far below", math.MinInt64, NoTimestamp, testBase},
		{"first exactly", 1000, 1000, testBase},
		{"between cold entries", 1015, 1010, testBase + 3},
		{"cold exactly", 1000 + 10*700, 1000 + 10*700, testBase + 3*700},
		{"last cold", 1000 + 10*1316, 1000 + 10*1316, testBase + 3*1316},
		{"first warm", 1000 + 10*1317, 1000 + 10*1317, testBase + 3*1317},
		{"between warm entries", 1000 + 10*1900 + 5, 1000 + 10*1900, testBase + 3*1900},
		{"above last", math.MaxInt64, 1000 + 10*1999, testBase + 3*1999},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, off := idx.Lookup(c.target)
			if ts != c.ts || off != c.off {
				t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", c.target, ts, off, c.ts, c.off)
			}
		})
	}
}

func TestTimeIndex_TruncateToDropsEntriesAtOrAboveOffset(t *testing.T) {
	build := func(t *testing.T) *TimeIndex {
		idx := newTimeIndex(t, 12*10)
		// Offsets 10, 20, 20, 30: two entries share offset 20 (same offset, larger timestamp).
		mustMaybeAppend(t, idx, 100, testBase+10)
		mustMaybeAppend(t, idx, 200, testBase+20)
		mustMaybeAppend(t, idx, 300, testBase+20)
		mustMaybeAppend(t, idx, 400, testBase+30)
		return idx
	}
	cases := []struct {
		name       string
		truncateTo int64
		want       int
		wantTs     int64
	}{
		{"below first drops all", testBase + 1, 0, NoTimestamp},
		{"at shared offset drops every entry with it", testBase + 20, 1, 100},
		{"between keeps lower", testBase + 25, 3, 300},
		{"above last keeps all", testBase + 31, 4, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := build(t)
			if err := idx.TruncateTo(c.truncateTo); err != nil {
				t.Fatal(err)
			}
			if ts, _ := idx.LastEntry(); idx.Entries() != c.want || ts != c.wantTs {
				t.Fatalf("entries=%d last ts=%d, want %d %d", idx.Entries(), ts, c.want, c.wantTs)
			}
			if err := idx.SanityCheck(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTimeIndex_TrimOnCloseThenReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.timeindex")
	idx, err := OpenTimeIndex(path, testBase, 1200)
	if err != nil {
		t.Fatal(err)
	}
	for k := int64(1); k <= 10; k++ {
		mustMaybeAppend(t, idx, 1000*k, testBase+k)
	}
	if err := idx.MaybeAppend(20000, testBase+15, true); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != 11*12 {
		t.Fatalf("size after Close = %d, want %d", got, 11*12)
	}
	idx, err = OpenTimeIndex(path, testBase, 1200)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	if idx.Entries() != 11 || idx.MaxEntries() != 11 || !idx.IsFull() {
		t.Fatalf("entries=%d max=%d full=%v, want 11 11 true", idx.Entries(), idx.MaxEntries(), idx.IsFull())
	}
	if ts, off := idx.LastEntry(); ts != 20000 || off != testBase+15 {
		t.Fatalf("LastEntry = (%d, %d)", ts, off)
	}
	if ts, off := idx.Entry(4); ts != 5000 || off != testBase+5 {
		t.Fatalf("Entry(4) = (%d, %d)", ts, off)
	}
	if ts, off := idx.Lookup(5500); ts != 5000 || off != testBase+5 {
		t.Fatalf("Lookup(5500) = (%d, %d)", ts, off)
	}
	if err := idx.Resize(1200); err != nil {
		t.Fatal(err)
	}
	mustMaybeAppend(t, idx, 30000, testBase+20)
}

func TestTimeIndex_ResetKeepsPreallocation(t *testing.T) {
	idx := newTimeIndex(t, 120)
	mustMaybeAppend(t, idx, 5, testBase+1)
	if err := idx.TrimToValidSize(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Reset(); err != nil {
		t.Fatal(err)
	}
	if idx.Entries() != 0 || idx.MaxEntries() != 10 || fileSize(t, idx.Path()) != 120 {
		t.Fatalf("entries=%d max=%d size=%d", idx.Entries(), idx.MaxEntries(), fileSize(t, idx.Path()))
	}
	mustMaybeAppend(t, idx, 1, testBase)
}

func TestTimeIndex_RenameThenDelete(t *testing.T) {
	idx := newTimeIndex(t, 120)
	mustMaybeAppend(t, idx, 5, testBase+1)
	newPath := idx.Path() + ".deleted"
	if err := idx.Rename(newPath); err != nil {
		t.Fatal(err)
	}
	mustMaybeAppend(t, idx, 6, testBase+2)
	if ts, _ := idx.Lookup(100); ts != 6 {
		t.Fatalf("Lookup after rename = %d", ts)
	}
	if err := idx.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(newPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there: %v", err)
	}
}

func TestTimeIndex_ZeroMaxIndexSizeHasNoSlots(t *testing.T) {
	idx := newTimeIndex(t, 11)
	if idx.MaxEntries() != 0 || !idx.IsFull() {
		t.Fatalf("max=%d full=%v", idx.MaxEntries(), idx.IsFull())
	}
	if err := idx.MaybeAppend(5, testBase, true); !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	if ts, off := idx.Lookup(5); ts != NoTimestamp || off != testBase {
		t.Fatalf("Lookup = (%d, %d)", ts, off)
	}
}

func timeEntries(entries ...[2]int64) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e[0]))
		b = binary.BigEndian.AppendUint32(b, uint32(int32(e[1])))
	}
	return b
}

func TestTimeIndex_SanityCheck(t *testing.T) {
	valid := timeEntries([2]int64{1000, 3}, [2]int64{2000, 9}, [2]int64{3000, 9}, [2]int64{4000, 21})
	cases := []struct {
		name    string
		raw     []byte
		corrupt bool
	}{
		{"empty file", nil, false},
		{"valid entries", valid, false},
		// Kafka's rules.
		{"length not a multiple of 12", valid[:40], true},
		{"last timestamp below first", timeEntries([2]int64{5000, 1}, [2]int64{4000, 2}), true},
		{"last offset below base offset", timeEntries([2]int64{1000, 1}, [2]int64{2000, -1}), true},
		// F14 zero-filled .timeindex: Kafka's checks pass it (last ts 0 == first ts 0, last offset ==
		// base); the ordering check does not.
		{"zero-filled, two entries", make([]byte, 24), true},
		{"zero-filled, as long as the real file", make([]byte, len(valid)), true},
		{"untrimmed after crash: zero tail", append(bytes.Clone(valid), make([]byte, 36)...), true},
		// Ours: ordering over every entry.
		{"timestamps not increasing in the middle", timeEntries([2]int64{1000, 1}, [2]int64{900, 2}, [2]int64{2000, 3}), true},
		{"offsets decreasing", timeEntries([2]int64{1000, 5}, [2]int64{2000, 4}, [2]int64{3000, 6}), true},
		{"first timestamp is NoTimestamp", timeEntries([2]int64{-1, 1}), true},
		// Not detectable: one zero entry looks like timestamp 0 at the base offset.
		{"zero-filled, one entry", make([]byte, 12), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "raw.timeindex")
			if err := os.WriteFile(path, c.raw, 0o644); err != nil {
				t.Fatal(err)
			}
			idx, err := OpenTimeIndex(path, testBase, 1200)
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Close()
			err = idx.SanityCheck()
			if c.corrupt && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("SanityCheck = %v, want ErrCorrupt", err)
			}
			if !c.corrupt && err != nil {
				t.Fatalf("SanityCheck = %v, want nil (not detectable here; recovery covers it)", err)
			}
		})
	}
}

func TestTimeIndex_ConcurrentLookupDuringAppend(t *testing.T) {
	const n = 20000
	idx := newTimeIndex(t, (n+1)*12)
	// Entry k: timestamp 10k+5, offset base+3k; a torn read would break the relation.
	offOf := func(ts int64) int64 { return testBase + 3*((ts-5)/10) }

	var done atomic.Bool
	var seen atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			x := seed
			lastSeen := NoTimestamp
			for !done.Load() {
				x = x*6364136223846793005 + 1442695040888963407
				target := int64(x>>40) % (12 * n)
				ts, off := idx.Lookup(target)
				if ts > target || (ts != NoTimestamp && off != offOf(ts)) || (ts == NoTimestamp && off != testBase) {
					errs <- fmt.Errorf("Lookup(%d) = (%d, %d): torn or wrong entry", target, ts, off)
					return
				}
				lts, loff := idx.LastEntry()
				if lts < lastSeen || (lts != NoTimestamp && loff != offOf(lts)) {
					errs <- fmt.Errorf("LastEntry = (%d, %d) after seeing %d", lts, loff, lastSeen)
					return
				}
				lastSeen = lts
				seen.Store(int64(idx.Entries()))
			}
		}(uint64(r + 1))
	}
	for k := int64(0); k < n; k++ {
		if err := idx.MaybeAppend(10*k+5, testBase+3*k, false); err != nil {
			t.Fatal(err)
		}
		if k == n/2 {
			waitReadersOverlap(t, &seen)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
