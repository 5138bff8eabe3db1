package storage

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// parseSegmentName splits "<20 digits><suffix>" for the segment suffixes; ok is false for any
// other file (snapshots, checkpoints, partition.metadata).
func parseSegmentName(name string) (base int64, suffix string, ok bool) {
	if len(name) <= 20 {
		return 0, "", false
	}
	switch suffix = name[20:]; suffix {
	case logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix:
	default:
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:20], 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, suffix, true
}

// load opens the segments and recovers as needed (Log.loadSegments + Log.recoverLog, §9).
func (l *Log) load(recoveryPoint, logStart int64, clean bool) error {
	cfg := l.config()
	now := l.clock()
	bases, err := l.prepareDir()
	if err != nil {
		return err
	}
	segs := make([]*segment, 0, len(bases))
	ok := false
	defer func() {
		if !ok {
			for _, s := range segs {
				s.release()
			}
		}
	}()
	missing := make(map[*segment]bool)
	for _, base := range bases {
		s, miss, err := openExistingSegment(l.dir, base, cfg)
		if err != nil {
			return err
		}
		s.created, s.jitter = now, randomJitter(cfg)
		missing[s] = miss
		segs = append(segs, s)
	}

	// After an unclean shutdown everything from the segment holding the recovery point on may be
	// torn; what lies below was fsynced and only needs its indexes checked.
	firstUnflushed := len(segs)
	if !clean {
		firstUnflushed = max(sort.Search(len(segs), func(i int) bool { return segs[i].base > recoveryPoint })-1, 0)
	}
	if err := l.checkFlushedSegments(segs[:firstUnflushed], missing, cfg); err != nil {
		return err
	}
	if segs, err = l.recoverUnflushedSegments(segs, firstUnflushed, cfg); err != nil {
		return err
	}

	leo := logStart
	emptied := false
	if len(segs) > 0 {
		if leo, err = segs[len(segs)-1].readNextOffset(); err != nil {
			return err
		}
		if leo < logStart {
			l.lg.WithFields(logrus.Fields{"log_end_offset": leo, "log_start_offset": logStart}).
				Warn("deleting all segments because the log end offset is below the log start offset")
			l.asyncDeleteSegments(segs)
			segs = segs[:0]
			emptied = true
		}
	}
	if len(segs) == 0 {
		s, err := createSegment(l.dir, logStart, cfg, now, randomJitter(cfg))
		if err != nil {
			return err
		}
		segs = append(segs, s)
		leo = logStart
	}
	logStart = max(logStart, segs[0].base)
	if emptied {
		err = l.epochs.clear()
	} else {
		err = l.loadEpochs(segs, firstUnflushed, leo, logStart)
	}
	if err != nil {
		return err
	}
	rp := leo
	if !clean {
		rp = min(recoveryPoint, leo)
	}
	if err := segs[len(segs)-1].resizeIndexesLocked(cfg.SegmentIndexBytes); err != nil {
		return ioErr("resize active segment indexes: %v", err)
	}
	if err := l.loadProducerStateLocked(segs, leo, logStart); err != nil {
		return err
	}
	l.view.Store(&logView{segs: segs, logStart: logStart, leo: leo})
	l.recoveryPoint.Store(rp)
	l.hw.Store(logStart)
	l.updateFirstUnstableLocked(logStart)
	ok = true
	l.lg.WithFields(logrus.Fields{"segments": len(segs), "log_start_offset": logStart, "log_end_offset": leo,
		"recovery_point": rp, "clean_shutdown": clean}).Info("loaded log")
	return nil
}

