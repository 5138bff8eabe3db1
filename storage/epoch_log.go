package storage

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// The Log's side of the leader-epoch cache (Kafka's Log.leaderEpochCache and its callers).

// LatestEpoch is the newest leader epoch in the cache; ok is false when the cache is empty (an
// empty log, or one whose batches carry no epoch).
func (l *Log) LatestEpoch() (epoch int32, ok bool) {
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch for this log (Log.endOffsetForEpoch, KIP-279): the
// largest epoch <= epoch that the cache knows and the offset where it ended (the start of the next
// epoch, or the LEO for the latest). (UndefinedEpoch, UndefinedEpochOffset) when the cache cannot
// place it.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.LogEndOffset())
}

// EpochForOffset is the leader epoch that wrote offset according to the cache: the epoch of the last
// entry starting at or before it; -1 when there is none (ListOffsets' leader epoch, KIP-320).
func (l *Log) EpochForOffset(offset int64) int32 {
	entries := l.epochs.list()
	i := sort.Search(len(entries), func(i int) bool { return entries[i].StartOffset > offset })
	if i == 0 {
		return UndefinedEpoch
	}
	return entries[i-1].Epoch
}

// EpochEntries returns a copy of the cache, oldest first.
func (l *Log) EpochEntries() []EpochEntry { return slices.Clone(l.epochs.list()) }

// AssignEpochStartOffset records that epoch starts at startOffset (Log.maybeAssignEpochStartOffset):
// a new leader calls it with its LEO, so that the epoch is known before anything is written in it.
func (l *Log) AssignEpochStartOffset(epoch int32, startOffset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return err
	}
	if err := l.epochs.assign(epoch, startOffset); err != nil {
		return fmt.Errorf("assign leader epoch %d at %d for %s: %w", epoch, startOffset, l.tp, err)
	}
	return nil
}

// MaybeIncrementLogStartOffset raises the log start offset to offset, but never above the high
// watermark (Log.maybeIncrementLogStartOffset with reason LeaderOffsetIncremented): a follower
// follows the leader's log start offset from fetch responses. It reports whether it moved.
func (l *Log) MaybeIncrementLogStartOffset(offset int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return false, err
	}
	offset = min(offset, l.hw.Load())
	if offset <= l.view.Load().logStart {
		return false, nil
	}
	l.publishLocked(func(v *logView) { v.logStart = offset })
	if err := l.raiseToLogStartLocked(offset); err != nil {
		return true, err
	}
	l.lg.WithField("log_start_offset", offset).Debug("log start offset raised to the leader's")
	return true, nil
}

// assignEpochsLocked assigns the epoch of every v2 batch in data at its base offset (Log.append,
// before the bytes are written). Batches whose epoch is already the latest cost one comparison.
func (l *Log) assignEpochsLocked(data []byte) error {
	for rest := data; len(rest) > 0; {
		b, r, err := record.Next(rest)
		if err != nil {
			break // the caller has validated the batches; a cut tail carries nothing
		}
		if b.Magic() == 2 {
			if err := l.epochs.assign(b.PartitionLeaderEpoch(), b.BaseOffset()); err != nil {
				return fmt.Errorf("append to %s: leader epoch cache: %w", l.tp, err)
			}
		}
		rest = r
	}
	return nil
}

// loadEpochs loads leader-epoch-checkpoint and brings it in line with the segments just loaded, as
// Kafka's Log constructor does: the epochs of the batches in recovered segments (from index
// recovered on) are assigned when newer than the latest cached one, entries at or past the LEO go
// (assigned before a crash cut the data), and the first entry moves up to the log start. A missing
// or unparsable file is rebuilt from the batch headers of every segment (deviation: Kafka starts
// with an empty cache when the file is missing and takes the log dir offline when it is garbled;
// the batches hold the same information and a rebuilt cache spares the follower a truncation to its
// high watermark).
func (l *Log) loadEpochs(segs []*segment, recovered int, leo, logStart int64) error {
	c := l.epochs
	found, err := c.load()
	rebuild := !found || err != nil
	if err != nil {
		if errors.Is(err, ErrStorage) {
			return err
		}
		l.lg.WithError(err).Warn("rebuilding the leader epoch cache from the log")
	}
	from := recovered
	if rebuild {
		from = 0
	}
	entries := c.list()
	for _, s := range segs[min(from, len(segs)):] {
		err := s.scan(0, s.size.Load(), func(b batchPos) bool {
			if b.epoch >= 0 && (len(entries) == 0 || b.epoch > entries[len(entries)-1].Epoch) {
				entries, _ = assignEntry(entries, EpochEntry{Epoch: b.epoch, StartOffset: b.base})
			}
			return false
		})
		if err != nil && !errors.Is(err, errScanCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return ioErr("scan segment %d for leader epochs: %v", s.base, err)
		}
	}
	if rebuild && len(entries) == 0 && !found {
		return nil // a new log: the file appears with the first epoch
	}
	if rebuild || !slices.Equal(entries, c.list()) {
		if err := c.publish(entries); err != nil {
			return err
		}
	}
	if err := c.truncateFromEnd(leo); err != nil {
		return err
	}
	if err := c.truncateFromStart(logStart); err != nil {
		return err
	}
	if e, ok := c.latest(); ok {
		l.lg.WithFields(logrus.Fields{"leader_epoch": e.Epoch, "start_offset": e.StartOffset, "entries": len(c.list()),
			"rebuilt": rebuild}).Debug("loaded leader epoch cache")
	}
	return nil
}
