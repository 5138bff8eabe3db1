package group

// Writing to __consumer_offsets (GroupMetadataManager.storeGroup / storeOffsets / cleanupGroupMetadata).
// Appends run off the group's goroutine, so a slow acks=-1 write does not hold up heartbeats; the
// completion comes back through the mailbox. inflight keeps the goroutine alive until then.

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage/record"
)

// buildBatch encodes records as one batch in the topic's compression (offsets.topic.compression.codec),
// stamped now with CreateTime, as Kafka's coordinator writes them.
func (g *group) buildBatch(recs []record.BuildRecord) ([]byte, error) {
	opt := record.DefaultBuildOptions()
	opt.Codec = g.c.cfg.Compression
	return record.Build(recs, opt)
}

// buildTxnBatch encodes transactional offset commits of a producer: a transactional batch with its id and
// epoch and base sequence 0, as Kafka's GroupMetadataManager writes them (the log checks the epoch).
func (g *group) buildTxnBatch(recs []record.BuildRecord, producerID int64, producerEpoch int16) ([]byte, error) {
	opt := record.DefaultBuildOptions()
	opt.Codec = g.c.cfg.Compression
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = producerID, producerEpoch, 0, true
	return record.Build(recs, opt)
}

// appendJob is one write of the group to its offsets partition.
type appendJob struct {
	batch   []byte
	acks    int16
	timeout time.Duration
	done    func(baseOffset int64, code int16)
}

// appendAsync queues a write with the commit acks and timeout; done runs on the group's goroutine with the
// batch's base offset or the append's Kafka error code.
func (g *group) appendAsync(batch []byte, done func(baseOffset int64, code int16)) {
	g.enqueueAppend(appendJob{batch: batch, acks: g.c.cfg.CommitRequiredAcks, timeout: g.c.cfg.CommitTimeout, done: done})
}

// enqueueAppend runs the group's writes one at a time, in the order the group made them, so the log
// order is the group's decision order (an Empty generation's metadata before the deletion's tombstone, a
// commit before an expiration's tombstone), as Kafka gets by appending locally under the group lock.
func (g *group) enqueueAppend(job appendJob) {
	g.inflight++
	g.appendQ = append(g.appendQ, job)
	if !g.appending {
		g.startNextAppend()
	}
}

func (g *group) startNextAppend() {
	if len(g.appendQ) == 0 {
		g.appending = false
		return
	}
	job := g.appendQ[0]
	g.appendQ = g.appendQ[1:]
	g.appending = true
	c := g.c
	c.spawn(func(ctx context.Context) {
		off, err := c.parts.Append(ctx, g.partition, job.acks, job.timeout, job.batch)
		code := appendCode(err)
		g.box.post(func() {
			g.inflight--
			job.done(off, code)
			g.startNextAppend()
		})
	})
}

// appendCode extracts the Kafka error of an append.
func appendCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// groupValue is the group's metadata record value with the given assignments (reference 05 §2.3): an
// Empty group has no protocol, leader or members.
func (g *group) groupValue(assignment map[string][]byte) GroupValue {
	v := GroupValue{ProtocolType: derefOr(g.protocolType, ""), Generation: g.generation,
		Protocol: g.protocolName, Leader: g.leaderID, CurrentStateTimestamp: g.stateTimestamp}
	if g.state == stateEmpty || g.state == stateDead {
		v.Protocol, v.Leader = nil, nil
		return v
	}
	for _, id := range g.order {
		m := g.members[id]
		v.Members = append(v.Members, MemberValue{MemberID: id, InstanceID: m.instanceID, ClientID: m.clientID,
			ClientHost: m.clientHost, RebalanceTimeout: m.rebalanceTimeoutMs, SessionTimeout: m.sessionTimeoutMs,
			Subscription: m.metadataFor(derefOr(g.protocolName, "")), Assignment: assignment[id]})
	}
	return v
}

// storeGroup writes the group's metadata with the given assignments and runs done with the mapped error
// (GroupMetadataManager.storeGroup's callback mapping, reference 05 §9).
func (g *group) storeGroup(assignment map[string][]byte, done func(code int16)) {
	val, err := GroupValueBytes(g.groupValue(assignment), g.c.cfg.GroupValueVersion)
	var batch []byte
	if err == nil {
		batch, err = g.buildBatch([]record.BuildRecord{{Key: GroupKeyBytes(g.id), Value: val, Timestamp: g.c.nowMs()}})
	}
	if err != nil {
		g.log.WithError(err).Error("encoding group metadata failed")
		done(kerr.UnknownServerError.Code)
		return
	}
	g.appendAsync(batch, func(_ int64, code int16) {
		if code != 0 {
			code = storeGroupCode(code)
			g.log.WithField("error", kerr.ErrorForCode(code)).Warn("writing group metadata failed")
		}
		done(code)
	})
}

func storeGroupCode(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.RequestTimedOut.Code:
		return kerr.RebalanceInProgress.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	}
	return code
}

// commitCode maps an offset commit's append error (storeOffsets' callback): timeouts pass through and
// size errors become INVALID_COMMIT_OFFSET_SIZE.
func commitCode(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.InvalidCommitOffsetSize.Code
	}
	return code
}

// writeTombstones appends tombstones for the given offsets (and the group key when groupKey is set) with
// acks=0, then runs done (if any): losing them is harmless, the next expiration pass writes them again
// (cleanupGroupMetadata).
func (g *group) writeTombstones(tps []TopicPartition, groupKey bool, done func()) {
	if done == nil {
		done = func() {}
	}
	now := g.c.nowMs()
	var recs []record.BuildRecord
	for _, tp := range tps {
		recs = append(recs, record.BuildRecord{Key: OffsetKeyBytes(g.id, tp.Topic, tp.Partition), Timestamp: now})
	}
	if groupKey {
		recs = append(recs, record.BuildRecord{Key: GroupKeyBytes(g.id), Timestamp: now})
	}
	if len(recs) == 0 {
		done()
		return
	}
	batch, err := g.buildBatch(recs)
	if err != nil {
		g.log.WithError(err).Error("encoding tombstones failed")
		done()
		return
	}
	g.enqueueAppend(appendJob{batch: batch, acks: 0, timeout: g.c.cfg.CommitTimeout, done: func(_ int64, code int16) {
		if code != 0 {
			g.log.WithField("error", kerr.ErrorForCode(code)).WithField("tombstones", len(recs)).
				Warn("writing tombstones failed; the next cleanup retries")
		} else {
			g.log.WithFields(logrus.Fields{"offsets": len(tps), "group_tombstone": groupKey}).Debug("wrote tombstones")
		}
		done()
	}})
}