// checkFlushedSegments keeps the indexes of segments that need no recovery when they pass
// verifyIndexes, and rebuilds them otherwise (Log.loadSegmentFiles). A truncation here (data
// below the recovery point was bad) is logged but, as in Kafka, later segments stay.
func (l *Log) checkFlushedSegments(segs []*segment, missing map[*segment]bool, cfg Config) error {
	for _, s := range segs {
		var problem error
		if missing[s] {
			problem = errors.New("index file missing")
		} else if _, err := s.verifyIndexes(); err != nil {
			if errors.Is(err, ErrStorage) {
				return err
			}
			problem = err
		} else if err := s.txn.sanityCheck(s.base); err != nil {
			if errors.Is(err, ErrStorage) {
				return err
			}
			problem = err
		}
		if problem == nil {
			s.loadStateFromIndexes()
			continue
		}
		s.rebuildTxn = true
		l.lg.WithFields(logrus.Fields{"segment": s.base, "reason": problem.Error()}).Warn("rebuilding segment indexes")
		res, err := s.recoverLocked(cfg.IndexIntervalBytes)
		if err != nil {
			return err
		}
		l.logTruncation(s, res, "index rebuild")
	}
	return nil
}

// recoverUnflushedSegments recovers segs[from:] in order; at the first one cut short, the later
// segments are deleted (Log.recoverLog). It returns the segments that remain.
func (l *Log) recoverUnflushedSegments(segs []*segment, from int, cfg Config) ([]*segment, error) {
	for i := from; i < len(segs); i++ {
		s := segs[i]
		s.rebuildTxn = true
		res, err := s.recoverLocked(cfg.IndexIntervalBytes)
		if err != nil {
			return segs, err
		}
		l.lg.WithFields(logrus.Fields{"segment": s.base, "batches": res.batches}).Info("recovered unflushed segment")
		if res.truncated == 0 {
			continue
		}
		l.logTruncation(s, res, "recovery")
		// Offsets after a hole cannot be trusted: the later segments go.
		if later := segs[i+1:]; len(later) > 0 {
			l.lg.WithFields(logrus.Fields{"segment": s.base, "deleted_segments": len(later)}).Warn("deleting segments after corruption")
			l.asyncDeleteSegments(later)
			segs = segs[:i+1]
		}
		break
	}
	return segs, nil
}

func (l *Log) logTruncation(s *segment, res recoverResult, during string) {
	if res.truncated == 0 {
		return
	}
	l.lg.WithFields(logrus.Fields{
		"segment":       s.base,
		"during":        during,
		"valid_bytes":   s.size.Load(),
		"bytes_removed": res.truncated,
		"reason":        res.reason,
	}).Warn("truncated invalid bytes at the end of segment")
}

// openExistingSegment opens a segment found on disk; missing reports whether an index file had to
// be created (then the segment needs its indexes rebuilt).
func openExistingSegment(dir string, base int64, cfg Config) (*segment, bool, error) {
	missing := false
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if _, err := os.Stat(segmentFile(dir, base, suf)); errors.Is(err, fs.ErrNotExist) {
			missing = true
		}
	}
	f, err := os.OpenFile(segmentFile(dir, base, logSuffix), os.O_RDWR, 0)
	if err != nil {
		return nil, false, ioErr("open segment: %v", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, ioErr("stat segment: %v", err)
	}
	if st.Size() > math.MaxInt32 {
		f.Close()
		return nil, false, ioErr("segment %s is %d bytes, above the int32 positions of the index", f.Name(), st.Size())
	}
	s, err := openSegmentFiles(dir, base, f, cfg)
	if err != nil {
		return nil, false, err
	}
	s.size.Store(st.Size())
	return s, missing, nil
}

// loadStateFromIndexes sets the writer state of a segment whose indexes were accepted: max
// timestamp from the time index's last entry (LogSegment.maxTimestampAndOffsetSoFar) and the
// bytes since the last offset-index entry.
func (s *segment) loadStateFromIndexes() {
	ts, off := s.tidx.LastEntry()
	s.maxTs.Store(ts)
	s.offMaxTs = off
	_, pos := s.lastIndexEntry()
	s.bytesSinceIndex = int(s.size.Load() - int64(pos))
}

