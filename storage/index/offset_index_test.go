package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testBase = 1000

func newOffsetIndex(t testing.TB, maxIndexSize int) *OffsetIndex {
	t.Helper()
	idx, err := OpenOffsetIndex(filepath.Join(t.TempDir(), "00000000000000001000.index"), testBase, maxIndexSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func mustAppend(t testing.TB, idx *OffsetIndex, offset int64, position int32) {
	t.Helper()
	if err := idx.Append(offset, position); err != nil {
		t.Fatalf("Append(%d, %d): %v", offset, position, err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func TestOffsetIndex_NewFileIsPreallocatedToMaxIndexSizeRoundedDown(t *testing.T) {
	idx := newOffsetIndex(t, 1003)
	if got := fileSize(t, idx.Path()); got != 1000 {
		t.Fatalf("file size = %d, want 1000", got)
	}
	if idx.MaxEntries() != 125 || idx.Entries() != 0 || idx.IsFull() {
		t.Fatalf("max=%d entries=%d full=%v, want 125 0 false", idx.MaxEntries(), idx.Entries(), idx.IsFull())
	}
	if idx.LastOffset() != testBase {
		t.Fatalf("LastOffset of empty index = %d, want base %d", idx.LastOffset(), testBase)
	}
}

func TestOffsetIndex_FileLayoutIsBigEndianRelativeOffsetThenPosition(t *testing.T) {
	idx := newOffsetIndex(t, 64)
	mustAppend(t, idx, testBase+1, 0x0102)
	mustAppend(t, idx, testBase+0x01020304, 0x7f000001)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(idx.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02,
		0x01, 0x02, 0x03, 0x04, 0x7f, 0x00, 0x00, 0x01,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file = % x\nwant   % x", got, want)
	}
}

func TestOffsetIndex_LookupReturnsLargestEntryNotAbove(t *testing.T) {
	// 3000 entries, so targets fall both in the warm tail (last 1024 entries) and in the cold head.
	idx := newOffsetIndex(t, 3000*8)
	for k := int64(0); k < 3000; k++ {
		mustAppend(t, idx, testBase+10+10*k, int32(100*k))
	}
	cases := []struct {
		name   string
		target int64
		off    int64
		pos    int32
	}{
		{"below base offset", 5, testBase, 0},
		{"base offset, below first entry", testBase, testBase, 0},
		{"just below first entry", testBase + 9, testBase, 0},
		{"first entry exactly", testBase + 10, testBase + 10, 0},
		{"between cold entries", testBase + 15, testBase + 10, 0},
		{"cold entry exactly", testBase + 10 + 10*500, testBase + 10 + 10*500, 50000},
		{"last cold entry", testBase + 10 + 10*1974, testBase + 10 + 10*1974, 197400},
		{"first warm entry", testBase + 10 + 10*1975, testBase + 10 + 10*1975, 197500},
		{"between warm entries", testBase + 10 + 10*2500 + 9, testBase + 10 + 10*2500, 250000},
		{"last entry exactly", testBase + 10 + 10*2999, testBase + 10 + 10*2999, 299900},
		{"above last entry", testBase + 1e6, testBase + 10 + 10*2999, 299900},
		{"far above int32 range", math.MaxInt64, testBase + 10 + 10*2999, 299900},
		{"far below", math.MinInt64, testBase, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			off, pos := idx.Lookup(c.target)
			if off != c.off || pos != c.pos {
				t.Fatalf("Lookup(%d) = (%d, %d), want (%d, %d)", c.target, off, pos, c.off, c.pos)
			}
		})
	}
}

func TestOffsetIndex_LookupMatchesLinearScanAtEverySize(t *testing.T) {
	// Sizes around the warm-section boundary (1024 entries) exercise both search paths.
	for _, n := range []int{0, 1, 2, 1024, 1025, 1026, 2050} {
		idx := newOffsetIndex(t, n*8)
		for k := 0; k < n; k++ {
			mustAppend(t, idx, testBase+int64(3*k+1), int32(k))
		}
		for target := int64(testBase - 1); target <= testBase+int64(3*n+2); target++ {
			wantOff, wantPos := int64(testBase), int32(0)
			for k := 0; k < n; k++ {
				if o := testBase + int64(3*k+1); o <= target {
					wantOff, wantPos = o, int32(k)
				}
			}
			if off, pos := idx.Lookup(target); off != wantOff || pos != wantPos {
				t.Fatalf("n=%d: Lookup(%d) = (%d, %d), want (%d, %d)", n, target, off, pos, wantOff, wantPos)
			}
		}
	}
}

func TestOffsetIndex_AppendRequiresStrictlyIncreasingOffset(t *testing.T) {
	idx := newOffsetIndex(t, 80)
	mustAppend(t, idx, testBase+5, 100)
	for _, off := range []int64{testBase + 5, testBase + 4} {
		if err := idx.Append(off, 200); !errors.Is(err, ErrInvalidEntry) {
			t.Fatalf("Append(%d) after %d: err = %v, want ErrInvalidEntry", off, testBase+5, err)
		}
	}
	if idx.Entries() != 1 {
		t.Fatalf("entries = %d after rejected appends, want 1", idx.Entries())
	}
	mustAppend(t, idx, testBase+6, 200)
}

func TestOffsetIndex_AppendRejectsNegativeOrDecreasingPosition(t *testing.T) {
	idx := newOffsetIndex(t, 80)
	if err := idx.Append(testBase+1, -1); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("negative position: err = %v, want ErrInvalidEntry", err)
	}
	mustAppend(t, idx, testBase+1, 500)
	if err := idx.Append(testBase+2, 499); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("decreasing position: err = %v, want ErrInvalidEntry", err)
	}
}

func TestOffsetIndex_AppendRejectsRelativeOffsetOverflow(t *testing.T) {
	idx := newOffsetIndex(t, 80)
	if err := idx.Append(testBase-1, 0); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("offset below base: err = %v, want ErrOffsetOverflow", err)
	}
	if err := idx.Append(testBase+math.MaxInt32+1, 0); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("relative offset MaxInt32+1: err = %v, want ErrOffsetOverflow", err)
	}
	mustAppend(t, idx, testBase+math.MaxInt32, 0)
	if off, _ := idx.Lookup(math.MaxInt64); off != testBase+math.MaxInt32 {
		t.Fatalf("Lookup = %d, want %d", off, int64(testBase+math.MaxInt32))
	}
}

