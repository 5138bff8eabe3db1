package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/purgatory"
	"github.com/samsa-broker/samsa/storage"
)

// Isolation is the upper bound of what a read may return (Kafka's FetchIsolation).
type Isolation int8

const (
	// IsolationHighWatermark: read_uncommitted consumers see up to the HW.
	IsolationHighWatermark Isolation = iota
	// IsolationCommitted: read_committed consumers see up to the last stable offset (reference 06 §6).
	IsolationCommitted
	// IsolationLogEnd: followers replicate up to the LEO.
	IsolationLogEnd
)

// FetchIsolation is the isolation of a Fetch or ListOffsets from replicaID (>= 0: a follower) with the
// request's isolation level (1: read_committed).
func FetchIsolation(replicaID int32, isolationLevel int8) Isolation {
	switch {
	case replicaID >= 0:
		return IsolationLogEnd
	case isolationLevel == 1:
		return IsolationCommitted
	}
	return IsolationHighWatermark
}

// FetchPartition is one partition of a fetch, in request order.
type FetchPartition struct {
	TopicPartition     storage.TopicPartition
	FetchOffset        int64
	LogStartOffset     int64 // the follower's log start offset (v5+), -1 from consumers
	MaxBytes           int32 // partition_max_bytes
	CurrentLeaderEpoch int32 // v9+, -1: not checked
	LastFetchedEpoch   int32 // v12 followers: epoch of their last fetched batch, checked for divergence; -1: none
}

// FetchParams is a fetch after the handler's checks (Kafka's FetchParams).
type FetchParams struct {
	ReplicaID int32 // >= 0 for followers
	MaxWait   time.Duration
	MinBytes  int32
	// MaxBytes is the response limit, already capped by fetch.max.bytes.
	MaxBytes  int32
	Isolation Isolation
	// FetchOnlyFromLeader: followers and consumers below v11 (no client metadata) may only read from the
	// leader; v11+ consumers may read from a follower (KIP-392), up to its HW.
	FetchOnlyFromLeader bool
	Partitions          []FetchPartition
}

// FetchResult is one partition's answer. Ranges are log file ranges to send with sendfile (never copied into
// the heap); the receiver must Release them after sending (or when dropping the response).
type FetchResult struct {
	// Err is nil or a (wrapped) *kerr.Error or storage error, mapped by the broker's errorCode.
	Err              error
	HighWatermark    int64 // -1 on error (Kafka: Log.UnknownOffset)
	LastStableOffset int64 // -1 on error
	LogStartOffset   int64 // -1 on error
	Ranges           []storage.FileRange
	// AbortedTransactions (IsolationCommitted only) are the aborted transactions overlapping the records
	// returned (reference 06 §7); nil when none or for other isolations.
	AbortedTransactions []storage.AbortedTxn
	// DivergingEpoch (v12, KIP-595's truncate-on-fetch): the follower's LastFetchedEpoch ended before its fetch
	// offset here, or is unknown; it must truncate to this end before fetching again. nil: none. No records
	// come with it.
	DivergingEpoch *EpochEndOffset

	leaderLEO   int64 // LEO when the read started, for the follower's caught-up time
	fetchTimeMs int64
}

// Size is the number of record bytes in the result.
func (r *FetchResult) Size() int64 {
	var n int64
	for _, fr := range r.Ranges {
		n += fr.Length
	}
	return n
}

// Release frees the file ranges.
func (r *FetchResult) Release() {
	for _, fr := range r.Ranges {
		if fr.Release != nil {
			fr.Release()
		}
	}
	r.Ranges = nil
}

func failedFetch(err error) FetchResult {
	return FetchResult{Err: err, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1, leaderLEO: -1, fetchTimeMs: -1}
}

// FetchMessages reads each partition from its log (ReplicaManager.fetchMessages), in request order, within
// the response and partition size limits; the first partition that returns data gets at least its first
// batch even when larger than both (KIP-74), later ones stop at the limits. A follower fetch (ReplicaID >= 0)
// reads up to the LEO and records the follower's position, which may move the HW. The fetch answers at once
// when MaxWait <= 0, there are no partitions, at least MinBytes were read, or a partition failed; otherwise
// it waits in the fetch purgatory until MinBytes are available (new data, HW moves), a partition's
// leadership or log changes, MaxWait passes, or ctx ends, and reads again. Results are in request order.
func (m *Manager) FetchMessages(ctx context.Context, p FetchParams) []FetchResult {
	results := make([]FetchResult, len(p.Partitions))
	m.readFromLocalLog(&p, results)
	if p.ReplicaID >= 0 {
		m.updateFollowerFetchState(&p, results)
	}
	var total int64
	failed := false
	for i := range results {
		total += results[i].Size()
		failed = failed || results[i].Err != nil || results[i].DivergingEpoch != nil
	}
	if p.MaxWait <= 0 || len(p.Partitions) == 0 || total >= int64(p.MinBytes) || failed {
		return results
	}
	for i := range results {
		results[i].Release()
	}
	op := &delayedFetch{m: m, params: &p, done: make(chan struct{})}
	keys := make([]storage.TopicPartition, 0, len(p.Partitions))
	for _, fp := range p.Partitions {
		keys = append(keys, fp.TopicPartition)
	}
	d := purgatory.NewDelayedOperation(op, p.MaxWait)
	m.fetch.TryCompleteElseWatch(d, keys)
	select {
	case <-op.done:
	case <-ctx.Done():
		d.ForceComplete()
		<-op.done
	}
	return op.results
}

