package txn

// The transaction state manager (Kafka 2.8's TransactionStateManager): which __transaction_state partitions
// this broker coordinates, the metadata cache of their transactional ids, and writing state changes to the
// log before applying them.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage/record"
)

// partitionFor is TransactionStateManager.partitionFor: abs(javaHash(id)) % n, with Kafka's Utils.abs
// mapping Integer.MIN_VALUE to 0. Clients find their coordinator only through this.
func partitionFor(id string, n int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(id)) {
		h = 31*h + int32(u)
	}
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % n
}

// txnPartition is one loaded __transaction_state partition (Kafka's TxnMetadataCacheEntry).
type txnPartition struct {
	epoch int32 // coordinator epoch: the partition's leader epoch when this broker became its leader

	mu   sync.Mutex           // a leaf: ids are added under the manager's read lock
	txns map[string]*metadata // guarded by mu
}

func (p *txnPartition) get(id string) *metadata {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txns[id]
}

func (p *txnPartition) snapshot() []*metadata {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*metadata, 0, len(p.txns))
	for _, m := range p.txns {
		out = append(out, m)
	}
	return out
}

// status is a partition between leadership changes: loading at epoch (COORDINATOR_LOAD_IN_PROGRESS), or
// leaving (NOT_COORDINATOR) until the worker has dropped its cache entry.
type status struct {
	epoch   int32
	loading bool
}

// stateManager owns the cache. Lock order: guards[p] (read: held across an append to p; write: loading
// or dropping p) → mu (short: the partition map) → statusMu (a leaf, also taken alone by leadership
// changes, which must not wait for appends) → txnPartition.mu → metadata.mu.
type stateManager struct {
	cfg   Config
	parts Partitions
	clock Clock
	log   *logrus.Entry

	// guards[p] keeps partition p from being unloaded or reloaded while a state change is appended to it
	// (Kafka holds its stateLock's read lock across the local append for the same reason), without making
	// other partitions' loads wait for that append.
	guards []sync.RWMutex

	mu    sync.RWMutex
	cache map[int32]*txnPartition // guarded by mu

	statusMu sync.Mutex
	status   map[int32]status // guarded by statusMu
	owned    map[int32]int32  // guarded by statusMu; coordinator epoch of each loaded partition (mirrors cache)
}

func newStateManager(cfg Config, parts Partitions, clock Clock, lg *logrus.Entry) *stateManager {
	return &stateManager{cfg: cfg, parts: parts, clock: clock, log: lg, guards: make([]sync.RWMutex, cfg.NumPartitions),
		cache: map[int32]*txnPartition{}, status: map[int32]status{}, owned: map[int32]int32{}}
}

func (s *stateManager) partitionFor(id string) int32 { return partitionFor(id, s.cfg.NumPartitions) }

func (s *stateManager) nowMs() int64 { return s.clock.Now().UnixMilli() }

// lookupLocked is getAndMaybeAddTransactionState, with mu held (read or write): the id's coordinator
// epoch and metadata (nil when unknown, unless created is given, which is then added), or
// COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR.
func (s *stateManager) lookupLocked(id string, created *metadata) (int32, *metadata, error) {
	p := s.partitionFor(id)
	s.statusMu.Lock()
	st, busy := s.status[p]
	s.statusMu.Unlock()
	switch {
	case busy && st.loading:
		return 0, nil, kerr.CoordinatorLoadInProgress
	case busy:
		return 0, nil, kerr.NotCoordinator
	}
	tp := s.cache[p]
	if tp == nil {
		return 0, nil, kerr.NotCoordinator
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	md := tp.txns[id]
	if md == nil && created != nil {
		tp.txns[id] = created
		md = created
	}
	return tp.epoch, md, nil
}

// lookup is lookupLocked taking the read lock.
func (s *stateManager) lookup(id string, created *metadata) (int32, *metadata, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookupLocked(id, created)
}

// appendErrorCode is appendTransactionToLog's mapping of a failed append to the coordinator's answer.
func appendErrorCode(err error) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return kerr.CoordinatorNotAvailable
		}
		return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		return kerr.UnknownServerError
	}
	return ke
}

