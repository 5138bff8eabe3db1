package storage

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// emptyAppend is the answer to an append without a complete batch (Kafka returns an append info
// with no offsets and no error).
var emptyAppend = AppendInfo{FirstOffset: -1, LastOffset: -1, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1, LogAppendTime: -1}

// AppendAsLeader validates one producer batch (record.Validate with FromClient), assigns its
// offsets from the LEO by rewriting baseOffset and partitionLeaderEpoch in the caller's buffer
// (no re-encoding: both fields are outside the CRC), stamps LogAppendTime or corrects
// maxTimestamp when needed (CRC recomputed), rolls if due and writes the batch with one pwrite.
// As in Kafka a produce request holds exactly one v2 batch; trailing bytes too short to be a
// batch are ignored. An idempotent or transactional batch is then checked against the producer's
// state (reference 06 §3): a retry of one of the producer's last 5 batches writes nothing and
// answers that batch's offsets and timestamp with Duplicate set; a stale epoch, a sequence gap or a
// non-transactional batch inside an open transaction is refused (ErrInvalidProducerEpoch,
// ErrOutOfOrderSequence, ErrInvalidTxnState). Errors wrap those, record.Err*,
// ErrRecordListTooLarge, ErrLogClosed or ErrStorage; a rejected batch writes nothing.
func (l *Log) AppendAsLeader(batches []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(batches, leaderEpoch, originClient)
}

// AppendAsCoordinator is AppendAsLeader for batches the broker writes itself (transaction markers,
// transactional offset commits: Kafka's AppendOrigin.Coordinator): the producer-only rules
// (baseOffset 0, no control batches, sequences, duplicates) are skipped; producer epochs are still
// checked (ErrInvalidProducerEpoch), and a marker's coordinator epoch must not be below the
// producer's last one (ErrTransactionCoordinatorFenced). A COMMIT or ABORT marker ends the
// producer's open transaction; an ABORT is recorded in the segment's .txnindex.
func (l *Log) AppendAsCoordinator(batches []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(batches, leaderEpoch, originCoordinator)
}

func (l *Log) appendAsLeader(batches []byte, leaderEpoch int32, origin appendOrigin) (AppendInfo, error) {
	fromClient := origin == originClient
	b, rest, err := record.Next(batches)
	switch {
	case err == io.EOF || errors.Is(err, record.ErrTruncated):
		return emptyAppend, nil
	case err != nil:
		return AppendInfo{}, fmt.Errorf("append to %s: %w", l.tp, err)
	}
	switch _, _, err := record.Next(rest); {
	case err == nil:
		return AppendInfo{}, fmt.Errorf("append to %s: %w: more than one batch in a produce request", l.tp, record.ErrInvalidRecord)
	case err != io.EOF && !errors.Is(err, record.ErrTruncated):
		return AppendInfo{}, fmt.Errorf("append to %s: after the batch: %w", l.tp, err)
	}
	cfg := l.config()
	now := l.clock()
	lat := cfg.MessageTimestampType == "LogAppendTime"
	info, err := record.Validate(b, record.ValidateConfig{
		MaxMessageBytes:  cfg.MaxMessageBytes,
		LogAppendTime:    lat,
		MaxTimestampDiff: cfg.MessageTimestampDifferenceMaxMs,
		Compacted:        cfg.hasPolicy("compact"),
		FromClient:       fromClient,
	}, now)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("append to %s: %w", l.tp, err)
	}
	if int64(len(b)) > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("%w: %d bytes, segment.bytes is %d", ErrRecordListTooLarge, len(b), cfg.SegmentBytes)
	}
	// Fields inside the CRC are fixed before taking the lock (LogValidator's in-place path).
	ai := AppendInfo{MaxTimestamp: info.MaxTimestamp, LogAppendTime: -1, NumRecords: info.NumRecords, Size: len(b)}
	offMaxDelta := int64(info.OffsetOfMaxTimestampDelta)
	if lat {
		b.SetLogAppendTime(now)
		ai.MaxTimestamp, ai.LogAppendTime = now, now
		offMaxDelta = int64(info.LastOffsetDelta)
	} else {
		b.SetMaxTimestamp(info.MaxTimestamp)
		if info.Codec != record.CodecNone {
			// Kafka 2.8 reports the batch's last offset for compressed batches
			// (shallowOffsetOfMaxTimestamp); the time index entries follow it.
			offMaxDelta = int64(info.LastOffsetDelta)
		}
	}

	l.mu.Lock()
	if err := l.checkOpenLocked(); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	first := l.view.Load().leo
	b.SetBaseOffset(first)
	b.SetPartitionLeaderEpoch(leaderEpoch)
	ai.FirstOffset, ai.LastOffset = first, first+int64(info.LastOffsetDelta)
	ai.OffsetOfMaxTimestamp = -1
	if ai.MaxTimestamp >= 0 {
		ai.OffsetOfMaxTimestamp = first + offMaxDelta
	}
	pu, dup, err := l.analyzeLeaderBatchLocked(b, origin)
	if err != nil {
		l.mu.Unlock()
		return AppendInfo{}, fmt.Errorf("append to %s: %w", l.tp, err)
	}
	if dup != nil {
		l.mu.Unlock()
		// Log.append's duplicate answer: the original offsets, its timestamp as the append time.
		ai.FirstOffset, ai.LastOffset = dup.firstOffset(), dup.lastOffset
		ai.LogAppendTime, ai.Duplicate = dup.timestamp, true
		return ai, nil
	}
	err = l.appendLocked(b, ai, cfg, now, pu)
	l.mu.Unlock()
	if err != nil {
		return AppendInfo{}, err
	}
	return ai, l.maybeFlush(ai.LastOffset+1, cfg)
}

