package replica

import (
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// The partition operations of a follower, called by its replica fetcher, and the leader's answer to
// OffsetsForLeaderEpoch. The fetcher manager guarantees that a partition is written by at most one fetcher,
// and by none once it stopped fetching it (LeaderAndIsr, StopReplica): these run under that fetcher's lock.

// followerLogLocked returns the log of a follower partition. A partition that leads (or has no log) is not
// written by a fetcher: its fetcher is about to be removed.
func (p *Partition) followerLogLocked() (*storage.Log, error) {
	if p.storageLog == nil || p.isLeaderLocked() {
		return nil, fmt.Errorf("%w: %s: not a follower replica on broker %d", kerr.NotLeaderForPartition, p.tp, p.brokerID)
	}
	return p.storageLog, nil
}

// appendRecordsToFollower appends a fetch response's batches (Partition.appendRecordsToFollowerOrFutureReplica).
// When the log is empty and the first batch straddles its start offset (the leader's log start fell inside a
// batch, after DeleteRecords) the log restarts at that batch's base offset and the append is retried.
func (p *Partition) appendRecordsToFollower(records []byte) (storage.AppendInfo, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.followerLogLocked()
	if err != nil {
		return storage.AppendInfo{}, err
	}
	info, err := l.AppendAsFollower(records)
	if !errors.Is(err, storage.ErrUnexpectedAppendOffset) {
		return info, err
	}
	b, _, nerr := record.Next(records)
	leo := l.LogEndOffset()
	if nerr != nil || leo != l.LogStartOffset() || b.BaseOffset() >= leo || b.LastOffset() < leo {
		return info, err
	}
	p.log.WithFields(logrus.Fields{"first_offset": b.BaseOffset(), "log_start_offset": leo}).
		Info("first fetched batch starts before the empty log's start offset; restarting the log at the batch")
	if err := l.TruncateFullyAndStartAt(b.BaseOffset()); err != nil {
		return storage.AppendInfo{}, err
	}
	return l.AppendAsFollower(records)
}

// updateFollowerHighWatermark applies a fetch response's HW and log start offset: the follower's HW is
// min(leader HW, local LEO), and its log start offset follows the leader's (never above that HW).
func (p *Partition) updateFollowerHighWatermark(leaderHW, leaderLogStart int64) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.followerLogLocked()
	if err != nil {
		return err
	}
	l.SetHighWatermark(leaderHW)
	_, err = l.MaybeIncrementLogStartOffset(leaderLogStart)
	return err
}

// truncateTo cuts the follower's log at offset (Partition.truncateTo); the HW follows the LEO down.
func (p *Partition) truncateTo(offset int64) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.followerLogLocked()
	if err != nil {
		return err
	}
	leo, hw := l.LogEndOffset(), l.HighWatermark()
	if offset >= leo {
		return l.TruncateTo(offset) // trims a dangling epoch entry only
	}
	lg := p.log.WithFields(logrus.Fields{"component": "state_change", "offset": offset, "log_end_offset": leo, "high_watermark": hw})
	if offset < hw {
		lg.Warn("truncating below the high watermark")
	} else {
		lg.Info("truncating log")
	}
	return l.TruncateTo(offset)
}

// truncateFullyAndStartAt empties the follower's log and restarts it at offset (the leader's log start
// moved past our LEO).
func (p *Partition) truncateFullyAndStartAt(offset int64) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.followerLogLocked()
	if err != nil {
		return err
	}
	p.log.WithFields(logrus.Fields{"component": "state_change", "offset": offset, "log_end_offset": l.LogEndOffset()}).
		Warn("leader's log start offset is past our log end: restarting the log there")
	return l.TruncateFullyAndStartAt(offset)
}

// followerLog returns the log for a fetcher's bookkeeping reads (LEO, latest epoch), nil when the partition
// no longer follows.
func (p *Partition) followerLog() *storage.Log {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, _ := p.followerLogLocked()
	return l
}

// EpochEndOffset is an OffsetsForLeaderEpoch answer for one partition.
type EpochEndOffset struct {
	LeaderEpoch int32 // the largest epoch <= the requested one the leader knows; -1 when undefined
	EndOffset   int64 // where that epoch ended; -1 when undefined
}

// LastOffsetForLeaderEpoch answers OffsetsForLeaderEpoch for one partition (ReplicaManager.lastOffsetForLeaderEpoch,
// reference 03 §6.4): only the leader answers (NOT_LEADER_OR_FOLLOWER, or UNKNOWN_TOPIC_OR_PARTITION when the
// cluster does not know the partition); currentLeaderEpoch (-1: unchecked) fences with FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH; the answer is the log's end offset for leaderEpoch (KIP-279), undefined (-1, -1)
// when the epoch cache cannot place it.
func (m *Manager) LastOffsetForLeaderEpoch(tp storage.TopicPartition, currentLeaderEpoch, leaderEpoch int32) (EpochEndOffset, error) {
	part, err := m.partitionOrError(tp)
	if err != nil {
		return EpochEndOffset{-1, -1}, err
	}
	part.mu.RLock()
	defer part.mu.RUnlock()
	l, err := part.localLogLocked(currentLeaderEpoch, true)
	if err != nil {
		return EpochEndOffset{-1, -1}, err
	}
	e, o := l.EndOffsetForEpoch(leaderEpoch)
	if o == storage.UndefinedEpochOffset {
		return EpochEndOffset{-1, -1}, nil
	}
	return EpochEndOffset{LeaderEpoch: e, EndOffset: o}, nil
}
