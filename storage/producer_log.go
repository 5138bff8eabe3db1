package storage

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// The Log's side of producer state (Kafka's Log: analyzeAndValidateProducerState, the producer
// parts of append, roll, truncation, retention and loading; lastStableOffset and
// collectAbortedTransactions).

// DefaultProducerIDExpirationMs is transactional.id.expiration.ms's default (7 days); Kafka 2.8
// has no separate producer id expiration.
const DefaultProducerIDExpirationMs = 7 * 24 * 60 * 60 * 1000

// LastStableOffset is the offset below which every transaction is decided and replicated
// (reference 06 §6): the first unstable offset if it is below the HW, else the HW. read_committed
// fetches and ListOffsets read up to it. Lock-free.
func (l *Log) LastStableOffset() int64 {
	hw := l.hw.Load()
	if fu := l.firstUnstable.Load(); fu >= 0 && fu < hw {
		return fu
	}
	return hw
}

// FirstUnstableOffset is the first offset of the earliest open transaction, or of the earliest
// completed one whose marker is not yet below the HW, clamped to the log start offset; ok is false
// when there is none.
func (l *Log) FirstUnstableOffset() (offset int64, ok bool) {
	fu := l.firstUnstable.Load()
	return fu, fu >= 0
}

// updateFirstUnstableLocked publishes the first unstable offset (Log.updateFirstUnstableOffset).
func (l *Log) updateFirstUnstableLocked(logStart int64) {
	fu, ok := l.producers.firstUnstableOffset()
	if !ok {
		l.firstUnstable.Store(-1)
		return
	}
	l.firstUnstable.Store(max(fu, logStart))
}

// onHighWatermarkLocked lets completed transactions whose marker is now below the HW stop holding
// the LSO back (ProducerStateManager.onHighWatermarkUpdated).
func (l *Log) onHighWatermarkLocked(hw, logStart int64) {
	l.producers.removeUnreplicatedBelow(hw)
	l.updateFirstUnstableLocked(logStart)
}

// analyzeLeaderBatchLocked checks a leader append's batch (offsets assigned) against producer
// state (Log.analyzeAndValidateProducerState). For a client batch that retries one of the
// producer's last 5 batches it returns that batch instead, and nothing is to be written.
func (l *Log) analyzeLeaderBatchLocked(b record.Batch, origin appendOrigin) (*producerUpdate, *batchMetadata, error) {
	if b.ProducerID() < 0 {
		return nil, nil, nil
	}
	if origin == originClient {
		if dup, ok := l.producers.duplicateOf(b); ok {
			return nil, &dup, nil
		}
	}
	pu := &producerUpdate{}
	if err := pu.add(l.producers, b, origin); err != nil {
		return nil, nil, err
	}
	return pu, nil, nil
}

// analyzeFollowerLocked replays a follower append's batches (origin replication: nothing is
// refused).
func (l *Log) analyzeFollowerLocked(data []byte) (*producerUpdate, error) {
	var pu *producerUpdate
	for rest := data; len(rest) > 0; {
		b, r, err := record.Next(rest)
		if err != nil {
			break // the caller has checked the batches
		}
		rest = r
		if b.ProducerID() < 0 {
			continue
		}
		if pu == nil {
			pu = &producerUpdate{}
		}
		if err := pu.add(l.producers, b, originReplication); err != nil {
			return nil, err
		}
	}
	return pu, nil
}

// applyProducerUpdateLocked makes an append's producer changes once its bytes are in seg: entries
// updated, transactions opened and completed, aborted ones indexed in seg's .txnindex (when
// indexTxns), the map end offset moved to next and the first unstable offset republished.
func (l *Log) applyProducerUpdateLocked(seg *segment, pu *producerUpdate, next int64, indexTxns bool) error {
	ps := l.producers
	var err error
	if pu != nil {
		pu.each(ps.update)
		for _, ct := range pu.completed {
			if ct.aborted && indexTxns {
				e := txnEntry{producerID: ct.producerID, firstOffset: ct.firstOffset, lastOffset: ct.lastOffset,
					lastStableOffset: ps.lastStableOffsetFor(ct)}
				if err = seg.txn.append(e); err != nil {
					// As in Kafka the LEO has moved on; the transaction stays open here (holding the
					// LSO back) until the log dir is recovered.
					break
				}
			}
			ps.completeTxn(ct)
		}
	}
	if err == nil {
		ps.mapEndOffset = next
	}
	if v := l.view.Load(); v != nil {
		l.updateFirstUnstableLocked(v.logStart)
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", l.tp, err)
	}
	return nil
}