// prepareDir removes temporary files and completes swaps (§1), deletes index files without a
// .log, and returns the base offsets of the .log files in order.
func (l *Log) prepareDir() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, ioErr("list log dir %s: %v", l.dir, err)
	}
	logs := make(map[int64]bool)
	type idxFile struct {
		name string
		base int64
	}
	var idxFiles []idxFile
	var swaps []string
	minCleaned := int64(math.MaxInt64)
	remove := func(name, why string) error {
		l.lg.WithFields(logrus.Fields{"file": name, "reason": why}).Info("removing file")
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr("remove %s: %v", name, err)
		}
		return nil
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, deletedSuffix):
			if err := remove(name, "scheduled for deletion before shutdown"); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, cleanedSuffix):
			if base, _, ok := parseSegmentName(strings.TrimSuffix(name, cleanedSuffix)); ok {
				minCleaned = min(minCleaned, base)
			}
			if err := remove(name, "incomplete cleaner output"); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, swapSuffix):
			swaps = append(swaps, name)
		default:
			base, suffix, ok := parseSegmentName(name)
			switch {
			case !ok:
			case suffix == logSuffix:
				logs[base] = true
			default:
				idxFiles = append(idxFiles, idxFile{name, base})
			}
		}
	}
	for _, name := range swaps {
		base, suffix, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix))
		switch {
		case !ok:
			continue
		case suffix != logSuffix:
			// Swapped-in index files are rebuilt from the .log instead.
			if err := remove(name, "index swap file"); err != nil {
				return nil, err
			}
		case base >= minCleaned:
			// The cleaning that produced it did not finish: the old segments are still complete.
			if err := remove(name, "swap file from an incomplete cleaning"); err != nil {
				return nil, err
			}
		default:
			if err := l.completeSwap(name, base, logs); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range idxFiles {
		if !logs[f.base] {
			if err := remove(f.name, "index file without a .log"); err != nil {
				return nil, err
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// completeSwap finishes a cleaner swap interrupted by a crash, simply: the .swap log replaces every
// segment whose base offset lies in [its base, its next offset), and its indexes are rebuilt
// (its index files are removed here, so the segment loads as "index missing").
func (l *Log) completeSwap(name string, base int64, logs map[int64]bool) error {
	path := filepath.Join(l.dir, name)
	next, err := fileNextOffset(path, base)
	if err != nil {
		return err
	}
	for b := range logs {
		if b >= base && b < max(next, base+1) {
			for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
				if err := os.Remove(segmentFile(l.dir, b, suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return ioErr("remove segment replaced by swap: %v", err)
				}
			}
			delete(logs, b)
		}
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := os.Remove(segmentFile(l.dir, base, suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr("remove index of swapped segment: %v", err)
		}
	}
	if err := os.Rename(path, segmentFile(l.dir, base, logSuffix)); err != nil {
		return ioErr("complete swap %s: %v", name, err)
	}
	logs[base] = true
	l.lg.WithFields(logrus.Fields{"file": name, "next_offset": next}).Info("completed segment swap")
	return nil
}

// fileNextOffset scans the batch headers of a .log file and returns the offset after the last
// whole batch (base when there is none).
func fileNextOffset(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, ioErr("open %s: %v", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, ioErr("stat %s: %v", path, err)
	}
	next := base
	var h [record.HeaderSize]byte
	for pos := int64(0); pos+record.HeaderSize <= st.Size(); {
		if _, err := f.ReadAt(h[:], pos); err != nil {
			return 0, ioErr("read %s: %v", path, err)
		}
		_, size, _, err := record.PeekHeader(h[:])
		if err != nil || pos+int64(size) > st.Size() {
			break
		}
		next = int64(record.Batch(h[:]).BaseOffset()) + int64(hdrLastOffsetDelta(h[:])) + 1
		pos += int64(size)
	}
	return next, nil
}

// asyncDeleteSegments renames segments .deleted, schedules their removal after
// file.delete.delay.ms and drops the log's reference (readers keep theirs). The segments must
// already be out of the published view. Caller holds mu (or is loading).
func (l *Log) asyncDeleteSegments(segs []*segment) {
	delay := msDuration(l.config().FileDeleteDelayMs)
	for _, s := range segs {
		paths := s.renameDeletedLocked()
		l.deleter.schedule(delay, false, paths...)
		l.lg.WithFields(logrus.Fields{"segment": s.base, "size": s.size.Load()}).Info("scheduled segment for deletion")
		s.release()
	}
}
