package group

// Offsets on the group's goroutine: OffsetCommit (GroupCoordinator.doCommitOffsets,
// GroupMetadataManager.storeOffsets), OffsetFetch (getOffsets), expiration (removeExpiredOffsets +
// cleanupGroupMetadata), OffsetDelete and DeleteGroups. Reference 05 §10.

import (
	"slices"
	"unicode/utf16"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage/record"
)

// CommitPartition is one partition of an offset commit, as the coordinator stores it.
type CommitPartition struct {
	TopicPartition
	Offset          int64
	LeaderEpoch     int32 // -1: none
	Metadata        string
	CommitTimestamp int64
	ExpireTimestamp int64 // -1: none (only v2-v4 commits with a retention time set one)
}

// commitRequest is an OffsetCommit after the coordinator's checks.
type commitRequest struct {
	generation int32
	memberID   string
	instanceID *string
	partitions []CommitPartition
}

// commitResult holds one error code per request partition, in request order.
type commitResult []int16

func fillCodes(n int, code int16) commitResult {
	out := make(commitResult, n)
	for i := range out {
		out[i] = code
	}
	return out
}

func (g *group) handleCommit(r commitRequest, reply func(commitResult)) {
	n := len(r.partitions)
	switch {
	case g.state == stateDead:
		reply(fillCodes(n, kerr.CoordinatorNotAvailable.Code))
	case g.isStaticMemberFenced(r.memberID, r.instanceID):
		reply(fillCodes(n, kerr.FencedInstanceID.Code))
	case r.generation < 0 && g.state == stateEmpty:
		g.storeOffsets(r.partitions, reply) // the group uses Kafka only to store offsets
	case !g.has(r.memberID):
		reply(fillCodes(n, kerr.UnknownMemberID.Code))
	case r.generation != g.generation:
		reply(fillCodes(n, kerr.IllegalGeneration.Code))
	case g.state == stateStable || g.state == statePreparingRebalance:
		// Commits still count while preparing: members learn of the rebalance from their next heartbeat.
		g.completeAndScheduleNextHeartbeat(g.members[r.memberID])
		g.storeOffsets(r.partitions, reply)
	case g.state == stateCompletingRebalance:
		// A member that knows the new generation but has no assignment yet has nothing valid to commit.
		reply(fillCodes(n, kerr.RebalanceInProgress.Code))
	default:
		reply(fillCodes(n, kerr.UnknownMemberID.Code))
	}
}

// javaLength is a string's length in UTF-16 code units (Java's String.length, which
// offset.metadata.max.bytes is compared with).
func javaLength(s string) int { return len(utf16.Encode([]rune(s))) }

// storeOffsets writes all partitions with acceptable metadata as one batch (one record each) with
// acks=offsets.commit.required.acks. The cache takes them only once the append succeeded; meanwhile they
// are pending (OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT).
func (g *group) storeOffsets(parts []CommitPartition, reply func(commitResult)) {
	codes, recs, stored := g.offsetRecords(parts)
	if len(recs) == 0 {
		reply(codes)
		return
	}
	batch, err := g.buildBatch(recs)
	if err != nil {
		g.log.WithError(err).Error("encoding offset commit failed")
		reply(fillCodes(len(parts), kerr.UnknownServerError.Code))
		return
	}
	for _, i := range stored {
		g.pendingCommits[parts[i].TopicPartition]++
	}
	g.appendAsync(batch, func(base int64, code int16) {
		for _, i := range stored {
			p := parts[i]
			if g.pendingCommits[p.TopicPartition] == 0 {
				continue // the partition's offsets were removed meanwhile (topic deleted)
			}
			if g.pendingCommits[p.TopicPartition]--; g.pendingCommits[p.TopicPartition] == 0 {
				delete(g.pendingCommits, p.TopicPartition)
			}
			if code == 0 && g.state != stateDead {
				g.putOffset(p.TopicPartition, commitRecord{appendedAt: base, offset: p.value()})
			}
		}
		if code != 0 {
			code = commitCode(code)
			g.log.WithField("error", kerr.ErrorForCode(code)).Debug("offset commit append failed")
		}
		for _, i := range stored {
			codes[i] = code
		}
		reply(codes)
	})
}

