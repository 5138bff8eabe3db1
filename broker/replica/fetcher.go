package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// Request versions a 2.8 follower sends (reference 03 §3, IBP 2.8-IV1).
const (
	fetchVersion                = 12
	offsetForLeaderEpochVersion = 4
	listOffsetsVersion          = 6
)

// LeaderConn is a fetcher's connection to a leader (protocol.Client implements it).
type LeaderConn interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Close() error
}

// fetchState is one partition in a fetcher (Kafka's PartitionFetchState). A state value is replaced, never
// reused, when the partition is added again, so a pointer comparison tells whether an answer still belongs
// to the state that asked.
type fetchState struct {
	offset           int64 // next offset to fetch (Truncating: the offset to fall back to, the HW)
	leaderEpoch      int32 // the partition's leader epoch when added: CurrentLeaderEpoch of every request
	lastFetchedEpoch int32 // epoch of the last batch appended (v12 LastFetchedEpoch); -1 when none
	truncating       bool  // Truncating (ask OffsetsForLeaderEpoch first) or Fetching
	delayUntil       time.Time
}

// fetcher is one replica fetcher goroutine for one source broker (Kafka's ReplicaFetcherThread): every
// round it truncates the partitions in Truncating state (reference 03 §6.2) and sends one Fetch for all the
// others, then appends what came back. Its lock is held while it writes a partition's log, so that once
// removePartitions returned, no write for those partitions is running or will start.
type fetcher struct {
	m      *Manager
	source int32
	id     int
	addr   string
	log    *logrus.Entry
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // capacity 1: partitions added

	mu    sync.Mutex
	parts map[storage.TopicPartition]*fetchState // guarded by mu

	conn LeaderConn // owned by the fetcher goroutine
}

func (f *fetcher) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// addPartitions starts fetching the partitions (AbstractFetcherThread.addPartitions): each begins in
// Truncating state at its initial offset.
func (f *fetcher) addPartitions(states map[storage.TopicPartition]*fetchState) {
	f.mu.Lock()
	for tp, st := range states {
		f.parts[tp] = st
	}
	f.mu.Unlock()
	f.signal()
}

// removePartitions stops fetching tps and returns the states removed. When it returns, no append or
// truncation of those partitions by this fetcher is in progress.
func (f *fetcher) removePartitions(tps []storage.TopicPartition) map[storage.TopicPartition]*fetchState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[storage.TopicPartition]*fetchState{}
	for _, tp := range tps {
		if st, ok := f.parts[tp]; ok {
			out[tp] = st
			delete(f.parts, tp)
		}
	}
	return out
}

func (f *fetcher) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

// shutdown stops the goroutine and waits for it (a request in flight is aborted).
func (f *fetcher) shutdown() {
	f.cancel()
	<-f.done
}

func (f *fetcher) backoff() time.Duration {
	return time.Duration(f.m.cfg.ReplicaFetchBackoffMs) * time.Millisecond
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	defer f.closeConn()
	f.log.Info("replica fetcher started")
	defer f.log.Info("replica fetcher stopped")
	for ctx.Err() == nil {
		f.maybeTruncate(ctx)
		if !f.maybeFetch(ctx) {
			f.idle(ctx)
		}
	}
}

// idle waits until partitions are added, the first delayed partition is due, or replica.fetch.backoff.ms
// passed (AbstractFetcherThread waits on partitionMapCond for the backoff when nothing is fetchable).
func (f *fetcher) idle(ctx context.Context) {
	wait := f.backoff()
	now := time.Now()
	f.mu.Lock()
	for _, st := range f.parts {
		if st.truncating && !now.Before(st.delayUntil) {
			f.mu.Unlock()
			return // another OffsetsForLeaderEpoch round is due (KIP-279)
		}
		if d := st.delayUntil.Sub(now); d < wait {
			wait = max(d, time.Millisecond)
		}
	}
	f.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-t.C:
	}
}

// request sends req to the leader, dialling first if needed. Any failure closes the connection, so the next
// request reconnects.
func (f *fetcher) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if f.conn == nil {
		timeout := time.Duration(f.m.cfg.ReplicaSocketTimeoutMs) * time.Millisecond
		dctx, cancel := context.WithTimeout(ctx, timeout)
		conn, err := f.m.dialLeader(dctx, f.addr, fmt.Sprintf("broker-%d-fetcher-%d", f.m.brokerID, f.id), timeout)
		cancel()
		if err != nil {
			return nil, err
		}
		f.conn = conn
	}
	resp, err := f.conn.Request(ctx, req)
	if err != nil {
		f.closeConn()
		return nil, err
	}
	return resp, nil
}

