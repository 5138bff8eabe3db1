package index

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// warmBytes is the size of the tail of an index that Kafka's AbstractIndex searches first (8192 bytes:
// 1024 offset entries, 682 time entries). Appends and most lookups (consumers near the end of the log)
// touch only these pages, so they stay in the page cache; a plain binary search over the whole file
// would touch a page per step, evicting and faulting pages all over the file.
const warmBytes = 8192

// mmapFile is the part shared by the offset and time index (Kafka's AbstractIndex): a file of fixed-size
// entries, memory-mapped read-write and shared, with a count of the valid entries kept in memory.
//
// Concurrency: one writer (serialised by the Log's lock) calls every method; readers call only the
// read paths (Entries, entry parsing, lookups). The writer fills an entry's bytes first and then publishes
// the new count with an atomic store, so a reader that loads the count sees complete entries only.
// Methods that replace or unmap data (resize, trim, close, delete, truncate) require that no reader uses
// this index at the same time: the Log excludes readers with its segment RWMutex.
type mmapFile struct {
	path         string // writer-owned; changed by Rename
	baseOffset   int64
	maxIndexSize int // segment.index.bytes as given at open; Reset resizes back to it
	entrySize    int
	warmEntries  int

	data    []byte       // the whole mapping, len == file length; nil when the file is empty
	entries atomic.Int64 // valid entries; stored after their bytes are written
	closed  bool         // writer-owned
}

