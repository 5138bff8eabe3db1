package txn

// The transaction marker channel (Kafka 2.8's TransactionMarkerChannelManager and
// TransactionMarkerRequestCompletionHandler): once a PrepareCommit/PrepareAbort is durable, COMMIT/ABORT
// markers go to the leader of every partition in the transaction, grouped per leader into WriteTxnMarkers
// requests; each partition that answers NONE leaves the transaction's set, retriable failures are resent to
// the partition's (possibly new) leader, and when the set is empty CompleteCommit/CompleteAbort is written.
//
// One sender goroutine owns the per-broker queues' draining; each destination has at most one request in
// flight, sent on its own goroutine. Queued markers whose leader is not known go to an "unknown broker"
// queue (-1) that is re-resolved every RetryBackoff, as are Complete* appends that failed with
// COORDINATOR_NOT_AVAILABLE.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const unknownBroker = -1

// markerEntry is one transaction's markers for one destination (TxnIdAndMarkerEntry).
type markerEntry struct {
	txnID         string
	txnPartition  int32
	producerID    int64
	producerEpoch int16
	commit        bool
	coordEpoch    int32
	partitions    []TopicPartition
}

// pendingComplete is a transaction waiting for its markers (PendingCompleteTxn).
type pendingComplete struct {
	id         string
	coordEpoch int32
	md         *metadata
	t          transit
}

type markerManager struct {
	c         *Coordinator
	transport Transport
	log       *logrus.Entry

	mu       sync.Mutex
	pending  map[string]*pendingComplete // guarded by mu; transactionsWithPendingMarkers
	queues   map[int32][]markerEntry     // guarded by mu; by destination broker, unknownBroker for no leader
	inflight map[int32]bool              // guarded by mu
	retries  []*pendingComplete          // guarded by mu; Complete* appends to retry

	wake chan struct{}
}

func newMarkerManager(c *Coordinator, t Transport, lg *logrus.Entry) *markerManager {
	return &markerManager{c: c, transport: t, log: lg, pending: map[string]*pendingComplete{},
		queues: map[int32][]markerEntry{}, inflight: map[int32]bool{}, wake: make(chan struct{}, 1)}
}

func (mm *markerManager) signal() {
	select {
	case mm.wake <- struct{}{}:
	default:
	}
}

// addTxnMarkersToSend registers the transaction's completion (t, prepared from md) and queues its markers.
func (mm *markerManager) addTxnMarkersToSend(coordEpoch int32, commit bool, md *metadata, t transit) {
	md.mu.Lock()
	pid, epoch, parts := md.producerID, md.producerEpoch, md.sortedPartitionsLocked()
	md.mu.Unlock()
	mm.mu.Lock()
	mm.pending[md.id] = &pendingComplete{id: md.id, coordEpoch: coordEpoch, md: md, t: t}
	mm.mu.Unlock()
	mm.addToBrokerQueues(markerEntry{txnID: md.id, txnPartition: mm.c.state.partitionFor(md.id), producerID: pid,
		producerEpoch: epoch, commit: commit, coordEpoch: coordEpoch}, parts)
	mm.maybeWriteTxnCompletion(md.id)
}

// addToBrokerQueues is addTxnMarkersToBrokerQueue: it groups parts by current leader. Partitions the
// cluster no longer has (deleted topics) leave the transaction: nothing could have been written to them.
func (mm *markerManager) addToBrokerQueues(e markerEntry, parts []TopicPartition) {
	byLeader := map[int32][]TopicPartition{}
	var gone []TopicPartition
	for _, tp := range parts {
		id, known := mm.transport.Leader(tp)
		switch {
		case !known:
			gone = append(gone, tp)
		case id < 0:
			byLeader[unknownBroker] = append(byLeader[unknownBroker], tp)
		default:
			byLeader[id] = append(byLeader[id], tp)
		}
	}
	mm.mu.Lock()
	for id, tps := range byLeader {
		q := e
		q.partitions = tps
		mm.queues[id] = append(mm.queues[id], q)
	}
	mm.mu.Unlock()
	if len(gone) > 0 {
		epoch, md, err := mm.c.state.lookup(e.txnID, nil)
		switch {
		case err != nil || md == nil || epoch != e.coordEpoch:
			mm.removeTxn(e.txnID)
		default:
			mm.log.WithFields(logrus.Fields{"transactional_id": e.txnID, "partitions": len(gone)}).
				Info("no leader known for transaction partitions, which are likely deleted; skipping their markers")
			md.mu.Lock()
			for _, tp := range gone {
				delete(md.partitions, tp)
			}
			md.mu.Unlock()
			mm.maybeWriteTxnCompletion(e.txnID)
		}
	}
	mm.signal()
}