// offsetRecords encodes one record per partition whose metadata fits offset.metadata.max.bytes (the
// others get OFFSET_METADATA_TOO_LARGE in codes); stored lists the indexes of the encoded partitions.
func (g *group) offsetRecords(parts []CommitPartition) (codes commitResult, recs []record.BuildRecord, stored []int) {
	codes = make(commitResult, len(parts))
	now := g.c.nowMs()
	for i, p := range parts {
		if javaLength(p.Metadata) > g.c.cfg.MetadataMaxBytes {
			codes[i] = kerr.OffsetMetadataTooLarge.Code
			continue
		}
		version := g.c.cfg.OffsetValueVersion
		if p.ExpireTimestamp >= 0 {
			version = 1 // the only version that can carry it
		}
		val, err := OffsetValueBytes(p.value(), version)
		if err != nil {
			codes[i] = kerr.UnknownServerError.Code
			continue
		}
		recs = append(recs, record.BuildRecord{Key: OffsetKeyBytes(g.id, p.Topic, p.Partition), Value: val, Timestamp: now})
		stored = append(stored, i)
	}
	return codes, recs, stored
}

func (p CommitPartition) value() OffsetValue {
	return OffsetValue{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata,
		CommitTimestamp: p.CommitTimestamp, ExpireTimestamp: p.ExpireTimestamp}
}

// putOffset caches a commit unless a later record (by log position) is cached already: concurrent
// commits may complete out of order.
func (g *group) putOffset(tp TopicPartition, cr commitRecord) {
	if cur, ok := g.offsets[tp]; ok && cur.appendedAt > cr.appendedAt && cr.appendedAt >= 0 {
		return
	}
	g.offsets[tp] = cr
}

// FetchedOffset is one partition's committed offset as OffsetFetch answers it.
type FetchedOffset struct {
	TopicPartition
	Offset      int64 // -1: none committed
	LeaderEpoch int32 // -1: none
	Metadata    string
	Err         int16
}

// fetchOffsets is getOffsets: the requested partitions (nil: every cached one), -1 for unknown ones,
// UNSTABLE_OFFSET_COMMIT for partitions with a commit in flight when requireStable.
func (g *group) fetchOffsets(tps []TopicPartition, requireStable bool) []FetchedOffset {
	if g.state == stateDead {
		return unknownOffsets(tps)
	}
	if tps == nil {
		for tp := range g.offsets {
			tps = append(tps, tp)
		}
		sortTPs(tps)
	}
	out := make([]FetchedOffset, 0, len(tps))
	for _, tp := range tps {
		f := FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1}
		if cr, ok := g.offsets[tp]; ok {
			f.Offset, f.LeaderEpoch, f.Metadata = cr.offset.Offset, cr.offset.LeaderEpoch, cr.offset.Metadata
		}
		if requireStable && g.hasPendingCommit(tp) {
			f = FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1, Err: kerr.UnstableOffsetCommit.Code}
		}
		out = append(out, f)
	}
	return out
}

func (g *group) hasPendingCommit(tp TopicPartition) bool {
	if g.pendingCommits[tp] > 0 {
		return true
	}
	for _, m := range g.pendingTxn {
		if _, ok := m[tp]; ok {
			return true
		}
	}
	return false
}

func unknownOffsets(tps []TopicPartition) []FetchedOffset {
	out := make([]FetchedOffset, 0, len(tps))
	for _, tp := range tps {
		out = append(out, FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1})
	}
	return out
}

func sortTPs(tps []TopicPartition) {
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
}

// expiredOffsets is GroupMetadata.removeExpiredOffsets' selection (reference 05 §10.3), skipping
// partitions with a commit in flight: an explicit expire timestamp wins; otherwise an Empty group's
// offsets expire retention after it became Empty (or after their commit when that time is unknown), a
// consumer group's offsets of topics it no longer subscribes to retention after their commit, an
// offset-only group's retention after their commit; other groups' never.
func (g *group) expiredOffsets(nowMs, retentionMs int64) []TopicPartition {
	var base func(cr commitRecord) int64
	var skipTopic func(topic string) bool = func(string) bool { return false }
	switch {
	case g.protocolType != nil && g.state == stateEmpty:
		base = func(cr commitRecord) int64 {
			if g.stateTimestamp >= 0 {
				return g.stateTimestamp
			}
			return cr.offset.CommitTimestamp
		}
	case g.protocolType != nil && *g.protocolType == "consumer" && g.subscribedOK:
		base = func(cr commitRecord) int64 { return cr.offset.CommitTimestamp }
		skipTopic = func(t string) bool { return g.subscribed[t] }
	case g.protocolType == nil:
		base = func(cr commitRecord) int64 { return cr.offset.CommitTimestamp }
	default:
		return nil
	}
	var out []TopicPartition
	for tp, cr := range g.offsets {
		if skipTopic(tp.Topic) || g.pendingCommits[tp] > 0 {
			continue
		}
		expired := nowMs-base(cr) >= retentionMs
		if cr.offset.ExpireTimestamp >= 0 {
			expired = nowMs >= cr.offset.ExpireTimestamp
		}
		if expired {
			out = append(out, tp)
		}
	}
	sortTPs(out)
	return out
}