func TestOffsetIndex_AppendReturnsErrFullAtMaxEntries(t *testing.T) {
	idx := newOffsetIndex(t, 3*8)
	for k := int64(1); k <= 3; k++ {
		if idx.IsFull() {
			t.Fatalf("full after %d entries of 3", k-1)
		}
		mustAppend(t, idx, testBase+k, int32(k))
	}
	if !idx.IsFull() {
		t.Fatal("not full at MaxEntries")
	}
	if err := idx.Append(testBase+4, 4); !errors.Is(err, ErrFull) {
		t.Fatalf("err = %v, want ErrFull", err)
	}
}

func TestOffsetIndex_ReopenedFileIsTrimmedLength(t *testing.T) {
	// Kafka assumes an existing file is trimmed: entries = length/8, and no free slot until Resize.
	path := filepath.Join(t.TempDir(), "x.index")
	idx, err := OpenOffsetIndex(path, testBase, 1024)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, idx, testBase+3, 30)
	mustAppend(t, idx, testBase+7, 70)
	if err := idx.TrimToValidSize(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != 16 {
		t.Fatalf("trimmed size = %d, want 16", got)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	idx, err = OpenOffsetIndex(path, testBase, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if idx.Entries() != 2 || idx.MaxEntries() != 2 || !idx.IsFull() || idx.LastOffset() != testBase+7 {
		t.Fatalf("entries=%d max=%d full=%v last=%d, want 2 2 true %d",
			idx.Entries(), idx.MaxEntries(), idx.IsFull(), idx.LastOffset(), testBase+7)
	}
	if err := idx.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Append(testBase+9, 90); !errors.Is(err, ErrFull) {
		t.Fatalf("append before Resize: err = %v, want ErrFull", err)
	}
	if err := idx.Resize(1024); err != nil {
		t.Fatal(err)
	}
	if idx.MaxEntries() != 128 || fileSize(t, path) != 1024 {
		t.Fatalf("after Resize: max=%d size=%d, want 128 1024", idx.MaxEntries(), fileSize(t, path))
	}
	mustAppend(t, idx, testBase+9, 90)
	if off, pos := idx.Lookup(testBase + 8); off != testBase+7 || pos != 70 {
		t.Fatalf("Lookup after Resize = (%d, %d), want (%d, 70)", off, pos, testBase+7)
	}
}

func TestOffsetIndex_TrimOnCloseThenReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.index")
	idx, err := OpenOffsetIndex(path, testBase, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != 10<<20 {
		t.Fatalf("preallocated size = %d, want %d", got, 10<<20)
	}
	for k := int64(1); k <= 100; k++ {
		mustAppend(t, idx, testBase+k*4, int32(k*4096))
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != 800 {
		t.Fatalf("size after Close = %d, want 800", got)
	}
	if err := idx.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := idx.Append(testBase+1000, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: err = %v, want ErrClosed", err)
	}
	if off, pos := idx.Lookup(testBase + 50); off != testBase || pos != 0 {
		t.Fatalf("Lookup after Close = (%d, %d), want the empty answer", off, pos)
	}

	idx, err = OpenOffsetIndex(path, testBase, 10<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if idx.Entries() != 100 {
		t.Fatalf("entries after reopen = %d, want 100", idx.Entries())
	}
	for k := int64(1); k <= 100; k++ {
		if off, pos := idx.Entry(int(k - 1)); off != testBase+k*4 || pos != int32(k*4096) {
			t.Fatalf("Entry(%d) = (%d, %d)", k-1, off, pos)
		}
	}
	if off, pos := idx.Lookup(testBase + 202); off != testBase+200 || pos != 50*4096 {
		t.Fatalf("Lookup = (%d, %d)", off, pos)
	}
}

func TestOffsetIndex_TruncateToDropsEntriesAtOrAboveOffset(t *testing.T) {
	cases := []struct {
		name        string
		truncateTo  int64
		wantEntries int
	}{
		{"below first entry drops all", testBase + 5, 0},
		{"at first entry drops all", testBase + 10, 0},
		{"between entries keeps lower", testBase + 25, 2},
		{"at an entry drops it", testBase + 30, 2},
		{"above last entry keeps all", testBase + 1000, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			idx := newOffsetIndex(t, 10*8)
			for k := int64(1); k <= 5; k++ {
				mustAppend(t, idx, testBase+10*k, int32(k))
			}
			if err := idx.TruncateTo(c.truncateTo); err != nil {
				t.Fatal(err)
			}
			if idx.Entries() != c.wantEntries {
				t.Fatalf("entries = %d, want %d", idx.Entries(), c.wantEntries)
			}
			wantLast := int64(testBase + 10*c.wantEntries)
			if idx.LastOffset() != wantLast {
				t.Fatalf("LastOffset = %d, want %d", idx.LastOffset(), wantLast)
			}
			// The dropped slots are zeroed and reusable from the truncation offset on.
			mustAppend(t, idx, max(c.truncateTo, testBase+10*int64(c.wantEntries)+1), int32(c.wantEntries+1))
			if err := idx.SanityCheck(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOffsetIndex_ResetKeepsPreallocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.index")
	idx, err := OpenOffsetIndex(path, testBase, 4096)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, idx, testBase+1, 1)
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened: trimmed to 8 bytes. Reset (before recovery rebuilds it) must drop the entry and give
	// back the full maxIndexSize, as Kafka's reset does.
	idx, err = OpenOffsetIndex(path, testBase, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if err := idx.Reset(); err != nil {
		t.Fatal(err)
	}
	if idx.Entries() != 0 || idx.MaxEntries() != 512 || fileSize(t, path) != 4096 {
		t.Fatalf("entries=%d max=%d size=%d, want 0 512 4096", idx.Entries(), idx.MaxEntries(), fileSize(t, path))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, make([]byte, 4096)) {
		t.Fatal("reset file is not all zeros")
	}
	mustAppend(t, idx, testBase, 0)
}

func TestOffsetIndex_ResizeRefusesToDropValidEntries(t *testing.T) {
	idx := newOffsetIndex(t, 80)
	mustAppend(t, idx, testBase+1, 1)
	mustAppend(t, idx, testBase+2, 2)
	if err := idx.Resize(15); err == nil {
		t.Fatal("Resize below the valid entries succeeded")
	}
	if err := idx.Resize(23); err != nil { // rounds down to 16 = exactly the valid entries
		t.Fatal(err)
	}
	if idx.MaxEntries() != 2 || fileSize(t, idx.Path()) != 16 {
		t.Fatalf("max=%d size=%d, want 2 16", idx.MaxEntries(), fileSize(t, idx.Path()))
	}
	if off, _ := idx.Lookup(testBase + 2); off != testBase+2 {
		t.Fatalf("Lookup after shrink = %d", off)
	}
}

func TestOffsetIndex_RenameKeepsMappingUsable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "00000000000000001000.index")
	idx, err := OpenOffsetIndex(path, testBase, 800)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, idx, testBase+1, 10)
	for _, suffix := range []string{".swap", ".deleted"} {
		if err := idx.Rename(path + suffix); err != nil {
			t.Fatal(err)
		}
		path += suffix
		if idx.Path() != path {
			t.Fatalf("Path = %s, want %s", idx.Path(), path)
		}
	}
	mustAppend(t, idx, testBase+2, 20)
	if off, pos := idx.Lookup(testBase + 5); off != testBase+2 || pos != 20 {
		t.Fatalf("Lookup after rename = (%d, %d)", off, pos)
	}
	if err := idx.Resize(1600); err != nil { // reopens by the new name
		t.Fatal(err)
	}
	if err := idx.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path); got != 16 {
		t.Fatalf("size of renamed file after Close = %d, want 16", got)
	}
	if err := idx.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after Delete: %v", err)
	}
	if err := idx.Delete(); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestOffsetIndex_DeleteOpenIndexRemovesFile(t *testing.T) {
	idx := newOffsetIndex(t, 800)
	mustAppend(t, idx, testBase+1, 10)
	if err := idx.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(idx.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file still there after Delete: %v", err)
	}
	if err := idx.Append(testBase+2, 20); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Delete: err = %v, want ErrClosed", err)
	}
}

func TestOffsetIndex_ZeroMaxIndexSizeHasNoSlots(t *testing.T) {
	for _, size := range []int{0, 7} {
		idx := newOffsetIndex(t, size)
		if fileSize(t, idx.Path()) != 0 || idx.MaxEntries() != 0 || !idx.IsFull() {
			t.Fatalf("size %d: file=%d max=%d full=%v", size, fileSize(t, idx.Path()), idx.MaxEntries(), idx.IsFull())
		}
		if err := idx.Append(testBase, 0); !errors.Is(err, ErrFull) {
			t.Fatalf("size %d: err = %v, want ErrFull", size, err)
		}
		if off, pos := idx.Lookup(testBase + 10); off != testBase || pos != 0 {
			t.Fatalf("Lookup = (%d, %d)", off, pos)
		}
		for _, op := range []func() error{idx.SanityCheck, idx.Flush, idx.TrimToValidSize, idx.Reset} {
			if err := op(); err != nil {
				t.Fatal(err)
			}
		}
		if err := idx.Resize(16); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, idx, testBase, 0)
		if err := idx.Resize(0); err == nil {
			t.Fatal("Resize(0) with one entry succeeded")
		}
		if err := idx.TruncateTo(testBase); err != nil {
			t.Fatal(err)
		}
		if err := idx.Resize(0); err != nil {
			t.Fatal(err)
		}
		if idx.MaxEntries() != 0 {
			t.Fatalf("max after Resize(0) = %d", idx.MaxEntries())
		}
	}
}

func TestOffsetIndex_EmptyExistingFileOpensWithoutMapping(t *testing.T) {
	// A segment closed without index entries leaves a 0-byte file; mmap of length 0 would fail.
	path := filepath.Join(t.TempDir(), "x.index")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := OpenOffsetIndex(path, testBase, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	if idx.Entries() != 0 || idx.MaxEntries() != 0 || idx.SanityCheck() != nil {
		t.Fatalf("entries=%d max=%d sanity=%v", idx.Entries(), idx.MaxEntries(), idx.SanityCheck())
	}
	if err := idx.Resize(1024); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, idx, testBase+1, 1)
}

func TestOffsetIndex_EntryOutOfRangePanics(t *testing.T) {
	idx := newOffsetIndex(t, 80)
	mustAppend(t, idx, testBase+1, 1)
	for _, n := range []int{-1, 1, 9} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("Entry(%d) did not panic", n)
				}
			}()
			idx.Entry(n)
		}()
	}
}