// removeTxn forgets a transaction's completion (removeMarkersForTxnId); markers already queued still go
// out, and their answers find nothing to complete.
func (mm *markerManager) removeTxn(id string) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	delete(mm.pending, id)
}

// removeForPartition drops everything of transaction state partition p (removeMarkersForTxnTopicPartition):
// its queued markers, completions and retries. A new coordinator finishes them.
func (mm *markerManager) removeForPartition(p int32) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for id, q := range mm.queues {
		kept := q[:0]
		for _, e := range q {
			if e.txnPartition != p {
				kept = append(kept, e)
			}
		}
		mm.queues[id] = kept
	}
	for id := range mm.pending {
		if mm.c.state.partitionFor(id) == p {
			delete(mm.pending, id)
		}
	}
	kept := mm.retries[:0]
	for _, pc := range mm.retries {
		if mm.c.state.partitionFor(pc.id) != p {
			kept = append(kept, pc)
		}
	}
	mm.retries = kept
}

// maybeWriteTxnCompletion writes Complete* once no partition waits for a marker.
func (mm *markerManager) maybeWriteTxnCompletion(id string) {
	mm.mu.Lock()
	pc := mm.pending[id]
	mm.mu.Unlock()
	if pc == nil {
		return
	}
	pc.md.mu.Lock()
	waiting := len(pc.md.partitions) > 0
	pc.md.mu.Unlock()
	if waiting {
		return
	}
	mm.mu.Lock()
	if mm.pending[id] != pc {
		mm.mu.Unlock()
		return
	}
	delete(mm.pending, id)
	mm.mu.Unlock()
	epoch, md, err := mm.c.state.lookup(id, nil)
	switch {
	case err != nil:
		mm.log.WithFields(logrus.Fields{"transactional_id": id, "error": err.Error()}).Info("not completing transaction: no longer its coordinator")
		return
	case md == nil || epoch != pc.coordEpoch:
		mm.log.WithField("transactional_id", id).Info("not completing transaction: coordinator epoch changed")
		return
	}
	mm.c.spawn(func(ctx context.Context) { mm.appendCompletion(ctx, pc) })
}

// appendCompletion writes CompleteCommit/CompleteAbort, retrying on COORDINATOR_NOT_AVAILABLE.
func (mm *markerManager) appendCompletion(ctx context.Context, pc *pendingComplete) {
	retriable := func(err error) bool { return errors.Is(err, kerr.CoordinatorNotAvailable) }
	err := mm.c.state.appendTransition(ctx, pc.id, pc.coordEpoch, pc.t, retriable)
	lg := mm.log.WithFields(logrus.Fields{"transactional_id": pc.id, "state": pc.t.state.String()})
	switch {
	case err == nil:
		lg.Debug("completed transaction")
	case retriable(err) && ctx.Err() == nil:
		lg.WithField("error", err.Error()).Info("completing transaction failed; retrying")
		mm.mu.Lock()
		mm.retries = append(mm.retries, pc)
		mm.mu.Unlock()
	case errors.Is(err, kerr.NotCoordinator), errors.Is(err, kerr.CoordinatorLoadInProgress):
		lg.WithField("error", err.Error()).Info("not completing transaction: no longer its coordinator")
	default:
		lg.WithError(err).Error("completing transaction failed")
	}
}

// run is the sender loop: it sends queued markers, re-resolves markers without a leader and retries
// completions, until ctx ends.
func (mm *markerManager) run(ctx context.Context) {
	tick := time.NewTicker(mm.c.cfg.RetryBackoff)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-mm.wake:
		case <-tick.C:
			mm.retryUnresolved()
		}
		mm.drain(ctx)
	}
}

// retryUnresolved resolves the leaders of markers that had none and re-appends failed completions.
func (mm *markerManager) retryUnresolved() {
	mm.mu.Lock()
	unknown := mm.queues[unknownBroker]
	delete(mm.queues, unknownBroker)
	retries := mm.retries
	mm.retries = nil
	mm.mu.Unlock()
	for _, e := range unknown {
		mm.addToBrokerQueues(e, e.partitions)
	}
	for _, pc := range retries {
		mm.c.spawn(func(ctx context.Context) { mm.appendCompletion(ctx, pc) })
	}
}

// drain starts one request per destination that has markers and none in flight.
func (mm *markerManager) drain(ctx context.Context) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for id, q := range mm.queues {
		if id == unknownBroker || len(q) == 0 || mm.inflight[id] {
			continue
		}
		entries := q
		delete(mm.queues, id)
		mm.inflight[id] = true
		mm.c.spawn(func(ctx context.Context) { mm.send(ctx, id, entries) })
	}
}

