package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/samsa-broker/samsa/storage/index"
	"github.com/samsa-broker/samsa/storage/record"
	"golang.org/x/sys/unix"
)

// File name suffixes (Log.scala, LogFileUtils).
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	txnIndexSuffix  = ".txnindex"
	deletedSuffix   = ".deleted"
	cleanedSuffix   = ".cleaned"
	swapSuffix      = ".swap"
)

// segmentFile is <dir>/<base as %020d><suffix>.
func segmentFile(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file with its offset and time index (Kafka's LogSegment).
//
// Sharing: the Log's segment list holds one reference; each reader holding a FileRange or
// doing a lookup holds another (acquire/release). The files are closed when the last reference
// goes, so a segment removed by retention or truncation stays readable for readers that got it
// before; its files may already be renamed or unlinked, which open descriptors do not mind.
//
// Index structure (trim, resize, truncate, reset, rename) changes only under idxMu held
// exclusively by the Log's writer; lookups and flushes hold it shared. Appends to the indexes
// need no idxMu (the index package publishes entries atomically).
type segment struct {
	base int64
	dir  string
	log  *os.File
	oidx *index.OffsetIndex
	tidx *index.TimeIndex
	txn  *txnIndex // .txnindex, created with its first aborted transaction

	size  atomic.Int64 // bytes of complete batches; written by the Log's writer after the data
	maxTs atomic.Int64 // largest batch max timestamp in the segment, -1 when none
	refs  atomic.Int64

	idxMu sync.RWMutex

	// Writer state, guarded by Log.mu.
	offMaxTs        int64 // offset of maxTs (time index entries pair them)
	bytesSinceIndex int   // bytes appended since the last offset-index entry's position
	rollTs          int64 // first batch's max timestamp (segment.ms roll), valid if rollTsKnown
	rollTsKnown     bool
	created         int64 // ms; segment.ms roll base when the first batch has no timestamp
	jitter          int64 // ms subtracted from segment.ms for this segment
	deleted         bool  // files renamed .deleted
	rebuildTxn      bool  // while loading: indexes rebuilt, so the producer-state replay rebuilds the .txnindex
}

// createSegment makes an empty segment, first deleting any files left with its name (Log.roll).
func createSegment(dir string, base int64, cfg Config, nowMs, jitter int64) (*segment, error) {
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := os.Remove(segmentFile(dir, base, suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, ioErr("remove stale segment file: %v", err)
		}
	}
	path := segmentFile(dir, base, logSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, ioErr("create segment: %v", err)
	}
	if cfg.Preallocate {
		// log.preallocate: reserve segment.bytes up front; the size in memory stays 0 and the
		// zero tail is cut on roll/close, or by recovery after a crash.
		if err := unix.Fallocate(int(f.Fd()), 0, 0, cfg.SegmentBytes); err != nil {
			if terr := f.Truncate(cfg.SegmentBytes); terr != nil {
				f.Close()
				os.Remove(path)
				return nil, ioErr("preallocate segment %s: %v", path, terr)
			}
		}
	}
	s, err := openSegmentFiles(dir, base, f, cfg)
	if err != nil {
		return nil, err
	}
	s.created, s.jitter = nowMs, jitter
	return s, nil
}

// openSegmentFiles opens (creating when absent) the two indexes beside an open .log file.
func openSegmentFiles(dir string, base int64, f *os.File, cfg Config) (*segment, error) {
	oidx, err := index.OpenOffsetIndex(segmentFile(dir, base, indexSuffix), base, cfg.SegmentIndexBytes)
	if err != nil {
		f.Close()
		return nil, ioErr("open offset index: %v", err)
	}
	tidx, err := index.OpenTimeIndex(segmentFile(dir, base, timeIndexSuffix), base, cfg.SegmentIndexBytes)
	if err != nil {
		oidx.Close()
		f.Close()
		return nil, ioErr("open time index: %v", err)
	}
	txn, err := openTxnIndex(segmentFile(dir, base, txnIndexSuffix))
	if err != nil {
		tidx.Close()
		oidx.Close()
		f.Close()
		return nil, err
	}
	s := &segment{base: base, dir: dir, log: f, oidx: oidx, tidx: tidx, txn: txn, offMaxTs: base}
	s.maxTs.Store(-1)
	s.refs.Store(1)
	return s, nil
}

// acquire takes a reference unless the segment is already closed.
func (s *segment) acquire() bool {
	for {
		r := s.refs.Load()
		if r <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(r, r+1) {
			return true
		}
	}
}

// release drops a reference and closes the files with the last one.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

// closeFiles unmaps the indexes and closes the .log. Errors are of no use to anybody here: the
// indexes were trimmed by the writer already (roll/close) or the files were deleted.
func (s *segment) closeFiles() {
	_ = s.oidx.Close()
	_ = s.tidx.Close()
	s.txn.close()
	_ = s.log.Close()
}

// canConvertToRelativeOffset: index entries store offset-base as int32 (LogSegment).
func (s *segment) canConvertToRelativeOffset(offset int64) bool {
	d := offset - s.base
	return d >= 0 && d <= math.MaxInt32
}

// appendLocked writes one append (one or more whole batches) at the end of the segment with a
// single pwrite and maintains the sparse indexes (LogSegment.append). On failure the file is cut
// back so that nothing of the append stays. Caller holds Log.mu.
func (s *segment) appendLocked(data []byte, largestOffset, maxTs, offMaxTs int64, indexInterval int) error {
	if !s.canConvertToRelativeOffset(largestOffset) {
		return fmt.Errorf("append offset %d to segment %d: relative offset overflows int32", largestOffset, s.base)
	}
	pos := s.size.Load()
	if pos+int64(len(data)) > math.MaxInt32 {
		return fmt.Errorf("append %d bytes to segment %d of %d bytes: position overflows int32", len(data), s.base, pos)
	}
	if _, err := s.log.WriteAt(data, pos); err != nil {
		_ = s.log.Truncate(pos)
		return ioErr("write segment %d: %v", s.base, err)
	}
	if pos == 0 {
		s.rollTs, s.rollTsKnown = maxTs, true // LogSegment.append: rollingBasedTimestamp
	}
	if maxTs > s.maxTs.Load() {
		s.maxTs.Store(maxTs)
		s.offMaxTs = offMaxTs
	}
	// Kafka checks the counter before adding this append, and maps the append's largest offset
	// to the position where the append starts.
	if s.bytesSinceIndex > indexInterval {
		if err := s.oidx.Append(largestOffset, int32(pos)); err != nil {
			_ = s.log.Truncate(pos)
			return fmt.Errorf("index append at offset %d of segment %d: %w", largestOffset, s.base, err)
		}
		// The data is written and indexed: a time entry that cannot be added (the index is full,
		// which the roll check prevents, or out of order, which increasing offsets prevent) only
		// makes the time index sparser, which lookups tolerate.
		_ = s.tidx.MaybeAppend(s.maxTs.Load(), s.offMaxTs, false)
		s.bytesSinceIndex = 0
	}
	s.bytesSinceIndex += len(data)
	s.size.Store(pos + int64(len(data)))
	return nil
}

// shouldRollLocked is LogSegment.shouldRoll for an append of size bytes, max timestamp maxTs
// and last offset lastOffset.
func (s *segment) shouldRollLocked(cfg Config, size int, maxTs, lastOffset, nowMs int64) bool {
	cur := s.size.Load()
	if cur > cfg.SegmentBytes-int64(size) {
		return true
	}
	if cur > 0 && s.timeWaitedForRoll(nowMs, maxTs) > cfg.SegmentMs-s.jitter {
		return true
	}
	return s.oidx.IsFull() || s.tidx.IsFull() || !s.canConvertToRelativeOffset(lastOffset)
}

// timeWaitedForRoll measures segment age by record time when the first batch has a timestamp,
// by wall time since creation otherwise (LogSegment.timeWaitedForRoll).
func (s *segment) timeWaitedForRoll(nowMs, msgTs int64) int64 {
	if !s.rollTsKnown {
		s.rollTs, s.rollTsKnown = -1, true
		var h [record.HeaderSize]byte
		if s.size.Load() >= record.HeaderSize {
			if _, err := s.log.ReadAt(h[:], 0); err == nil {
				s.rollTs = hdrMaxTimestamp(h[:])
			}
		}
	}
	if s.rollTs >= 0 {
		return msgTs - s.rollTs
	}
	return nowMs - s.created
}

// largestTimestamp is the segment's max record timestamp, or the .log's mtime when no record has
// one (LogSegment.largestTimestamp), for retention.ms and timestamp lookups.
func (s *segment) largestTimestamp() int64 {
	if ts := s.maxTs.Load(); ts >= 0 {
		return ts
	}
	st, err := s.log.Stat()
	if err != nil {
		return 0
	}
	return st.ModTime().UnixMilli()
}

// Header fields past the 17 bytes record.PeekHeader looks at (DefaultRecordBatch offsets).
func hdrLastOffsetDelta(h []byte) int32 { return int32(binary.BigEndian.Uint32(h[23:])) }
func hdrMaxTimestamp(h []byte) int64    { return int64(binary.BigEndian.Uint64(h[35:])) }

// batchPos locates one batch in a segment by its header.
type batchPos struct {
	pos, size  int64
	base, last int64
	maxTs      int64
	epoch      int32 // partitionLeaderEpoch, for the leader-epoch cache's recovery
}

const scanChunk = 8192

var scanPool = sync.Pool{New: func() any { b := make([]byte, scanChunk); return &b }}

// errScanCorrupt marks a header that does not parse where a batch must start.
var errScanCorrupt = errors.New("corrupt batch header")

// scan calls fn for each batch header in [pos, end), reading the file in chunks with pread so
// that several headers come from one system call. It stops when fn returns true. The bytes up to
// end must be whole batches (end is a published size); a header that does not parse or a batch
// running past end is an error.
func (s *segment) scan(pos, end int64, fn func(b batchPos) bool) error {
	bufp := scanPool.Get().(*[]byte)
	defer scanPool.Put(bufp)
	buf := *bufp
	for pos < end {
		n := min(end-pos, int64(len(buf)))
		if n < record.HeaderSize {
			return fmt.Errorf("segment %d: %d bytes at position %d cannot hold a batch: %w", s.base, n, pos, errScanCorrupt)
		}
		got, err := s.log.ReadAt(buf[:n], pos)
		if int64(got) < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
		}
		off := int64(0)
		for off+record.HeaderSize <= n {
			h := buf[off:]
			base, size, _, err := record.PeekHeader(h)
			if err != nil {
				return fmt.Errorf("segment %d position %d: %w: %v", s.base, pos+off, errScanCorrupt, err)
			}
			if int64(size) > end-(pos+off) {
				return fmt.Errorf("segment %d position %d: batch of %d bytes runs past %d: %w", s.base, pos+off, size, end, errScanCorrupt)
			}
			d := hdrLastOffsetDelta(h)
			b := batchPos{pos: pos + off, size: int64(size), base: base, last: base + int64(d), maxTs: hdrMaxTimestamp(h),
				epoch: int32(binary.BigEndian.Uint32(h[12:]))}
			if fn(b) {
				return nil
			}
			off += int64(size)
		}
		pos += off
	}
	return nil
}

// findBatch returns the first batch in [index lookup position, end) whose last offset is >=
// target (LogSegment.translateOffset); found is false when there is none.
func (s *segment) findBatch(target, end int64) (b batchPos, found bool, err error) {
	s.idxMu.RLock()
	_, pos := s.oidx.Lookup(target)
	s.idxMu.RUnlock()
	start := int64(pos)
	if start > end {
		start = 0 // an index entry past the data: distrust it and scan from the start
	}
	err = s.scan(start, end, func(c batchPos) bool {
		if c.last >= target {
			b, found = c, true
			return true
		}
		return false
	})
	if err != nil && start != 0 {
		// The entry pointed into the middle of a batch (a corrupt index that passed the checks):
		// a scan from the start of the segment is slower but right.
		found = false
		err = s.scan(0, end, func(c batchPos) bool {
			if c.last >= target {
				b, found = c, true
				return true
			}
			return false
		})
	}
	return b, found, err
}

// readNextOffset is the offset after the last batch, scanning from the last index entry
// (LogSegment.readNextOffset).
func (s *segment) readNextOffset() (int64, error) {
	next := s.base
	_, pos := s.lastIndexEntry()
	err := s.scan(int64(pos), s.size.Load(), func(b batchPos) bool {
		next = b.last + 1
		return false
	})
	return next, err
}

func (s *segment) lastIndexEntry() (offset int64, pos int32) {
	if n := s.oidx.Entries(); n > 0 {
		return s.oidx.Entry(n - 1)
	}
	return s.base, 0
}

// onBecomeInactiveLocked runs when the segment stops being the active one (roll) or at close: the
// final time-index entry, indexes (and a preallocated .log) trimmed to their real length.
func (s *segment) onBecomeInactiveLocked(preallocate bool) error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	var errs []error
	if ts := s.maxTs.Load(); ts >= 0 {
		if err := s.tidx.MaybeAppend(ts, s.offMaxTs, true); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, s.oidx.TrimToValidSize(), s.tidx.TrimToValidSize())
	if preallocate {
		if err := s.log.Truncate(s.size.Load()); err != nil {
			errs = append(errs, ioErr("trim segment %d: %v", s.base, err))
		}
	}
	return errors.Join(errs...)
}

