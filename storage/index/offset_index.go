package index

import (
	"encoding/binary"
	"fmt"
	"math"
)

// offsetEntrySize is the width of one .index entry: int32 relative offset, int32 position.
const offsetEntrySize = 8

// OffsetIndex maps offsets to byte positions in a segment's .log file (Kafka's OffsetIndex). It is
// sparse: the Log adds an entry every index.interval.bytes. See doc.go for the file format and the
// concurrency rules.
type OffsetIndex struct {
	m *mmapFile
}

// OpenOffsetIndex opens the index at path, creating it preallocated to maxIndexSize rounded down to a
// multiple of 8 when absent. An existing file is used at its length, every whole entry counting as valid
// (Kafka assumes trimmed files), and has no free slot until Resize.
func OpenOffsetIndex(path string, baseOffset int64, maxIndexSize int) (*OffsetIndex, error) {
	m, err := openMmapFile(path, baseOffset, maxIndexSize, offsetEntrySize)
	if err != nil {
		return nil, err
	}
	return &OffsetIndex{m: m}, nil
}

func (i *OffsetIndex) relOffset(slot int) int32 {
	return int32(binary.BigEndian.Uint32(i.m.data[slot*offsetEntrySize:]))
}

func (i *OffsetIndex) position(slot int) int32 {
	return int32(binary.BigEndian.Uint32(i.m.data[slot*offsetEntrySize+4:]))
}

// relKey is the search key of a slot: the relative offset widened, so targets far outside the int32
// range compare correctly.
func (i *OffsetIndex) relKey(slot int) int64 { return int64(i.relOffset(slot)) }

// Append adds an entry. offset must be above LastOffset unless the index is empty, and position must be
// non-negative and not below the last entry's. Returns ErrFull when no slot is left, ErrInvalidEntry
// for out-of-order input, ErrOffsetOverflow when offset-BaseOffset does not fit an int32.
// Writer only; safe against concurrent Lookup.
func (i *OffsetIndex) Append(offset int64, position int32) error {
	m := i.m
	if m.closed {
		return fmt.Errorf("append to offset index %s: %w", m.path, ErrClosed)
	}
	n := m.numEntries()
	if n >= m.maxEntries() {
		return fmt.Errorf("append offset %d to offset index %s with %d entries: %w", offset, m.path, n, ErrFull)
	}
	if n > 0 {
		if last := m.baseOffset + int64(i.relOffset(n-1)); offset <= last {
			return fmt.Errorf("append offset %d to offset index %s: not above last offset %d: %w",
				offset, m.path, last, ErrInvalidEntry)
		}
	}
	rel := relativeTarget(offset, m.baseOffset)
	if rel < 0 || rel > math.MaxInt32 {
		return fmt.Errorf("append offset %d to offset index %s with base offset %d: %w",
			offset, m.path, m.baseOffset, ErrOffsetOverflow)
	}
	if position < 0 || (n > 0 && position < i.position(n-1)) {
		return fmt.Errorf("append position %d to offset index %s: negative or below the last entry's: %w",
			position, m.path, ErrInvalidEntry)
	}
	b := m.data[n*offsetEntrySize : (n+1)*offsetEntrySize]
	binary.BigEndian.PutUint32(b[0:4], uint32(rel))
	binary.BigEndian.PutUint32(b[4:8], uint32(position))
	m.entries.Store(int64(n + 1)) // publish only after the bytes are in place
	return nil
}

// Lookup returns the entry with the largest offset <= target, or (BaseOffset, 0) when there is none.
// The Log then scans the .log from that position for the first batch whose last offset >= target.
// Safe concurrently with Append.
func (i *OffsetIndex) Lookup(target int64) (offset int64, position int32) {
	n := i.m.numEntries()
	slot := largestLowerBound(n, i.m.warmEntries, i.relKey, relativeTarget(target, i.m.baseOffset))
	if slot < 0 {
		return i.m.baseOffset, 0
	}
	return i.m.baseOffset + int64(i.relOffset(slot)), i.position(slot)
}

// Entry returns slot n. It panics when n is not in [0, Entries()), like indexing a slice.
func (i *OffsetIndex) Entry(n int) (offset int64, position int32) {
	if e := i.m.numEntries(); n < 0 || n >= e {
		panic(fmt.Sprintf("index: entry %d of offset index %s with %d entries", n, i.m.path, e))
	}
	return i.m.baseOffset + int64(i.relOffset(n)), i.position(n)
}

