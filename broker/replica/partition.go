package replica

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
)

// noLeader is the leader id of a partition without one (and the initial state).
const noLeader = -1

// Partition is one partition replica hosted by this broker (Kafka's cluster.Partition): its role, the
// controller's leadership decision, the remote replicas' fetch state and the local log.
//
// States and their answers:
//   - new (no LeaderAndIsr applied yet): leader -1, leader epoch -1, no log;
//   - leader (leaderID == this broker): appends, consumer and follower reads, HW advancement;
//   - follower: NOT_LEADER_OR_FOLLOWER to produce and leader-only fetches; a replica fetcher truncates and fills
//     the log (fetcher.go);
//   - deleted (StopReplica delete=true): state cleared, no log, removed from the manager.
//
// Exits: makeLeader and makeFollower (a newer leader epoch from the controller), delete.
type Partition struct {
	tp       storage.TopicPartition
	brokerID int32
	m        *Manager
	log      *logrus.Entry

	minISR atomic.Int32 // min.insync.replicas of the topic

	mu                     sync.RWMutex
	storageLog             *storage.Log      // guarded by mu; nil until the first LeaderAndIsr created it
	leaderID               int32             // guarded by mu; noLeader when unknown
	leaderEpoch            int32             // guarded by mu; -1 before the first LeaderAndIsr
	leaderEpochStartOffset int64             // guarded by mu; the LEO when this broker became leader, -1 otherwise
	controllerEpoch        int32             // guarded by mu; epoch of the controller that made the last decision
	zkVersion              int32             // guarded by mu; partition state znode version (conditional ISR updates)
	replicas               []int32           // guarded by mu; full assignment
	addingReplicas         []int32           // guarded by mu
	removingReplicas       []int32           // guarded by mu
	isr                    isrState          // guarded by mu
	remotes                map[int32]*remote // guarded by mu (the map); the remotes' fields by hwMu

	// hwMu serialises HW advancement (read LEOs, compare, store: the HW must never go down while appends and
	// follower fetches run concurrently under mu's read lock) and guards the remote replicas' fetch state.
	hwMu sync.Mutex
}

// isrState is Kafka's IsrState (reference 03 §5.4):
//   - Committed (pending == nil): maximal == isr;
//   - PendingExpand: an AlterIsr adding a replica is in flight; maximal = isr + that replica, so the HW and
//     acks=-1 already wait for it (safe: a larger set);
//   - PendingShrink: an AlterIsr removing replicas is in flight; maximal = isr, the old larger set, as the
//     shrink is not relied on before the controller committed it.
//
// No other change is proposed while one is pending. A LeaderAndIsr replaces the state (committed); an
// AlterIsr answer commits it, or leaves it pending until the next LeaderAndIsr when the controller refused it
// for good (FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION, UNKNOWN_TOPIC_OR_PARTITION).
type isrState struct {
	isr     []int32      // committed ISR (from the controller)
	maximal []int32      // used for HW and acks=-1 checks
	pending *isrProposal // nil: committed; identifies the proposal an AlterIsr answer belongs to
}

// isrProposal is one proposed ISR change.
type isrProposal struct {
	expand  bool    // PendingExpand, else PendingShrink
	changed []int32 // the replica added, or the replicas removed
	newISR  []int32 // what AlterIsr asks for
}

func committedISR(isr []int32) isrState {
	c := slices.Clone(isr)
	return isrState{isr: c, maximal: c}
}

// remote is the leader's view of one follower (Kafka's Replica). Guarded by Partition.hwMu.
type remote struct {
	id                 int32
	leo                int64 // -1: unknown (not fetched since this broker became leader)
	logStartOffset     int64 // -1: unknown
	lastCaughtUpTimeMs int64
	lastFetchLeaderLEO int64
	lastFetchTimeMs    int64
}

// updateFetchState is Replica.updateFetchState: lastCaughtUpTimeMs becomes the last time t at which the
// follower had fetched everything the leader had at t (reference 03 §5.1).
func (r *remote) updateFetchState(fetchOffset, logStart, fetchTimeMs, leaderLEO int64) {
	switch {
	case fetchOffset >= leaderLEO:
		r.lastCaughtUpTimeMs = max(r.lastCaughtUpTimeMs, fetchTimeMs)
	case fetchOffset >= r.lastFetchLeaderLEO:
		r.lastCaughtUpTimeMs = max(r.lastCaughtUpTimeMs, r.lastFetchTimeMs)
	}
	r.logStartOffset = logStart
	r.leo = fetchOffset
	r.lastFetchLeaderLEO = leaderLEO
	r.lastFetchTimeMs = fetchTimeMs
}

