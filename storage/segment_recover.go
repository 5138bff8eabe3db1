package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/samsa-broker/samsa/storage/index"
	"github.com/samsa-broker/samsa/storage/record"
)

// recoverResult reports what segment recovery found.
type recoverResult struct {
	truncated int64  // bytes cut off the end of the .log
	reason    string // why the valid data ended early; "" when the whole file was valid
	batches   int
}

// recoverLocked rebuilds both indexes from the .log and cuts the file after the last valid batch
// (LogSegment.recover). A batch is valid when its header parses (length, magic 2), it lies wholly
// inside the file, its CRC-32C matches, its offsets are not below the previous batch's next
// offset (nor the segment's base) and fit a relative offset. Scanning stops at the first invalid
// batch: everything from there is a torn or corrupt tail. I/O errors abort without truncating.
// Caller holds Log.mu; readers are excluded from the indexes for the duration.
func (s *segment) recoverLocked(indexInterval int) (recoverResult, error) {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	var res recoverResult
	if err := errors.Join(s.oidx.Reset(), s.tidx.Reset()); err != nil {
		return res, ioErr("reset indexes of segment %d: %v", s.base, err)
	}
	st, err := s.log.Stat()
	if err != nil {
		return res, ioErr("stat segment %d: %v", s.base, err)
	}
	fileSize := st.Size()
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, fileSize), 1<<20)
	var (
		valid, lastEntry int64
		maxTs, offMaxTs  = int64(-1), s.base
		next             = s.base
		buf              = make([]byte, 0, 64<<10)
		rollTs           = int64(-1)
		oidxFull         bool
	)
	for valid < fileSize {
		remaining := fileSize - valid
		if remaining < record.LogOverhead+5 {
			res.reason = fmt.Sprintf("torn batch header (%d bytes left)", remaining)
			break
		}
		buf = buf[:record.LogOverhead+5]
		if _, err := io.ReadFull(r, buf); err != nil {
			return res, ioErr("read segment %d at %d: %v", s.base, valid, err)
		}
		base, size, _, err := record.PeekHeader(buf)
		if err != nil {
			res.reason = err.Error()
			break
		}
		if int64(size) > remaining {
			res.reason = fmt.Sprintf("torn batch: %d bytes declared, %d left", size, remaining)
			break
		}
		if cap(buf) < size {
			nb := make([]byte, size)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf[record.LogOverhead+5:]); err != nil {
			return res, ioErr("read segment %d at %d: %v", s.base, valid, err)
		}
		b := record.Batch(buf)
		if reason := s.batchProblem(b, base, next); reason != "" {
			res.reason = reason
			break
		}
		if valid == 0 {
			rollTs = b.MaxTimestamp()
		}
		if b.MaxTimestamp() > maxTs {
			maxTs, offMaxTs = b.MaxTimestamp(), b.LastOffset()
		}
		if valid-lastEntry > int64(indexInterval) && !oidxFull {
			if err := s.oidx.Append(b.LastOffset(), int32(valid)); err != nil {
				if !errors.Is(err, index.ErrFull) {
					return res, fmt.Errorf("rebuild index of segment %d: %w", s.base, err)
				}
				// segment.index.bytes shrank since the segment was written: a sparser index
				// still answers lookups correctly.
				oidxFull = true
			} else {
				if err := s.tidx.MaybeAppend(maxTs, offMaxTs, false); err != nil && !errors.Is(err, index.ErrFull) {
					return res, fmt.Errorf("rebuild time index of segment %d: %w", s.base, err)
				}
				lastEntry = valid
			}
		}
		valid += int64(size)
		next = b.NextOffset()
		res.batches++
	}
	if res.truncated = fileSize - valid; res.truncated > 0 {
		if err := s.log.Truncate(valid); err != nil {
			return res, ioErr("truncate segment %d to %d: %v", s.base, valid, err)
		}
	}
	if maxTs >= 0 {
		if err := s.tidx.MaybeAppend(maxTs, offMaxTs, true); err != nil {
			return res, fmt.Errorf("final time index entry of segment %d: %w", s.base, err)
		}
	}
	if err := errors.Join(s.oidx.TrimToValidSize(), s.tidx.TrimToValidSize()); err != nil {
		return res, ioErr("trim indexes of segment %d: %v", s.base, err)
	}
	s.size.Store(valid)
	s.maxTs.Store(maxTs)
	s.offMaxTs = offMaxTs
	s.bytesSinceIndex = int(valid - lastEntry)
	s.rollTs, s.rollTsKnown = rollTs, valid > 0
	return res, nil
}