// CollectAbortedTransactions lists the aborted transactions that overlap [startOffset,
// upperBoundOffset): marker at or after startOffset, first offset below upperBoundOffset
// (Log.collectAbortedTransactions). It walks the .txnindex of the segment holding startOffset and
// the following ones, stopping early at an entry whose last stable offset reaches the bound.
func (l *Log) CollectAbortedTransactions(startOffset, upperBoundOffset int64) ([]AbortedTxn, error) {
	v := l.view.Load()
	return collectAborted(v, max(v.floor(startOffset), 0), startOffset, upperBoundOffset)
}

func collectAborted(v *logView, from int, startOffset, upperBound int64) ([]AbortedTxn, error) {
	var out []AbortedTxn
	for _, s := range v.segs[from:] {
		if !s.acquire() {
			continue // deleted meanwhile: nothing of it is readable any more
		}
		s.idxMu.RLock()
		var done bool
		var err error
		out, done, err = s.txn.collect(startOffset, upperBound, out)
		s.idxMu.RUnlock()
		s.release()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	return out, nil
}

// AbortedTransactions answers a read_committed fetch at fetchOffset that returned fr (Read with
// the LSO as bound): the upper bound is the offset of the first offset-index entry at or after
// the end of the returned bytes, else the next segment's base offset, else the LEO
// (Log.addAbortedTransactions, reference 06 §7). An empty range gives nil.
func (l *Log) AbortedTransactions(fetchOffset int64, fr FileRange) ([]AbortedTxn, error) {
	if fr.Length <= 0 || fr.File == nil {
		return nil, nil
	}
	v := l.view.Load()
	i := slices.IndexFunc(v.segs, func(s *segment) bool { return s.log == fr.File })
	if i < 0 {
		// The segment went away since the read (retention, truncation, cleaning): the whole
		// rest of the log bounds it, which can only list more than needed.
		return collectAborted(v, max(v.floor(fetchOffset), 0), fetchOffset, v.leo)
	}
	s := v.segs[i]
	upper := v.leo
	if i+1 < len(v.segs) {
		upper = v.segs[i+1].base
	}
	if off, ok := s.fetchUpperBoundOffset(fr.Position + fr.Length); ok {
		upper = off
	}
	return collectAborted(v, i, fetchOffset, upper)
}

// fetchUpperBoundOffset is OffsetIndex.fetchUpperBoundOffset: the offset of the first index entry
// whose position is at or beyond pos.
func (s *segment) fetchUpperBoundOffset(pos int64) (int64, bool) {
	if !s.acquire() {
		return 0, false
	}
	defer s.release()
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	n := s.oidx.Entries()
	i := sort.Search(n, func(i int) bool { _, p := s.oidx.Entry(i); return int64(p) >= pos })
	if i == n {
		return 0, false
	}
	off, _ := s.oidx.Entry(i)
	return off, true
}

// RemoveExpiredProducers drops producers without an open transaction whose last batch or marker
// is transactional.id.expiration.ms older than nowMs (Log.removeExpiredProducers, every
// producer.id.expiration.check.interval.ms). It returns how many went.
func (l *Log) RemoveExpiredProducers(nowMs int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0
	}
	n := l.producers.removeExpired(nowMs)
	if n > 0 {
		l.lg.WithField("producers", n).Info("removed expired producer ids")
	}
	return n
}

// ProducerState is one producer's state on this partition, for tests and tools
// (DescribeProducers' view).
type ProducerState struct {
	ProducerID            int64
	Epoch                 int16
	LastSequence          int32 // -1 when no data batch is retained
	LastOffset            int64 // last offset of the last data batch, -1 when none
	CoordinatorEpoch      int32
	LastTimestamp         int64
	CurrentTxnFirstOffset int64 // -1 when no transaction is open
}

// ActiveProducers returns the state of every producer known to this partition, by producer id.
func (l *Log) ActiveProducers() []ProducerState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProducerState, 0, len(l.producers.producers))
	for _, e := range l.producers.producers {
		out = append(out, ProducerState{ProducerID: e.producerID, Epoch: e.epoch, LastSequence: e.lastSeq(),
			LastOffset: e.lastDataOffset(), CoordinatorEpoch: e.coordinatorEpoch, LastTimestamp: e.lastTimestamp,
			CurrentTxnFirstOffset: e.currentTxnFirstOffset})
	}
	slices.SortFunc(out, func(a, b ProducerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// snapshotOnRollLocked takes the snapshot named by the new segment's base offset (Log.roll): the
// state before the new segment, so recovering it starts from this file.
func (l *Log) snapshotOnRollLocked(newBase int64) error {
	l.producers.mapEndOffset = newBase
	if err := l.producers.takeSnapshot(); err != nil {
		return fmt.Errorf("roll %s: %w", l.tp, err)
	}
	return nil
}

// deleteSnapshotsOfLocked removes the snapshots named by segments that retention deleted.
func (l *Log) deleteSnapshotsOfLocked(segs []*segment) error {
	var errs []error
	for _, s := range segs {
		errs = append(errs, l.producers.removeSnapshot(s.base))
	}
	return errors.Join(errs...)
}

// deleteSnapshotsAfterRecoveryPointCheckpoint keeps only the snapshots a recovery or truncation
// may want: those of the last two segments and from the segment below the recovery point on
// (Log.deleteSnapshotsAfterRecoveryPointCheckpoint, after the recovery points are checkpointed).
func (l *Log) deleteSnapshotsAfterRecoveryPointCheckpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	v := l.view.Load()
	lower := func(off int64) (int64, bool) { // the base of the segment below off (Log.lowerSegment)
		i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].base >= off }) - 1
		if i < 0 {
			return 0, false
		}
		return v.segs[i].base, true
	}
	twoSegs := v.active().base
	if b, ok := lower(twoSegs); ok {
		twoSegs = b
	}
	rp := l.recoveryPoint.Load()
	if b, ok := lower(rp); ok {
		rp = b
	}
	keep := min(rp, twoSegs)
	return l.producers.removeSnapshotsIf(func(off int64) bool { return off < keep })
}

