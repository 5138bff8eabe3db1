package storage

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sirupsen/logrus"
)

// DeleteOldSegments applies the log-start-offset rule, then (when cleanup.policy contains
// delete) retention.bytes and retention.ms (Log.deleteOldSegments). Segments are taken
// oldest-first while the rule holds; none holding offsets at or above highWatermark is deleted,
// nor an empty active segment; if every segment goes, a new empty one is rolled first. Deleted
// segments are renamed .deleted and removed after file.delete.delay.ms; the log start offset
// moves to the first remaining segment.
func (l *Log) DeleteOldSegments(nowMs int64, highWatermark int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return 0, err
	}
	cfg := l.config()
	total := 0
	n, err := l.deleteOldLocked(highWatermark, "log_start_offset", cfg, nowMs, func(s, next *segment) bool {
		return next != nil && next.base <= l.view.Load().logStart
	})
	total += n
	if err != nil || !cfg.hasPolicy("delete") {
		return total, err
	}
	if cfg.RetentionBytes >= 0 {
		if diff := l.Size() - cfg.RetentionBytes; diff >= 0 {
			n, err = l.deleteOldLocked(highWatermark, "retention_bytes", cfg, nowMs, func(s, _ *segment) bool {
				if sz := s.size.Load(); diff-sz >= 0 {
					diff -= sz
					return true
				}
				return false
			})
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	if cfg.RetentionMs >= 0 {
		n, err = l.deleteOldLocked(highWatermark, "retention_ms", cfg, nowMs, func(s, _ *segment) bool {
			return nowMs-s.largestTimestamp() > cfg.RetentionMs
		})
		total += n
	}
	return total, err
}

// deleteOldLocked deletes the longest prefix of segments satisfying pred (Log.deletableSegments +
// Log.deleteSegments).
func (l *Log) deleteOldLocked(hw int64, reason string, cfg Config, nowMs int64, pred func(s, next *segment) bool) (int, error) {
	v := l.view.Load()
	n := 0
	for i, s := range v.segs {
		var next *segment
		upper := v.leo
		if i+1 < len(v.segs) {
			next, upper = v.segs[i+1], v.segs[i+1].base
		} else if s.size.Load() == 0 {
			break // never the empty active segment
		}
		if hw < upper || !pred(s, next) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(v.segs) {
		// A log always has a segment: roll a new empty one before deleting them all.
		if _, err := l.rollLocked(v.leo, cfg, nowMs); err != nil {
			return 0, err
		}
		v = l.view.Load()
	}
	deleted := v.segs[:n]
	segs := slices.Clone(v.segs[n:])
	nv := l.publishLocked(func(v *logView) {
		v.segs = segs
		v.logStart = max(v.logStart, segs[0].base)
	})
	err := errors.Join(l.raiseToLogStartLocked(nv.logStart), l.deleteSnapshotsOfLocked(deleted))
	l.asyncDeleteSegments(deleted)
	l.lg.WithFields(logrus.Fields{"reason": reason, "segments": n, "log_start_offset": nv.logStart}).Info("deleted old segments")
	return n, err
}

// raiseToLogStartLocked keeps HW and recovery point at or above the log start offset
// (Log.updateLogStartOffset) and moves the leader-epoch cache's first entry and the producer
// state up to it (Log.maybeIncrementLogStartOffset).
func (l *Log) raiseToLogStartLocked(logStart int64) error {
	if l.hw.Load() < logStart {
		l.hw.Store(logStart)
	}
	if l.recoveryPoint.Load() < logStart {
		l.recoveryPoint.Store(logStart)
	}
	l.producers.onLogStartOffsetIncremented(logStart)
	l.updateFirstUnstableLocked(logStart)
	return l.epochs.truncateFromStart(logStart)
}

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords,
// Log.maybeIncrementLogStartOffset). offset must not be above the high watermark set with
// SetHighWatermark (ErrOffsetOutOfRange). Reads below the new start fail at once; the segments
// wholly below it go at the next DeleteOldSegments.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return 0, err
	}
	v := l.view.Load()
	if hw := l.hw.Load(); offset < 0 || offset > hw {
		return v.logStart, fmt.Errorf("%w: cannot move the log start offset of %s to %d: high watermark is %d", ErrOffsetOutOfRange, l.tp, offset, hw)
	}
	if offset <= v.logStart {
		return v.logStart, nil
	}
	l.publishLocked(func(v *logView) { v.logStart = offset })
	err := l.raiseToLogStartLocked(offset)
	l.lg.WithField("log_start_offset", offset).Info("log start offset advanced by DeleteRecords")
	return offset, err
}