// LastOffset returns the offset of the last entry, or BaseOffset when the index is empty.
func (i *OffsetIndex) LastOffset() int64 {
	n := i.m.numEntries()
	if n == 0 {
		return i.m.baseOffset
	}
	return i.m.baseOffset + int64(i.relOffset(n-1))
}

// TruncateTo drops every entry whose offset is >= offset; truncating above the last entry does nothing.
// Structural: no concurrent readers.
func (i *OffsetIndex) TruncateTo(offset int64) error {
	if i.m.closed {
		return fmt.Errorf("truncate offset index %s: %w", i.m.path, ErrClosed)
	}
	i.m.truncateToEntries(firstSlotAtOrAbove(i.m.numEntries(), i.relKey, relativeTarget(offset, i.m.baseOffset)))
	return nil
}

// SanityCheck returns an error wrapping ErrCorrupt when the file length is not a multiple of 8, when the
// last entry's offset is below BaseOffset (Kafka's two checks), or, stricter than Kafka, when any
// relative offset is negative or not above the previous one, or a position is negative or below the
// previous one. It reads every entry. What it cannot see is listed in doc.go.
func (i *OffsetIndex) SanityCheck() error {
	m := i.m
	if len(m.data)%offsetEntrySize != 0 {
		return fmt.Errorf("offset index %s: length %d is not a multiple of %d: %w",
			m.path, len(m.data), offsetEntrySize, ErrCorrupt)
	}
	n := m.numEntries()
	if n == 0 {
		return nil
	}
	if last := i.relOffset(n - 1); last < 0 {
		return fmt.Errorf("offset index %s: last offset %d is below base offset %d: %w",
			m.path, m.baseOffset+int64(last), m.baseOffset, ErrCorrupt)
	}
	prevRel, prevPos := int32(-1), int32(0)
	for s := 0; s < n; s++ {
		rel, pos := i.relOffset(s), i.position(s)
		if rel <= prevRel {
			return fmt.Errorf("offset index %s: entry %d has relative offset %d, not above %d: %w",
				m.path, s, rel, prevRel, ErrCorrupt)
		}
		if pos < prevPos {
			return fmt.Errorf("offset index %s: entry %d has position %d, below %d: %w",
				m.path, s, pos, prevPos, ErrCorrupt)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

// Entries returns the number of valid entries. Safe concurrently with Append.
func (i *OffsetIndex) Entries() int { return i.m.numEntries() }

// MaxEntries returns the number of slots of the current file length.
func (i *OffsetIndex) MaxEntries() int { return i.m.maxEntries() }

// IsFull reports whether Append would return ErrFull.
func (i *OffsetIndex) IsFull() bool { return i.m.numEntries() >= i.m.maxEntries() }

// BaseOffset returns the segment's base offset, which relative offsets are counted from.
func (i *OffsetIndex) BaseOffset() int64 { return i.m.baseOffset }

// SizeInBytes returns the bytes used by valid entries (the file length after TrimToValidSize).
func (i *OffsetIndex) SizeInBytes() int { return i.m.numEntries() * offsetEntrySize }

// Reset drops every entry and re-preallocates the file to the maxIndexSize given at open (Kafka's
// reset, used before recovery rebuilds the index). Structural.
func (i *OffsetIndex) Reset() error { return i.m.reset() }

// TrimToValidSize cuts the file to Entries()*8 bytes, on roll and close. Structural.
func (i *OffsetIndex) TrimToValidSize() error { return i.m.trimToValidSize() }

// Resize sets the file length to maxIndexSize rounded down to a multiple of 8 and remaps it; used to
// re-preallocate the active segment's index after load. It refuses sizes below the valid entries.
// Structural.
func (i *OffsetIndex) Resize(maxIndexSize int) error { return i.m.resize(maxIndexSize) }

// Flush writes dirty pages of the mapping to disk (msync).
func (i *OffsetIndex) Flush() error { return i.m.flush() }

// Close trims the file to its valid entries and unmaps it. Structural; idempotent.
func (i *OffsetIndex) Close() error { return i.m.close() }

// Path returns the file's current path.
func (i *OffsetIndex) Path() string { return i.m.path }

// Rename moves the file; the index stays usable. Structural.
func (i *OffsetIndex) Rename(newPath string) error { return i.m.rename(newPath) }

// Delete unmaps (without trimming) and removes the file; a missing file is not an error. Structural.
func (i *OffsetIndex) Delete() error { return i.m.delete() }