// send carries entries to broker id and handles the answer.
func (mm *markerManager) send(ctx context.Context, id int32, entries []markerEntry) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = mm.c.cfg.MarkersVersion
	for _, e := range entries {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = e.producerID, e.producerEpoch, e.commit, e.coordEpoch
		byTopic := map[string]int{}
		for _, tp := range e.partitions {
			i, ok := byTopic[tp.Topic]
			if !ok {
				i = len(m.Topics)
				byTopic[tp.Topic] = i
				t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
				t.Topic = tp.Topic
				m.Topics = append(m.Topics, t)
			}
			m.Topics[i].Partitions = append(m.Topics[i].Partitions, tp.Partition)
		}
		req.Markers = append(req.Markers, m)
	}
	sctx, cancel := context.WithTimeout(ctx, mm.c.cfg.RequestTimeout)
	resp, err := mm.transport.Send(sctx, id, req)
	cancel()
	mm.mu.Lock()
	delete(mm.inflight, id)
	mm.mu.Unlock()
	defer mm.signal()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		mm.log.WithFields(logrus.Fields{"broker": id, "markers": len(entries), "error": err.Error()}).
			Info("sending transaction markers failed; resending")
		for _, e := range entries {
			mm.onDisconnected(e)
		}
		return
	}
	codes := map[int64]map[TopicPartition]int16{}
	for _, m := range resp.Markers {
		if codes[m.ProducerID] == nil {
			codes[m.ProducerID] = map[TopicPartition]int16{}
		}
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				codes[m.ProducerID][TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.ErrorCode
			}
		}
	}
	for _, e := range entries {
		mm.onResponse(e, codes[e.producerID])
	}
}

// currentFor checks that the coordinator still owns e's transaction at e's epoch; otherwise the
// transaction's completion is dropped (the coordinator that owns it now finishes it).
func (mm *markerManager) currentFor(e markerEntry) *metadata {
	epoch, md, err := mm.c.state.lookup(e.txnID, nil)
	if err != nil || md == nil || epoch != e.coordEpoch {
		mm.log.WithField("transactional_id", e.txnID).Info("no longer the transaction's coordinator; cancelling its markers")
		mm.removeTxn(e.txnID)
		return nil
	}
	return md
}

// onDisconnected re-queues e's markers to the partitions' current leaders.
func (mm *markerManager) onDisconnected(e markerEntry) {
	if mm.currentFor(e) == nil {
		return
	}
	mm.requeueLater(e, e.partitions)
}

// requeueLater queues e's markers for parts to be resolved and sent again after RetryBackoff, so a
// leader that keeps refusing (metadata not caught up yet) is not asked in a tight loop.
func (mm *markerManager) requeueLater(e markerEntry, parts []TopicPartition) {
	e.partitions = parts
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.queues[unknownBroker] = append(mm.queues[unknownBroker], e)
}

// onResponse applies a broker's answer for e's partitions.
func (mm *markerManager) onResponse(e markerEntry, codes map[TopicPartition]int16) {
	md := mm.currentFor(e)
	if md == nil {
		return
	}
	var retry []TopicPartition
	abort := false
	md.mu.Lock()
	for _, tp := range e.partitions {
		code, ok := codes[tp]
		if !ok {
			retry = append(retry, tp) // not answered: ask again
			continue
		}
		switch ke := kerr.ErrorForCode(code); ke {
		case nil:
			delete(md.partitions, tp)
		case kerr.UnknownTopicOrPartition, kerr.NotLeaderForPartition, kerr.NotEnoughReplicas,
			kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut, kerr.KafkaStorageError:
			retry = append(retry, tp)
		case kerr.InvalidProducerEpoch, kerr.TransactionCoordinatorFenced:
			// A newer producer epoch or coordinator owns the partition's state: this transaction is over.
			abort = true
		case kerr.UnsupportedForMessageFormat, kerr.UnsupportedVersion:
			delete(md.partitions, tp) // the producer could not have written there either
		default:
			// Kafka treats the rest (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, ...) as fatal to the coordinator; we
			// log and keep retrying, so the transaction stays visibly stuck instead of the broker dying.
			mm.log.WithFields(logrus.Fields{"transactional_id": e.txnID, "topic": tp.Topic, "partition": tp.Partition,
				"error": ke.Error()}).Error("unexpected error writing a transaction marker; retrying")
			retry = append(retry, tp)
		}
	}
	md.mu.Unlock()
	switch {
	case abort:
		mm.log.WithField("transactional_id", e.txnID).Info("transaction markers fenced; cancelling the rest")
		mm.removeTxn(e.txnID)
	case len(retry) > 0:
		mm.requeueLater(e, retry)
	default:
		mm.maybeWriteTxnCompletion(e.txnID)
	}
}
