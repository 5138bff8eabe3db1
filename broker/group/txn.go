package group

// Transactional offset commits (TxnOffsetCommit, reference 05 §12; GroupCoordinator.handleTxnCommitOffsets
// and scheduleHandleTxnCompletion): offsets are appended as a transactional batch of the producer and stay
// pending for it — invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT for RequireStable — until the
// transaction's marker reaches the group's offsets partition: CompleteTxn then commits them (a pending
// offset replaces the cached one only if written later in the log) or drops them.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CommitTxnOffsets stores transactional offsets of producerID/producerEpoch. The group is created (Empty)
// if needed; memberID and generation are checked only when set ("" and -1 from requests before v3). It
// returns one error code per partition, in order.
func (c *Coordinator) CommitTxnOffsets(ctx context.Context, groupID string, producerID int64, producerEpoch int16,
	memberID string, instanceID *string, generation int32, parts []CommitPartition) []int16 {
	if code := c.validate(groupID, false); code != 0 {
		return fillCodes(len(parts), code)
	}
	parts = append([]CommitPartition(nil), parts...)
	r := txnCommit{producerID: producerID, producerEpoch: producerEpoch, memberID: memberID,
		instanceID: cloneString(instanceID), generation: generation, partitions: parts}
	return onGroup(ctx, c, groupID, true,
		func(code int16) commitResult { return fillCodes(len(parts), code) },
		func() commitResult { return fillCodes(len(parts), kerr.CoordinatorNotAvailable.Code) }, // create=true: not reached
		func(g *group, reply func(commitResult)) { g.handleTxnCommit(r, reply) })
}

// CompleteTxn applies producerID's COMMIT (commit) or ABORT marker, written to the given offsets
// partitions, to the pending transactional offsets of the groups there.
func (c *Coordinator) CompleteTxn(producerID int64, offsetsPartitions []int32, commit bool) {
	in := map[int32]bool{}
	for _, p := range offsetsPartitions {
		in[p] = true
	}
	c.mu.Lock()
	var gs []*group
	for id := range c.openTxn[producerID] {
		if g := c.groups[id]; g != nil && in[g.partition] {
			gs = append(gs, g)
			delete(c.openTxn[producerID], id)
		}
	}
	if len(c.openTxn[producerID]) == 0 {
		delete(c.openTxn, producerID)
	}
	c.mu.Unlock()
	for _, g := range gs {
		g.box.post(func() { g.completeTxn(producerID, commit) })
	}
}

// noteOpenTxn records that group id holds pending offsets of producerID (openGroupsForProducer).
func (c *Coordinator) noteOpenTxn(producerID int64, groupID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noteOpenTxnLocked(producerID, groupID)
}

func (c *Coordinator) noteOpenTxnLocked(producerID int64, groupID string) {
	if c.openTxn[producerID] == nil {
		c.openTxn[producerID] = map[string]bool{}
	}
	c.openTxn[producerID][groupID] = true
}

type txnCommit struct {
	producerID    int64
	producerEpoch int16
	memberID      string
	instanceID    *string
	generation    int32
	partitions    []CommitPartition
}

func (g *group) handleTxnCommit(r txnCommit, reply func(commitResult)) {
	n := len(r.partitions)
	switch {
	case g.state == stateDead:
		reply(fillCodes(n, kerr.CoordinatorNotAvailable.Code))
	case g.isStaticMemberFenced(r.memberID, r.instanceID):
		reply(fillCodes(n, kerr.FencedInstanceID.Code))
	case r.memberID != "" && !g.has(r.memberID):
		reply(fillCodes(n, kerr.UnknownMemberID.Code))
	case r.generation >= 0 && r.generation != g.generation:
		reply(fillCodes(n, kerr.IllegalGeneration.Code))
	default:
		g.storeTxnOffsets(r, reply)
	}
}

// storeTxnOffsets stages the offsets as pending for the producer, then appends them; a failed append
// unstages them.
func (g *group) storeTxnOffsets(r txnCommit, reply func(commitResult)) {
	codes, recs, stored := g.offsetRecords(r.partitions)
	if len(recs) == 0 {
		reply(codes)
		return
	}
	batch, err := g.buildTxnBatch(recs, r.producerID, r.producerEpoch)
	if err != nil {
		g.log.WithError(err).Error("encoding transactional offset commit failed")
		reply(fillCodes(len(r.partitions), kerr.UnknownServerError.Code))
		return
	}
	pending := g.pendingTxn[r.producerID]
	if pending == nil {
		pending = map[TopicPartition]commitRecord{}
		g.pendingTxn[r.producerID] = pending
	}
	for _, i := range stored {
		p := r.partitions[i]
		pending[p.TopicPartition] = commitRecord{offset: p.value(), appendedAt: -1}
	}
	g.c.noteOpenTxn(r.producerID, g.id)
	g.appendAsync(batch, func(base int64, code int16) {
		pending := g.pendingTxn[r.producerID]
		for _, i := range stored {
			tp := r.partitions[i].TopicPartition
			cr, ok := pending[tp]
			if !ok || cr.appendedAt >= 0 {
				continue // completed, replaced by a later commit of the producer, or removed meanwhile
			}
			if code == 0 {
				cr.appendedAt = base
				pending[tp] = cr
			} else {
				delete(pending, tp)
			}
		}
		if pending != nil && len(pending) == 0 {
			delete(g.pendingTxn, r.producerID)
		}
		if code != 0 {
			code = commitCode(code)
		}
		for _, i := range stored {
			codes[i] = code
		}
		reply(codes)
	})
}

// completeTxn commits or drops the producer's pending offsets in this group.
func (g *group) completeTxn(producerID int64, commit bool) {
	pending := g.pendingTxn[producerID]
	delete(g.pendingTxn, producerID)
	if !commit || g.state == stateDead {
		return
	}
	for tp, cr := range pending {
		if cur, ok := g.offsets[tp]; !ok || cur.appendedAt < cr.appendedAt {
			g.offsets[tp] = cr
		}
	}
}
