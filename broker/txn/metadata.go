package txn

// A transactional id's metadata (Kafka 2.8's TransactionMetadata and TxnTransitMetadata). Every change is
// prepared (the target computed, the pending state set), written to __transaction_state, and only then
// completed in memory; while a change is pending, requests for the id get CONCURRENT_TRANSACTIONS.

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// errIllegalState marks a broken invariant of the state machine (Kafka's IllegalStateException): a bug, or
// a log that was not written by a coordinator.
var errIllegalState = errors.New("txn: illegal transaction state transition")

// TopicPartition names a partition in a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func comparePartitions(a, b TopicPartition) int {
	if c := cmp.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

// metadata is one transactional id's state. All fields but id are guarded by mu.
type metadata struct {
	id string

	mu                  sync.Mutex
	producerID          int64
	lastProducerID      int64 // in memory only, like lastProducerEpoch (not in the v0 value)
	producerEpoch       int16
	lastProducerEpoch   int16
	timeoutMs           int32
	state               State
	pending             State // meaningful when hasPending
	hasPending          bool
	partitions          map[TopicPartition]struct{}
	startMs             int64 // txnStartTimestamp, -1 without a transaction
	lastUpdateMs        int64
	hasFailedEpochFence bool // a PrepareEpochFence append failed: the epoch was bumped already, do not bump again
}

func newMetadata(id string, producerID int64, timeoutMs int32, nowMs int64) *metadata {
	return &metadata{id: id, producerID: producerID, lastProducerID: NoProducerID, producerEpoch: NoProducerEpoch,
		lastProducerEpoch: NoProducerEpoch, timeoutMs: timeoutMs, state: Empty,
		partitions: map[TopicPartition]struct{}{}, startMs: -1, lastUpdateMs: nowMs}
}

// transit is a prepared change (TxnTransitMetadata): what is written to the log and then applied.
type transit struct {
	producerID        int64
	lastProducerID    int64
	producerEpoch     int16
	lastProducerEpoch int16
	timeoutMs         int32
	state             State
	partitions        []TopicPartition // sorted
	startMs           int64
	lastUpdateMs      int64
}

// value is the transit as a __transaction_state value.
func (t transit) value() Value {
	v := Value{ProducerID: t.producerID, ProducerEpoch: t.producerEpoch, TimeoutMs: t.timeoutMs, State: t.state,
		StartMs: t.startMs, LastUpdateMs: t.lastUpdateMs}
	if t.state != Empty {
		v.Partitions = slices.Clone(t.partitions)
		if v.Partitions == nil {
			v.Partitions = []TopicPartition{}
		}
	}
	return v
}

func (m *metadata) sortedPartitionsLocked() []TopicPartition {
	return slices.SortedFunc(maps.Keys(m.partitions), comparePartitions)
}

func (m *metadata) pendingInProgressLocked() bool { return m.hasPending }

func (m *metadata) isEpochExhaustedLocked() bool { return IsEpochExhausted(m.producerEpoch) }

// prepareTransitionLocked is prepareTransitionTo: checks the move and marks it pending.
func (m *metadata) prepareTransitionLocked(to State, producerID int64, epoch, lastEpoch int16, timeoutMs int32,
	partitions []TopicPartition, startMs, updateMs int64) (transit, error) {
	switch {
	case m.hasPending:
		return transit{}, fmt.Errorf("%w: %s: preparing %s while %s is pending", errIllegalState, m.id, to, m.pending)
	case producerID < 0:
		return transit{}, fmt.Errorf("%w: %s: producer id %d", errIllegalState, m.id, producerID)
	case to != Dead && epoch < 0:
		return transit{}, fmt.Errorf("%w: %s: producer epoch %d", errIllegalState, m.id, epoch)
	case !CanTransition(m.state, to):
		return transit{}, fmt.Errorf("%w: %s: %s cannot follow %s", errIllegalState, m.id, to, m.state)
	}
	m.pending, m.hasPending = to, true
	return transit{producerID: producerID, lastProducerID: m.producerID, producerEpoch: epoch, lastProducerEpoch: lastEpoch,
		timeoutMs: timeoutMs, state: to, partitions: partitions, startMs: startMs, lastUpdateMs: updateMs}, nil
}