// openRawOffsetIndex writes raw as a trimmed index file and opens it.
func openRawOffsetIndex(t *testing.T, raw []byte) *OffsetIndex {
	t.Helper()
	path := filepath.Join(t.TempDir(), "raw.index")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	idx, err := OpenOffsetIndex(path, testBase, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

func offsetEntries(entries ...[2]int32) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e[0]))
		b = binary.BigEndian.AppendUint32(b, uint32(e[1]))
	}
	return b
}

func TestOffsetIndex_SanityCheck(t *testing.T) {
	valid := offsetEntries([2]int32{3, 4100}, [2]int32{9, 8300}, [2]int32{15, 12500}, [2]int32{21, 16700})
	garble := func(at int, b0, b1 byte) []byte {
		raw := bytes.Clone(valid)
		raw[at], raw[at+1] = b0, b1
		return raw
	}
	cases := []struct {
		name    string
		raw     []byte
		corrupt bool
	}{
		{"empty file", nil, false},
		{"valid entries", valid, false},
		// Kafka's rules.
		{"length not a multiple of 8", valid[:30], true},
		{"two garbage bytes appended", append(bytes.Clone(valid), 0xde, 0xad), true},
		{"last offset below base offset", offsetEntries([2]int32{3, 10}, [2]int32{-2, 20}), true},
		// Ours: ordering over every entry.
		{"offsets not increasing", offsetEntries([2]int32{3, 10}, [2]int32{3, 20}, [2]int32{5, 30}), true},
		{"first offset negative", offsetEntries([2]int32{-5, 10}, [2]int32{3, 20}), true},
		{"positions decreasing", offsetEntries([2]int32{3, 30}, [2]int32{5, 20}), true},
		{"negative position", offsetEntries([2]int32{3, -1}), true},
		{"zero-filled, two entries", make([]byte, 16), true},
		{"zero-filled, many entries", make([]byte, 8*1000), true},
		{"untrimmed after crash: zero tail", append(bytes.Clone(valid), make([]byte, 64)...), true},
		// F14 "two garbage bytes in an .index", overwriting in place (length unchanged).
		{"two garbage bytes: high bytes of a middle offset", garble(8, 0xff, 0xff), true},
		{"two garbage bytes: high bytes of the last offset", garble(24, 0x7f, 0x7f), false}, // a larger last entry keeps the order
		{"two garbage bytes: high bytes of a middle position", garble(12, 0x12, 0x34), true},
		{"two garbage bytes: low bytes of a middle position, still ordered", garble(14, 0x20, 0x00), false},
		// Not detectable: a single zero entry looks like offset base at position 0.
		{"zero-filled, one entry", make([]byte, 8), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := openRawOffsetIndex(t, c.raw).SanityCheck()
			if c.corrupt && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("SanityCheck = %v, want ErrCorrupt", err)
			}
			if !c.corrupt && err != nil {
				t.Fatalf("SanityCheck = %v, want nil (not detectable here; recovery covers it)", err)
			}
		})
	}
}

