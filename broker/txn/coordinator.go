package txn

// The transaction coordinator's requests (Kafka 2.8's TransactionCoordinator): InitProducerId with a
// transactional id, AddPartitionsToTxn (AddOffsetsToTxn is one of them), EndTxn, and the periodic abort of
// timed-out transactions and expiry of idle transactional ids. Results are *kerr.Error values (nil: NONE);
// the handlers map versions (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH for old clients).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Coordinator is the transaction coordinator of the __transaction_state partitions this broker leads.
type Coordinator struct {
	cfg     Config
	pids    ProducerIDs
	clock   Clock
	log     *logrus.Entry
	state   *stateManager
	markers *markerManager

	mu      sync.Mutex
	active  bool                    // guarded by mu
	ctx     context.Context         // guarded by mu; set by Start, the context of background work
	cancel  context.CancelFunc      // guarded by mu
	tasks   []func(context.Context) // guarded by mu; loads and unloads, in order
	taskSig chan struct{}           // wakes the worker
	wg      sync.WaitGroup          // every goroutine started by the coordinator
}

// New returns a coordinator; nothing runs until Start.
func New(cfg Config, parts Partitions, pids ProducerIDs, transport Transport, clock Clock, lg *logrus.Entry) *Coordinator {
	if clock == nil {
		clock = SystemClock{}
	}
	if lg == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		lg = logrus.NewEntry(l)
	}
	def := DefaultConfig()
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 1
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = def.RetryBackoff
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = def.RequestTimeout
	}
	c := &Coordinator{cfg: cfg, pids: pids, clock: clock, log: lg, taskSig: make(chan struct{}, 1), ctx: context.Background()}
	c.state = newStateManager(cfg, parts, clock, lg)
	c.markers = newMarkerManager(c, transport, lg.WithField("component", "txn_markers"))
	return c
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Start runs the worker (loads, unloads), the marker sender and the periodic tasks.
func (c *Coordinator) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active {
		return
	}
	c.active = true
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.goLocked(c.work)
	c.goLocked(c.markers.run)
	c.goLocked(func(ctx context.Context) {
		c.every(ctx, c.cfg.AbortTimedOutInterval, func() { c.AbortTimedOutTransactions() })
	})
	c.goLocked(func(ctx context.Context) {
		c.every(ctx, c.cfg.RemoveExpiredInterval, func() { c.state.removeExpired(ctx) })
	})
	c.log.WithField("transaction_state_partitions", c.cfg.NumPartitions).Info("transaction coordinator started")
}

// Stop ends all background work and waits for it; requests in flight finish with what they have.
func (c *Coordinator) Stop() {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return
	}
	c.active = false
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
	c.log.Info("transaction coordinator stopped")
}

func (c *Coordinator) goLocked(f func(ctx context.Context)) {
	ctx := c.ctx
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f(ctx)
	}()
}

// spawn runs f on a tracked goroutine with the coordinator's context; it reports false (and runs
// nothing) when the coordinator is not running.
func (c *Coordinator) spawn(f func(ctx context.Context)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active {
		return false
	}
	c.goLocked(f)
	return true
}

// enqueue hands a load or unload to the worker.
func (c *Coordinator) enqueue(f func(ctx context.Context)) {
	c.mu.Lock()
	c.tasks = append(c.tasks, f)
	c.mu.Unlock()
	select {
	case c.taskSig <- struct{}{}:
	default:
	}
}