// closeProducerStateLocked writes the snapshot at the LEO that lets a clean restart skip replay.
func (l *Log) closeProducerStateLocked() error {
	l.producers.mapEndOffset = l.view.Load().leo
	if err := l.producers.takeSnapshot(); err != nil {
		return fmt.Errorf("close %s: %w", l.tp, err)
	}
	return nil
}

// truncateProducerStateFullyLocked resets the state at offset and deletes every snapshot
// (ProducerStateManager.truncateFullyAndStartAt).
func (l *Log) truncateProducerStateFullyLocked(offset int64) error {
	ps := l.producers
	ps.clear()
	err := ps.removeSnapshotsIf(func(int64) bool { return true })
	ps.lastSnap, ps.mapEndOffset = 0, offset
	l.updateFirstUnstableLocked(offset)
	return err
}

// rebuildProducerStateLocked brings producer state to offset after a truncation
// (Log.rebuildProducerState with reloadFromCleanShutdown=false): snapshots above offset or at or
// below the log start go, the newest remaining one at or below offset is loaded and the batches
// from it up to offset replayed, then a snapshot is taken at offset. A partition that had no
// producer state and nothing past offset skips the replay, as Kafka does.
func (l *Log) rebuildProducerStateLocked(segs []*segment, offset, logStart int64) error {
	ps := l.producers
	if err := ps.removeSnapshotsIf(func(off int64) bool { return off > offset || off <= logStart }); err != nil {
		return err
	}
	emptyBefore := ps.isEmpty() && ps.mapEndOffset >= offset
	if offset != ps.mapEndOffset {
		ps.clear()
		// The truncation point is at or below the HW, so completed transactions are replicated.
		if err := ps.loadLatestSnapshot(offset, logStart, l.clock()); err != nil {
			return err
		}
		if offset > ps.mapEndOffset && !emptyBefore {
			if err := l.replayLocked(segs, max(ps.mapEndOffset, logStart), offset); err != nil {
				return err
			}
		}
	} else {
		ps.onLogStartOffsetIncremented(logStart)
	}
	ps.mapEndOffset = offset
	err := ps.takeSnapshot()
	l.updateFirstUnstableLocked(logStart)
	return err
}

// loadProducerStateLocked builds producer state while the log loads (Log.loadProducerState and
// the producer part of recoverSegment, reference 04 §9 step 7): stray snapshots go, the newest
// usable snapshot at or below both the LEO and the first segment whose indexes were rebuilt is
// loaded, and the batches from it to the LEO are replayed, rebuilding the .txnindex of every
// rebuilt segment on the way. After a clean shutdown the snapshot at the LEO makes this a file
// read. Without any snapshot the whole log is replayed (deviation: Kafka writes empty snapshots
// instead after a clean shutdown, a shortcut for logs written before producer state existed).
func (l *Log) loadProducerStateLocked(segs []*segment, leo, logStart int64) error {
	ps := l.producers
	snaps, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	ps.snapshots = snaps
	bases := make([]int64, len(segs))
	for i, s := range segs {
		bases[i] = s.base
	}
	if err := ps.removeStraySnapshots(bases); err != nil {
		return err
	}
	if err := ps.removeSnapshotsIf(func(off int64) bool { return off > leo || off <= logStart }); err != nil {
		return err
	}
	limit := leo
	for _, s := range segs {
		if s.rebuildTxn {
			limit = min(limit, s.base)
			break
		}
	}
	if err := ps.loadLatestSnapshot(limit, logStart, l.clock()); err != nil {
		return err
	}
	from := max(ps.mapEndOffset, logStart)
	if from < leo {
		l.lg.WithFields(logrus.Fields{"from_offset": from, "log_end_offset": leo}).Info("rebuilding producer state from the log")
		if err := l.replayLocked(segs, from, leo); err != nil {
			return err
		}
	}
	ps.mapEndOffset = leo
	for _, s := range segs {
		s.rebuildTxn = false
	}
	return ps.takeSnapshot()
}