// AppendAsFollower appends batches that already carry the leader's offsets (a fetch response's
// records). Every complete batch is CRC-checked; a partial batch at the end (fetch responses may
// be cut at max bytes) is ignored. The first offset must be >= the LEO and the batches' offsets
// must increase. No record-level validation (Kafka trusts the leader).
func (l *Log) AppendAsFollower(batches []byte) (AppendInfo, error) {
	ai := AppendInfo{MaxTimestamp: -1, OffsetOfMaxTimestamp: -1, LogAppendTime: -1}
	rest := batches
	n := 0
	for {
		b, r, err := record.Next(rest)
		if err == io.EOF || errors.Is(err, record.ErrTruncated) {
			break
		}
		if err != nil {
			return AppendInfo{}, fmt.Errorf("follower append to %s: %w", l.tp, err)
		}
		if !b.CRCValid() {
			return AppendInfo{}, fmt.Errorf("follower append to %s: %w: batch at offset %d: CRC mismatch", l.tp, record.ErrCorrupt, b.BaseOffset())
		}
		if b.LastOffsetDelta() < 0 {
			return AppendInfo{}, fmt.Errorf("follower append to %s: %w: batch at offset %d: negative last offset delta", l.tp, record.ErrCorrupt, b.BaseOffset())
		}
		if n == 0 {
			ai.FirstOffset = b.BaseOffset()
		} else if b.BaseOffset() <= ai.LastOffset {
			return AppendInfo{}, fmt.Errorf("%w: follower append to %s: batch at offset %d after offset %d", ErrUnexpectedAppendOffset, l.tp, b.BaseOffset(), ai.LastOffset)
		}
		ai.LastOffset = b.LastOffset()
		if b.MaxTimestamp() > ai.MaxTimestamp {
			ai.MaxTimestamp, ai.OffsetOfMaxTimestamp = b.MaxTimestamp(), b.LastOffset()
		}
		ai.NumRecords += b.NumRecords()
		ai.Size += len(b)
		n++
		rest = r
	}
	if n == 0 {
		return emptyAppend, nil
	}
	cfg := l.config()
	if int64(ai.Size) > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("%w: %d bytes, segment.bytes is %d", ErrRecordListTooLarge, ai.Size, cfg.SegmentBytes)
	}
	l.mu.Lock()
	if err := l.checkOpenLocked(); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	if leo := l.view.Load().leo; ai.FirstOffset < leo {
		l.mu.Unlock()
		return AppendInfo{}, fmt.Errorf("%w: follower append to %s at offset %d below the log end offset %d", ErrUnexpectedAppendOffset, l.tp, ai.FirstOffset, leo)
	}
	pu, err := l.analyzeFollowerLocked(batches[:ai.Size])
	if err == nil {
		err = l.appendLocked(batches[:ai.Size], ai, cfg, l.clock(), pu)
	}
	l.mu.Unlock()
	if err != nil {
		return AppendInfo{}, err
	}
	return ai, l.maybeFlush(ai.LastOffset+1, cfg)
}