func (f *fetcher) closeConn() {
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
}

// markFailedLocked stops fetching tp until the next LeaderAndIsr (AbstractFetcherThread.markPartitionFailed).
func (f *fetcher) markFailedLocked(tp storage.TopicPartition, err error) {
	f.log.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).
		Error("stopped fetching partition until the next LeaderAndIsr")
	delete(f.parts, tp)
}

// delayLocked backs tp off for replica.fetch.backoff.ms if st is still its state.
func (f *fetcher) delayLocked(tp storage.TopicPartition, st *fetchState) {
	if f.parts[tp] == st {
		st.delayUntil = time.Now().Add(f.backoff())
	}
}

// followerLog returns tp's log if it still follows.
func (f *fetcher) followerLog(tp storage.TopicPartition) (*Partition, *storage.Log) {
	p, ok := f.m.Partition(tp)
	if !ok {
		return nil, nil
	}
	return p, p.followerLog()
}

// epochQuery is one partition of an OffsetsForLeaderEpoch request.
type epochQuery struct {
	st          *fetchState
	latestEpoch int32
}

// maybeTruncate is AbstractFetcherThread.maybeTruncate for the partitions in Truncating state: those whose log
// knows no epoch truncate to their initial offset (the HW, KIP-101's fallback); the others ask the leader
// where their latest epoch ended and truncate per KIP-279 (truncationOffset).
func (f *fetcher) maybeTruncate(ctx context.Context) {
	now := time.Now()
	queries := map[storage.TopicPartition]epochQuery{}
	f.mu.Lock()
	for tp, st := range f.parts {
		if !st.truncating || now.Before(st.delayUntil) {
			continue
		}
		p, l := f.followerLog(tp)
		if l == nil {
			f.markFailedLocked(tp, errors.New("partition no longer follows"))
			continue
		}
		if e, ok := l.LatestEpoch(); ok {
			queries[tp] = epochQuery{st: st, latestEpoch: e}
			continue
		}
		f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "offset": st.offset}).
			Info("no leader epoch known: truncating to the high watermark")
		f.truncateLocked(tp, p, st, st.offset, true)
	}
	f.mu.Unlock()
	if len(queries) == 0 {
		return
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = offsetForLeaderEpochVersion
	req.ReplicaID = f.m.brokerID
	byTopic := map[string]int{}
	for tp, q := range queries {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, q.st.leaderEpoch, q.latestEpoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	kresp, err := f.request(ctx, req)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			f.log.WithError(err).Warn("OffsetsForLeaderEpoch to the leader failed; backing off")
		}
		for tp, q := range queries {
			f.delayLocked(tp, q.st)
		}
		return
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	answered := map[storage.TopicPartition]bool{}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp := storage.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			q, ok := queries[tp]
			if !ok || answered[tp] {
				continue
			}
			answered[tp] = true
			if f.parts[tp] != q.st || !q.st.truncating {
				continue // removed or re-added while we asked
			}
			f.applyEpochEndOffsetLocked(tp, q.st, rp)
		}
	}
	for tp, q := range queries {
		if !answered[tp] {
			f.delayLocked(tp, q.st)
		}
	}
}

// applyEpochEndOffsetLocked handles one OffsetsForLeaderEpoch answer (maybeTruncateToEpochEndOffsets).
func (f *fetcher) applyEpochEndOffsetLocked(tp storage.TopicPartition, st *fetchState, rp kmsg.OffsetForLeaderEpochResponseTopicPartition) {
	switch rp.ErrorCode {
	case 0:
	case kerr.FencedLeaderEpoch.Code:
		// The leader has a newer epoch than ours: wait for our LeaderAndIsr (onPartitionFenced).
		f.markFailedLocked(tp, kerr.FencedLeaderEpoch)
		return
	default:
		f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "error": kerr.ErrorForCode(rp.ErrorCode)}).
			Info("leader could not answer OffsetsForLeaderEpoch; retrying")
		f.delayLocked(tp, st)
		return
	}
	p, l := f.followerLog(tp)
	if l == nil {
		f.markFailedLocked(tp, errors.New("partition no longer follows"))
		return
	}
	offset, complete := truncationOffset(l, st.offset, rp.LeaderEpoch, rp.EndOffset)
	f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader_epoch": rp.LeaderEpoch,
		"leader_end_offset": rp.EndOffset, "truncation_offset": offset, "complete": complete}).Info("leader answered OffsetsForLeaderEpoch")
	f.truncateLocked(tp, p, st, offset, complete)
}

