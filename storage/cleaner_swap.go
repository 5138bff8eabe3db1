package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/samsa-broker/samsa/storage/index"
	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// cleanSnapshot is the log as a cleaning found it: the view, a reference on each of its segments
// (so their files stay readable whatever happens to the log meanwhile) and the truncation
// generation, which replaceSegments compares to detect a truncation since.
type cleanSnapshot struct {
	view *logView
	gen  uint64
	held []*segment
}

func (l *Log) cleaningSnapshot() (*cleanSnapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("%w: log closed", errCleaningAborted)
	}
	v := l.view.Load()
	snap := &cleanSnapshot{view: v, gen: l.truncGen}
	for _, s := range v.segs {
		if !s.acquire() {
			snap.release()
			return nil, fmt.Errorf("%w: segment %d closed", errCleaningAborted, s.base)
		}
		snap.held = append(snap.held, s)
	}
	return snap, nil
}

func (c *cleanSnapshot) release() {
	for _, s := range c.held {
		s.release()
	}
	c.held = nil
}

// lastModified is the .log file's modification time in ms (LogSegment.lastModified), which the
// cleaner uses for the tombstone horizon; cleaned segments inherit the group's last one.
func (s *segment) lastModified() int64 {
	st, err := s.log.Stat()
	if err != nil {
		return 0
	}
	return st.ModTime().UnixMilli()
}

// firstBatchTimestamp is the first batch's max timestamp, or MaxInt64 when there is none
// (LogSegment.getFirstBatchTimestamp), for max.compaction.lag.ms.
func (s *segment) firstBatchTimestamp() int64 {
	var h [record.HeaderSize]byte
	if s.size.Load() < record.HeaderSize {
		return math.MaxInt64
	}
	if _, err := s.log.ReadAt(h[:], 0); err != nil {
		return math.MaxInt64
	}
	if ts := hdrMaxTimestamp(h[:]); ts >= 0 {
		return ts
	}
	return math.MaxInt64
}

// cleanedSegment is the cleaner's output for one group while it is written: files
// <base>.log.cleaned, .index.cleaned, .timeindex.cleaned, invisible to the log.
type cleanedSegment struct {
	seg    *segment
	suffix string // current temporary suffix of the files
}

func createCleanedSegment(dir string, base int64, maxIndexSize int) (*cleanedSegment, error) {
	// A crashed or aborted cleaning may have left files with these names (Kafka deletes them
	// the same way before opening the cleaned segment).
	removeSegmentFiles(dir, base, cleanedSuffix)
	path := segmentFile(dir, base, logSuffix) + cleanedSuffix
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, ioErr("create cleaned segment: %v", err)
	}
	oidx, err := index.OpenOffsetIndex(segmentFile(dir, base, indexSuffix)+cleanedSuffix, base, maxIndexSize)
	if err != nil {
		f.Close()
		removeSegmentFiles(dir, base, cleanedSuffix)
		return nil, ioErr("open cleaned offset index: %v", err)
	}
	tidx, err := index.OpenTimeIndex(segmentFile(dir, base, timeIndexSuffix)+cleanedSuffix, base, maxIndexSize)
	if err != nil {
		oidx.Close()
		f.Close()
		removeSegmentFiles(dir, base, cleanedSuffix)
		return nil, ioErr("open cleaned time index: %v", err)
	}
	// The transaction index is created only if the group's segments have aborted transactions
	// (copyTxnIndexes).
	txn := &txnIndex{path: segmentFile(dir, base, txnIndexSuffix) + cleanedSuffix, last: -1}
	s := &segment{base: base, dir: dir, log: f, oidx: oidx, tidx: tidx, txn: txn, offMaxTs: base}
	s.maxTs.Store(-1)
	s.refs.Store(1)
	return &cleanedSegment{seg: s, suffix: cleanedSuffix}, nil
}

// removeSegmentFiles removes a segment's files carrying suffix, ignoring absent ones.
func removeSegmentFiles(dir string, base int64, suffix string) {
	// Best effort: startup removes leftover .cleaned and .swap files anyway.
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		_ = os.Remove(segmentFile(dir, base, suf) + suffix)
	}
}

// discard closes and removes an output that will not be swapped in.
func (c *cleanedSegment) discard() {
	c.seg.closeFiles()
	removeSegmentFiles(c.seg.dir, c.seg.base, cleanedSuffix)
	removeSegmentFiles(c.seg.dir, c.seg.base, swapSuffix)
}

// finish writes the final time-index entry, trims the indexes, fsyncs everything and sets the
// .log's modification time to mtime (ms).
func (c *cleanedSegment) finish(mtime int64) error {
	s := c.seg
	if err := s.onBecomeInactiveLocked(false); err != nil {
		return ioErr("finish cleaned segment %d: %v", s.base, err)
	}
	if err := s.flush(); err != nil {
		return err
	}
	t := time.UnixMilli(mtime)
	if err := os.Chtimes(segmentFile(s.dir, s.base, logSuffix)+c.suffix, t, t); err != nil {
		return ioErr("set time of cleaned segment %d: %v", s.base, err)
	}
	return nil
}