func newPartition(m *Manager, tp storage.TopicPartition) *Partition {
	p := &Partition{
		tp:                     tp,
		brokerID:               m.brokerID,
		m:                      m,
		log:                    m.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),
		leaderID:               noLeader,
		leaderEpoch:            -1,
		leaderEpochStartOffset: -1,
		remotes:                map[int32]*remote{},
	}
	p.minISR.Store(int32(m.cfg.minInsyncReplicas(tp.Topic)))
	return p
}

// TopicPartition is the partition's name.
func (p *Partition) TopicPartition() storage.TopicPartition { return p.tp }

// State is a snapshot of a partition's replication state (for Metadata, describe tools and tests).
type State struct {
	Leader           int32
	LeaderEpoch      int32
	ISR              []int32
	Replicas         []int32
	AddingReplicas   []int32
	RemovingReplicas []int32
	ZKVersion        int32
	ControllerEpoch  int32
	IsLeader         bool
	HighWatermark    int64           // -1 without a log
	LogStartOffset   int64           // -1 without a log
	LogEndOffset     int64           // -1 without a log
	RemoteLogEndOffs map[int32]int64 // the leader's view of each follower's LEO (-1: unknown)
}

// State returns a snapshot of the partition.
func (p *Partition) State() State {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := State{
		Leader: p.leaderID, LeaderEpoch: p.leaderEpoch, ISR: slices.Clone(p.isr.isr),
		Replicas: slices.Clone(p.replicas), AddingReplicas: slices.Clone(p.addingReplicas),
		RemovingReplicas: slices.Clone(p.removingReplicas), ZKVersion: p.zkVersion, ControllerEpoch: p.controllerEpoch,
		IsLeader: p.isLeaderLocked(), HighWatermark: -1, LogStartOffset: -1, LogEndOffset: -1,
		RemoteLogEndOffs: make(map[int32]int64, len(p.remotes)),
	}
	if l := p.storageLog; l != nil {
		s.HighWatermark, s.LogStartOffset, s.LogEndOffset = l.HighWatermark(), l.LogStartOffset(), l.LogEndOffset()
	}
	p.hwMu.Lock()
	for id, r := range p.remotes {
		s.RemoteLogEndOffs[id] = r.leo
	}
	p.hwMu.Unlock()
	return s
}

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.isLeaderLocked()
}

// LeaderEpoch is the current leader epoch (-1 before the first LeaderAndIsr).
func (p *Partition) LeaderEpoch() int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.leaderEpoch
}

// Log returns the local log, nil before the first LeaderAndIsr or after deletion.
func (p *Partition) Log() *storage.Log {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.storageLog
}

// SetMinInsyncReplicas changes the partition's min.insync.replicas (a topic config change).
func (p *Partition) SetMinInsyncReplicas(n int) { p.minISR.Store(int32(max(n, 1))) }

func (p *Partition) isLeaderLocked() bool { return p.leaderID == p.brokerID }

// updateAssignmentAndISRLocked is Partition.updateAssignmentAndIsr: remote replicas that stay keep their
// fetch state, new ones start unknown, removed ones go.
func (p *Partition) updateAssignmentAndISRLocked(replicas, isr, adding, removing []int32) {
	next := make(map[int32]*remote, len(replicas))
	for _, id := range replicas {
		if id == p.brokerID {
			continue
		}
		if r, ok := p.remotes[id]; ok {
			next[id] = r
			continue
		}
		next[id] = &remote{id: id, leo: -1, logStartOffset: -1, lastFetchLeaderLEO: -1}
	}
	p.remotes = next
	p.replicas = slices.Clone(replicas)
	p.addingReplicas = slices.Clone(adding)
	p.removingReplicas = slices.Clone(removing)
	p.isr = committedISR(isr)
}

// leaderState is the part of a LeaderAndIsr partition state a role change applies.
type leaderState struct {
	ControllerEpoch int32
	Leader          int32
	LeaderEpoch     int32
	ISR             []int32
	ZKVersion       int32
	Replicas        []int32
	Adding          []int32
	Removing        []int32
}

// createLogLocked opens the log on the first role change (Partition.createLogIfNotExists): its HW starts at
// the checkpointed value, or 0, clamped by the log to [log start, LEO].
func (p *Partition) createLogLocked(create func() (*storage.Log, error), checkpointHW func() (int64, bool)) error {
	if p.storageLog != nil {
		return nil
	}
	l, err := create()
	if err != nil {
		return fmt.Errorf("create log %s: %w", p.tp, err)
	}
	hw, ok := checkpointHW()
	if !ok {
		hw = 0
	}
	got := l.SetHighWatermark(hw)
	p.log.WithFields(logrus.Fields{"high_watermark": got, "checkpointed": ok}).Info("log loaded for partition")
	p.storageLog = l
	return nil
}