// appendLocked rolls if due, writes data to the active segment, publishes the new LEO and applies
// the append's producer-state update pu (nil: no idempotent batch).
func (l *Log) appendLocked(data []byte, ai AppendInfo, cfg Config, nowMs int64, pu *producerUpdate) error {
	// The leader-epoch cache learns the batches' epochs first (Log.append); a failed write takes
	// back what it added, which lies at or after the LEO.
	if err := l.assignEpochsLocked(data); err != nil {
		return err
	}
	undoEpochs := func(err error) error {
		return errors.Join(err, l.epochs.truncateFromEnd(l.view.Load().leo))
	}
	seg := l.view.Load().active()
	if seg.shouldRollLocked(cfg, len(data), ai.MaxTimestamp, ai.LastOffset, nowMs) {
		var err error
		if seg, err = l.rollLocked(ai.FirstOffset, cfg, nowMs); err != nil {
			return undoEpochs(err)
		}
	}
	if err := seg.appendLocked(data, ai.LastOffset, ai.MaxTimestamp, ai.OffsetOfMaxTimestamp, cfg.IndexIntervalBytes); err != nil {
		return undoEpochs(fmt.Errorf("append to %s: %w", l.tp, err))
	}
	l.publishLocked(func(v *logView) { v.leo = ai.LastOffset + 1 })
	return l.applyProducerUpdateLocked(seg, pu, ai.LastOffset+1, true)
}

// maybeFlush fsyncs when flush.messages offsets are unflushed (Log.append's last step).
func (l *Log) maybeFlush(leo int64, cfg Config) error {
	if cfg.FlushMessages == math.MaxInt64 || leo-l.recoveryPoint.Load() < cfg.FlushMessages {
		return nil
	}
	if err := l.flushTo(leo, false); err != nil && !errors.Is(err, ErrLogClosed) {
		return err // the append itself succeeded; Kafka reports the failed fsync the same way
	}
	return nil
}

// Roll starts a new segment at the LEO unless the active segment is empty.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkOpenLocked(); err != nil {
		return err
	}
	_, err := l.rollLocked(l.view.Load().leo, l.config(), l.clock())
	return err
}

// rollLocked makes a new active segment at max(expected, LEO) (Log.roll): the old one gets its
// final time-index entry and trimmed indexes, a producer snapshot named by the new base offset is
// written, and an fsync of everything below the new base offset runs in the background, after
// which the recovery point moves there. An empty active segment is replaced rather than left
// behind.
func (l *Log) rollLocked(expected int64, cfg Config, nowMs int64) (*segment, error) {
	v := l.view.Load()
	old := v.active()
	newBase := max(expected, v.leo)
	empty := old.size.Load() == 0
	if empty && old.base == newBase {
		return old, nil
	}
	if !empty {
		if err := old.onBecomeInactiveLocked(cfg.Preallocate); err != nil {
			return nil, fmt.Errorf("roll %s: %w", l.tp, err)
		}
	}
	if err := l.snapshotOnRollLocked(newBase); err != nil {
		return nil, err
	}
	ns, err := createSegment(l.dir, newBase, cfg, nowMs, randomJitter(cfg))
	if err != nil {
		return nil, fmt.Errorf("roll %s: %w", l.tp, err)
	}
	segs := slices.Clone(v.segs)
	if empty {
		segs[len(segs)-1] = ns
	} else {
		segs = append(segs, ns)
	}
	l.publishLocked(func(v *logView) { v.segs = segs })
	if empty {
		l.asyncDeleteSegments([]*segment{old})
	}
	l.lg.WithFields(logrus.Fields{"segment": newBase, "previous_segment": old.base, "previous_size": old.size.Load()}).Info("rolled new log segment")
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.flushTo(newBase, false); err != nil && !errors.Is(err, ErrLogClosed) {
			l.lg.WithError(err).WithField("offset", newBase).Error("flush after roll failed")
		}
	}()
	return ns, nil
}