// batchProblem says why a whole batch read from the file is not valid log data ("" if it is).
func (s *segment) batchProblem(b record.Batch, base, next int64) string {
	switch {
	case !b.CRCValid():
		return fmt.Sprintf("batch at offset %d: CRC mismatch", base)
	case b.LastOffsetDelta() < 0:
		return fmt.Sprintf("batch at offset %d: negative last offset delta %d", base, b.LastOffsetDelta())
	case base < next:
		return fmt.Sprintf("batch at offset %d: below the expected offset %d", base, next)
	case !s.canConvertToRelativeOffset(b.LastOffset()):
		return fmt.Sprintf("batch at offset %d: last offset %d does not fit segment %d", base, b.LastOffset(), s.base)
	}
	return ""
}

// verifyIndexes decides whether a segment that is not being recovered can keep its index files.
// Beyond the index package's SanityCheck (lengths, ordering of every entry) it checks the last
// entries against the .log, which costs a few small reads: the last offset entry must point at a
// batch header at or below its offset, inside the file, below the next offset; the last time
// entry (T, O) must name an offset whose batch has max timestamp T (every entry is written as
// (max timestamp so far, its offset)); an empty time index is only right when the first batch
// has no timestamp, because a closed segment always gets a final time entry. It returns the
// segment's next offset when the indexes pass.
func (s *segment) verifyIndexes() (int64, error) {
	if err := s.oidx.SanityCheck(); err != nil {
		return 0, err
	}
	if err := s.tidx.SanityCheck(); err != nil {
		return 0, err
	}
	size := s.size.Load()
	next := s.base
	var first *batchPos
	lastOff, lastPos := s.lastIndexEntry()
	if s.oidx.Entries() > 0 && int64(lastPos) >= size {
		return 0, fmt.Errorf("%w: last offset index entry points to position %d of %d", index.ErrCorrupt, lastPos, size)
	}
	err := s.scan(int64(lastPos), size, func(b batchPos) bool {
		if first == nil {
			first = &b
		}
		next = b.last + 1
		return false
	})
	if err != nil {
		return 0, fmt.Errorf("%w: scan from last offset index entry: %v", index.ErrCorrupt, err)
	}
	if s.oidx.Entries() > 0 && (first == nil || first.base > lastOff || lastOff >= next) {
		return 0, fmt.Errorf("%w: last offset index entry (%d, %d) does not match the log", index.ErrCorrupt, lastOff, lastPos)
	}
	if s.tidx.Entries() > 0 {
		ts, off := s.tidx.LastEntry()
		if off >= next {
			return 0, fmt.Errorf("%w: last time index entry offset %d at or above next offset %d", index.ErrCorrupt, off, next)
		}
		b, found, err := s.findBatch(off, size)
		if err != nil || !found || b.base > off || b.maxTs != ts {
			return 0, fmt.Errorf("%w: last time index entry (%d, %d) does not match the log", index.ErrCorrupt, ts, off)
		}
	} else if size > 0 {
		var h [record.HeaderSize]byte
		if _, err := s.log.ReadAt(h[:], 0); err != nil {
			return 0, ioErr("read segment %d: %v", s.base, err)
		}
		if hdrMaxTimestamp(h[:]) >= 0 {
			return 0, fmt.Errorf("%w: empty time index for a segment with timestamps", index.ErrCorrupt)
		}
	}
	return next, nil
}