// makeLeader is Partition.makeLeader. It reports whether this broker was not the leader before and whether
// the HW moved (the caller then completes delayed operations, after the locks are released).
func (p *Partition) makeLeader(st leaderState, create func() (*storage.Log, error), checkpointHW func() (int64, bool), nowMs int64) (isNewLeader, hwMoved bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.controllerEpoch = st.ControllerEpoch
	p.updateAssignmentAndISRLocked(st.Replicas, st.ISR, st.Adding, st.Removing)
	if err := p.createLogLocked(create, checkpointHW); err != nil {
		return false, false, err
	}
	leo := p.storageLog.LogEndOffset()
	// The epoch is known from its first offset on, before anything is written in it (Partition.makeLeader).
	if err := p.storageLog.AssignEpochStartOffset(st.LeaderEpoch, leo); err != nil {
		return false, false, err
	}
	p.log.WithFields(logrus.Fields{
		"component": "state_change", "leader_epoch": st.LeaderEpoch, "previous_leader_epoch": p.leaderEpoch,
		"start_offset": leo, "high_watermark": p.storageLog.HighWatermark(), "isr": st.ISR,
		"adding_replicas": st.Adding, "removing_replicas": st.Removing,
	}).Info("became leader")
	p.leaderEpoch = st.LeaderEpoch
	p.leaderEpochStartOffset = leo
	p.zkVersion = st.ZKVersion
	isNewLeader = !p.isLeaderLocked()
	p.hwMu.Lock()
	for id, r := range p.remotes {
		r.lastCaughtUpTimeMs = 0
		if slices.Contains(p.isr.isr, id) {
			r.lastCaughtUpTimeMs = nowMs
		}
		r.lastFetchLeaderLEO, r.lastFetchTimeMs = leo, nowMs
		if isNewLeader {
			// A new leader knows nothing of the followers' logs: the HW cannot pass them until each fetched.
			r.updateFetchState(-1, -1, 0, -1)
		}
	}
	p.hwMu.Unlock()
	p.leaderID = p.brokerID
	return isNewLeader, p.maybeIncrementLeaderHWLocked(nowMs), nil
}

// makeFollower is Partition.makeFollower: the ISR is not tracked on followers. It reports whether the leader
// or the leader epoch changed (false means the request repeated the current state).
func (p *Partition) makeFollower(st leaderState, create func() (*storage.Log, error), checkpointHW func() (int64, bool)) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prevEpoch := p.leaderEpoch
	p.controllerEpoch = st.ControllerEpoch
	p.updateAssignmentAndISRLocked(st.Replicas, nil, st.Adding, st.Removing)
	if err := p.createLogLocked(create, checkpointHW); err != nil {
		return false, err
	}
	p.leaderEpoch = st.LeaderEpoch
	p.leaderEpochStartOffset = -1
	p.zkVersion = st.ZKVersion
	if p.leaderID == st.Leader && st.LeaderEpoch == prevEpoch {
		return false, nil
	}
	p.leaderID = st.Leader
	p.log.WithFields(logrus.Fields{
		"component": "state_change", "leader": st.Leader, "leader_epoch": st.LeaderEpoch,
		"previous_leader_epoch": prevEpoch, "high_watermark": p.storageLog.HighWatermark(),
		"log_end_offset": p.storageLog.LogEndOffset(),
	}).Info("became follower")
	return true, nil
}

// createLogOnly is the follower path when the new leader is not alive: only the log is created, so the
// partition's HW is included in checkpoints (KAFKA-1647).
func (p *Partition) createLogOnly(create func() (*storage.Log, error), checkpointHW func() (int64, bool)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.createLogLocked(create, checkpointHW)
}

// delete clears the partition before its log is deleted (Partition.delete). Appends and reads in flight
// hold mu and finish first; later ones see no log.
func (p *Partition) delete() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.remotes = map[int32]*remote{}
	p.replicas, p.addingReplicas, p.removingReplicas = nil, nil, nil
	p.isr = isrState{}
	p.storageLog = nil
	p.leaderID = noLeader
	p.leaderEpochStartOffset = -1
}

// maybeIncrementLeaderHWLocked is Partition.maybeIncrementLeaderHW (reference 03 §4.1); the caller holds mu
// (either mode) and this broker leads. It reports whether the HW moved.
func (p *Partition) maybeIncrementLeaderHWLocked(nowMs int64) bool {
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() {
		return false
	}
	p.hwMu.Lock()
	defer p.hwMu.Unlock()
	candidate := l.LogEndOffset()
	lag := p.m.cfg.ReplicaLagTimeMaxMs
	for id, r := range p.remotes {
		if r.leo < candidate && (nowMs-r.lastCaughtUpTimeMs <= lag || slices.Contains(p.isr.maximal, id)) {
			candidate = r.leo
		}
	}
	old := l.HighWatermark()
	if candidate <= old {
		return false
	}
	return l.SetHighWatermark(candidate) > old
}