// work runs loads and unloads one at a time, in the order leadership changed.
func (c *Coordinator) work(ctx context.Context) {
	for {
		c.mu.Lock()
		tasks := c.tasks
		c.tasks = nil
		c.mu.Unlock()
		for _, f := range tasks {
			if ctx.Err() != nil {
				return
			}
			f(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.taskSig:
		}
	}
}

func (c *Coordinator) every(ctx context.Context, d time.Duration, f func()) {
	if d <= 0 {
		return
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func (c *Coordinator) backgroundCtx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctx
}

func (c *Coordinator) nowMs() int64 { return c.clock.Now().UnixMilli() }

// PartitionFor is the __transaction_state partition of transactionalID.
func (c *Coordinator) PartitionFor(transactionalID string) int32 {
	return c.state.partitionFor(transactionalID)
}

// NumPartitions is the partition count transactional ids map onto.
func (c *Coordinator) NumPartitions() int32 { return c.cfg.NumPartitions }

// Describe returns a copy of a transactional id's metadata, or NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, or TRANSACTIONAL_ID_NOT_FOUND.
func (c *Coordinator) Describe(transactionalID string) (Snapshot, error) {
	_, md, err := c.state.lookup(transactionalID, nil)
	if err != nil {
		return Snapshot{}, err
	}
	if md == nil {
		return Snapshot{}, kerr.TransactionalIDNotFound
	}
	md.mu.Lock()
	defer md.mu.Unlock()
	return md.snapshotLocked(), nil
}

// ProducerIDAndEpoch is the producer id and epoch an InitProducerId v3+ names (KIP-360).
type ProducerIDAndEpoch struct {
	ProducerID int64
	Epoch      int16
}

// InitProducerID is handleInitProducerId for a transactional id (reference 06 §4.4).
func (c *Coordinator) InitProducerID(ctx context.Context, transactionalID string, timeoutMs int32, expected *ProducerIDAndEpoch) (int64, int16, error) {
	switch {
	case transactionalID == "":
		return NoProducerID, NoProducerEpoch, kerr.InvalidRequest
	case timeoutMs <= 0 || int64(timeoutMs) > c.cfg.MaxTimeout.Milliseconds():
		return NoProducerID, NoProducerEpoch, kerr.InvalidTransactionTimeout
	}
	epoch, md, err := c.state.lookup(transactionalID, nil)
	if err != nil {
		return NoProducerID, NoProducerEpoch, err
	}
	if md == nil {
		pid, err := c.pids.GenerateProducerID()
		if err != nil {
			return NoProducerID, NoProducerEpoch, fmt.Errorf("%w: allocating a producer id: %v", kerr.CoordinatorNotAvailable, err)
		}
		if epoch, md, err = c.state.lookup(transactionalID, newMetadata(transactionalID, pid, timeoutMs, c.nowMs())); err != nil {
			return NoProducerID, NoProducerEpoch, err
		}
	}
	t, err := c.prepareInitProducerID(md, timeoutMs, expected)
	if err != nil {
		return NoProducerID, NoProducerEpoch, err
	}
	if t.state == PrepareEpochFence {
		// Abort the open transaction with the bumped epoch; the client retries and then gets an epoch of its
		// own (bumped once more).
		if err := c.endTransaction(ctx, transactionalID, t.producerID, t.producerEpoch, false, false); err != nil {
			return NoProducerID, NoProducerEpoch, err
		}
		return NoProducerID, NoProducerEpoch, kerr.ConcurrentTransactions
	}
	if err := c.state.appendTransition(ctx, transactionalID, epoch, t, nil); err != nil {
		return NoProducerID, NoProducerEpoch, err
	}
	c.log.WithFields(logrus.Fields{"transactional_id": transactionalID, "producer_id": t.producerID,
		"producer_epoch": t.producerEpoch}).Info("initialized transactional id")
	return t.producerID, t.producerEpoch, nil
}

// prepareInitProducerID is prepareInitProducerIdTransit. A producer id rotation (epochs exhausted)
// allocates the new id without holding the metadata lock (it may need ZooKeeper) and then re-checks.
func (c *Coordinator) prepareInitProducerID(md *metadata, timeoutMs int32, expected *ProducerIDAndEpoch) (transit, error) {
	var rotated int64 = NoProducerID
	for {
		t, needID, err := c.tryPrepareInitProducerID(md, timeoutMs, expected, rotated)
		if !needID {
			return t, err
		}
		if rotated, err = c.pids.GenerateProducerID(); err != nil {
			return transit{}, fmt.Errorf("%w: allocating a producer id: %v", kerr.CoordinatorNotAvailable, err)
		}
	}
}

func (c *Coordinator) tryPrepareInitProducerID(md *metadata, timeoutMs int32, expected *ProducerIDAndEpoch, newPID int64) (t transit, needID bool, err error) {
	md.mu.Lock()
	defer md.mu.Unlock()
	validPID := func(e ProducerIDAndEpoch) bool {
		return md.producerEpoch == NoProducerEpoch || e.ProducerID == md.producerID ||
			(e.ProducerID == md.lastProducerID && IsEpochExhausted(e.Epoch))
	}
	switch {
	case md.hasPending:
		return transit{}, false, kerr.ConcurrentTransactions
	case expected != nil && !validPID(*expected):
		return transit{}, false, kerr.ProducerFenced
	}
	switch md.state {
	case PrepareAbort, PrepareCommit:
		return transit{}, false, kerr.ConcurrentTransactions
	case CompleteAbort, CompleteCommit, Empty:
		if md.isEpochExhaustedLocked() && (expected == nil || expected.Epoch == md.producerEpoch) {
			if newPID == NoProducerID {
				return transit{}, true, nil
			}
			t, err := md.prepareProducerIDRotationLocked(newPID, timeoutMs, c.nowMs(), expected != nil)
			return t, false, err
		}
		var exp *int16
		if expected != nil {
			exp = &expected.Epoch
		}
		t, err := md.prepareIncrementProducerEpochLocked(timeoutMs, exp, c.nowMs())
		return t, false, err
	case Ongoing:
		t, err := md.prepareFenceProducerEpochLocked()
		return t, false, err
	}
	return transit{}, false, fmt.Errorf("%w: %s found in state %s", errIllegalState, md.id, md.state)
}

// AddPartitions is handleAddPartitionsToTransaction (reference 06 §4.5).
func (c *Coordinator) AddPartitions(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, parts []TopicPartition) error {
	if transactionalID == "" {
		return kerr.InvalidRequest
	}
	epoch, md, err := c.state.lookup(transactionalID, nil)
	switch {
	case err != nil:
		return err
	case md == nil:
		return kerr.InvalidProducerIDMapping
	}
	t, err := func() (transit, error) {
		md.mu.Lock()
		defer md.mu.Unlock()
		switch {
		case md.producerID != producerID:
			return transit{}, kerr.InvalidProducerIDMapping
		case md.producerEpoch != producerEpoch:
			return transit{}, kerr.ProducerFenced
		case md.hasPending, md.state == PrepareCommit, md.state == PrepareAbort:
			return transit{}, kerr.ConcurrentTransactions
		case md.state == Ongoing && md.containsAllLocked(parts):
			return transit{}, errAlreadyAdded
		}
		return md.prepareAddPartitionsLocked(parts, c.nowMs())
	}()
	switch {
	case errors.Is(err, errAlreadyAdded):
		return nil
	case err != nil:
		return err
	}
	return c.state.appendTransition(ctx, transactionalID, epoch, t, nil)
}

// errAlreadyAdded: every partition is in the transaction already; answered NONE without a write.
var errAlreadyAdded = errors.New("txn: partitions already in the transaction")

func (m *metadata) containsAllLocked(parts []TopicPartition) bool {
	for _, tp := range parts {
		if _, ok := m.partitions[tp]; !ok {
			return false
		}
	}
	return true
}

// EndTxn is handleEndTransaction from a client (reference 06 §4.6): NONE once the PrepareCommit or
// PrepareAbort record is durable; the markers and the Complete* record follow in the background.
func (c *Coordinator) EndTxn(ctx context.Context, transactionalID string, producerID int64, producerEpoch int16, commit bool) error {
	return c.endTransaction(ctx, transactionalID, producerID, producerEpoch, commit, true)
}

// endTransaction is TransactionCoordinator.endTransaction. fromClient is false for the coordinator's own
// aborts (an InitProducerId fencing an open transaction, a timeout), whose epoch is the bumped one of a
// pending PrepareEpochFence.
func (c *Coordinator) endTransaction(ctx context.Context, id string, producerID int64, producerEpoch int16, commit, fromClient bool) error {
	if id == "" {
		return kerr.InvalidRequest
	}
	epoch, md, err := c.state.lookup(id, nil)
	switch {
	case err != nil:
		return err
	case md == nil:
		return kerr.InvalidProducerIDMapping
	}
	isFence := false
	t, err := func() (transit, error) {
		md.mu.Lock()
		defer md.mu.Unlock()
		switch {
		case md.producerID != producerID:
			return transit{}, kerr.InvalidProducerIDMapping
		case (fromClient && producerEpoch != md.producerEpoch) || producerEpoch < md.producerEpoch:
			return transit{}, kerr.ProducerFenced
		case md.hasPending && md.pending != PrepareEpochFence:
			return transit{}, kerr.ConcurrentTransactions
		}
		switch md.state {
		case Ongoing:
			next := PrepareAbort
			if commit {
				next = PrepareCommit
			}
			if next == PrepareAbort && md.hasPending && md.pending == PrepareEpochFence {
				// The fence's bumped epoch becomes the transaction's (Kafka sets it before the write, and keeps
				// it even if the write fails: hasFailedEpochFence then stops a second bump).
				isFence = true
				md.hasPending = false
				md.producerEpoch, md.lastProducerEpoch = producerEpoch, NoProducerEpoch
			}
			return md.prepareAbortOrCommitLocked(next, c.nowMs())
		case CompleteCommit:
			if commit {
				return transit{}, errAlreadyAdded // a retry of a commit that completed
			}
		case CompleteAbort:
			if !commit {
				return transit{}, errAlreadyAdded
			}
		case PrepareCommit:
			if commit {
				return transit{}, kerr.ConcurrentTransactions
			}
		case PrepareAbort:
			if !commit {
				return transit{}, kerr.ConcurrentTransactions
			}
		case Empty:
		default:
			return transit{}, fmt.Errorf("%w: %s found in state %s", errIllegalState, id, md.state)
		}
		return transit{}, kerr.InvalidTxnState
	}()
	switch {
	case errors.Is(err, errAlreadyAdded):
		return nil
	case err != nil:
		return err
	}
	if err := c.state.appendTransition(ctx, id, epoch, t, nil); err != nil {
		if isFence {
			if e, cur, lerr := c.state.lookup(id, nil); lerr == nil && cur == md && e == epoch {
				md.mu.Lock()
				md.hasFailedEpochFence = true
				md.mu.Unlock()
				c.log.WithFields(logrus.Fields{"transactional_id": id, "producer_epoch": producerEpoch, "error": err.Error()}).
					Warn("writing the epoch fence failed; the bumped epoch was not returned to any client")
			}
		}
		return err
	}
	return c.startMarkers(id, epoch, producerID, producerEpoch, commit)
}

// startMarkers is sendTxnMarkersCallback: with the prepare record durable, it checks the transaction is
// still the one prepared, marks Complete* pending and hands the markers to the channel.
func (c *Coordinator) startMarkers(id string, coordEpoch int32, producerID int64, producerEpoch int16, commit bool) error {
	epoch, md, err := c.state.lookup(id, nil)
	switch {
	case err != nil:
		return err
	case md == nil:
		return fmt.Errorf("%w: %s vanished from the cache of a partition still owned", errIllegalState, id)
	case epoch != coordEpoch:
		return kerr.NotCoordinator
	}
	t, err := func() (transit, error) {
		md.mu.Lock()
		defer md.mu.Unlock()
		switch {
		case md.producerID != producerID:
			return transit{}, kerr.InvalidProducerIDMapping
		case md.producerEpoch != producerEpoch:
			return transit{}, kerr.ProducerFenced
		case md.hasPending:
			return transit{}, kerr.ConcurrentTransactions
		case md.state == PrepareCommit && commit, md.state == PrepareAbort && !commit:
			return md.prepareCompleteLocked(c.nowMs())
		}
		return transit{}, kerr.InvalidTxnState
	}()
	if err != nil {
		return err
	}
	c.markers.addTxnMarkersToSend(coordEpoch, commit, md, t)
	return nil
}

// AbortTimedOutTransactions fences and aborts every Ongoing transaction older than its timeout
// (abortTimedOutTransactions; run every transaction.abort.timed.out.transaction.cleanup.interval.ms).
// The aborts run in the background; it returns how many were started.
func (c *Coordinator) AbortTimedOutTransactions() int {
	n := 0
	for _, tx := range c.state.timedOut() {
		_, md, err := c.state.lookup(tx.id, nil)
		if err != nil || md == nil {
			continue
		}
		t, err := func() (transit, error) {
			md.mu.Lock()
			defer md.mu.Unlock()
			if md.producerID != tx.producerID || md.hasPending || md.state != Ongoing {
				return transit{}, errAlreadyAdded // changed meanwhile: nothing to abort now
			}
			return md.prepareFenceProducerEpochLocked()
		}()
		if err != nil {
			continue
		}
		started := c.spawn(func(ctx context.Context) {
			if err := c.endTransaction(ctx, tx.id, t.producerID, t.producerEpoch, false, false); err != nil {
				c.log.WithFields(logrus.Fields{"transactional_id": tx.id, "error": err.Error()}).Info("aborting a timed-out transaction failed")
			}
		})
		if !started {
			md.mu.Lock()
			md.hasPending = false // stopping: the next coordinator times it out again
			md.mu.Unlock()
			continue
		}
		n++
		c.log.WithFields(logrus.Fields{"transactional_id": tx.id, "producer_id": tx.producerID,
			"producer_epoch": t.producerEpoch}).Info("aborting a transaction that exceeded its timeout")
	}
	return n
}

// RemoveExpiredTransactionalIDs tombstones and forgets ids idle for transactional.id.expiration.ms (run
// every transaction.remove.expired.transaction.cleanup.interval.ms). It returns the ids removed.
func (c *Coordinator) RemoveExpiredTransactionalIDs() []string {
	return c.state.removeExpired(c.backgroundCtx())
}
