package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/purgatory"
	"github.com/samsa-broker/samsa/storage"
)

// DeleteRecords on the leader (Kafka 2.8's ReplicaManager.deleteRecords, Partition.deleteRecordsOnLeader,
// Partition.lowWatermarkIfLeader, DelayedDeleteRecords; reference 03 §10):
//
//	DeleteRecords ─▶ per partition: internal topic? not leader? cleanup.policy without delete? offset -1 → HW,
//	   offset < 0 or > HW? ─▶ Log.DeleteRecordsBefore (log start up, reads below fail at once)
//	   └ any success: delayedDeleteRecords in the DeleteRecords purgatory until every partition's low watermark
//	     (min log start of the leader and its alive followers) reaches the requested offset; followers raise
//	     theirs from fetch responses and report it in their next fetch, which pokes the purgatory.
//
// The segments below the new log start go at the next retention check (log.retention.check.interval.ms);
// the new log start reaches log-start-offset-checkpoint at the next checkpoint or clean shutdown, as in
// Kafka (a crash of every replica within that interval loses it).

// DeleteRecordsResult is one partition's answer to DeleteRecords.
type DeleteRecordsResult struct {
	// Err is nil or a (wrapped) *kerr.Error or storage error, mapped by the broker's errorCode.
	Err error
	// LowWatermark is the partition's low watermark when the answer was made, -1 on error
	// (DeleteRecordsResponse.INVALID_LOW_WATERMARK).
	LowWatermark int64
}

// highWatermarkOffset is DeleteRecordsRequest.HIGH_WATERMARK: delete up to the high watermark.
const highWatermarkOffset = -1

// internalTopics are Kafka's Topic.INTERNAL_TOPICS, whose records cannot be deleted.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

func failedDeleteRecords(err error) DeleteRecordsResult {
	return DeleteRecordsResult{Err: err, LowWatermark: -1}
}

// DeleteRecords moves each partition's log start offset up to the requested offset on this leader and waits
// until the low watermark reached it (ReplicaManager.deleteRecords). Per partition:
//   - an internal topic is INVALID_TOPIC_EXCEPTION;
//   - not hosted here: NOT_LEADER_OR_FOLLOWER when the metadata cache knows the partition, else
//     UNKNOWN_TOPIC_OR_PARTITION; hosted as follower: NOT_LEADER_OR_FOLLOWER;
//   - cleanup.policy without delete: POLICY_VIOLATION;
//   - offset -1 means the HW; another negative offset, or one above the HW, is OFFSET_OUT_OF_RANGE;
//   - otherwise the log start moves up (never down) at once, and the answer waits in the DeleteRecords
//     purgatory until the low watermark reaches the offset (answered with it), the partition stops being led
//     here (NOT_LEADER_OR_FOLLOWER) or is gone (UNKNOWN_TOPIC_OR_PARTITION), the timeout passes or ctx ends
//     (REQUEST_TIMED_OUT with the low watermark of the local step).
//
// Without any success the answer is immediate.
func (m *Manager) DeleteRecords(ctx context.Context, timeout time.Duration, offsets map[storage.TopicPartition]int64) map[storage.TopicPartition]DeleteRecordsResult {
	op := &delayedDeleteRecords{m: m, done: make(chan struct{}), status: make([]deleteRecordsStatus, 0, len(offsets))}
	keys := make([]storage.TopicPartition, 0, len(offsets))
	anyOK := false
	for tp, offset := range offsets {
		st := deleteRecordsStatus{tp: tp}
		st.requiredOffset, st.result = m.deleteRecordsOnLocalLog(tp, offset)
		if st.result.Err == nil {
			anyOK = true
			// Timeout error state, cleared when the low watermark is reached (DelayedDeleteRecords).
			st.pending = true
			st.result.Err = fmt.Errorf("%w: %s: waiting for the replicas' log start offsets to reach %d", kerr.RequestTimedOut, tp, st.requiredOffset)
		}
		op.status = append(op.status, st)
		keys = append(keys, tp)
	}
	out := make(map[storage.TopicPartition]DeleteRecordsResult, len(offsets))
	if anyOK {
		d := purgatory.NewDelayedOperation(op, timeout)
		m.deleteRecords.TryCompleteElseWatch(d, keys)
		select {
		case <-op.done:
		case <-ctx.Done():
			d.ForceComplete()
			<-op.done
		}
	}
	for _, st := range op.status {
		out[st.tp] = st.result
	}
	return out
}

