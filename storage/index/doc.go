// Package index implements a segment's offset index (.index) and time index (.timeindex), byte-compatible
// with Kafka 2.x (kafka.log.AbstractIndex, OffsetIndex, TimeIndex).
//
// # Data flow
//
// The Log's segment appends an OffsetIndex entry (last offset of an append -> .log position where the
// append started) every index.interval.bytes, and a TimeIndex entry (max timestamp so far -> its
// offset) with it. Fetch asks OffsetIndex.Lookup for the position to start scanning the .log from;
// ListOffsets asks TimeIndex.Lookup for an offset, then the offset index for a position. Recovery Resets
// both and rebuilds them from the .log.
//
// # File formats
//
// No header, no checksum; all integers big-endian; relative offset = offset - baseOffset (the base
// offset is the file name).
//
//	.index       entry n at byte 8n:   +0 int32 relative offset   +4 int32 position in .log
//	.timeindex   entry n at byte 12n:  +0 int64 timestamp (ms)    +8 int32 relative offset
//
// A new file is preallocated to segment.index.bytes rounded down to the entry size (10 MiB: 1,310,720
// offset slots, 873,813 time slots) and filled with zeros; the number of valid entries lives in memory.
// On roll and close the file is trimmed to entries*entrySize, so the file length is the entry count.
// When an existing file is opened every whole entry counts as valid and it has no free slot (Kafka);
// the Log Resizes the active segment's indexes back to segment.index.bytes after loading. A file with
// a length of 0 (or a maxIndexSize below one entry) is not mapped, because mmap rejects length 0; such an
// index has no slots, so Append returns ErrFull.
//
// # Invariants
//
//   - Offset index: relative offsets strictly increase; positions are >= 0 and never decrease.
//   - Time index: timestamps strictly increase and the first is above NoTimestamp (-1); relative
//     offsets never decrease. One slot is reserved: IsFull at MaxEntries()-1, and only an append with
//     skipFullCheck (the segment's final entry on roll/close) may take the last slot.
//   - Bytes past the valid entries are zero: new files are zero, and TruncateTo and Reset zero what they
//     drop (Kafka leaves stale entries there).
//
// # Concurrency
//
// There is one writer, serialised by the Log's lock: Append, MaybeAppend, Flush. Any number of readers
// may call Lookup, Entry, LastEntry, LastOffset, Entries and IsFull at the same time as the writer
// appends: the writer fills an entry's bytes first and then publishes the new count with an atomic store,
// and a reader loads the count once, so it never sees a half-written entry.
//
// Structural operations - TruncateTo, Reset, Resize, TrimToValidSize, Close, Delete, Rename - replace,
// shrink, zero or unmap the mapping. They must be called by the writer with no reader of that index in
// flight: the Log takes its segment RWMutex exclusively around them. A reader racing with them could read
// unmapped memory and crash the process (Java keeps an old mapping alive until GC; Go unmaps at once).
// The index has no lock of its own.
//
// # What SanityCheck catches, and what it cannot
//
// SanityCheck applies Kafka's checks (length a multiple of the entry size; last offset not below the base
// offset; for the time index, last timestamp not below the first) and, stricter, verifies the ordering
// invariants above over every entry. So it catches a file whose length was changed (two garbage bytes
// appended), garbage that breaks the ordering (two garbage bytes in an offset or timestamp field in most
// cases), a zero-filled file of two or more entries (which Kafka's time index check accepts), and a file
// left untrimmed by a crash (its zero tail breaks the ordering). It cannot catch: a single all-zero entry
// (relative offset 0 at position 0, or timestamp 0 at relative offset 0); garbage that keeps the ordering,
// e.g. two bytes in a position field that stay between their neighbours, or a larger last entry; entries
// that point past the end of the .log, into the middle of a batch, or to offsets the .log does not hold;
// a missing tail (a file cut at an entry boundary). The Log covers these: after an unclean shutdown it
// recovers the segments from the recovery point, which rebuilds their indexes from the .log, and lookups
// only give a place to start scanning the .log, which the scan verifies.
//
// SanityCheck reads every entry, so it touches every page of the file (a trimmed 1 GiB segment with the
// default 4096-byte interval has about 262k offset entries, 2 MiB); Kafka reads only the first and last.
//
// # Deviations from Kafka
//
//   - MaybeAppend skips a timestamp below the last one instead of throwing; skipping only makes the index
//     sparser, which is still correct for lookups.
//   - TimeIndex.TruncateTo drops every entry with the truncation offset, even when several share it.
//   - Append also rejects a negative or decreasing position.
//   - New files and growing Resizes use fallocate, so a full disk fails the call with ENOSPC instead of
//     raising SIGBUS on a later store into a sparse mapping.
//   - A maxIndexSize below one entry gives an index with no slots instead of an exception.
package index
