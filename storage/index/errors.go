package index

import "errors"

// Sentinels; every error returned by this package that matches one of them wraps it with the file path and
// the values involved, so callers test with errors.Is.
var (
	// ErrCorrupt marks an index file that failed SanityCheck (or could not be mapped because of its
	// length). The Log answers it by rebuilding the index from the .log file (Kafka's CorruptIndexException).
	ErrCorrupt = errors.New("index: corrupt index")
	// ErrFull means no slot is left (for the time index: none but the slot reserved for the final entry at
	// roll/close). The Log rolls the segment before this can happen.
	ErrFull = errors.New("index: index is full")
	// ErrInvalidEntry means an append would break the ordering invariants: an offset not above the last
	// one in the offset index, an offset below the last one in the time index, or a negative or decreasing
	// file position (Kafka's InvalidOffsetException).
	ErrInvalidEntry = errors.New("index: entry out of order")
	// ErrOffsetOverflow means offset-baseOffset does not fit the int32 relative offset
	// (Kafka's IndexOffsetOverflowException); the Log rolls before that.
	ErrOffsetOverflow = errors.New("index: relative offset overflows int32")
	// ErrClosed is returned by writer operations after Close or Delete.
	ErrClosed = errors.New("index: index is closed")
)