// deleteRecordsOnLocalLog is ReplicaManager.deleteRecordsOnLocalLog for one partition: the offset the log
// start moved to and the result of the local step.
func (m *Manager) deleteRecordsOnLocalLog(tp storage.TopicPartition, offset int64) (int64, DeleteRecordsResult) {
	if internalTopics[tp.Topic] {
		return -1, failedDeleteRecords(fmt.Errorf("%w: cannot delete records of internal topic %s", kerr.InvalidTopicException, tp.Topic))
	}
	p, err := m.partitionOrError(tp)
	if err != nil {
		return -1, failedDeleteRecords(err)
	}
	requested, lw, err := p.deleteRecordsOnLeader(offset)
	if err != nil {
		return -1, failedDeleteRecords(err)
	}
	return requested, DeleteRecordsResult{LowWatermark: lw}
}

// deleteRecordsOnLeader is Partition.deleteRecordsOnLeader: it returns the offset the log start was asked to
// reach (the HW for -1) and the low watermark after the move.
func (p *Partition) deleteRecordsOnLeader(offset int64) (requested, lowWatermark int64, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() {
		return -1, -1, fmt.Errorf("%w: %s: this broker (%d) is not the leader", kerr.NotLeaderForPartition, p.tp, p.brokerID)
	}
	if !l.Config().AllowsDelete() {
		return -1, -1, fmt.Errorf("%w: records of partition %s cannot be deleted: cleanup.policy is %q", kerr.PolicyViolation, p.tp, l.Config().CleanupPolicy)
	}
	requested = offset
	if offset == highWatermarkOffset {
		requested = l.HighWatermark()
	}
	if requested < 0 {
		return -1, -1, fmt.Errorf("%w: offset %d for partition %s is not valid", kerr.OffsetOutOfRange, requested, p.tp)
	}
	if _, err := l.DeleteRecordsBefore(requested); err != nil {
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			return -1, -1, fmt.Errorf("%w: %w", kerr.OffsetOutOfRange, err)
		}
		return -1, -1, err
	}
	p.log.WithFields(logrus.Fields{"offset": requested, "log_start_offset": l.LogStartOffset()}).Info("records deleted by DeleteRecords")
	return requested, p.lowWatermarkLocked(l), nil
}

// LowWatermark is the partition's low watermark if this broker leads it (Partition.lowWatermarkIfLeader):
// the smallest log start offset of the leader and of the followers alive in the metadata cache. A follower
// that has not fetched since this broker became leader counts as -1, holding every DeleteRecords back.
// NOT_LEADER_OR_FOLLOWER elsewhere.
func (p *Partition) LowWatermark() (int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() {
		return -1, fmt.Errorf("%w: %s: this broker (%d) is not the leader", kerr.NotLeaderForPartition, p.tp, p.brokerID)
	}
	return p.lowWatermarkLocked(l), nil
}

// lowWatermarkLocked: the caller holds mu and leads. There is no future log (no AlterReplicaLogDirs).
func (p *Partition) lowWatermarkLocked(l *storage.Log) int64 {
	lw := l.LogStartOffset()
	alive := p.m.cfg.LeaderAlive
	for id, r := range p.remotes {
		if alive != nil && !alive(id) {
			continue
		}
		p.hwMu.Lock()
		ls := r.logStartOffset
		p.hwMu.Unlock()
		lw = min(lw, ls)
	}
	return lw
}

type deleteRecordsStatus struct {
	tp             storage.TopicPartition
	requiredOffset int64
	pending        bool // acksPending
	result         DeleteRecordsResult
}

// delayedDeleteRecords is Kafka's DelayedDeleteRecords. status is written only by TryComplete, which the
// purgatory runs one at a time and never after completion; OnComplete publishes it by closing done.
type delayedDeleteRecords struct {
	m      *Manager
	status []deleteRecordsStatus
	done   chan struct{}
}

// TryComplete is DelayedDeleteRecords.tryComplete: a partition is satisfied once its low watermark reached
// the requested offset, or with an error once it is not led here or gone.
func (d *delayedDeleteRecords) TryComplete() bool {
	pending := false
	for i := range d.status {
		st := &d.status[i]
		if !st.pending {
			continue
		}
		p, ok := d.m.Partition(st.tp)
		if !ok {
			st.pending = false
			st.result = failedDeleteRecords(fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, st.tp))
			continue
		}
		lw, err := p.LowWatermark()
		switch {
		case err != nil:
			st.pending = false
			st.result = failedDeleteRecords(err)
		case lw >= st.requiredOffset:
			st.pending = false
			st.result = DeleteRecordsResult{LowWatermark: lw}
		default:
			pending = true
		}
	}
	return !pending
}

func (d *delayedDeleteRecords) OnComplete()   { close(d.done) }
func (d *delayedDeleteRecords) OnExpiration() {}