// truncationOffset is AbstractFetcherThread.getOffsetTruncationState (reference 03 §6.1/§6.2, KIP-279): given
// the leader's (epoch, end offset) for our latest epoch, where the follower's log must end. complete is false
// when the leader answered with an epoch we do not know: we cut to the end of our largest epoch below it and
// ask again with our new latest epoch, until both sides agree on an epoch.
func truncationOffset(l *storage.Log, fallback int64, leaderEpoch int32, leaderEnd int64) (offset int64, complete bool) {
	leo := l.LogEndOffset()
	switch {
	case leaderEnd == storage.UndefinedEpochOffset:
		return fallback, true // the leader cannot place our epoch: the high watermark rule
	case leaderEpoch == storage.UndefinedEpoch:
		return min(leaderEnd, leo), true // a v0 answer (KIP-101 without KIP-279)
	}
	fe, fo := l.EndOffsetForEpoch(leaderEpoch)
	switch {
	case fo == storage.UndefinedEpochOffset:
		return min(leaderEnd, leo), true // we do not track epochs that far back
	case fe != leaderEpoch:
		return min(fo, leo), false
	}
	return min(fo, leaderEnd, leo), true
}

// truncateLocked cuts tp's log to offset and moves its state on: Fetching from offset when complete, else
// Truncating again (another OffsetsForLeaderEpoch round).
func (f *fetcher) truncateLocked(tp storage.TopicPartition, p *Partition, st *fetchState, offset int64, complete bool) {
	if err := p.truncateTo(offset); err != nil {
		f.markFailedLocked(tp, fmt.Errorf("truncate to %d: %w", offset, err))
		return
	}
	st.offset = offset
	st.truncating = !complete
	st.lastFetchedEpoch = -1
	if l := p.followerLog(); l != nil {
		if e, ok := l.LatestEpoch(); ok {
			st.lastFetchedEpoch = e
		}
	}
	st.delayUntil = time.Time{}
}

// sentPartition is what a fetch asked for one partition.
type sentPartition struct {
	st     *fetchState
	offset int64
}

// maybeFetch sends one Fetch for every partition in Fetching state that is not backing off and processes
// the answer. It reports false when there was nothing to fetch.
func (f *fetcher) maybeFetch(ctx context.Context) bool {
	cfg := f.m.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = fetchVersion
	req.ReplicaID = f.m.brokerID
	req.MaxWaitMillis = cfg.ReplicaFetchWaitMaxMs
	req.MinBytes = cfg.ReplicaFetchMinBytes
	req.MaxBytes = cfg.ReplicaFetchResponseMaxBytes
	req.IsolationLevel = 0
	// No fetch session: a full request every time (session id 0, epoch -1), which every broker serves.
	req.SessionID, req.SessionEpoch = 0, -1
	sent := map[storage.TopicPartition]sentPartition{}
	byTopic := map[string]int{}
	now := time.Now()
	f.mu.Lock()
	for tp, st := range f.parts {
		if st.truncating || now.Before(st.delayUntil) {
			continue
		}
		_, l := f.followerLog(tp)
		if l == nil {
			f.markFailedLocked(tp, errors.New("partition no longer follows"))
			continue
		}
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.LogStartOffset = tp.Partition, st.offset, l.LogStartOffset()
		rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch = cfg.ReplicaFetchMaxBytes, st.leaderEpoch, st.lastFetchedEpoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		sent[tp] = sentPartition{st: st, offset: st.offset}
	}
	f.mu.Unlock()
	if len(sent) == 0 {
		return false
	}
	kresp, err := f.request(ctx, req)
	if err == nil && kresp.(*kmsg.FetchResponse).ErrorCode != 0 {
		err = fmt.Errorf("fetch refused: %w", kerr.ErrorForCode(kresp.(*kmsg.FetchResponse).ErrorCode))
	}
	if err != nil {
		if ctx.Err() == nil {
			f.log.WithError(err).WithField("partitions", len(sent)).Warn("fetch from the leader failed; backing off")
		}
		f.mu.Lock()
		for tp, s := range sent {
			f.delayLocked(tp, s.st)
		}
		f.mu.Unlock()
		return true
	}
	f.processFetchResponse(ctx, kresp.(*kmsg.FetchResponse), sent)
	return true
}