func openMmapFile(path string, baseOffset int64, maxIndexSize, entrySize int) (*mmapFile, error) {
	if maxIndexSize < 0 {
		return nil, fmt.Errorf("open index %s: negative max index size %d", path, maxIndexSize)
	}
	m := &mmapFile{
		path:         path,
		baseOffset:   baseOffset,
		maxIndexSize: maxIndexSize,
		entrySize:    entrySize,
		warmEntries:  warmBytes / entrySize,
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	switch {
	case err == nil:
		// Newly created: preallocate to the maximum size, like Kafka. Existing files are used at
		// their current length (see below).
		size := roundDown(maxIndexSize, entrySize)
		err = growFile(f, size)
		if err == nil {
			m.data, err = mapFile(f, size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path) // do not leave a half-made file that a restart would read as trimmed
			return nil, fmt.Errorf("create index %s: %w", path, err)
		}
		return m, nil
	case errors.Is(err, fs.ErrExist):
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open index %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("create index %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	// Kafka's sizes are Java ints; a longer file cannot be an index we wrote.
	if st.Size() > math.MaxInt32 {
		return nil, fmt.Errorf("open index %s: length %d: %w", path, st.Size(), ErrCorrupt)
	}
	// An existing file is assumed trimmed (Kafka): every whole entry in it is valid, and it has no free
	// slot until Resize. A file left untrimmed by a crash is caught by SanityCheck or by recovery.
	size := int(st.Size())
	if m.data, err = mapFile(f, size); err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	m.entries.Store(int64(size / entrySize))
	return m, nil
}

// mapFile maps the first size bytes of f. mmap rejects a length of 0, so an empty file has no mapping
// and every method treats nil data as zero capacity.
func mapFile(f *os.File, size int) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	return b, nil
}

func unmap(b []byte) error {
	if b == nil {
		return nil
	}
	if err := unix.Munmap(b); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return nil
}

func roundDown(n, factor int) int { return n / factor * factor }

func (m *mmapFile) numEntries() int { return int(m.entries.Load()) }

func (m *mmapFile) maxEntries() int { return len(m.data) / m.entrySize }

// resize changes the file length and mapping to newSize rounded down to the entry size. Growing
// (re-preallocating the active segment's index after load) reserves the blocks first so that a full disk
// fails here instead of raising SIGBUS on a later store into the mapping; shrinking maps the smaller
// length before cutting the file so that the index stays usable if a step fails.
func (m *mmapFile) resize(newSize int) error {
	if m.closed {
		return fmt.Errorf("resize index %s: %w", m.path, ErrClosed)
	}
	if newSize < 0 {
		return fmt.Errorf("resize index %s: negative size %d", m.path, newSize)
	}
	size := roundDown(newSize, m.entrySize)
	if size == len(m.data) {
		return nil
	}
	if valid := m.numEntries() * m.entrySize; size < valid {
		return fmt.Errorf("resize index %s to %d bytes: below the %d bytes of valid entries", m.path, size, valid)
	}
	f, err := os.OpenFile(m.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("resize index %s: %w", m.path, err)
	}
	defer f.Close()
	old := m.data
	if size > len(old) {
		if err := growFile(f, size); err != nil {
			_ = f.Truncate(int64(len(old)))
			return fmt.Errorf("resize index %s to %d bytes: %w", m.path, size, err)
		}
		data, err := mapFile(f, size)
		if err != nil {
			_ = f.Truncate(int64(len(old)))
			return fmt.Errorf("resize index %s to %d bytes: %w", m.path, size, err)
		}
		m.data = data
		return unmap(old)
	}
	data, err := mapFile(f, size)
	if err != nil {
		return fmt.Errorf("resize index %s to %d bytes: %w", m.path, size, err)
	}
	m.data = data
	if err := unmap(old); err != nil {
		return err
	}
	if err := f.Truncate(int64(size)); err != nil {
		// The index works on the smaller mapping; a longer file only has zero or stale entries past
		// the valid ones, which a reopen after a crash would flag in SanityCheck.
		return fmt.Errorf("trim index %s to %d bytes: %w", m.path, size, err)
	}
	return nil
}

// truncateToEntries drops every entry from slot n on. The dropped bytes are zeroed, which Kafka does not
// do: then an index left untrimmed by a crash ends in zero entries, which break the ordering SanityCheck
// verifies, instead of in stale entries that might look valid.
func (m *mmapFile) truncateToEntries(n int) {
	old := m.numEntries()
	if n >= old {
		return
	}
	m.entries.Store(int64(n))
	clear(m.data[n*m.entrySize : old*m.entrySize])
}

func (m *mmapFile) trimToValidSize() error {
	return m.resize(m.numEntries() * m.entrySize)
}

func (m *mmapFile) reset() error {
	if m.closed {
		return fmt.Errorf("reset index %s: %w", m.path, ErrClosed)
	}
	m.truncateToEntries(0)
	return m.resize(m.maxIndexSize)
}

func (m *mmapFile) flush() error {
	if m.closed {
		return fmt.Errorf("flush index %s: %w", m.path, ErrClosed)
	}
	if m.data == nil {
		return nil
	}
	if err := unix.Msync(m.data, unix.MS_SYNC); err != nil {
		return fmt.Errorf("flush index %s: %w", m.path, err)
	}
	return nil
}

// close trims the file to its valid entries (Kafka's close) and unmaps it. A second close is a no-op.
// The entry count drops to 0 so that a stray lookup after close answers "empty" instead of touching
// unmapped memory.
func (m *mmapFile) close() error {
	if m.closed {
		return nil
	}
	err := m.trimToValidSize()
	m.closed = true
	m.entries.Store(0)
	if uerr := unmap(m.data); err == nil {
		err = uerr
	}
	m.data = nil
	return err
}

// delete unmaps without trimming and removes the file; a file already gone is not an error
// (Kafka's deleteIfExists).
func (m *mmapFile) delete() error {
	var err error
	if !m.closed {
		m.closed = true
		m.entries.Store(0)
		err = unmap(m.data)
		m.data = nil
	}
	if rerr := os.Remove(m.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = fmt.Errorf("delete index %s: %w", m.path, rerr)
	}
	return err
}

// rename moves the file (for the .deleted and .swap suffixes). The mapping belongs to the inode, not
// the name, so it stays valid; later resizes reopen the file by its new path.
func (m *mmapFile) rename(newPath string) error {
	if err := os.Rename(m.path, newPath); err != nil {
		return fmt.Errorf("rename index %s: %w", m.path, err)
	}
	m.path = newPath
	return nil
}

// largestLowerBound returns the largest slot in [0, n) whose key is <= target, or -1 if there is none.
// Keys must be non-decreasing for a meaningful answer; on a corrupt index it still returns a slot in
// range. Like Kafka's AbstractIndex.indexSlotRangeFor it tries the warm tail first.
func largestLowerBound(n, warm int, key func(slot int) int64, target int64) int {
	if n == 0 {
		return -1
	}
	lo, hi := 0, n-1
	if hot := n - 1 - warm; hot > 0 && key(hot) <= target {
		lo = hot
	} else {
		if key(0) > target {
			return -1
		}
		if hot > 0 {
			hi = hot - 1
		}
	}
	// Invariant: key(lo) <= target, and every slot above hi is > target (or outside the search).
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if key(mid) <= target {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// firstSlotAtOrAbove returns the smallest slot in [0, n) whose key is >= target, or n.
func firstSlotAtOrAbove(n int, key func(slot int) int64, target int64) int {
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if key(mid) < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// relativeTarget returns target-base, saturated instead of wrapped, so that lookups for targets near
// math.MinInt64 or math.MaxInt64 compare correctly against relative offsets.
func relativeTarget(target, base int64) int64 {
	r := target - base
	if (target < 0) != (base < 0) && (r < 0) != (target < 0) {
		if target < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return r
}
