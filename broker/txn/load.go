package txn

// Coordinator failover (reference 06 §4.9): becoming leader of a __transaction_state partition loads its
// transactional ids from the log and completes the transactions it finds prepared; resigning drops them.
// Leadership changes only mark the partition (loading or leaving) at once; the work runs on the
// coordinator's worker goroutine, in order, so the LeaderAndIsr handler never waits for an append in
// flight.

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// OnElection is called when this broker becomes leader of partition p of __transaction_state with leader
// epoch epoch (the coordinator epoch). The partition answers COORDINATOR_LOAD_IN_PROGRESS until loaded;
// a newer epoch while already loaded reloads it (Kafka's onElection), an epoch not newer is ignored.
func (c *Coordinator) OnElection(p, epoch int32) {
	if !c.validPartition(p) {
		return
	}
	s := c.state
	s.statusMu.Lock()
	cur, known := s.currentEpochLocked(p)
	if known && cur >= epoch {
		s.statusMu.Unlock()
		return
	}
	s.status[p] = status{epoch: epoch, loading: true}
	s.statusMu.Unlock()
	c.markers.removeForPartition(p)
	c.log.WithFields(logrus.Fields{"partition": p, "coordinator_epoch": epoch}).Info("loading transaction metadata of a transaction state partition")
	c.enqueue(func(ctx context.Context) { c.load(ctx, p, epoch) })
}

// OnResignation is called when this broker stops leading partition p (LeaderAndIsr making it a follower,
// StopReplica). epoch -1 resigns unconditionally; an epoch older than the one loaded or loading is ignored.
// Requests answer NOT_COORDINATOR at once; the cache entry is dropped once appends in flight are done.
func (c *Coordinator) OnResignation(p, epoch int32) {
	if !c.validPartition(p) {
		return
	}
	s := c.state
	s.statusMu.Lock()
	cur, known := s.currentEpochLocked(p)
	if !known || (epoch >= 0 && epoch < cur) {
		s.statusMu.Unlock()
		return
	}
	s.status[p] = status{epoch: epoch, loading: false}
	s.statusMu.Unlock()
	c.markers.removeForPartition(p)
	c.log.WithFields(logrus.Fields{"partition": p, "leader_epoch": epoch}).Info("unloading transaction metadata of a transaction state partition")
	c.enqueue(func(context.Context) { c.unload(p, epoch) })
}

// validPartition reports whether p is one of the partitions ids map onto. A __transaction_state with more
// partitions than when the broker started (Kafka refuses to load then: its count must be stable) is
// not served beyond the count known at startup.
func (c *Coordinator) validPartition(p int32) bool {
	if p >= 0 && p < c.cfg.NumPartitions {
		return true
	}
	c.log.WithFields(logrus.Fields{"partition": p, "transaction_state_partitions": c.cfg.NumPartitions}).
		Error("ignoring leadership of a transaction state partition beyond the partition count known at startup")
	return false
}

// currentEpochLocked is the epoch the partition is loading or loaded at (statusMu held).
func (s *stateManager) currentEpochLocked(p int32) (int32, bool) {
	if st, ok := s.status[p]; ok {
		if st.loading {
			return st.epoch, true
		}
		return 0, false // leaving: a new election at any epoch loads again
	}
	e, ok := s.owned[p]
	return e, ok
}

func (c *Coordinator) unload(p, epoch int32) {
	s := c.state
	s.guards[p].Lock() // appends to p in flight finish first
	defer s.guards[p].Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	if st, ok := s.status[p]; !ok || st.loading || st.epoch != epoch {
		return // elected again meanwhile: the load replaces the entry
	}
	delete(s.status, p)
	delete(s.owned, p)
	n := 0
	if tp := s.cache[p]; tp != nil {
		n = len(tp.txns)
	}
	delete(s.cache, p)
	c.log.WithFields(logrus.Fields{"partition": p, "transactional_ids": n}).Info("unloaded transaction metadata")
}

// stillLoading reports whether p is loading at epoch.
func (s *stateManager) stillLoading(p, epoch int32) bool {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	st, ok := s.status[p]
	return ok && st.loading && st.epoch == epoch
}