// outOfRange is a partition answered OFFSET_OUT_OF_RANGE.
type outOfRange struct {
	tp storage.TopicPartition
	sentPartition
}

// processFetchResponse is AbstractFetcherThread.processFetchRequest's per-partition handling (reference 03
// §3.1, §3.2). Partitions whose state changed since the request (removed, re-added, truncated) are skipped.
func (f *fetcher) processFetchResponse(ctx context.Context, resp *kmsg.FetchResponse, sent map[storage.TopicPartition]sentPartition) {
	var appended []storage.TopicPartition
	var oor []outOfRange
	f.mu.Lock()
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			tp := storage.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			s, ok := sent[tp]
			if !ok || f.parts[tp] != s.st || s.st.offset != s.offset || s.st.truncating {
				continue
			}
			delete(sent, tp) // a partition listed twice is processed once
			lg := f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "offset": s.offset})
			switch rp.ErrorCode {
			case 0:
				if f.processPartitionDataLocked(tp, s.st, rp) {
					appended = append(appended, tp)
				}
			case kerr.OffsetOutOfRange.Code:
				oor = append(oor, outOfRange{tp, s})
			case kerr.FencedLeaderEpoch.Code:
				// Our epoch is older than the leader's (the request carried the state's current epoch): wait for
				// the LeaderAndIsr that tells us about the new one.
				f.markFailedLocked(tp, kerr.FencedLeaderEpoch)
			case kerr.UnknownLeaderEpoch.Code, kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code:
				lg.WithField("error", kerr.ErrorForCode(rp.ErrorCode)).Debug("leader not ready for this partition; backing off")
				f.delayLocked(tp, s.st)
			default:
				lg.WithField("error", kerr.ErrorForCode(rp.ErrorCode)).Warn("fetch error for partition; backing off")
				f.delayLocked(tp, s.st)
			}
		}
	}
	f.mu.Unlock()
	// New data on a follower can complete delayed fetches of consumers reading from it (KIP-392).
	for _, tp := range appended {
		f.m.fetch.CheckAndComplete(tp)
	}
	for _, o := range oor {
		f.handleOutOfRange(ctx, o)
	}
}

// processPartitionDataLocked is ReplicaFetcherThread.processPartitionData plus the state update: append the
// batches, take the leader's HW (capped by our LEO) and log start, move the fetch offset, and truncate when
// the leader reports a diverging epoch (v12). It reports whether records were appended.
func (f *fetcher) processPartitionDataLocked(tp storage.TopicPartition, st *fetchState, rp *kmsg.FetchResponseTopicPartition) bool {
	p, l := f.followerLog(tp)
	if l == nil {
		f.markFailedLocked(tp, errors.New("partition no longer follows"))
		return false
	}
	if leo := l.LogEndOffset(); st.offset != leo {
		f.markFailedLocked(tp, fmt.Errorf("fetch offset %d differs from the log end offset %d", st.offset, leo))
		return false
	}
	info, err := p.appendRecordsToFollower(rp.RecordBatches)
	if err != nil {
		if errors.Is(err, record.ErrCorrupt) || errors.Is(err, record.ErrInvalidRecord) || errors.Is(err, storage.ErrUnexpectedAppendOffset) {
			// Possibly transient (a cut batch, a leader truncating): log, back off, fetch again.
			f.log.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Error("invalid records from the leader")
			f.delayLocked(tp, st)
		} else {
			f.markFailedLocked(tp, fmt.Errorf("append: %w", err))
		}
		return false
	}
	if err := p.updateFollowerHighWatermark(rp.HighWatermark, rp.LogStartOffset); err != nil {
		f.markFailedLocked(tp, fmt.Errorf("update high watermark: %w", err))
		return false
	}
	appended := info.LastOffset >= 0 && info.NumRecords > 0
	if appended {
		st.offset = info.LastOffset + 1
		if e, ok := l.LatestEpoch(); ok {
			st.lastFetchedEpoch = e
		}
	}
	if d := rp.DivergingEpoch; d.Epoch >= 0 {
		// Truncate-on-fetch (KIP-595's mechanism in 2.7+): the leader says our last fetched epoch ended earlier.
		offset, _ := truncationOffset(l, st.offset, d.Epoch, d.EndOffset)
		f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "diverging_epoch": d.Epoch,
			"diverging_end_offset": d.EndOffset, "truncation_offset": offset}).Info("leader reported a diverging epoch")
		f.truncateLocked(tp, p, st, offset, true)
	}
	return appended
}