// renameFilesLocked moves the segment's files from suffix from to suffix to, the .log last so
// that a .log with the final name implies complete indexes. Readers may hold the segment: the
// index renames take idxMu.
func (s *segment) renameFilesLocked(from, to string) error {
	s.idxMu.Lock()
	defer s.idxMu.Unlock()
	for _, ix := range []interface {
		Path() string
		Rename(string) error
	}{s.oidx, s.tidx} {
		p := ix.Path()
		if err := ix.Rename(strings.TrimSuffix(p, from) + to); err != nil {
			return ioErr("rename %s: %v", p, err)
		}
	}
	if err := s.txn.rename(strings.TrimSuffix(s.txn.path, from) + to); err != nil {
		return err
	}
	p := segmentFile(s.dir, s.base, logSuffix)
	if err := os.Rename(p+from, p+to); err != nil {
		return ioErr("rename %s: %v", p+from, err)
	}
	return nil
}

// cleanedWriter appends batches to a cleaned segment through a write buffer (one pwrite per
// chunk) and maintains its indexes per batch exactly as appends do: an offset entry (the batch's
// last offset, its position) once more than index.interval.bytes were written since the last
// one, with a time entry (max timestamp so far, its batch's last offset).
type cleanedWriter struct {
	s        *segment
	interval int
	chunk    int
	buf      []byte
	start    int64 // file position of buf[0]
	idxFull  bool
}

func (w *cleanedWriter) add(b record.Batch) error {
	if len(w.buf) > 0 && len(w.buf)+len(b) > w.chunk {
		if err := w.flush(); err != nil {
			return err
		}
	}
	s := w.s
	pos := w.start + int64(len(w.buf))
	if pos+int64(len(b)) > math.MaxInt32 || !s.canConvertToRelativeOffset(b.LastOffset()) {
		return fmt.Errorf("cleaned segment %d: batch at offset %d does not fit a segment", s.base, b.BaseOffset())
	}
	if ts := b.MaxTimestamp(); ts > s.maxTs.Load() {
		s.maxTs.Store(ts)
		s.offMaxTs = b.LastOffset()
	}
	if s.bytesSinceIndex > w.interval && !w.idxFull {
		if err := s.oidx.Append(b.LastOffset(), int32(pos)); err != nil {
			if !errors.Is(err, index.ErrFull) {
				return fmt.Errorf("cleaned segment %d: %w", s.base, err)
			}
			w.idxFull = true // sparser index: lookups still work
		} else {
			_ = s.tidx.MaybeAppend(s.maxTs.Load(), s.offMaxTs, false)
			s.bytesSinceIndex = 0
		}
	}
	s.bytesSinceIndex += len(b)
	w.buf = append(w.buf, b...)
	return nil
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.s.log.WriteAt(w.buf, w.start); err != nil {
		return ioErr("write cleaned segment %d: %v", w.s.base, err)
	}
	w.start += int64(len(w.buf))
	w.s.size.Store(w.start)
	w.buf = w.buf[:0]
	return nil
}

// replaceSegments swaps a cleaned segment in for old, the consecutive segments it was made from
// (Log.replaceSegments), unless the log changed since the cleaning took gen: closed, truncated
// (its output may hold offsets that are gone), or one of old was deleted meanwhile (retention).
// Then it returns false and the caller discards the output.
//
// Crash safety, in file renames: the output's files go .cleaned -> .swap; old segments are
// renamed .deleted (removed after file.delete.delay.ms); the .swap files take the final names.
// A crash before the first step leaves .cleaned files, which startup deletes; after it, startup
// finds the .swap .log and completes the swap, replacing the segments whose offsets it covers;
// .deleted files are removed at startup in any case.
func (l *Log) replaceSegments(cleaned *segment, old []*segment, gen uint64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.truncGen != gen {
		return false, nil
	}
	v := l.view.Load()
	i := slices.Index(v.segs, old[0])
	if i < 0 || i+len(old) >= len(v.segs) {
		return false, nil // gone, or now reaching the active segment (impossible without truncation)
	}
	for k, s := range old {
		if v.segs[i+k] != s {
			return false, nil
		}
	}
	if err := cleaned.renameFilesLocked(cleanedSuffix, swapSuffix); err != nil {
		return false, err
	}
	segs := make([]*segment, 0, len(v.segs)-len(old)+1)
	segs = append(segs, v.segs[:i]...)
	segs = append(segs, cleaned)
	segs = append(segs, v.segs[i+len(old):]...)
	l.publishLocked(func(v *logView) { v.segs = segs })
	l.asyncDeleteSegments(old)
	// From here the output is the log's segment; a failed rename leaves .swap files that
	// startup completes.
	if err := cleaned.renameFilesLocked(swapSuffix, ""); err != nil {
		return true, err
	}
	if err := syncDir(l.dir); err != nil {
		return true, ioErr("sync %s: %v", l.dir, err)
	}
	bases := make([]int64, len(old))
	for k, s := range old {
		bases[k] = s.base
	}
	l.lg.WithFields(logrus.Fields{"segment": cleaned.base, "replaced_segments": bases, "size": cleaned.size.Load()}).
		Info("swapped in cleaned segment")
	return true, nil
}