// resizeIndexesLocked gives the (new) active segment's indexes their full preallocation back.
func (s *segment) resizeIndexesLocked(maxIndexSize int) error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	return errors.Join(s.oidx.Resize(maxIndexSize), s.tidx.Resize(maxIndexSize))
}

// truncateToLocked removes every batch from the one containing offset on (LogSegment.truncateTo)
// and returns the number of bytes removed. The segment becomes the active one.
func (s *segment) truncateToLocked(offset int64, cfg Config, nowMs int64) (int64, error) {
	size := s.size.Load()
	b, found, err := s.findBatch(offset, size)
	if err != nil {
		return 0, err
	}
	s.idxMu.Lock()
	err = errors.Join(s.oidx.TruncateTo(offset), s.tidx.TruncateTo(offset), s.txn.truncateTo(offset),
		s.oidx.Resize(cfg.SegmentIndexBytes), s.tidx.Resize(cfg.SegmentIndexBytes))
	s.idxMu.Unlock()
	if err != nil {
		return 0, err
	}
	var removed int64
	if found {
		if err := s.log.Truncate(b.pos); err != nil {
			return 0, ioErr("truncate segment %d to %d: %v", s.base, b.pos, err)
		}
		removed = size - b.pos
		s.size.Store(b.pos)
	}
	if s.size.Load() == 0 {
		s.created, s.rollTsKnown = nowMs, false
	}
	_, lastPos := s.lastIndexEntry()
	s.bytesSinceIndex = int(s.size.Load() - int64(lastPos))
	if s.oidx.Entries() == 0 {
		s.bytesSinceIndex = int(s.size.Load())
	}
	return removed, s.loadLargestTimestampLocked()
}

