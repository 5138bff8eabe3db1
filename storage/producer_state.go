package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// Producer-state errors of an append (ProducerAppendInfo's exceptions); broker/errors.go maps them.
var (
	// ErrInvalidProducerEpoch: a batch or marker with an epoch below the producer's
	// (INVALID_PRODUCER_EPOCH, 47; PRODUCER_FENCED before Kafka 2.7).
	ErrInvalidProducerEpoch = errors.New("storage: invalid producer epoch")
	// ErrOutOfOrderSequence: a client batch whose sequence does not follow the producer's last one
	// (OUT_OF_ORDER_SEQUENCE_NUMBER, 45).
	ErrOutOfOrderSequence = errors.New("storage: out of order sequence number")
	// ErrInvalidTxnState: a non-transactional batch from a producer with an open transaction
	// (INVALID_TXN_STATE, 48).
	ErrInvalidTxnState = errors.New("storage: invalid transaction state")
	// ErrTransactionCoordinatorFenced: a marker with a coordinator epoch below the producer's last
	// one (TRANSACTION_COORDINATOR_FENCED, 52).
	ErrTransactionCoordinatorFenced = errors.New("storage: transaction coordinator fenced")
)

// appendOrigin is Kafka's AppendOrigin: how much of the producer rules an append is held to.
type appendOrigin int8

const (
	originClient      appendOrigin = iota // produce requests: duplicates, epoch, sequence, transaction rules
	originCoordinator                     // markers and group offset commits: epoch and coordinator epoch only
	originReplication                     // follower appends and log recovery: nothing checked, state replayed
)

// numBatchesToRetain is ProducerStateEntry.NumBatchesToRetain: a producer may have up to 5
// requests in flight (max.in.flight.requests.per.connection), so a retry can only be one of them.
const numBatchesToRetain = 5

// batchMetadata is one retained data batch of a producer (Kafka's BatchMetadata).
type batchMetadata struct {
	lastSeq     int32
	lastOffset  int64
	offsetDelta int32 // lastOffset - firstOffset
	timestamp   int64 // the batch's max timestamp
}

func (b batchMetadata) firstSeq() int32    { return decrementSequence(b.lastSeq, b.offsetDelta) }
func (b batchMetadata) firstOffset() int64 { return b.lastOffset - int64(b.offsetDelta) }

// decrementSequence is DefaultRecordBatch.decrementSequence: sequences wrap from MaxInt32 to 0.
func decrementSequence(seq, dec int32) int32 {
	if seq < dec {
		return math.MaxInt32 - (dec - seq) + 1
	}
	return seq - dec
}

// producerEntry is one producer's state on this partition (ProducerStateEntry).
type producerEntry struct {
	producerID            int64
	epoch                 int16           // -1 until a batch or marker was seen
	batches               []batchMetadata // oldest first, at most numBatchesToRetain, all of epoch
	coordinatorEpoch      int32           // of the last marker, -1 when none
	lastTimestamp         int64           // max timestamp of the last batch, or the last marker's timestamp
	currentTxnFirstOffset int64           // first offset of the open transaction, -1 when none
}

func newProducerEntry(pid int64) *producerEntry {
	return &producerEntry{producerID: pid, epoch: record.NoProducerEpoch, coordinatorEpoch: -1,
		lastTimestamp: record.NoTimestamp, currentTxnFirstOffset: -1}
}

func (e *producerEntry) isEmpty() bool { return len(e.batches) == 0 }

