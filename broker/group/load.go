package group

// Coordinator failover (reference 05 §11): becoming leader of an offsets partition loads its groups and
// offsets from the log before the partition is served; resigning unloads them. Also the periodic
// expiration and the removal of deleted partitions' offsets.

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// OnElection is called when this broker becomes leader of offsets partition p with leader epoch epoch
// (LeaderAndIsr; Kafka's onElection). The partition answers COORDINATOR_LOAD_IN_PROGRESS until its log is
// loaded. Re-election while already leading only records the newer epoch: the cache is current.
func (c *Coordinator) OnElection(p, epoch int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.active {
		return
	}
	if o := c.owned[p]; o != nil {
		o.epoch = max(o.epoch, epoch)
		return
	}
	c.loadSeq++
	o := &ownership{epoch: epoch, loading: true, load: c.loadSeq}
	c.owned[p] = o
	c.log.WithFields(logrus.Fields{"partition": p, "leader_epoch": epoch}).Info("loading groups and offsets of an offsets partition")
	id := o.load
	c.spawn(func(ctx context.Context) { c.load(ctx, p, id) })
}

// OnResignation is called when this broker stops leading offsets partition p (LeaderAndIsr making it a
// follower, StopReplica). epoch -1 resigns unconditionally; an older epoch than the election's is ignored
// (a stale message). The partition's groups go Dead: parked joins and syncs are answered NOT_COORDINATOR
// and later requests find the partition not owned (NOT_COORDINATOR).
func (c *Coordinator) OnResignation(p, epoch int32) {
	c.mu.Lock()
	o := c.owned[p]
	if o != nil && epoch >= 0 && epoch < o.epoch {
		c.mu.Unlock()
		return
	}
	delete(c.owned, p)
	var gone []*group
	for id, g := range c.groups {
		if g.partition == p {
			gone = append(gone, g)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	if o != nil {
		c.log.WithFields(logrus.Fields{"partition": p, "groups": len(gone)}).Info("unloading groups of an offsets partition")
	}
	for _, g := range gone {
		g.box.post(func() { g.unload(kerr.NotCoordinator.Code) })
	}
}

// HandleDeletedPartitions removes every group's offsets of deleted partitions (UpdateMetadata with leader
// -2, a topic deletion), writing tombstones.
func (c *Coordinator) HandleDeletedPartitions(tps []TopicPartition) {
	if len(tps) == 0 {
		return
	}
	deleted := make(map[TopicPartition]bool, len(tps))
	for _, tp := range tps {
		deleted[tp] = true
	}
	for _, g := range c.snapshotGroups() {
		g.box.post(func() { g.removePartitions(deleted) })
	}
}

func (c *Coordinator) snapshotGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	return out
}

// scheduleExpiryLocked arms the next retention pass.
func (c *Coordinator) scheduleExpiryLocked() {
	c.expiry = c.clock.AfterFunc(c.cfg.RetentionCheckInterval, func() {
		c.mu.Lock()
		if !c.active {
			c.mu.Unlock()
			return
		}
		c.scheduleExpiryLocked()
		c.mu.Unlock()
		for _, g := range c.snapshotGroups() {
			g.box.post(g.expire)
		}
	})
}

// loadedGroup is what the log holds for one group.
type loadedGroup struct {
	value      *GroupValue // nil: no metadata (offsets only) or a tombstone
	offsets    map[TopicPartition]commitRecord
	pendingTxn map[int64]map[TopicPartition]commitRecord
}

// load reads partition p and installs its groups, unless the partition was resigned (or re-elected)
// meanwhile. As in Kafka a failed read still ends the loading state (logged), so the partition is served
// with what was read.
func (c *Coordinator) load(ctx context.Context, p int32, id uint64) {
	start := time.Now()
	groups, err := c.readPartition(ctx, p)
	lg := c.log.WithField("partition", p)
	if err != nil {
		lg.WithError(err).Error("loading offsets partition failed; serving what was read")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.owned[p]
	if o == nil || o.load != id || !c.active {
		return
	}
	for gid, lgp := range groups {
		if _, ok := c.groups[gid]; ok {
			continue
		}
		g := newGroup(c, gid, p)
		g.restore(lgp)
		for pid := range lgp.pendingTxn {
			c.noteOpenTxnLocked(pid, gid)
		}
		c.startGroupLocked(g)
		g.box.post(g.onLoaded)
	}
	o.loading = false
	lg.WithFields(logrus.Fields{"groups": len(groups), "duration_ms": time.Since(start).Milliseconds()}).
		Info("finished loading offsets partition")
}

// readPartition replays the partition from its log start to its end (rereading the end each round, so a
// record appended meanwhile is not missed): the last record per key wins, a tombstone removes; offsets
// in transactional batches are held per producer until its COMMIT marker (ABORT drops them).
func (c *Coordinator) readPartition(ctx context.Context, p int32) (map[string]*loadedGroup, error) {
	l, ok := c.parts.Log(p)
	if !ok {
		return nil, fmt.Errorf("no local log for %s-%d", TopicName, p)
	}
	groups := map[string]*loadedGroup{}
	get := func(id string) *loadedGroup {
		g := groups[id]
		if g == nil {
			g = &loadedGroup{offsets: map[TopicPartition]commitRecord{}, pendingTxn: map[int64]map[TopicPartition]commitRecord{}}
			groups[id] = g
		}
		return g
	}
	pendingByProducer := map[int64]map[string]bool{} // producer id → groups with pending transactional offsets
	if err := storage.ScanBatches(ctx, l, c.cfg.LoadBufferSize, func(b record.Batch) error {
		return c.replayBatch(b, get, pendingByProducer)
	}); err != nil {
		return groups, err
	}
	for id, g := range groups {
		if g.value == nil && len(g.offsets) == 0 && len(g.pendingTxn) == 0 {
			delete(groups, id)
		}
	}
	return groups, nil
}

func (c *Coordinator) replayBatch(b record.Batch, get func(string) *loadedGroup, pendingByProducer map[int64]map[string]bool) error {
	if b.IsControl() {
		return b.Records(0, func(r record.Record) error {
			commit, ok := controlType(r.Key)
			if !ok {
				return nil
			}
			pid := b.ProducerID()
			for gid := range pendingByProducer[pid] {
				g := get(gid)
				if commit {
					for tp, cr := range g.pendingTxn[pid] {
						if cur, ok := g.offsets[tp]; !ok || cur.appendedAt < cr.appendedAt {
							g.offsets[tp] = cr
						}
					}
				}
				delete(g.pendingTxn, pid)
			}
			delete(pendingByProducer, pid)
			return nil
		})
	}
	txn := b.IsTransactional()
	base := b.BaseOffset()
	return b.Records(0, func(r record.Record) error {
		if r.Key == nil {
			return fmt.Errorf("%w: record without a key at batch offset %d", ErrMalformed, base)
		}
		k, err := DecodeKey(r.Key)
		if err != nil {
			c.log.WithError(err).WithField("offset", base+int64(r.OffsetDelta)).Warn("skipping an unreadable record key")
			return nil
		}
		g := get(k.Group)
		if !k.IsOffset() {
			if r.Value == nil {
				g.value = nil
				return nil
			}
			v, _, err := DecodeGroupValue(r.Value)
			if err != nil {
				return err
			}
			g.value = &v
			return nil
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		target := g.offsets
		if txn {
			pid := b.ProducerID()
			if g.pendingTxn[pid] == nil {
				g.pendingTxn[pid] = map[TopicPartition]commitRecord{}
			}
			if pendingByProducer[pid] == nil {
				pendingByProducer[pid] = map[string]bool{}
			}
			pendingByProducer[pid][k.Group] = true
			target = g.pendingTxn[pid]
		}
		if r.Value == nil {
			delete(target, tp)
			return nil
		}
		v, err := DecodeOffsetValue(r.Value)
		if err != nil {
			return err
		}
		target[tp] = commitRecord{offset: v, appendedAt: base}
		return nil
	})
}

// controlType reads a control record key (version int16, type int16): ABORT 0, COMMIT 1.
func controlType(key []byte) (commit, ok bool) {
	if len(key) < 4 {
		return false, false
	}
	switch binary.BigEndian.Uint16(key[2:]) {
	case 0:
		return false, true
	case 1:
		return true, true
	}
	return false, false
}

// restore sets a new group's state from the log: Stable with members, else Empty (GroupMetadata.loadGroup).
func (g *group) restore(l *loadedGroup) {
	g.offsets = l.offsets
	g.pendingTxn = l.pendingTxn
	v := l.value
	if v == nil {
		g.publish()
		return
	}
	g.generation = v.Generation
	if v.ProtocolType != "" {
		pt := v.ProtocolType
		g.protocolType = &pt
	}
	g.protocolName, g.leaderID = v.Protocol, v.Leader
	g.stateTimestamp = v.CurrentStateTimestamp
	if len(v.Members) > 0 {
		g.state = stateStable
		for _, mv := range v.Members {
			m := &member{id: mv.MemberID, instanceID: mv.InstanceID, clientID: mv.ClientID, clientHost: mv.ClientHost,
				rebalanceTimeoutMs: mv.RebalanceTimeout, sessionTimeoutMs: mv.SessionTimeout,
				protocolType: v.ProtocolType, assignment: mv.Assignment}
			if v.Protocol != nil {
				m.protocols = []protocol{{name: *v.Protocol, metadata: mv.Subscription}}
			}
			g.members[m.id] = m
			g.order = append(g.order, m.id)
			for _, p := range m.protocols {
				g.protoCount[p.name]++
			}
			if m.instanceID != nil {
				g.static[*m.instanceID] = m.id
			}
		}
		if g.leaderID != nil && !g.has(*g.leaderID) {
			id := g.order[0]
			g.leaderID = &id
		}
	} else {
		g.state = stateEmpty
		g.protocolName, g.leaderID = nil, nil
	}
	g.computeSubscribed()
	g.publish()
}

// onLoaded is GroupCoordinator.onGroupLoaded: every member's session starts now; a group above
// group.max.size (the setting shrank) rebalances so the excess members are shed.
func (g *group) onLoaded() {
	g.log.WithFields(logrus.Fields{"generation": g.generation, "state": g.state.String(), "members": len(g.members),
		"offsets": len(g.offsets)}).Info("loaded group")
	for _, m := range g.members {
		g.completeAndScheduleNextHeartbeat(m)
	}
	if len(g.members) > g.c.cfg.MaxSize {
		g.prepareRebalance("loaded group is over group.max.size")
	}
}