// loadLargestTimestampLocked sets maxTs from the time index's last entry and the batches after it
// (LogSegment.loadLargestTimestamp), after a truncation.
func (s *segment) loadLargestTimestampLocked() error {
	ts, off := s.tidx.LastEntry()
	_, pos := s.oidx.Lookup(off)
	err := s.scan(int64(pos), s.size.Load(), func(b batchPos) bool {
		if b.maxTs > ts {
			ts, off = b.maxTs, b.last
		}
		return false
	})
	s.maxTs.Store(ts)
	s.offMaxTs = off
	return err
}

// renameDeletedLocked renames the segment's files with the .deleted suffix and returns their new
// paths (Log.removeAndDeleteSegments with asyncDelete). Open descriptors keep working.
func (s *segment) renameDeletedLocked() []string {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	s.deleted = true
	var paths []string
	logPath := segmentFile(s.dir, s.base, logSuffix)
	if err := os.Rename(logPath, logPath+deletedSuffix); err == nil {
		paths = append(paths, logPath+deletedSuffix)
	} else {
		paths = append(paths, logPath)
	}
	for _, ix := range []interface {
		Path() string
		Rename(string) error
	}{s.oidx, s.tidx} {
		p := ix.Path()
		if err := ix.Rename(p + deletedSuffix); err == nil {
			p += deletedSuffix
		}
		paths = append(paths, p)
	}
	if s.txn.exists() {
		if err := s.txn.rename(s.txn.path + deletedSuffix); err == nil {
			paths = append(paths, s.txn.path)
		}
	}
	return paths
}

// flush fsyncs the .log and msyncs both indexes (LogSegment.flush). The caller holds a reference.
func (s *segment) flush() error {
	if err := s.log.Sync(); err != nil {
		return ioErr("fsync segment %d: %v", s.base, err)
	}
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	if err := errors.Join(s.oidx.Flush(), s.tidx.Flush()); err != nil {
		return ioErr("flush indexes of segment %d: %v", s.base, err)
	}
	return s.txn.flush()
}