func (e *producerEntry) lastSeq() int32 {
	if e.isEmpty() {
		return record.NoSequence
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) lastDataOffset() int64 {
	if e.isEmpty() {
		return -1
	}
	return e.batches[len(e.batches)-1].lastOffset
}

func (e *producerEntry) lastOffsetDelta() int32 {
	if e.isEmpty() {
		return 0
	}
	return e.batches[len(e.batches)-1].offsetDelta
}

// maybeUpdateEpoch switches to epoch, forgetting the batches of the old one.
func (e *producerEntry) maybeUpdateEpoch(epoch int16) bool {
	if e.epoch == epoch {
		return false
	}
	e.batches = e.batches[:0]
	e.epoch = epoch
	return true
}

func (e *producerEntry) addBatchMetadata(b batchMetadata) {
	if len(e.batches) == numBatchesToRetain {
		e.batches = append(e.batches[:0], e.batches[1:]...)
	}
	e.batches = append(e.batches, b)
}

func (e *producerEntry) addBatch(epoch int16, lastSeq int32, lastOffset int64, offsetDelta int32, ts int64) {
	e.maybeUpdateEpoch(epoch)
	e.addBatchMetadata(batchMetadata{lastSeq: lastSeq, lastOffset: lastOffset, offsetDelta: offsetDelta, timestamp: ts})
	e.lastTimestamp = ts
}

// update applies what an append accumulated in next (ProducerStateEntry.update).
func (e *producerEntry) update(next *producerEntry) {
	e.maybeUpdateEpoch(next.epoch)
	for _, b := range next.batches {
		e.addBatchMetadata(b)
	}
	e.coordinatorEpoch = next.coordinatorEpoch
	e.currentTxnFirstOffset = next.currentTxnFirstOffset
	e.lastTimestamp = next.lastTimestamp
}

// findDuplicate returns the retained batch with exactly the batch's sequence range, if the epoch
// matches (ProducerStateEntry.findDuplicateBatch).
func (e *producerEntry) findDuplicate(epoch int16, firstSeq, lastSeq int32) (batchMetadata, bool) {
	if epoch != e.epoch {
		return batchMetadata{}, false
	}
	for _, b := range e.batches {
		if b.firstSeq() == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return batchMetadata{}, false
}

// batchHeader is what producer state needs of a batch; all of it is in the 61-byte header.
type batchHeader struct {
	producerID    int64
	epoch         int16
	baseSeq       int32
	lastSeq       int32
	baseOffset    int64
	lastOffset    int64
	maxTimestamp  int64
	transactional bool
	control       bool
}

// headerOf reads the header fields; b may be just the first record.HeaderSize bytes of a batch.
func headerOf(b record.Batch) batchHeader {
	return batchHeader{
		producerID: b.ProducerID(), epoch: b.ProducerEpoch(), baseSeq: b.BaseSequence(), lastSeq: b.LastSequence(),
		baseOffset: b.BaseOffset(), lastOffset: b.LastOffset(), maxTimestamp: b.MaxTimestamp(),
		transactional: b.IsTransactional(), control: b.IsControl(),
	}
}

// endTxnMarker is a control batch's record (EndTransactionMarker): key version int16 + type int16
// (0 ABORT, 1 COMMIT); value version int16 + coordinatorEpoch int32.
type endTxnMarker struct {
	commit           bool
	coordinatorEpoch int32
	timestamp        int64 // the record's timestamp
}

// errNotAMarker: a control batch that holds no transaction marker (an unknown control type).
var errNotAMarker = errors.New("control batch is not a transaction marker")

// parseEndTxnMarker reads the marker of a whole control batch. ok is false for a control batch
// without records (the cleaner emptied it; Kafka then ignores it).
func parseEndTxnMarker(b record.Batch) (m endTxnMarker, ok bool, err error) {
	err = b.Records(0, func(r record.Record) error {
		if ok {
			return nil // Kafka reads only the first record
		}
		if len(r.Key) < 4 {
			return fmt.Errorf("%w: control record key of %d bytes", record.ErrInvalidRecord, len(r.Key))
		}
		if v := int16(binary.BigEndian.Uint16(r.Key)); v < 0 {
			return fmt.Errorf("%w: control record key version %d", record.ErrInvalidRecord, v)
		}
		switch t := int16(binary.BigEndian.Uint16(r.Key[2:])); t {
		case 0, 1:
			m.commit = t == 1
		default:
			return fmt.Errorf("%w: control record type %d", errNotAMarker, t)
		}
		if len(r.Value) < 6 {
			return fmt.Errorf("%w: end transaction marker value of %d bytes", record.ErrInvalidRecord, len(r.Value))
		}
		if v := int16(binary.BigEndian.Uint16(r.Value)); v < 0 {
			return fmt.Errorf("%w: end transaction marker version %d", record.ErrInvalidRecord, v)
		}
		m.coordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		m.timestamp = r.Timestamp
		ok = true
		return nil
	})
	return m, ok, err
}

// completedTxn is a transaction ended by a marker (CompletedTxn).
type completedTxn struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64 // the marker's offset
	aborted     bool
}

// producerAppend validates one producer's batches of an append against its state and accumulates
// the state they lead to (ProducerAppendInfo). Nothing changes until producerState.update.
type producerAppend struct {
	pid     int64
	origin  appendOrigin
	current *producerEntry // the state before the append (an empty entry for a new producer)
	updated producerEntry  // epoch, coordinator epoch, timestamp, open txn, and this append's batches
	started []int64        // first offsets of the transactions this append opens
	lg      *logrus.Entry
	buf     [1]batchMetadata // backs updated.batches for the usual single batch
}

func (pa *producerAppend) init(pid int64, current *producerEntry, origin appendOrigin, lg *logrus.Entry) {
	*pa = producerAppend{pid: pid, origin: origin, current: current, lg: lg}
	pa.updated = producerEntry{producerID: pid, epoch: current.epoch, batches: pa.buf[:0], coordinatorEpoch: current.coordinatorEpoch,
		lastTimestamp: current.lastTimestamp, currentTxnFirstOffset: current.currentTxnFirstOffset}
}

// checkEpoch: a lower epoch than the producer's is fenced, except in replication, which trusts
// the leader and only logs it.
func (pa *producerAppend) checkEpoch(epoch int16, offset int64) error {
	if epoch >= pa.updated.epoch {
		return nil
	}
	if pa.origin == originReplication {
		pa.lg.WithFields(logrus.Fields{"producer_id": pa.pid, "producer_epoch": epoch, "current_epoch": pa.updated.epoch,
			"offset": offset}).Warn("replicated batch with an epoch below the producer's")
		return nil
	}
	return fmt.Errorf("%w: epoch of producer %d at offset %d is %d, which is smaller than the last seen epoch %d",
		ErrInvalidProducerEpoch, pa.pid, offset, epoch, pa.updated.epoch)
}

// checkSequence is ProducerAppendInfo.checkSequence (client appends only). A new epoch must start
// at sequence 0 unless the producer had no epoch; within an epoch the batch must follow the last
// sequence (of this append's previous batch, else the retained state), wrapping MaxInt32 -> 0. A
// producer without an epoch (unknown here: new, expired or removed by retention) may start
// anywhere, which is why Kafka 2.8 never answers UNKNOWN_PRODUCER_ID.
func (pa *producerAppend) checkSequence(epoch int16, firstSeq int32, offset int64) error {
	if epoch != pa.updated.epoch {
		if firstSeq != 0 && pa.updated.epoch != record.NoProducerEpoch {
			return fmt.Errorf("%w: invalid sequence number for new epoch of producer %d at offset %d: %d (request epoch), %d (seq. number), %d (current producer epoch)",
				ErrOutOfOrderSequence, pa.pid, offset, epoch, firstSeq, pa.updated.epoch)
		}
		return nil
	}
	lastSeq := int32(record.NoSequence)
	switch {
	case !pa.updated.isEmpty():
		lastSeq = pa.updated.lastSeq()
	case epoch == pa.current.epoch:
		lastSeq = pa.current.lastSeq()
	}
	if pa.current.epoch == record.NoProducerEpoch || inSequence(lastSeq, firstSeq) {
		return nil
	}
	return fmt.Errorf("%w: out of order sequence number for producer %d at offset %d: %d (incoming seq. number), %d (current end sequence number)",
		ErrOutOfOrderSequence, pa.pid, offset, firstSeq, lastSeq)
}

func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// appendData is ProducerAppendInfo.appendDataBatch.
func (pa *producerAppend) appendData(h batchHeader) error {
	first := h.baseOffset
	if err := pa.checkEpoch(h.epoch, first); err != nil {
		return err
	}
	if pa.origin == originClient {
		if err := pa.checkSequence(h.epoch, h.baseSeq, first); err != nil {
			return err
		}
	}
	pa.updated.addBatch(h.epoch, h.lastSeq, h.lastOffset, int32(h.lastOffset-first), h.maxTimestamp)
	switch open := pa.updated.currentTxnFirstOffset >= 0; {
	case open && !h.transactional:
		return fmt.Errorf("%w: expected transactional write from producer %d at offset %d", ErrInvalidTxnState, pa.pid, first)
	case !open && h.transactional:
		pa.updated.currentTxnFirstOffset = first
		pa.started = append(pa.started, first)
	}
	return nil
}

// appendMarker is ProducerAppendInfo.appendEndTxnMarker: a marker completes the producer's open
// transaction, if any, and takes over its epoch (markers may carry a bumped epoch).
func (pa *producerAppend) appendMarker(m endTxnMarker, epoch int16, offset int64) (*completedTxn, error) {
	if err := pa.checkEpoch(epoch, offset); err != nil {
		return nil, err
	}
	if pa.updated.coordinatorEpoch > m.coordinatorEpoch {
		if pa.origin != originReplication {
			return nil, fmt.Errorf("%w: invalid coordinator epoch for producer %d at offset %d: %d (zombie), %d (current)",
				ErrTransactionCoordinatorFenced, pa.pid, offset, m.coordinatorEpoch, pa.updated.coordinatorEpoch)
		}
		pa.lg.WithFields(logrus.Fields{"producer_id": pa.pid, "coordinator_epoch": m.coordinatorEpoch,
			"current_coordinator_epoch": pa.updated.coordinatorEpoch, "offset": offset}).Info("replicated marker with an older coordinator epoch")
	}
	var ct *completedTxn
	if first := pa.updated.currentTxnFirstOffset; first >= 0 {
		ct = &completedTxn{producerID: pa.pid, firstOffset: first, lastOffset: offset, aborted: !m.commit}
	}
	pa.updated.maybeUpdateEpoch(epoch)
	pa.updated.currentTxnFirstOffset = -1
	pa.updated.coordinatorEpoch = m.coordinatorEpoch
	pa.updated.lastTimestamp = m.timestamp
	return ct, nil
}

// txnMeta is an ongoing or completed transaction of the partition (TxnMetadata).
type txnMeta struct {
	producerID  int64
	firstOffset int64
	lastOffset  int64 // the marker's offset; -1 while ongoing
}

// producerState is a partition's producer state (Kafka's ProducerStateManager), guarded by Log.mu:
// every producer's entry, the open transactions and the completed transactions whose marker is
// not yet below the HW (both by first offset, for the first unstable offset), the offset up to
// which the log has been applied (mapEndOffset), and the snapshot files (producer_snapshot.go).
type producerState struct {
	dir          string
	lg           *logrus.Entry
	expirationMs int64 // transactional.id.expiration.ms

	producers    map[int64]*producerEntry
	ongoing      []txnMeta // by first offset
	unreplicated []txnMeta // by first offset
	mapEndOffset int64
	lastSnap     int64   // offset of the snapshot that reflects the state last written
	snapshots    []int64 // offsets of the .snapshot files, increasing
}

func newProducerState(dir string, expirationMs int64, lg *logrus.Entry) *producerState {
	return &producerState{dir: dir, lg: lg, expirationMs: expirationMs, producers: make(map[int64]*producerEntry)}
}

// lastEntry returns the producer's entry, or an empty one (not stored) when unknown.
func (ps *producerState) lastEntry(pid int64) *producerEntry {
	if e, ok := ps.producers[pid]; ok {
		return e
	}
	return newProducerEntry(pid)
}

func (ps *producerState) isEmpty() bool { return len(ps.producers) == 0 && len(ps.unreplicated) == 0 }

// update applies an append's result for one producer (ProducerStateManager.update).
func (ps *producerState) update(pa *producerAppend) {
	if e, ok := ps.producers[pa.pid]; ok {
		e.update(&pa.updated)
	} else {
		e := pa.updated
		e.batches = slices.Clone(e.batches)
		ps.producers[pa.pid] = &e
	}
	for _, first := range pa.started {
		ps.ongoing = insertTxn(ps.ongoing, txnMeta{producerID: pa.pid, firstOffset: first, lastOffset: -1})
	}
}

// loadEntry adds an entry read from a snapshot (loadProducerEntry).
func (ps *producerState) loadEntry(e *producerEntry) {
	ps.producers[e.producerID] = e
	if e.currentTxnFirstOffset >= 0 {
		ps.ongoing = insertTxn(ps.ongoing, txnMeta{producerID: e.producerID, firstOffset: e.currentTxnFirstOffset, lastOffset: -1})
	}
}

func insertTxn(txns []txnMeta, t txnMeta) []txnMeta {
	i := sort.Search(len(txns), func(i int) bool { return txns[i].firstOffset >= t.firstOffset })
	if i < len(txns) && txns[i].firstOffset == t.firstOffset {
		txns[i] = t
		return txns
	}
	return slices.Insert(txns, i, t)
}

// lastStableOffsetFor is the LSO recorded with an aborted transaction in the .txnindex: the first
// offset of the earliest other open transaction, else the marker's offset + 1.
func (ps *producerState) lastStableOffsetFor(ct completedTxn) int64 {
	for _, t := range ps.ongoing {
		if t.producerID != ct.producerID {
			return t.firstOffset
		}
	}
	return ct.lastOffset + 1
}

// completeTxn moves a transaction from ongoing to unreplicated: it stays unstable until the HW
// passes its marker.
func (ps *producerState) completeTxn(ct completedTxn) {
	i := slices.IndexFunc(ps.ongoing, func(t txnMeta) bool { return t.firstOffset == ct.firstOffset })
	if i < 0 {
		// Kafka throws here; a snapshot older than the transaction's start can get us here after
		// a truncation, and the transaction being over is what matters.
		ps.lg.WithFields(logrus.Fields{"producer_id": ct.producerID, "first_offset": ct.firstOffset}).
			Warn("completed a transaction that was not known to be open")
	} else {
		ps.ongoing = slices.Delete(ps.ongoing, i, i+1)
	}
	ps.unreplicated = insertTxn(ps.unreplicated, txnMeta{producerID: ct.producerID, firstOffset: ct.firstOffset, lastOffset: ct.lastOffset})
}

// firstUnstableOffset is the first offset of the earliest open transaction or completed
// transaction whose marker is not yet below the HW.
func (ps *producerState) firstUnstableOffset() (int64, bool) {
	off, ok := int64(math.MaxInt64), false
	if len(ps.ongoing) > 0 {
		off, ok = ps.ongoing[0].firstOffset, true
	}
	if len(ps.unreplicated) > 0 {
		off, ok = min(off, ps.unreplicated[0].firstOffset), true
	}
	return off, ok
}

// firstUndecidedOffset is the first offset of the earliest open transaction.
func (ps *producerState) firstUndecidedOffset() (int64, bool) {
	if len(ps.ongoing) == 0 {
		return 0, false
	}
	return ps.ongoing[0].firstOffset, true
}

// removeUnreplicatedBelow drops completed transactions whose marker is below offset (the HW or
// the log start offset).
func (ps *producerState) removeUnreplicatedBelow(offset int64) {
	ps.unreplicated = slices.DeleteFunc(ps.unreplicated, func(t txnMeta) bool { return t.lastOffset < offset })
}

// onLogStartOffsetIncremented is ProducerStateManager.onLogStartOffsetIncremented: producers stay
// (KIP-360: their state outlives their batches).
func (ps *producerState) onLogStartOffsetIncremented(logStart int64) {
	ps.removeUnreplicatedBelow(logStart)
	if ps.mapEndOffset < logStart {
		ps.mapEndOffset = logStart
	}
	ps.lastSnap = logStart
	if n := len(ps.snapshots); n > 0 {
		ps.lastSnap = ps.snapshots[n-1]
	}
}

func (ps *producerState) isExpired(now int64, e *producerEntry) bool {
	return e.currentTxnFirstOffset < 0 && now-e.lastTimestamp >= ps.expirationMs
}

// removeExpired drops producers without an open transaction whose last timestamp is
// transactional.id.expiration.ms old (removeExpiredProducers); it returns how many.
func (ps *producerState) removeExpired(now int64) int {
	n := 0
	for pid, e := range ps.producers {
		if ps.isExpired(now, e) {
			delete(ps.producers, pid)
			n++
		}
	}
	return n
}

// clear forgets every producer and transaction (before a reload).
func (ps *producerState) clear() {
	clear(ps.producers)
	ps.ongoing = ps.ongoing[:0]
	ps.unreplicated = ps.unreplicated[:0]
}

// producerUpdate is what an append does to producer state, computed (and validated) before the
// bytes are written and applied after (Log.analyzeAndValidateProducerState). A produce request has
// one batch, so the first producer's accumulation is held inline; a follower append may name more.
type producerUpdate struct {
	first     producerAppend
	hasFirst  bool
	more      map[int64]*producerAppend
	completed []completedTxn
}

// appendFor returns the accumulation for pid, starting it from the producer's current entry.
func (pu *producerUpdate) appendFor(ps *producerState, pid int64, origin appendOrigin) *producerAppend {
	switch {
	case !pu.hasFirst:
		pu.first.init(pid, ps.lastEntry(pid), origin, ps.lg)
		pu.hasFirst = true
		return &pu.first
	case pu.first.pid == pid:
		return &pu.first
	}
	if pa, ok := pu.more[pid]; ok {
		return pa
	}
	if pu.more == nil {
		pu.more = make(map[int64]*producerAppend)
	}
	pa := &producerAppend{}
	pa.init(pid, ps.lastEntry(pid), origin, ps.lg)
	pu.more[pid] = pa
	return pa
}

// each calls fn with every producer's accumulation.
func (pu *producerUpdate) each(fn func(pa *producerAppend)) {
	if !pu.hasFirst {
		return
	}
	fn(&pu.first)
	for _, pa := range pu.more {
		fn(pa)
	}
}

// add validates one batch and folds it into the update. b must be a whole batch when it is a
// control batch; for data batches the header suffices.
func (pu *producerUpdate) add(ps *producerState, b record.Batch, origin appendOrigin) error {
	h := headerOf(b)
	if h.producerID < 0 {
		return nil
	}
	pa := pu.appendFor(ps, h.producerID, origin)
	if !h.control {
		return pa.appendData(h)
	}
	m, ok, err := parseEndTxnMarker(b)
	switch {
	case err != nil && origin == originReplication:
		// Readers ignore control records they do not know; a follower or recovery must not fail on
		// what the leader accepted.
		ps.lg.WithError(err).WithField("offset", h.baseOffset).Warn("ignoring control batch that is not a transaction marker")
		return nil
	case err != nil:
		return fmt.Errorf("%w: control batch at offset %d: %v", record.ErrInvalidRecord, h.baseOffset, err)
	case !ok:
		return nil // emptied by the cleaner: its transaction's data is gone
	}
	ct, err := pa.appendMarker(m, h.epoch, h.baseOffset)
	if err != nil {
		return err
	}
	if ct != nil {
		pu.completed = append(pu.completed, *ct)
	}
	return nil
}

// duplicateOf returns the retained batch that a client batch retries, if any (checked before any
// other rule, client appends only).
func (ps *producerState) duplicateOf(b record.Batch) (batchMetadata, bool) {
	if b.ProducerID() < 0 {
		return batchMetadata{}, false
	}
	e, ok := ps.producers[b.ProducerID()]
	if !ok {
		return batchMetadata{}, false
	}
	return e.findDuplicate(b.ProducerEpoch(), b.BaseSequence(), b.LastSequence())
}