// cleanup is cleanupGroupMetadata for one group: remove the selected offsets, go Dead when Empty without
// offsets, and write tombstones for what went (the group's own only if it ever had a generation); done
// (if any) runs once they are appended.
func (g *group) cleanup(removed []TopicPartition, done func()) {
	for _, tp := range removed {
		delete(g.offsets, tp)
		delete(g.pendingCommits, tp)
	}
	if g.state == stateEmpty && len(g.offsets) == 0 && len(g.pendingCommits) == 0 && len(g.pendingTxn) == 0 {
		g.log.WithField("generation", g.generation).Info("group transitioned to Dead")
		g.transition(stateDead)
	}
	dead := g.state == stateDead
	if dead {
		g.c.forget(g)
		g.stopTimers()
	}
	g.writeTombstones(removed, dead && g.generation > 0, done)
}

// expire runs one retention pass (the periodic offsets.retention.check.interval.ms task).
func (g *group) expire() {
	if g.state == stateDead {
		return
	}
	removed := g.expiredOffsets(g.c.nowMs(), g.c.cfg.Retention.Milliseconds())
	if len(removed) > 0 {
		g.log.WithField("offsets", len(removed)).Info("expired offsets")
	}
	g.cleanup(removed, nil)
}

// removePartitions drops the offsets of deleted partitions (handleDeletedPartitions).
func (g *group) removePartitions(deleted map[TopicPartition]bool) {
	if g.state == stateDead {
		return
	}
	var removed []TopicPartition
	for tp := range g.offsets {
		if deleted[tp] {
			removed = append(removed, tp)
		}
	}
	for tp := range g.pendingCommits {
		if deleted[tp] {
			delete(g.pendingCommits, tp)
		}
	}
	sortTPs(removed)
	g.cleanup(removed, nil)
}

// deleteGroup is DeleteGroups for one group: only an Empty group goes, with all its offsets; the answer
// comes once the tombstones are appended.
func (g *group) deleteGroup(reply func(int16)) {
	switch g.state {
	case stateDead:
		reply(kerr.GroupIDNotFound.Code)
	case stateEmpty:
		all := make([]TopicPartition, 0, len(g.offsets))
		for tp := range g.offsets {
			all = append(all, tp)
		}
		sortTPs(all)
		g.pendingCommits = map[TopicPartition]int{}
		g.pendingTxn = map[int64]map[TopicPartition]commitRecord{}
		g.transition(stateDead)
		g.log.WithField("offsets", len(all)).Info("group deleted")
		g.cleanup(all, func() { reply(0) })
	default:
		reply(kerr.NonEmptyGroup.Code)
	}
}

// deleteOffsets is OffsetDelete (KIP-496): an Empty group loses the requested partitions; a consumer
// group only those of topics it does not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC for the others); other
// groups refuse with NON_EMPTY_GROUP. It answers the group error and per-partition errors once the
// tombstones are appended.
func (g *group) deleteOffsets(tps []TopicPartition, reply func(int16, []int16)) {
	codes := make([]int16, len(tps))
	var eligible []TopicPartition
	switch {
	case g.state == stateDead:
		reply(kerr.GroupIDNotFound.Code, nil)
		return
	case g.state == stateEmpty:
		eligible = tps
	case g.protocolType != nil && *g.protocolType == "consumer":
		for i, tp := range tps {
			if g.isSubscribedTo(tp.Topic) {
				codes[i] = kerr.GroupSubscribedToTopic.Code
			} else {
				eligible = append(eligible, tp)
			}
		}
	default:
		reply(kerr.NonEmptyGroup.Code, nil)
		return
	}
	if len(eligible) == 0 {
		reply(0, codes)
		return
	}
	var removed []TopicPartition
	for _, tp := range eligible {
		if _, ok := g.offsets[tp]; ok && !slices.Contains(removed, tp) {
			removed = append(removed, tp)
		}
	}
	g.log.WithFields(logrus.Fields{"offsets": len(removed)}).Info("deleting offsets")
	g.cleanup(removed, func() { reply(0, codes) })
}