// appendRecordsToLeader is Partition.appendRecordsToLeader: it appends one producer batch with the current
// leader epoch and moves the HW. With acks=-1 a committed ISR smaller than min.insync.replicas refuses the
// batch before anything is written.
func (p *Partition) appendRecordsToLeader(batch []byte, acks int16, nowMs int64, asCoordinator bool) (storage.AppendInfo, int64, bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() {
		return storage.AppendInfo{}, -1, false, fmt.Errorf("%w: %s: this broker (%d) is not the leader", kerr.NotLeaderForPartition, p.tp, p.brokerID)
	}
	if minISR := int(p.minISR.Load()); acks == -1 && len(p.isr.isr) < minISR {
		return storage.AppendInfo{}, l.LogStartOffset(), false, fmt.Errorf("%w: %s: ISR %v is smaller than min.insync.replicas %d",
			kerr.NotEnoughReplicas, p.tp, p.isr.isr, minISR)
	}
	appendAs := l.AppendAsLeader
	if asCoordinator {
		appendAs = l.AppendAsCoordinator
	}
	info, err := appendAs(batch, p.leaderEpoch)
	if err != nil {
		return info, l.LogStartOffset(), false, err
	}
	return info, l.LogStartOffset(), p.maybeIncrementLeaderHWLocked(nowMs), nil
}

// checkEnoughReplicasReachOffset is DelayedProduce's per-partition check (reference 03 §7.4).
func (p *Partition) checkEnoughReplicasReachOffset(required int64) (bool, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.storageLog == nil || !p.isLeaderLocked() {
		return false, fmt.Errorf("%w: %s: leadership moved while waiting for acks", kerr.NotLeaderForPartition, p.tp)
	}
	if p.storageLog.HighWatermark() < required {
		return false, nil
	}
	if minISR := int(p.minISR.Load()); len(p.isr.maximal) < minISR {
		return true, fmt.Errorf("%w: %s: ISR %v is smaller than min.insync.replicas %d", kerr.NotEnoughReplicasAfterAppend,
			p.tp, p.isr.maximal, minISR)
	}
	return true, nil
}

// localLogLocked is Partition.localLogWithEpochOrException: the request's current leader epoch (-1: not
// checked) must equal ours, and leader-only requests need this broker to lead.
func (p *Partition) localLogLocked(currentLeaderEpoch int32, requireLeader bool) (*storage.Log, error) {
	if currentLeaderEpoch != -1 {
		switch {
		case currentLeaderEpoch < p.leaderEpoch:
			return nil, fmt.Errorf("%w: %s: request epoch %d, current %d", kerr.FencedLeaderEpoch, p.tp, currentLeaderEpoch, p.leaderEpoch)
		case currentLeaderEpoch > p.leaderEpoch:
			return nil, fmt.Errorf("%w: %s: request epoch %d, current %d", kerr.UnknownLeaderEpoch, p.tp, currentLeaderEpoch, p.leaderEpoch)
		}
	}
	if (requireLeader && !p.isLeaderLocked()) || p.storageLog == nil {
		return nil, fmt.Errorf("%w: %s: this broker (%d) is not the leader", kerr.NotLeaderForPartition, p.tp, p.brokerID)
	}
	return p.storageLog, nil
}

// updateFollowerFetchState records a follower's fetch (Partition.updateFollowerFetchState), proposes adding
// the follower to the ISR when it caught up (reference 03 §5.3), and advances the HW if the follower's LEO
// moved. known is false when the fetcher is not an assigned replica; logStartMoved reports that the
// follower's log start offset changed (the low watermark may have moved).
func (p *Partition) updateFollowerFetchState(followerID int32, fetchOffset, logStart, fetchTimeMs, leaderLEO int64) (known, hwMoved, logStartMoved bool) {
	p.mu.RLock()
	r, ok := p.remotes[followerID]
	if !ok {
		p.mu.RUnlock()
		return false, false, false
	}
	p.hwMu.Lock()
	prev, prevLogStart := r.leo, r.logStartOffset
	r.updateFetchState(fetchOffset, logStart, fetchTimeMs, leaderLEO)
	p.hwMu.Unlock()
	// Kafka compares the low watermark before and after (when a DeleteRecords waits); it can only move when
	// a replica's log start did, and checking a purgatory key nobody watches is cheap.
	logStartMoved = prevLogStart != logStart
	expand := p.needsExpandISRLocked(followerID)
	p.mu.RUnlock()
	if expand {
		p.maybeExpandISR(followerID)
	}
	if prev != fetchOffset {
		p.mu.RLock()
		hwMoved = p.maybeIncrementLeaderHWLocked(fetchTimeMs)
		p.mu.RUnlock()
	}
	return true, hwMoved, logStartMoved
}