// load is loadTransactionsForTxnTopicPartition's work.
func (c *Coordinator) load(ctx context.Context, p, epoch int32) {
	s := c.state
	if !s.stillLoading(p, epoch) {
		return
	}
	// Appends to p that looked it up before it was marked loading hold its guard until they are done;
	// holding it across the read means the read sees them, and nothing is appended meanwhile.
	s.guards[p].Lock()
	start := time.Now()
	txns, err := s.readPartition(ctx, p)
	lg := c.log.WithFields(logrus.Fields{"partition": p, "coordinator_epoch": epoch})
	if err != nil {
		if ctx.Err() != nil {
			s.guards[p].Unlock()
			return
		}
		// As in Kafka, a failed read still ends loading: the partition is served with what was read.
		lg.WithError(err).Error("loading transaction state partition failed; serving what was read")
	}
	type toComplete struct {
		md     *metadata
		t      transit
		commit bool
	}
	var prepared []toComplete
	s.mu.Lock()
	s.statusMu.Lock()
	if st, ok := s.status[p]; !ok || !st.loading || st.epoch != epoch {
		s.statusMu.Unlock()
		s.mu.Unlock()
		s.guards[p].Unlock()
		return
	}
	loaded := len(txns) // txns is shared from here on
	s.cache[p] = &txnPartition{epoch: epoch, txns: txns}
	s.owned[p] = epoch
	delete(s.status, p)
	s.statusMu.Unlock()
	now := s.nowMs()
	for _, md := range txns {
		md.mu.Lock()
		if md.state == PrepareCommit || md.state == PrepareAbort {
			if t, err := md.prepareCompleteLocked(now); err == nil {
				prepared = append(prepared, toComplete{md, t, md.state == PrepareCommit})
			}
		}
		md.mu.Unlock()
	}
	s.mu.Unlock()
	s.guards[p].Unlock()
	lg.WithFields(logrus.Fields{"transactional_ids": loaded, "to_complete": len(prepared),
		"duration_ms": time.Since(start).Milliseconds()}).Info("finished loading transaction state partition")
	// Prepared transactions finish as they would have on the old coordinator: markers, then Complete*.
	for _, pc := range prepared {
		c.markers.addTxnMarkersToSend(epoch, pc.commit, pc.md, pc.t)
	}
}

// readPartition replays p from log start to end (rereading the end each round): the last value per
// transactional id wins, a tombstone removes it.
func (s *stateManager) readPartition(ctx context.Context, p int32) (map[string]*metadata, error) {
	txns := map[string]*metadata{}
	l, ok := s.parts.Log(p)
	if !ok {
		return txns, fmt.Errorf("no local log for %s-%d", TopicName, p)
	}
	if err := storage.ScanBatches(ctx, l, s.cfg.LoadBufferSize, func(b record.Batch) error {
		return s.replayBatch(b, txns)
	}); err != nil {
		return txns, err
	}
	return txns, nil
}

func (s *stateManager) replayBatch(b record.Batch, txns map[string]*metadata) error {
	if b.IsControl() {
		return nil
	}
	return b.Records(0, func(r record.Record) error {
		if r.Key == nil {
			return fmt.Errorf("%w: record without a key at batch offset %d", ErrMalformed, b.BaseOffset())
		}
		id, err := DecodeKey(r.Key)
		if err != nil {
			s.log.WithError(err).WithField("offset", b.BaseOffset()+int64(r.OffsetDelta)).Warn("skipping an unreadable transaction log key")
			return nil
		}
		if r.Value == nil {
			delete(txns, id)
			return nil
		}
		v, err := DecodeValue(r.Value)
		if err != nil {
			return fmt.Errorf("transactional id %q: %w", id, err)
		}
		md := newMetadata(id, v.ProducerID, v.TimeoutMs, v.LastUpdateMs)
		md.producerEpoch, md.state, md.startMs = v.ProducerEpoch, v.State, v.StartMs
		for _, tp := range v.Partitions {
			md.partitions[tp] = struct{}{}
		}
		txns[id] = md
		return nil
	})
}