// replayLocked applies the batches in [from, to) to producer state without checks (origin
// replication; Log.loadProducersFromLog and LogSegment.recover's updateProducerState), batch by
// batch. Segments marked rebuildTxn get their .txnindex emptied first and refilled with the
// aborted transactions found. Snapshots are taken at the bases of the last two segments and after
// every rebuilt segment, so that the next recovery or truncation starts close by.
func (l *Log) replayLocked(segs []*segment, from, to int64) error {
	ps := l.producers
	for i, s := range segs {
		next := to
		if i+1 < len(segs) {
			next = segs[i+1].base
		}
		if next <= from || s.base >= to {
			continue
		}
		start := max(s.base, from)
		ps.mapEndOffset = max(ps.mapEndOffset, start)
		if s.base > from && i > 0 && (i >= len(segs)-2 || segs[i-1].rebuildTxn) {
			if err := ps.takeSnapshot(); err != nil {
				return err
			}
		}
		if s.rebuildTxn {
			s.idxMu.Lock()
			err := s.txn.reset()
			s.idxMu.Unlock()
			if err != nil {
				return err
			}
		}
		pos := int64(0)
		if start > s.base {
			b, found, err := s.findBatch(start, s.size.Load())
			if err != nil || !found {
				continue
			}
			pos = b.pos
		}
		err := s.forEachBatch(pos, s.size.Load(), func(h record.Batch) bool {
			return h.IsControl() && h.ProducerID() >= 0
		}, func(b record.Batch) error {
			if b.BaseOffset() >= to {
				return errStop
			}
			var pu producerUpdate
			if err := pu.add(ps, b, originReplication); err != nil {
				return err
			}
			return l.applyProducerUpdateLocked(s, &pu, b.LastOffset()+1, s.rebuildTxn)
		})
		switch {
		case errors.Is(err, errStop):
			return nil
		case errors.Is(err, errScanCorrupt):
			// Only a segment trusted without recovery can get here (recovery cuts invalid data);
			// its later batches cannot be read anyway.
			l.lg.WithError(err).WithField("segment", s.base).Warn("producer state replay stopped at an unreadable batch")
		case err != nil:
			return err
		}
	}
	return nil
}

// forEachBatch calls fn with each batch in [pos, end) in order: the whole batch when wantBody says so
// from its header, else only its header (the first record.HeaderSize bytes). It reads the file in
// 64 KiB chunks with pread and jumps over the bodies of larger batches without reading them, as
// Kafka's FileLogInputStream does. fn's batch is valid until it returns.
func (s *segment) forEachBatch(pos, end int64, wantBody func(h record.Batch) bool, fn func(b record.Batch) error) error {
	buf := make([]byte, 64<<10)
	for pos < end {
		n := min(end-pos, int64(len(buf)))
		if n < record.HeaderSize {
			return fmt.Errorf("segment %d position %d: %w", s.base, pos, errScanCorrupt)
		}
		if got, err := s.log.ReadAt(buf[:n], pos); int64(got) < n {
			return ioErr("read segment %d at %d: %v", s.base, pos, err)
		}
		off := int64(0)
		for off+record.HeaderSize <= n {
			_, size, _, err := record.PeekHeader(buf[off:])
			if err != nil || size < record.HeaderSize || int64(size) > end-(pos+off) {
				return fmt.Errorf("segment %d position %d: %w", s.base, pos+off, errScanCorrupt)
			}
			b := record.Batch(buf[off : off+record.HeaderSize])
			if wantBody(b) {
				if off+int64(size) <= n {
					b = record.Batch(buf[off : off+int64(size)])
				} else {
					body := make([]byte, size)
					if _, err := s.log.ReadAt(body, pos+off); err != nil {
						return ioErr("read segment %d at %d: %v", s.base, pos+off, err)
					}
					b = record.Batch(body)
				}
			}
			if err := fn(b); err != nil {
				return err
			}
			off += int64(size)
		}
		pos += off
	}
	return nil
}

// copyTxnIndexes gives a cleaned segment the aborted transactions of the segments it replaces (the
// cleaner keeps transactional and control batches as they are, so every entry stays true).
func copyTxnIndexes(group []*segment, out *segment) error {
	for _, s := range group {
		s.idxMu.RLock()
		es, err := s.txn.entries()
		s.idxMu.RUnlock()
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := out.txn.append(e); err != nil {
				return err
			}
		}
	}
	return nil
}