// prepareFenceProducerEpochLocked bumps the epoch to fence the current producer before aborting its
// transaction (the bumped epoch is never returned to anyone). After a failed fence write the epoch was
// bumped already and is not bumped again.
func (m *metadata) prepareFenceProducerEpochLocked() (transit, error) {
	if m.producerEpoch == math.MaxInt16 {
		return transit{}, fmt.Errorf("%w: %s: cannot fence producer epoch %d", errIllegalState, m.id, m.producerEpoch)
	}
	epoch := m.producerEpoch
	if !m.hasFailedEpochFence {
		epoch++
	}
	return m.prepareTransitionLocked(PrepareEpochFence, m.producerID, epoch, NoProducerEpoch, m.timeoutMs,
		m.sortedPartitionsLocked(), m.startMs, m.lastUpdateMs)
}

// prepareIncrementProducerEpochLocked is InitProducerId's epoch bump (KIP-360 rules when the producer
// names its current epoch).
func (m *metadata) prepareIncrementProducerEpochLocked(timeoutMs int32, expected *int16, nowMs int64) (transit, error) {
	if m.isEpochExhaustedLocked() {
		return transit{}, fmt.Errorf("%w: %s: producer epochs of %d are exhausted", errIllegalState, m.id, m.producerID)
	}
	bumped := m.producerEpoch + 1
	next, last := bumped, NoProducerEpoch
	if expected != nil {
		switch {
		case m.producerEpoch == NoProducerEpoch || *expected == m.producerEpoch:
			// The producer recovers after an error and nobody else initialised since: bump, remember the old.
			next, last = bumped, m.producerEpoch
		case *expected == m.lastProducerEpoch:
			// A retry of a bump that succeeded: answer the current epoch again.
			next, last = m.producerEpoch, m.lastProducerEpoch
		default:
			return transit{}, kerr.ProducerFenced
		}
	}
	return m.prepareTransitionLocked(Empty, m.producerID, next, last, timeoutMs, nil, -1, nowMs)
}

// prepareProducerIDRotationLocked gives the id a new producer id at epoch 0 once the epochs are exhausted.
func (m *metadata) prepareProducerIDRotationLocked(newProducerID int64, timeoutMs int32, nowMs int64, recordLastEpoch bool) (transit, error) {
	if m.hasPending {
		return transit{}, fmt.Errorf("%w: %s: rotating the producer id while %s is pending", errIllegalState, m.id, m.pending)
	}
	last := NoProducerEpoch
	if recordLastEpoch {
		last = m.producerEpoch
	}
	return m.prepareTransitionLocked(Empty, newProducerID, 0, last, timeoutMs, nil, -1, nowMs)
}

// prepareAddPartitionsLocked moves to Ongoing with the union of partitions; a new transaction starts now.
func (m *metadata) prepareAddPartitionsLocked(add []TopicPartition, nowMs int64) (transit, error) {
	start := m.startMs
	if m.state == Empty || m.state == CompleteAbort || m.state == CompleteCommit {
		start = nowMs
	}
	union := maps.Clone(m.partitions)
	for _, tp := range add {
		union[tp] = struct{}{}
	}
	return m.prepareTransitionLocked(Ongoing, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		slices.SortedFunc(maps.Keys(union), comparePartitions), start, nowMs)
}

// prepareAbortOrCommitLocked moves to PrepareCommit or PrepareAbort.
func (m *metadata) prepareAbortOrCommitLocked(to State, nowMs int64) (transit, error) {
	return m.prepareTransitionLocked(to, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		m.sortedPartitionsLocked(), m.startMs, nowMs)
}