// appendTransition is appendTransactionToLog: it writes t for id (acks=-1, timeout = the transaction
// timeout) and, once durable and if the coordinator epoch is still coordEpoch, applies it to the metadata.
// On failure the pending state is dropped unless keepPending accepts the error (the caller retries). The
// partition's guard is held throughout, so it cannot be unloaded and reloaded underneath the append.
func (s *stateManager) appendTransition(ctx context.Context, id string, coordEpoch int32, t transit, keepPending func(error) bool) error {
	p := s.partitionFor(id)
	s.guards[p].RLock()
	defer s.guards[p].RUnlock()
	epoch, md, err := s.lookup(id, nil)
	switch {
	case err != nil:
		return err
	case md == nil || epoch != coordEpoch:
		return kerr.NotCoordinator
	}
	val, err := ValueBytes(t.value())
	if err != nil {
		return err
	}
	batch, err := recordBatch(s.nowMs(), record.BuildRecord{Key: KeyBytes(id), Value: val})
	if err != nil {
		return err
	}
	_, aerr := s.parts.Append(ctx, p, time.Duration(t.timeoutMs)*time.Millisecond, batch)
	md.mu.Lock()
	defer md.mu.Unlock()
	if aerr != nil {
		code := appendErrorCode(aerr)
		if keepPending == nil || !keepPending(code) {
			md.hasPending = false
		}
		s.log.WithFields(logrus.Fields{"transactional_id": id, "state": t.state.String(), "error": aerr.Error()}).
			Info("appending transaction state failed")
		return code
	}
	// The partition could not be reloaded while its guard is held, so the epoch still holds; Kafka
	// re-checks anyway (a resignation marks it leaving at once), and so do we.
	if e, cur, err := s.lookup(id, nil); err != nil || cur != md || e != coordEpoch {
		return kerr.NotCoordinator
	}
	return md.completeTransitionLocked(t)
}

// ownedPartitions lists the loaded partitions (for the periodic tasks).
func (s *stateManager) ownedPartitions() map[int32]*txnPartition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[int32]*txnPartition, len(s.cache))
	for p, tp := range s.cache {
		out[p] = tp
	}
	return out
}

// timedOut lists Ongoing transactions without a pending change whose timeout passed
// (timedOutTransactions).
func (s *stateManager) timedOut() []idAndProducer {
	now := s.nowMs()
	var out []idAndProducer
	for _, tp := range s.ownedPartitions() {
		for _, md := range tp.snapshot() {
			md.mu.Lock()
			if !md.hasPending && md.state == Ongoing && md.startMs+int64(md.timeoutMs) < now {
				out = append(out, idAndProducer{id: md.id, producerID: md.producerID, producerEpoch: md.producerEpoch})
			}
			md.mu.Unlock()
		}
	}
	return out
}

type idAndProducer struct {
	id            string
	producerID    int64
	producerEpoch int16
}

// removeExpired is removeExpiredTransactionalIds: ids at rest (Empty, CompleteCommit, CompleteAbort, no
// pending change) untouched for transactional.id.expiration.ms get a tombstone and leave the cache once it
// is durable. Returns the ids removed.
func (s *stateManager) removeExpired(ctx context.Context) []string {
	var removed []string
	for p := range s.ownedPartitions() {
		removed = append(removed, s.removeExpiredOf(ctx, p)...)
	}
	return removed
}

func (s *stateManager) removeExpiredOf(ctx context.Context, p int32) []string {
	s.guards[p].RLock()
	defer s.guards[p].RUnlock()
	s.mu.RLock()
	tp := s.cache[p]
	s.mu.RUnlock()
	if tp == nil {
		return nil
	}
	now := s.nowMs()
	type dead struct {
		md *metadata
		t  transit
	}
	var expiring []dead
	for _, md := range tp.snapshot() {
		md.mu.Lock()
		if !md.hasPending && (md.state == Empty || md.state == CompleteCommit || md.state == CompleteAbort) &&
			md.lastUpdateMs <= now-s.cfg.IDExpiration.Milliseconds() {
			if t, err := md.prepareDeadLocked(); err == nil {
				expiring = append(expiring, dead{md, t})
			}
		}
		md.mu.Unlock()
	}
	if len(expiring) == 0 {
		return nil
	}
	recs := make([]record.BuildRecord, len(expiring))
	for i, d := range expiring {
		recs[i] = record.BuildRecord{Key: KeyBytes(d.md.id)}
	}
	batch, err := recordBatch(now, recs...)
	if err == nil {
		_, err = s.parts.Append(ctx, p, s.cfg.RequestTimeout, batch)
	}
	var removed []string
	tp.mu.Lock()
	for _, d := range expiring {
		d.md.mu.Lock()
		if err == nil && d.md.hasPending && d.md.pending == Dead && d.md.producerEpoch == d.t.producerEpoch {
			delete(tp.txns, d.md.id)
			removed = append(removed, d.md.id)
		} else {
			d.md.hasPending = false
		}
		d.md.mu.Unlock()
	}
	tp.mu.Unlock()
	lg := s.log.WithFields(logrus.Fields{"partition": p, "transactional_ids": len(expiring)})
	if err != nil {
		lg.WithError(err).Warn("writing tombstones for expired transactional ids failed")
	} else {
		lg.Info("removed expired transactional ids")
	}
	return removed
}