// readFromLocalLog is ReplicaManager.readFromLocalLog for fetch versions >= 3 (no hard size limit).
func (m *Manager) readFromLocalLog(p *FetchParams, results []FetchResult) {
	limit := int64(p.MaxBytes)
	minOne := true
	for i, fp := range p.Partitions {
		part, err := m.partitionOrError(fp.TopicPartition)
		if err != nil {
			results[i] = failedFetch(err)
			continue
		}
		results[i] = part.readRecords(fp, p.Isolation, p.FetchOnlyFromLeader, min(int64(fp.MaxBytes), limit), minOne, m.now())
		if n := results[i].Size(); n > 0 {
			// Once one partition returned data, the limits hold for the rest.
			minOne = false
			limit = max(0, limit-n)
		}
	}
}

// readRecords is Partition.readRecords plus ReplicaManager.read's handling of a first batch that does not fit.
func (p *Partition) readRecords(fp FetchPartition, iso Isolation, onlyLeader bool, maxBytes int64, minOne bool, nowMs int64) FetchResult {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.localLogLocked(fp.CurrentLeaderEpoch, onlyLeader)
	if err != nil {
		return failedFetch(err)
	}
	if fp.MaxBytes < 0 {
		// Kafka's LogSegment.read throws IllegalArgumentException, answered as UNKNOWN_SERVER_ERROR.
		return failedFetch(fmt.Errorf("%w: %s: negative partition_max_bytes %d", kerr.UnknownServerError, p.tp, fp.MaxBytes))
	}
	// Offsets as they were before the read, as Kafka reports them: appends racing with the read must not
	// make a follower look caught up.
	hw, lso, logStart, leo := l.HighWatermark(), l.LastStableOffset(), l.LogStartOffset(), l.LogEndOffset()
	if fp.LastFetchedEpoch >= 0 {
		div, err := divergingEpoch(l, fp, logStart)
		if err != nil {
			return failedFetch(err)
		}
		if div != nil {
			return FetchResult{HighWatermark: hw, LastStableOffset: lso, LogStartOffset: logStart, DivergingEpoch: div,
				leaderLEO: leo, fetchTimeMs: nowMs}
		}
	}
	bound := hw
	switch iso {
	case IsolationLogEnd:
		bound = leo
	case IsolationCommitted:
		bound = lso
	}
	// minOneMessage also tells the cases apart without minOne: a first batch larger than maxBytes comes back
	// whole, and Kafka then answers nothing rather than a cut batch (firstEntryIncomplete, fetch v3+).
	rr, err := l.Read(fp.FetchOffset, int(min(maxBytes, int64(maxInt))), bound, true)
	if err != nil {
		rr.Release()
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			return failedFetch(fmt.Errorf("%w: %w", kerr.OffsetOutOfRange, err))
		}
		return failedFetch(err)
	}
	res := FetchResult{HighWatermark: hw, LastStableOffset: lso, LogStartOffset: logStart, Ranges: rr.Ranges, leaderLEO: leo, fetchTimeMs: nowMs}
	if !minOne && res.Size() > maxBytes {
		res.Release()
	}
	if iso == IsolationCommitted && len(res.Ranges) > 0 {
		// Log.read's addAbortedTransactions: what a read_committed consumer must skip in these records.
		if res.AbortedTransactions, err = l.AbortedTransactions(fp.FetchOffset, res.Ranges[len(res.Ranges)-1]); err != nil {
			res.Release()
			return failedFetch(err)
		}
	}
	return res
}

const maxInt = int(^uint(0) >> 1)

// divergingEpoch is Partition.readRecords' check of a v12 fetch's LastFetchedEpoch (reference 03 §4 step 2):
// the leader's end offset for that epoch (KIP-279) must not be below the fetch offset, nor its epoch below
// the requested one; otherwise the follower diverged and gets that (epoch, end offset) instead of records.
// An epoch the cache cannot place, or a fetch offset below the log start, is OFFSET_OUT_OF_RANGE.
func divergingEpoch(l *storage.Log, fp FetchPartition, logStart int64) (*EpochEndOffset, error) {
	e, o := l.EndOffsetForEpoch(fp.LastFetchedEpoch)
	if o == storage.UndefinedEpochOffset || e == storage.UndefinedEpoch {
		return nil, fmt.Errorf("%w: %s: cannot place the last fetched epoch %d", kerr.OffsetOutOfRange, fp.TopicPartition, fp.LastFetchedEpoch)
	}
	if fp.FetchOffset < logStart {
		return nil, fmt.Errorf("%w: %s: fetch offset %d is below the log start offset %d", kerr.OffsetOutOfRange, fp.TopicPartition, fp.FetchOffset, logStart)
	}
	if e < fp.LastFetchedEpoch || o < fp.FetchOffset {
		return &EpochEndOffset{LeaderEpoch: e, EndOffset: o}, nil
	}
	return nil, nil
}

