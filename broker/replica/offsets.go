package replica

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
)

// ListOffsets timestamps (ListOffsetsRequest.LATEST_TIMESTAMP, EARLIEST_TIMESTAMP).
const (
	LatestTimestamp   = -1
	EarliestTimestamp = -2
)

// OffsetLookup is a ListOffsets answer for one partition.
type OffsetLookup struct {
	Found       bool  // false: no record at or after the timestamp (Kafka answers offset and timestamp -1)
	Offset      int64 // -1 when not found
	Timestamp   int64 // -1 for earliest/latest and when not found
	LeaderEpoch int32 // epoch of the returned offset; -1 when unknown
}

// FetchOffsetForTimestamp answers ListOffsets for one partition (Partition.fetchOffsetForTimestamp):
//   - latest (-1): the last fetchable offset for the isolation (HW, LSO, or LEO for replicas), with the
//     current leader epoch; OFFSET_NOT_AVAILABLE for client requests while the HW has not yet reached the
//     offset at which this leader's epoch started (right after an election);
//   - earliest (-2): the log start offset;
//   - a timestamp: the first offset whose record timestamp is >= ts, if below the last fetchable offset;
//     otherwise not found (or OFFSET_NOT_AVAILABLE in the lagging-HW case).
//
// Client requests (replica id -1) pass IsolationHighWatermark or IsolationCommitted; followers and the
// debugging replica id -2 pass IsolationLogEnd and see up to the LEO, without the lagging-HW check.
// currentLeaderEpoch (-1: unchecked) is checked as for Fetch; onlyLeader is false for the debugging replica
// id -2. LeaderEpoch is the current epoch for latest, and for earliest and timestamp lookups the epoch that
// wrote the offset according to the leader-epoch cache (-1 when it does not know), as KIP-320 consumers
// expect.
func (m *Manager) FetchOffsetForTimestamp(tp storage.TopicPartition, ts int64, iso Isolation, currentLeaderEpoch int32, onlyLeader bool) (OffsetLookup, error) {
	part, err := m.partitionOrError(tp)
	if err != nil {
		return OffsetLookup{}, err
	}
	return part.fetchOffsetForTimestamp(ts, iso, currentLeaderEpoch, onlyLeader)
}

func (p *Partition) fetchOffsetForTimestamp(ts int64, iso Isolation, currentLeaderEpoch int32, onlyLeader bool) (OffsetLookup, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.localLogLocked(currentLeaderEpoch, onlyLeader)
	if err != nil {
		return OffsetLookup{}, err
	}
	hw := l.HighWatermark()
	lastFetchable := hw
	clientRequest := iso != IsolationLogEnd
	switch iso {
	case IsolationLogEnd:
		lastFetchable = l.LogEndOffset()
	case IsolationCommitted:
		lastFetchable = l.LastStableOffset() // read_committed consumers never see past the LSO
	}
	var lagging error
	if clientRequest && p.leaderEpochStartOffset > hw {
		lagging = fmt.Errorf("%w: %s: high watermark %d is behind the start offset %d of leader epoch %d",
			kerr.OffsetNotAvailable, p.tp, hw, p.leaderEpochStartOffset, p.leaderEpoch)
	}
	notFound := OffsetLookup{Offset: -1, Timestamp: -1, LeaderEpoch: -1}
	switch ts {
	case LatestTimestamp:
		if lagging != nil {
			return OffsetLookup{}, lagging
		}
		return OffsetLookup{Found: true, Offset: lastFetchable, Timestamp: -1, LeaderEpoch: p.leaderEpoch}, nil
	case EarliestTimestamp:
		ls := l.LogStartOffset()
		return OffsetLookup{Found: true, Offset: ls, Timestamp: -1, LeaderEpoch: l.EpochForOffset(ls)}, nil
	}
	off, recTs, found, err := l.OffsetForTimestamp(ts)
	if err != nil {
		return OffsetLookup{}, err
	}
	if found && off < lastFetchable {
		return OffsetLookup{Found: true, Offset: off, Timestamp: recTs, LeaderEpoch: l.EpochForOffset(off)}, nil
	}
	if lagging != nil {
		return OffsetLookup{}, lagging
	}
	return notFound, nil
}