// prepareCompleteLocked moves PrepareCommit/PrepareAbort to CompleteCommit/CompleteAbort (no partitions).
func (m *metadata) prepareCompleteLocked(nowMs int64) (transit, error) {
	to := CompleteAbort
	if m.state == PrepareCommit {
		to = CompleteCommit
	}
	// The prepare record is durable, so a failed fence no longer matters.
	m.hasFailedEpochFence = false
	return m.prepareTransitionLocked(to, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		nil, m.startMs, nowMs)
}

// prepareDeadLocked marks the id for expiry (a tombstone is written).
func (m *metadata) prepareDeadLocked() (transit, error) {
	return m.prepareTransitionLocked(Dead, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		nil, m.startMs, m.lastUpdateMs)
}

// completeTransitionLocked applies a transit whose record is durable (completeTransitionTo), after checking
// it is the pending one and consistent with the current state.
func (m *metadata) completeTransitionLocked(t transit) error {
	fail := func() error {
		return fmt.Errorf("%w: %s: completing %s (producer %d epoch %d) from %s (producer %d epoch %d, pending %v)",
			errIllegalState, m.id, t.state, t.producerID, t.producerEpoch, m.state, m.producerID, m.producerEpoch, m.hasPending)
	}
	if !m.hasPending || m.pending != t.state {
		return fail()
	}
	sameProducer := t.producerEpoch == m.producerEpoch && t.producerID == m.producerID
	switch t.state {
	case Empty: // InitProducerId
		bump := t.producerEpoch == m.producerEpoch+1 || (t.producerEpoch == 0 && t.producerID != m.producerID)
		if (m.producerEpoch != t.producerEpoch && !bump) || len(t.partitions) > 0 || t.startMs != -1 {
			return fail()
		}
		m.timeoutMs = t.timeoutMs
		m.producerEpoch, m.lastProducerEpoch = t.producerEpoch, t.lastProducerEpoch
		m.producerID, m.lastProducerID = t.producerID, t.lastProducerID
	case Ongoing: // AddPartitions
		for tp := range m.partitions {
			if !slices.Contains(t.partitions, tp) {
				return fail()
			}
		}
		if !sameProducer || m.timeoutMs != t.timeoutMs || m.startMs > t.startMs {
			return fail()
		}
		m.startMs = t.startMs
		for _, tp := range t.partitions {
			m.partitions[tp] = struct{}{}
		}
	case PrepareCommit, PrepareAbort: // EndTxn
		if !sameProducer || !slices.Equal(m.sortedPartitionsLocked(), t.partitions) || m.timeoutMs != t.timeoutMs || m.startMs != t.startMs {
			return fail()
		}
	case CompleteCommit, CompleteAbort: // markers written
		if !sameProducer || m.timeoutMs != t.timeoutMs || t.startMs == -1 {
			return fail()
		}
		m.startMs = t.startMs
		clear(m.partitions)
	default: // PrepareEpochFence is always replaced by PrepareAbort; Dead removes the id instead.
		return fail()
	}
	m.lastUpdateMs = t.lastUpdateMs
	m.hasPending = false
	m.state = t.state
	return nil
}

// snapshotLocked describes the metadata (tests and logs).
func (m *metadata) snapshotLocked() Snapshot {
	return Snapshot{TransactionalID: m.id, ProducerID: m.producerID, ProducerEpoch: m.producerEpoch,
		LastProducerEpoch: m.lastProducerEpoch, TimeoutMs: m.timeoutMs, State: m.state, Pending: m.hasPending,
		PendingState: m.pending, Partitions: m.sortedPartitionsLocked(), StartMs: m.startMs, LastUpdateMs: m.lastUpdateMs}
}

// Snapshot is a copy of one transactional id's metadata.
type Snapshot struct {
	TransactionalID   string
	ProducerID        int64
	ProducerEpoch     int16
	LastProducerEpoch int16
	TimeoutMs         int32
	State             State
	Pending           bool
	PendingState      State // meaningful when Pending
	Partitions        []TopicPartition
	StartMs           int64
	LastUpdateMs      int64
}
