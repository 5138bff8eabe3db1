package replica

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/purgatory"
	"github.com/samsa-broker/samsa/storage"
)

// ProduceResult is one partition's answer to a produce.
type ProduceResult struct {
	// Err is nil on success; otherwise a *kerr.Error (possibly wrapped) or a storage/record error, which the
	// broker maps with errorCode. A *record.ValidationError carries the v8 record errors.
	Err error
	// BaseOffset is the first offset assigned, -1 on error.
	BaseOffset int64
	// LogAppendTime is the broker time stamped on the batch, -1 unless the topic uses LogAppendTime.
	LogAppendTime int64
	// LogStartOffset is the partition's log start offset, -1 when unknown.
	LogStartOffset int64

	lastOffset int64 // last offset appended; the acks=-1 wait needs HW > lastOffset
}

func failedProduce(err error, logStart int64) ProduceResult {
	return ProduceResult{Err: err, BaseOffset: -1, LogAppendTime: -1, LogStartOffset: logStart, lastOffset: -1}
}

// AppendRecords appends each partition's producer batch as leader (ReplicaManager.appendRecords):
//   - acks must be -1, 0 or 1, else every partition is INVALID_REQUIRED_ACKS and nothing is written;
//   - per partition: UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER when not led here, NOT_ENOUGH_REPLICAS
//     before the append when acks=-1 and the ISR is smaller than min.insync.replicas, or the log's
//     validation error;
//   - acks 0 and 1 return after the local appends;
//   - acks=-1 with at least one successful append waits in the produce purgatory until every partition's HW
//     reaches its last offset + 1 (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum
//     meanwhile, NOT_LEADER_OR_FOLLOWER if leadership moved), timeout (REQUEST_TIMED_OUT for the partitions
//     still waiting), or ctx's end (the same answer, early).
//
// The batches are modified in place (offsets, leader epoch) and written before AppendRecords returns, so
// they may alias a request buffer that is reused afterwards.
func (m *Manager) AppendRecords(ctx context.Context, timeout time.Duration, acks int16, req map[storage.TopicPartition][]byte) map[storage.TopicPartition]ProduceResult {
	return m.appendRecords(ctx, timeout, acks, req, false)
}

// AppendRecordsAsCoordinator is AppendRecords for batches the broker writes itself (Kafka's
// AppendOrigin.Coordinator: transaction markers), appended with storage.Log.AppendAsCoordinator.
func (m *Manager) AppendRecordsAsCoordinator(ctx context.Context, timeout time.Duration, acks int16, req map[storage.TopicPartition][]byte) map[storage.TopicPartition]ProduceResult {
	return m.appendRecords(ctx, timeout, acks, req, true)
}

func (m *Manager) appendRecords(ctx context.Context, timeout time.Duration, acks int16, req map[storage.TopicPartition][]byte, asCoordinator bool) map[storage.TopicPartition]ProduceResult {
	out := make(map[storage.TopicPartition]ProduceResult, len(req))
	if acks != -1 && acks != 0 && acks != 1 {
		for tp := range req {
			out[tp] = failedProduce(fmt.Errorf("%w: acks %d", kerr.InvalidRequiredAcks, acks), -1)
		}
		return out
	}
	now := m.now()
	type moved struct {
		tp storage.TopicPartition
		hw bool
	}
	appended := make([]moved, 0, len(req))
	anyOK := false
	for tp, batch := range req {
		p, err := m.partitionOrError(tp)
		if err != nil {
			out[tp] = failedProduce(err, -1)
			continue
		}
		info, logStart, hwMoved, err := p.appendRecordsToLeader(batch, acks, now, asCoordinator)
		if err != nil {
			out[tp] = failedProduce(err, logStart)
			continue
		}
		anyOK = true
		out[tp] = ProduceResult{BaseOffset: info.FirstOffset, LogAppendTime: info.LogAppendTime, LogStartOffset: logStart, lastOffset: info.LastOffset}
		appended = append(appended, moved{tp, hwMoved})
	}
	// Kafka's ActionQueue: wake waiters only now that no partition lock is held.
	for _, a := range appended {
		m.tryCompleteDelayed(a.tp, a.hw)
	}
	if acks != -1 || !anyOK {
		return out
	}
	op := &delayedProduce{m: m, done: make(chan struct{}), status: make([]produceStatus, 0, len(req))}
	keys := make([]storage.TopicPartition, 0, len(req))
	for tp, res := range out {
		st := produceStatus{tp: tp, result: res}
		if res.Err == nil {
			st.pending = true
			st.requiredOffset = res.lastOffset + 1
			st.result.Err = fmt.Errorf("%w: %s: waiting for the in-sync replicas", kerr.RequestTimedOut, tp)
		}
		op.status = append(op.status, st)
		keys = append(keys, tp)
	}
	d := purgatory.NewDelayedOperation(op, timeout)
	m.produce.TryCompleteElseWatch(d, keys)
	select {
	case <-op.done:
	case <-ctx.Done():
		d.ForceComplete()
		<-op.done
	}
	for _, st := range op.status {
		out[st.tp] = st.result
	}
	return out
}

type produceStatus struct {
	tp             storage.TopicPartition
	requiredOffset int64
	pending        bool
	result         ProduceResult
}

// delayedProduce is Kafka's DelayedProduce. status is written only by TryComplete, which the purgatory runs
// one at a time and never after completion; OnComplete publishes it by closing done.
type delayedProduce struct {
	m      *Manager
	status []produceStatus
	done   chan struct{}
}

func (d *delayedProduce) TryComplete() bool {
	pending := false
	for i := range d.status {
		st := &d.status[i]
		if !st.pending {
			continue
		}
		p, err := d.m.partitionOrError(st.tp)
		enough := false
		if err == nil {
			enough, err = p.checkEnoughReplicasReachOffset(st.requiredOffset)
		}
		if err != nil || enough {
			st.pending = false
			st.result.Err = err
			continue
		}
		pending = true
	}
	return !pending
}

func (d *delayedProduce) OnComplete()   { close(d.done) }
func (d *delayedProduce) OnExpiration() {}