// handleOutOfRange is AbstractFetcherThread.fetchOffsetAndTruncate for OFFSET_OUT_OF_RANGE: if the leader's
// LEO is below ours (an unclean election), truncate to it; otherwise fetch from max(leader log start, our
// LEO), emptying our log first when the leader's log start is past it. The ListOffsets calls are made
// without the lock; the state must be unchanged when the answer is applied.
func (f *fetcher) handleOutOfRange(ctx context.Context, o outOfRange) {
	stillSame := func() bool { return f.parts[o.tp] == o.st && o.st.offset == o.offset && !o.st.truncating }
	leaderEnd, err := f.listOffset(ctx, o.tp, o.st.leaderEpoch, LatestTimestamp)
	var leaderStart int64
	if err == nil {
		leaderStart, err = f.listOffset(ctx, o.tp, o.st.leaderEpoch, EarliestTimestamp)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !stillSame() {
		return
	}
	if err != nil {
		if errors.Is(err, kerr.FencedLeaderEpoch) {
			f.markFailedLocked(o.tp, err)
			return
		}
		f.log.WithError(err).WithFields(logrus.Fields{"topic": o.tp.Topic, "partition": o.tp.Partition}).Info("could not ask the leader for its offsets; backing off")
		f.delayLocked(o.tp, o.st)
		return
	}
	p, l := f.followerLog(o.tp)
	if l == nil {
		f.markFailedLocked(o.tp, errors.New("partition no longer follows"))
		return
	}
	leo := l.LogEndOffset()
	lg := f.log.WithFields(logrus.Fields{"topic": o.tp.Topic, "partition": o.tp.Partition, "log_end_offset": leo,
		"leader_log_end_offset": leaderEnd, "leader_log_start_offset": leaderStart})
	if leaderEnd < leo {
		lg.Warn("leader's log end offset is below ours (unclean election): truncating to it")
		f.truncateLocked(o.tp, p, o.st, leaderEnd, true)
		return
	}
	if leaderStart > leo {
		if err := p.truncateFullyAndStartAt(leaderStart); err != nil {
			f.markFailedLocked(o.tp, err)
			return
		}
	}
	lg.Info("fetch offset out of range on the leader: resetting")
	o.st.offset = max(leaderStart, leo)
	o.st.lastFetchedEpoch = -1
	if e, ok := l.LatestEpoch(); ok {
		o.st.lastFetchedEpoch = e
	}
}

// listOffset asks the leader for its latest or earliest offset as a replica (ListOffsets v6, replica id =
// ours, so latest is the leader's LEO).
func (f *fetcher) listOffset(ctx context.Context, tp storage.TopicPartition, leaderEpoch int32, ts int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = listOffsetsVersion
	req.ReplicaID = f.m.brokerID
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = tp.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = tp.Partition, leaderEpoch, ts
	t.Partitions = append(t.Partitions, rp)
	req.Topics = append(req.Topics, t)
	kresp, err := f.request(ctx, req)
	if err != nil {
		return 0, err
	}
	for _, t := range kresp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if t.Topic == tp.Topic && p.Partition == tp.Partition {
				if p.ErrorCode != 0 {
					return 0, kerr.ErrorForCode(p.ErrorCode)
				}
				return p.Offset, nil
			}
		}
	}
	return 0, errors.New("ListOffsets answer lacks the partition")
}

// defaultDialLeader connects with protocol.Client.
func defaultDialLeader(ctx context.Context, addr, clientID string, timeout time.Duration) (LeaderConn, error) {
	return protocol.Dial(ctx, addr, clientID, timeout)
}
