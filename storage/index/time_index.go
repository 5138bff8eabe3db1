package index

import (
	"encoding/binary"
	"fmt"
	"math"
)

// timeEntrySize is the width of one .timeindex entry: int64 timestamp, int32 relative offset.
const timeEntrySize = 12

// NoTimestamp is Kafka's RecordBatch.NO_TIMESTAMP: the timestamp Lookup and LastEntry report when there
// is no entry, and the floor every first entry must be above.
const NoTimestamp int64 = -1

// TimeIndex maps timestamps to offsets (Kafka's TimeIndex). Entry (T, O) means the largest timestamp
// among the records up to and including offset O is T, so every record with a timestamp above T has an
// offset above O. See doc.go for the file format and the concurrency rules.
type TimeIndex struct {
	m *mmapFile
}

// OpenTimeIndex opens the index at path, creating it preallocated to maxIndexSize rounded down to a
// multiple of 12 when absent. An existing file is used at its length, every whole entry counting as valid.
func OpenTimeIndex(path string, baseOffset int64, maxIndexSize int) (*TimeIndex, error) {
	m, err := openMmapFile(path, baseOffset, maxIndexSize, timeEntrySize)
	if err != nil {
		return nil, err
	}
	return &TimeIndex{m: m}, nil
}

func (t *TimeIndex) timestamp(slot int) int64 {
	return int64(binary.BigEndian.Uint64(t.m.data[slot*timeEntrySize:]))
}

func (t *TimeIndex) relOffset(slot int) int32 {
	return int32(binary.BigEndian.Uint32(t.m.data[slot*timeEntrySize+8:]))
}

func (t *TimeIndex) relKey(slot int) int64 { return int64(t.relOffset(slot)) }

// lastEntry reads slot n-1 of an index with n entries, or (NoTimestamp, BaseOffset) when n is 0.
func (t *TimeIndex) lastEntry(n int) (timestamp, offset int64) {
	if n == 0 {
		return NoTimestamp, t.m.baseOffset
	}
	return t.timestamp(n - 1), t.m.baseOffset + int64(t.relOffset(n-1))
}

// MaybeAppend adds (timestamp, offset) if timestamp is above the last entry's timestamp (above
// NoTimestamp for an empty index, so magic-v0 data leaves the index empty); otherwise it does nothing
// and returns nil. The index counts as full at MaxEntries()-1: the last slot is kept for the entry the
// segment appends with skipFullCheck when it is rolled or closed.
//
// Errors: ErrFull (checked first, as Kafka does, unless skipFullCheck; with skipFullCheck only when no
// slot is left at all), ErrInvalidEntry when offset is below the last entry's offset (an equal offset is
// allowed), ErrOffsetOverflow. Kafka throws when timestamp is below the last one; we skip it, which
// only makes the index sparser (see doc.go). Writer only; safe against concurrent Lookup.
func (t *TimeIndex) MaybeAppend(timestamp, offset int64, skipFullCheck bool) error {
	m := t.m
	if m.closed {
		return fmt.Errorf("append to time index %s: %w", m.path, ErrClosed)
	}
	n := m.numEntries()
	if !skipFullCheck && n >= m.maxEntries()-1 {
		return fmt.Errorf("append timestamp %d to time index %s with %d entries: %w", timestamp, m.path, n, ErrFull)
	}
	lastTs, lastOff := t.lastEntry(n)
	if n > 0 && offset < lastOff {
		return fmt.Errorf("append offset %d to time index %s: below last offset %d: %w",
			offset, m.path, lastOff, ErrInvalidEntry)
	}
	if timestamp <= lastTs {
		return nil
	}
	if n >= m.maxEntries() {
		return fmt.Errorf("append timestamp %d to time index %s with %d entries: %w", timestamp, m.path, n, ErrFull)
	}
	rel := relativeTarget(offset, m.baseOffset)
	if rel < 0 || rel > math.MaxInt32 {
		return fmt.Errorf("append offset %d to time index %s with base offset %d: %w",
			offset, m.path, m.baseOffset, ErrOffsetOverflow)
	}
	b := m.data[n*timeEntrySize : (n+1)*timeEntrySize]
	binary.BigEndian.PutUint64(b[0:8], uint64(timestamp))
	binary.BigEndian.PutUint32(b[8:12], uint32(rel))
	m.entries.Store(int64(n + 1)) // publish only after the bytes are in place
	return nil
}

// Lookup returns the entry with the largest timestamp <= target, or (NoTimestamp, BaseOffset) when
// there is none. Safe concurrently with MaybeAppend.
func (t *TimeIndex) Lookup(target int64) (timestamp, offset int64) {
	n := t.m.numEntries()
	slot := largestLowerBound(n, t.m.warmEntries, t.timestamp, target)
	if slot < 0 {
		return NoTimestamp, t.m.baseOffset
	}
	return t.timestamp(slot), t.m.baseOffset + int64(t.relOffset(slot))
}

// LastEntry returns the last entry, or (NoTimestamp, BaseOffset) when the index is empty.
// Safe concurrently with MaybeAppend.
func (t *TimeIndex) LastEntry() (timestamp, offset int64) { return t.lastEntry(t.m.numEntries()) }

