package replica

import (
	"context"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ISR changes on the leader (Kafka 2.8's Partition.maybeExpandIsr, maybeShrinkIsr and their AlterIsr
// callbacks, reference 03 §5). Proposals go to the alterISRManager; the committed ISR changes only when the
// controller's answer arrives.

// needsExpandISRLocked is Partition.needsExpandIsr: no change in flight, the follower is not in the ISR, and
// its LEO reached both the HW and the offset at which this leader's epoch began. The caller holds mu.
func (p *Partition) needsExpandISRLocked(followerID int32) bool {
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() || p.isr.pending != nil || p.m.alterISR == nil || slices.Contains(p.isr.isr, followerID) {
		return false
	}
	p.hwMu.Lock()
	r, ok := p.remotes[followerID]
	leo := int64(-1)
	if ok {
		leo = r.leo
	}
	p.hwMu.Unlock()
	return ok && leo >= l.HighWatermark() && p.leaderEpochStartOffset >= 0 && leo >= p.leaderEpochStartOffset
}

// maybeExpandISR proposes ISR + follower (PendingExpand), re-checking under the write lock.
func (p *Partition) maybeExpandISR(followerID int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.needsExpandISRLocked(followerID) {
		return
	}
	newISR := append(slices.Clone(p.isr.isr), followerID)
	p.log.WithFields(logrus.Fields{"component": "state_change", "isr": p.isr.isr, "new_isr": newISR, "replica": followerID,
		"leader_epoch": p.leaderEpoch, "high_watermark": p.storageLog.HighWatermark()}).Info("expanding ISR")
	p.proposeISRLocked(&isrProposal{expand: true, changed: []int32{followerID}, newISR: newISR})
}

// outOfSyncReplicasLocked is Partition.getOutOfSyncReplicas: ISR followers whose LEO differs from the
// leader's and that have not caught up for replica.lag.time.max.ms. Nothing while a change is in flight.
func (p *Partition) outOfSyncReplicasLocked(nowMs int64) []int32 {
	l := p.storageLog
	if l == nil || !p.isLeaderLocked() || p.isr.pending != nil || p.m.alterISR == nil {
		return nil
	}
	leo := l.LogEndOffset()
	lag := p.m.cfg.ReplicaLagTimeMaxMs
	var out []int32
	p.hwMu.Lock()
	defer p.hwMu.Unlock()
	for _, id := range p.isr.isr {
		if id == p.brokerID {
			continue
		}
		r, ok := p.remotes[id]
		if !ok || (r.leo != leo && nowMs-r.lastCaughtUpTimeMs > lag) {
			out = append(out, id)
		}
	}
	return out
}

// maybeShrinkISR is Partition.maybeShrinkIsr: it proposes ISR - out-of-sync followers (PendingShrink) and
// tries to advance the HW. It reports whether the HW moved (the caller then completes delayed operations).
func (p *Partition) maybeShrinkISR(nowMs int64) (hwMoved bool) {
	p.mu.RLock()
	out := p.outOfSyncReplicasLocked(nowMs)
	p.mu.RUnlock()
	if len(out) == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if out = p.outOfSyncReplicasLocked(nowMs); len(out) == 0 {
		return false
	}
	newISR := slices.DeleteFunc(slices.Clone(p.isr.isr), func(id int32) bool { return slices.Contains(out, id) })
	fields := logrus.Fields{"component": "state_change", "isr": p.isr.isr, "new_isr": newISR, "out_of_sync": out,
		"leader_epoch": p.leaderEpoch, "log_end_offset": p.storageLog.LogEndOffset(), "high_watermark": p.storageLog.HighWatermark()}
	p.hwMu.Lock()
	lagging := make(map[int32]logrus.Fields, len(out))
	for _, id := range out {
		if r, ok := p.remotes[id]; ok {
			lagging[id] = logrus.Fields{"log_end_offset": r.leo, "caught_up_ms_ago": nowMs - r.lastCaughtUpTimeMs}
		}
	}
	p.hwMu.Unlock()
	fields["followers"] = lagging
	p.log.WithFields(fields).Info("shrinking ISR")
	p.proposeISRLocked(&isrProposal{changed: out, newISR: newISR})
	// The ISR may be down to the leader: the HW may move (it does once the shrink is committed, see
	// handleAlterISRResult, since a pending shrink keeps the old ISR as the maximal one).
	return p.maybeIncrementLeaderHWLocked(nowMs)
}

// proposeISRLocked submits prop to the AlterIsr manager and, if accepted, enters the pending state
// (Partition.sendAlterIsrRequest). The caller holds mu for writing.
func (p *Partition) proposeISRLocked(prop *isrProposal) {
	item := &alterISRItem{
		tp: p.tp, leaderEpoch: p.leaderEpoch, isr: slices.Clone(prop.newISR), zkVersion: p.zkVersion,
		done: func(res alterISRResult) { p.handleAlterISRResult(prop, res) },
	}
	if !p.m.alterISR.submit(item) {
		p.log.WithField("new_isr", prop.newISR).Debug("an ISR update is already queued; not proposing another")
		return
	}
	maximal := p.isr.isr
	if prop.expand {
		maximal = append(slices.Clone(p.isr.isr), prop.changed...)
	}
	p.isr = isrState{isr: p.isr.isr, maximal: maximal, pending: prop}
}

// handleAlterISRResult is Partition.handleAlterIsrResponse, run by the AlterIsr manager's goroutine with no
// lock held. An answer for a proposal that a LeaderAndIsr has since replaced is ignored.
func (p *Partition) handleAlterISRResult(prop *isrProposal, res alterISRResult) {
	hwMoved := false
	func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.isr.pending != prop {
			p.log.WithField("proposed_isr", prop.newISR).Debug("ignoring AlterIsr answer for a replaced ISR state")
			return
		}
		lg := p.log.WithFields(logrus.Fields{"component": "state_change", "proposed_isr": prop.newISR, "leader_epoch": p.leaderEpoch,
			"zk_version": p.zkVersion})
		if res.err != nil {
			switch res.err {
			case kerr.UnknownTopicOrPartition, kerr.FencedLeaderEpoch, kerr.InvalidUpdateVersion:
				// Our view is stale: stay pending, so nothing else is proposed, until the controller's next
				// LeaderAndIsr replaces the state.
				lg.WithField("error", res.err.Message).Info("ISR update refused by the controller; waiting for LeaderAndIsr")
			default:
				lg.WithField("error", res.err.Message).Warn("ISR update failed; retrying")
				p.isr.pending = nil
				p.proposeISRLocked(prop)
			}
			return
		}
		switch {
		case res.leaderEpoch != p.leaderEpoch:
			lg.WithField("answer_leader_epoch", res.leaderEpoch).Info("ignoring AlterIsr answer with another leader epoch")
		case res.zkVersion <= p.zkVersion:
			lg.WithField("answer_zk_version", res.zkVersion).Info("ignoring AlterIsr answer with an old partition version")
		default:
			p.isr = committedISR(res.isr)
			p.zkVersion = res.zkVersion
			lg.WithFields(logrus.Fields{"isr": res.isr, "new_zk_version": res.zkVersion}).Info("ISR updated")
			// Kafka 2.8 waits for the next append or fetch to move the HW after a committed shrink; doing it now
			// lets an acks=-1 produce complete when the lagging follower no longer fetches at all.
			hwMoved = p.maybeIncrementLeaderHWLocked(p.m.now())
		}
	}()
	if hwMoved {
		p.m.tryCompleteDelayed(p.tp, true)
	}
}

// maybeShrinkISRs runs the shrink check on every partition (the isr-expiration task).
func (m *Manager) maybeShrinkISRs() {
	now := m.now()
	for _, p := range m.Partitions() {
		if p.maybeShrinkISR(now) {
			m.tryCompleteDelayed(p.tp, true)
		}
	}
}

// isrExpirationLoop is ReplicaManager's isr-expiration task: every replica.lag.time.max.ms / 2, so a follower
// leaves the ISR between 1 and 1.5 times the lag time after it last caught up.
func (m *Manager) isrExpirationLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(time.Duration(max(m.cfg.ReplicaLagTimeMaxMs/2, 1)) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.maybeShrinkISRs()
		}
	}
}
