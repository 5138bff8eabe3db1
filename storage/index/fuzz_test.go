package index

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzIndexOpen writes arbitrary bytes as an .index and a .timeindex file and drives both through the
// recovery-time paths: open, SanityCheck, lookups, entries, truncation, reset and append. None may
// panic, whatever the file holds; a file that passes SanityCheck must answer lookups with entries that
// are not above the target.
func FuzzIndexOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add(offsetEntries([2]int32{3, 4100}, [2]int32{9, 8300}))
	f.Add(make([]byte, 24))
	f.Add(append(offsetEntries([2]int32{1, 1}), 0xde, 0xad))
	f.Add(timeEntries([2]int64{1000, 3}, [2]int64{2000, 9}))
	f.Add(bytes.Repeat([]byte{0xff}, 48))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		base := int64(100)
		if len(data) >= 2 {
			base = int64(binary.BigEndian.Uint16(data)) // vary the base offset too
		}
		targets := []int64{-1 << 63, -1, 0, base, base + 1, base + 1<<20, 1<<63 - 1}
		for k := 0; k+8 <= len(data) && k < 64; k += 8 {
			targets = append(targets, int64(binary.BigEndian.Uint64(data[k:])))
		}

		path := filepath.Join(dir, "f.index")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		oi, err := OpenOffsetIndex(path, base, 256)
		if err != nil {
			t.Fatal(err)
		}
		valid := oi.SanityCheck() == nil
		for _, target := range targets {
			off, _ := oi.Lookup(target)
			if valid && off > target && off != base {
				t.Fatalf("offset index Lookup(%d) = %d on a sane index", target, off)
			}
		}
		for n := 0; n < oi.Entries(); n++ {
			oi.Entry(n)
		}
		_ = oi.LastOffset()
		_ = oi.TruncateTo(targets[len(targets)-1])
		_ = oi.Resize(512)
		_ = oi.Append(oi.LastOffset()+1, 1<<30)
		_ = oi.Reset()
		_ = oi.Append(base, 0)
		if err := oi.Close(); err != nil {
			t.Fatal(err)
		}

		path = filepath.Join(dir, "f.timeindex")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ti, err := OpenTimeIndex(path, base, 240)
		if err != nil {
			t.Fatal(err)
		}
		valid = ti.SanityCheck() == nil
		for _, target := range targets {
			ts, _ := ti.Lookup(target)
			if valid && ts > target && ts != NoTimestamp {
				t.Fatalf("time index Lookup(%d) = %d on a sane index", target, ts)
			}
		}
		for n := 0; n < ti.Entries(); n++ {
			ti.Entry(n)
		}
		_, lastOff := ti.LastEntry()
		_ = ti.TruncateTo(targets[len(targets)-1])
		_ = ti.Resize(480)
		_ = ti.MaybeAppend(1<<62, lastOff+1, true)
		_ = ti.Reset()
		_ = ti.MaybeAppend(0, base, false)
		if err := ti.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