// TruncateTo removes every offset >= offset (Log.truncateTo, §13): later segments are deleted
// (async), the segment holding offset is cut at the batch containing it (the whole batch goes),
// the LEO becomes offset, recovery point and HW at most offset, and producer state is rebuilt up
// to offset from the newest snapshot below it. No effect when offset >= LEO.
// When offset is below the first segment the log is emptied and restarted at offset.
// Readers holding ranges into the cut file may get short reads.
func (l *Log) TruncateTo(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate %s to negative offset %d", l.tp, offset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return err
	}
	v := l.view.Load()
	if offset >= v.leo {
		// Still trim the epoch cache: a leader elected at the LEO may have assigned an epoch and
		// written nothing in it before another leader took over (Log.truncateTo).
		return l.epochs.truncateFromEnd(v.leo)
	}
	if offset < v.segs[0].base {
		return l.truncateFullyLocked(offset)
	}
	cfg := l.config()
	i := v.floor(offset)
	keep, drop := slices.Clone(v.segs[:i+1]), v.segs[i+1:]
	l.truncGen++
	l.noteTruncationLocked(offset)
	l.publishLocked(func(v *logView) {
		v.segs = keep
		v.leo = offset
		v.logStart = min(v.logStart, offset)
	})
	l.asyncDeleteSegments(drop)
	removed, err := keep[i].truncateToLocked(offset, cfg, l.clock())
	err = errors.Join(err, l.epochs.truncateFromEnd(offset))
	l.hw.Store(min(l.hw.Load(), offset))
	l.recoveryPoint.Store(min(l.recoveryPoint.Load(), offset))
	err = errors.Join(err, l.rebuildProducerStateLocked(keep, offset, l.view.Load().logStart))
	l.lg.WithFields(logrus.Fields{"offset": offset, "bytes_removed": removed, "deleted_segments": len(drop)}).Info("truncated log")
	if err != nil {
		return fmt.Errorf("truncate %s to %d: %w", l.tp, offset, err)
	}
	return nil
}

// TruncateFullyAndStartAt deletes every segment and starts an empty log at offset
// (Log.truncateFullyAndStartAt): LEO, log start, recovery point and HW all become offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("truncate %s fully to negative offset %d", l.tp, offset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return err
	}
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateFullyLocked(offset int64) error {
	cfg := l.config()
	v := l.view.Load()
	l.truncGen++
	l.noteTruncationLocked(offset)
	// Rename first so that a segment with base offset == offset frees its file names.
	var paths [][]string
	for _, s := range v.segs {
		paths = append(paths, s.renameDeletedLocked())
	}
	ns, err := createSegment(l.dir, offset, cfg, l.clock(), randomJitter(cfg))
	if err != nil {
		return fmt.Errorf("truncate %s fully: %w", l.tp, err)
	}
	l.publishLocked(func(v *logView) {
		v.segs = []*segment{ns}
		v.leo, v.logStart = offset, offset
	})
	l.hw.Store(offset)
	l.recoveryPoint.Store(offset)
	err = errors.Join(l.epochs.clear(), l.truncateProducerStateFullyLocked(offset))
	delay := msDuration(cfg.FileDeleteDelayMs)
	for i, s := range v.segs {
		l.deleter.schedule(delay, false, paths[i]...)
		s.release()
	}
	l.lg.WithFields(logrus.Fields{"offset": offset, "deleted_segments": len(v.segs)}).Info("truncated log fully")
	if err != nil {
		return fmt.Errorf("truncate %s fully: %w", l.tp, err)
	}
	return nil
}