// Entry returns slot n. It panics when n is not in [0, Entries()), like indexing a slice.
func (t *TimeIndex) Entry(n int) (timestamp, offset int64) {
	if e := t.m.numEntries(); n < 0 || n >= e {
		panic(fmt.Sprintf("index: entry %d of time index %s with %d entries", n, t.m.path, e))
	}
	return t.timestamp(n), t.m.baseOffset + int64(t.relOffset(n))
}

// TruncateTo drops every entry whose offset is >= offset. Kafka's binary search may land on any of
// several entries sharing that offset and keep the earlier ones; this drops them all. Structural.
func (t *TimeIndex) TruncateTo(offset int64) error {
	if t.m.closed {
		return fmt.Errorf("truncate time index %s: %w", t.m.path, ErrClosed)
	}
	t.m.truncateToEntries(firstSlotAtOrAbove(t.m.numEntries(), t.relKey, relativeTarget(offset, t.m.baseOffset)))
	return nil
}

// SanityCheck returns an error wrapping ErrCorrupt when the file length is not a multiple of 12, when
// the last timestamp is below the first or the last offset is below BaseOffset (Kafka's checks), or,
// stricter than Kafka, when the first timestamp is not above NoTimestamp, timestamps are not strictly
// increasing, or relative offsets are negative or decreasing. It reads every entry, so it catches a
// zero-filled file of two or more entries, which passes Kafka's check.
func (t *TimeIndex) SanityCheck() error {
	m := t.m
	if len(m.data)%timeEntrySize != 0 {
		return fmt.Errorf("time index %s: length %d is not a multiple of %d: %w",
			m.path, len(m.data), timeEntrySize, ErrCorrupt)
	}
	n := m.numEntries()
	if n == 0 {
		return nil
	}
	if first, last := t.timestamp(0), t.timestamp(n-1); last < first {
		return fmt.Errorf("time index %s: last timestamp %d is below first timestamp %d: %w",
			m.path, last, first, ErrCorrupt)
	}
	if last := t.relOffset(n - 1); last < 0 {
		return fmt.Errorf("time index %s: last offset %d is below base offset %d: %w",
			m.path, m.baseOffset+int64(last), m.baseOffset, ErrCorrupt)
	}
	prevTs, prevRel := NoTimestamp, int32(0)
	for s := 0; s < n; s++ {
		ts, rel := t.timestamp(s), t.relOffset(s)
		if ts <= prevTs {
			return fmt.Errorf("time index %s: entry %d has timestamp %d, not above %d: %w",
				m.path, s, ts, prevTs, ErrCorrupt)
		}
		if rel < prevRel {
			return fmt.Errorf("time index %s: entry %d has relative offset %d, below %d: %w",
				m.path, s, rel, prevRel, ErrCorrupt)
		}
		prevTs, prevRel = ts, rel
	}
	return nil
}

// Entries returns the number of valid entries. Safe concurrently with MaybeAppend.
func (t *TimeIndex) Entries() int { return t.m.numEntries() }

// MaxEntries returns the number of slots of the current file length (one is reserved, see MaybeAppend).
func (t *TimeIndex) MaxEntries() int { return t.m.maxEntries() }

// IsFull reports whether MaybeAppend without skipFullCheck would return ErrFull: Entries() >=
// MaxEntries()-1.
func (t *TimeIndex) IsFull() bool { return t.m.numEntries() >= t.m.maxEntries()-1 }

// BaseOffset returns the segment's base offset, which relative offsets are counted from.
func (t *TimeIndex) BaseOffset() int64 { return t.m.baseOffset }

// SizeInBytes returns the bytes used by valid entries (the file length after TrimToValidSize).
func (t *TimeIndex) SizeInBytes() int { return t.m.numEntries() * timeEntrySize }

// Reset drops every entry and re-preallocates the file to the maxIndexSize given at open. Structural.
func (t *TimeIndex) Reset() error { return t.m.reset() }

// TrimToValidSize cuts the file to Entries()*12 bytes, on roll and close. Structural.
func (t *TimeIndex) TrimToValidSize() error { return t.m.trimToValidSize() }

// Resize sets the file length to maxIndexSize rounded down to a multiple of 12 and remaps it. It refuses
// sizes below the valid entries. Structural.
func (t *TimeIndex) Resize(maxIndexSize int) error { return t.m.resize(maxIndexSize) }

// Flush writes dirty pages of the mapping to disk (msync).
func (t *TimeIndex) Flush() error { return t.m.flush() }

// Close trims the file to its valid entries and unmaps it. It does not add the final entry: the segment
// calls MaybeAppend(maxTimestamp, offsetOfMaxTimestamp, true) first. Structural; idempotent.
func (t *TimeIndex) Close() error { return t.m.close() }

// Path returns the file's current path.
func (t *TimeIndex) Path() string { return t.m.path }

// Rename moves the file; the index stays usable. Structural.
func (t *TimeIndex) Rename(newPath string) error { return t.m.rename(newPath) }

// Delete unmaps (without trimming) and removes the file; a missing file is not an error. Structural.
func (t *TimeIndex) Delete() error { return t.m.delete() }