func TestOffsetIndex_ConcurrentLookupDuringAppend(t *testing.T) {
	// One writer appends while readers look up; every answer must be a whole entry (position derived
	// from offset), not above the target, and the newest answer must never go backwards.
	const n = 20000
	idx := newOffsetIndex(t, n*8)
	posOf := func(off int64) int32 { return int32((off - testBase) * 7) }

	var done atomic.Bool
	var seen atomic.Int64 // largest entry count a reader has observed
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			var lastSeen int64 = testBase
			x := uint64(seed)
			for !done.Load() {
				x = x*6364136223846793005 + 1442695040888963407
				target := testBase + int64(x>>40)%(3*n)
				off, pos := idx.Lookup(target)
				if off > target || (off != testBase && pos != posOf(off)) || (off == testBase && pos != 0) {
					errs <- fmt.Errorf("Lookup(%d) = (%d, %d): torn or wrong entry", target, off, pos)
					return
				}
				latest, _ := idx.Lookup(math.MaxInt64)
				if latest < lastSeen {
					errs <- fmt.Errorf("latest entry went back from %d to %d", lastSeen, latest)
					return
				}
				lastSeen = latest
				if e := idx.Entries(); e > 0 {
					seen.Store(int64(e))
					if off, pos := idx.Entry(e - 1); pos != posOf(off) {
						errs <- fmt.Errorf("Entry(%d) = (%d, %d): torn", e-1, off, pos)
						return
					}
				}
			}
		}(int64(r + 1))
	}
	for k := int64(1); k <= n; k++ {
		off := testBase + 2*k
		if err := idx.Append(off, posOf(off)); err != nil {
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
	if idx.Entries() != n {
		t.Fatalf("entries = %d, want %d", idx.Entries(), n)
	}
}

// waitReadersOverlap makes sure the readers of a concurrency test run while the writer is mid-way: it
// polls, with a deadline, until a reader has seen a non-empty index.
func waitReadersOverlap(t *testing.T, seen *atomic.Int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for seen.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("readers never observed the index while the writer appended")
		}
		runtime.Gosched()
	}
}