// updateFollowerFetchState is ReplicaManager.updateFollowerFetchState: for each partition read without
// error, the follower's fetch offset becomes its LEO on the leader and its log start offset the one it
// reported (the low watermark of DeleteRecords). A fetcher that is not an assigned replica
// gets no records.
func (m *Manager) updateFollowerFetchState(p *FetchParams, results []FetchResult) {
	for i, fp := range p.Partitions {
		if results[i].Err != nil {
			continue
		}
		part, ok := m.Partition(fp.TopicPartition)
		if !ok {
			continue
		}
		known, hwMoved, logStartMoved := part.updateFollowerFetchState(p.ReplicaID, fp.FetchOffset, fp.LogStartOffset, results[i].fetchTimeMs, results[i].leaderLEO)
		if !known {
			part.log.WithField("replica_id", p.ReplicaID).Warn("fetch from a broker that is not an assigned replica; returning no records")
			results[i].Release()
			continue
		}
		if hwMoved {
			m.tryCompleteDelayed(fp.TopicPartition, true)
		} else if logStartMoved {
			// The follower's log start may have raised the low watermark a DeleteRecords waits for.
			m.deleteRecords.CheckAndComplete(fp.TopicPartition)
		}
	}
}

// delayedFetch is Kafka's DelayedFetch. results is written by OnComplete and published by closing done.
type delayedFetch struct {
	m       *Manager
	params  *FetchParams
	results []FetchResult
	done    chan struct{}
}

// TryComplete is DelayedFetch.tryComplete (reference 03 §8.2): complete when a partition lost its leader or
// log or fenced the request's epoch (cases A-E), when its log was truncated below the fetch offset (F), or
// when the bytes now readable reach MinBytes (G). Bytes are counted by a read of the log index and segment
// headers, capped at partition_max_bytes, and only when needed: with MinBytes <= 1 any new data completes.
func (d *delayedFetch) TryComplete() bool {
	p := d.params
	var accumulated int64
	for _, fp := range p.Partitions {
		part, err := d.m.partitionOrError(fp.TopicPartition)
		if err != nil {
			return true
		}
		n, complete := part.bytesAvailable(fp, p.Isolation, p.FetchOnlyFromLeader, accumulated, int64(p.MinBytes))
		if complete {
			return true
		}
		accumulated += n
		if accumulated >= int64(p.MinBytes) {
			return true
		}
	}
	return false
}

// bytesAvailable counts what a fetch could read now. complete reports a state change that ends the wait.
func (p *Partition) bytesAvailable(fp FetchPartition, iso Isolation, onlyLeader bool, accumulated, minBytes int64) (n int64, complete bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l, err := p.localLogLocked(fp.CurrentLeaderEpoch, onlyLeader)
	if err != nil {
		return 0, true
	}
	leo := l.LogEndOffset()
	if fp.FetchOffset > leo || fp.FetchOffset < l.LogStartOffset() {
		return 0, true // truncated or deleted under the fetch: the re-read answers OFFSET_OUT_OF_RANGE
	}
	if fp.LastFetchedEpoch >= 0 {
		if div, err := divergingEpoch(l, fp, l.LogStartOffset()); div != nil || err != nil {
			return 0, true // a diverging epoch appeared (condition H)
		}
	}
	end := l.HighWatermark()
	switch iso {
	case IsolationLogEnd:
		end = leo
	case IsolationCommitted:
		end = l.LastStableOffset()
	}
	if end <= fp.FetchOffset || fp.MaxBytes <= 0 {
		return 0, false
	}
	if accumulated+1 >= minBytes {
		return 1, false // at least one byte is there, which is all that is missing
	}
	rr, err := l.Read(fp.FetchOffset, int(fp.MaxBytes), end, false)
	defer rr.Release()
	if err != nil {
		return 0, true
	}
	return rr.Size(), false
}

// OnComplete re-reads every partition (DelayedFetch.onComplete).
func (d *delayedFetch) OnComplete() {
	d.results = make([]FetchResult, len(d.params.Partitions))
	d.m.readFromLocalLog(d.params, d.results)
	close(d.done)
}

func (d *delayedFetch) OnExpiration() {
	d.m.log.WithFields(logrus.Fields{"replica_id": d.params.ReplicaID, "partitions": len(d.params.Partitions)}).Trace("delayed fetch expired")
}
