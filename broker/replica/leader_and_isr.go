package replica

import (
	"errors"
	"net"
	"slices"
	"strconv"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// lairPartition is one partition state of a LeaderAndIsr request, whatever its version's layout.
type lairPartition struct {
	topic   string
	topicID [16]byte
	st      *kmsg.LeaderAndISRRequestTopicPartition
	err     int16
}

// flattenLeaderAndISR lists the partition states: v0-1 carry them ungrouped with the topic in each, v2+
// grouped by topic.
func flattenLeaderAndISR(req *kmsg.LeaderAndISRRequest) []lairPartition {
	var out []lairPartition
	if req.Version < 2 {
		for i := range req.PartitionStates {
			st := &req.PartitionStates[i]
			out = append(out, lairPartition{topic: st.Topic, st: st})
		}
		return out
	}
	for i := range req.TopicStates {
		ts := &req.TopicStates[i]
		for j := range ts.PartitionStates {
			out = append(out, lairPartition{topic: ts.Topic, topicID: ts.TopicID, st: &ts.PartitionStates[j]})
		}
	}
	return out
}

// BecomeLeaderOrFollower applies a LeaderAndIsr request from the controller (any version 0-5) as Kafka 2.8's
// ReplicaManager.becomeLeaderOrFollower does (reference 02 §10.1, 03 §2):
//   - a controller epoch older than the newest seen: STALE_CONTROLLER_EPOCH for the request and every
//     partition, nothing applied;
//   - per partition, a leader epoch not newer than the local one: STALE_CONTROLLER_EPOCH (ignored); newer but
//     this broker not in the replicas: UNKNOWN_TOPIC_OR_PARTITION;
//   - accepted partitions become leader (leader == this broker) or follower, creating the log with
//     topicConfig(topic) and the HW from the checkpoint; a log that cannot be created: KAFKA_STORAGE_ERROR.
//
// The broker epoch (STALE_BROKER_EPOCH) is the handler's check. Topic ids are echoed, not checked against a
// partition.metadata file (Samsa keeps none).
func (m *Manager) BecomeLeaderOrFollower(req *kmsg.LeaderAndISRRequest, topicConfig func(topic string) storage.Config) *kmsg.LeaderAndISRResponse {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	parts := flattenLeaderAndISR(req)
	lg := m.log.WithFields(logrus.Fields{"component": "state_change", "controller_id": req.ControllerID, "controller_epoch": req.ControllerEpoch})
	if cur := m.controllerEpoch.Load(); req.ControllerEpoch < cur {
		lg.WithField("latest_controller_epoch", cur).Warn("ignoring LeaderAndIsr from an old controller")
		for i := range parts {
			parts[i].err = kerr.StaleControllerEpoch.Code
		}
		return leaderAndISRResponse(req, parts, kerr.StaleControllerEpoch.Code)
	}
	m.controllerEpoch.Store(req.ControllerEpoch)
	if req.BrokerEpoch > m.brokerEpoch.Load() {
		m.brokerEpoch.Store(req.BrokerEpoch) // what the controller checks our AlterIsr requests against
	}

	var accepted []int // indexes into parts
	for i := range parts {
		lp := &parts[i]
		tp := storage.TopicPartition{Topic: lp.topic, Partition: lp.st.Partition}
		cur := int32(-1)
		if p, ok := m.Partition(tp); ok {
			cur = p.LeaderEpoch()
		}
		switch {
		case lp.st.LeaderEpoch <= cur:
			lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader_epoch": lp.st.LeaderEpoch,
				"current_leader_epoch": cur}).Info("ignoring LeaderAndIsr partition state: leader epoch not newer")
			lp.err = kerr.StaleControllerEpoch.Code
		case !slices.Contains(lp.st.Replicas, m.brokerID):
			lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "replicas": lp.st.Replicas}).
				Warn("ignoring LeaderAndIsr partition state: this broker is not an assigned replica")
			lp.err = kerr.UnknownTopicOrPartition.Code
		default:
			accepted = append(accepted, i)
		}
	}

	// Partitions becoming leader stop fetching before their state changes (ReplicaManager.makeLeaders).
	var leading []storage.TopicPartition
	for _, i := range accepted {
		if parts[i].st.Leader == m.brokerID {
			leading = append(leading, storage.TopicPartition{Topic: parts[i].topic, Partition: parts[i].st.Partition})
		}
	}
	m.fetchers.removeFetcherForPartitions(leading)
	liveLeaders := map[int32]string{}
	for _, ll := range req.LiveLeaders {
		liveLeaders[ll.BrokerID] = net.JoinHostPort(ll.Host, strconv.Itoa(int(ll.Port)))
	}

	checkpoint := m.lazyHighWatermarks()
	now := m.now()
	var touched []storage.TopicPartition
	var hwMoved []bool
	follow := map[storage.TopicPartition]initialFetch{}
	var newFollowers []storage.TopicPartition
	created := map[storage.TopicPartition]*Partition{}
	for _, i := range accepted {
		lp := &parts[i]
		tp := storage.TopicPartition{Topic: lp.topic, Partition: lp.st.Partition}
		p, ok := m.Partition(tp)
		if !ok {
			p = newPartition(m, tp)
		}
		p.SetMinInsyncReplicas(m.cfg.minInsyncReplicas(tp.Topic))
		create := func() (*storage.Log, error) { return m.logs.GetOrCreateLog(tp, topicConfig(tp.Topic)) }
		hw := func() (int64, bool) { return checkpoint(tp) }
		st := leaderState{
			ControllerEpoch: lp.st.ControllerEpoch, Leader: lp.st.Leader, LeaderEpoch: lp.st.LeaderEpoch,
			ISR: lp.st.ISR, ZKVersion: lp.st.ZKVersion, Replicas: lp.st.Replicas,
			Adding: lp.st.AddingReplicas, Removing: lp.st.RemovingReplicas,
		}
		if m.alterISR != nil {
			m.alterISR.clearPending(tp) // the controller's state replaces any ISR change in flight
		}
		addr, alive := m.leaderEndpoint(st.Leader, liveLeaders)
		var err error
		switch {
		case st.Leader == m.brokerID:
			var moved bool
			_, moved, err = p.makeLeader(st, create, hw, now)
			if err == nil {
				touched, hwMoved = append(touched, tp), append(hwMoved, moved)
			}
		case !alive:
			lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader}).
				Error("cannot become follower: the leader is not alive; only creating the log")
			err = p.createLogOnly(create, hw)
		default:
			var changed bool
			changed, err = p.makeFollower(st, create, hw)
			if err == nil && changed {
				// Waiting produces and fetches on a former leader answer NOT_LEADER_OR_FOLLOWER now.
				touched, hwMoved = append(touched, tp), append(hwMoved, true)
				newFollowers = append(newFollowers, tp)
				if addr == "" {
					lg.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader": st.Leader}).
						Error("no inter-broker endpoint known for the leader: not fetching")
					break
				}
				follow[tp] = initialFetch{leader: st.Leader, addr: addr, leaderEpoch: st.LeaderEpoch, offset: p.Log().HighWatermark()}
			}
		}
		if err != nil {
			lg.WithError(err).WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Error("LeaderAndIsr partition state failed")
			lp.err = kerr.KafkaStorageError.Code
			if !errors.Is(err, storage.ErrStorage) {
				lp.err = kerr.UnknownServerError.Code
			}
			continue
		}
		if !ok {
			created[tp] = p
		}
	}
	if len(created) > 0 {
		m.setPartitionsLocked(func(next map[storage.TopicPartition]*Partition) {
			for tp, p := range created {
				next[tp] = p
			}
		})
	}
	m.hwCheckpointing.Store(true)
	for i, tp := range touched {
		m.tryCompleteDelayed(tp, hwMoved[i])
	}
	// New followers: stop any fetching from the previous leader first, then fetch from the new one, starting
	// with truncation (ReplicaManager.makeFollowers). A broker shutting down adds none.
	m.fetchers.removeFetcherForPartitions(newFollowers)
	m.fetchers.addFetcherForPartitions(follow)
	m.fetchers.shutdownIdleFetchers()
	return leaderAndISRResponse(req, parts, 0)
}

// leaderEndpoint resolves a leader's inter-broker endpoint: from the request's LiveLeaders, else from the
// metadata cache. alive follows Kafka's makeFollowers check (the metadata cache's live brokers), widened
// to leaders the controller listed as live in this very request.
func (m *Manager) leaderEndpoint(leader int32, liveLeaders map[int32]string) (addr string, alive bool) {
	addr, listed := liveLeaders[leader]
	if !listed && m.cfg.BrokerEndpoint != nil {
		addr, _ = m.cfg.BrokerEndpoint(leader)
	}
	alive = listed || m.cfg.LeaderAlive == nil || m.cfg.LeaderAlive(leader)
	return addr, alive
}

// lazyHighWatermarks reads the HW checkpoints at most once per request, and only if a log is created
// (Kafka's LazyOffsetCheckpoints). An unreadable file counts as empty: HWs start at the log start offset,
// which only delays consumers until replication moves them again.
func (m *Manager) lazyHighWatermarks() func(tp storage.TopicPartition) (int64, bool) {
	var (
		read bool
		hws  map[storage.TopicPartition]int64
	)
	return func(tp storage.TopicPartition) (int64, bool) {
		if !read {
			read = true
			var err error
			if hws, err = m.logs.ReadHighWatermarks(); err != nil {
				m.log.WithError(err).Warn("unreadable high watermark checkpoint; starting from the log start offsets")
			}
		}
		hw, ok := hws[tp]
		return hw, ok
	}
}

// leaderAndISRResponse answers every partition of the request in its order: v0-4 list partitions with their
// topic names, v5 groups them by topic id.
func leaderAndISRResponse(req *kmsg.LeaderAndISRRequest, parts []lairPartition, code int16) *kmsg.LeaderAndISRResponse {
	resp := req.ResponseKind().(*kmsg.LeaderAndISRResponse)
	resp.ErrorCode = code
	for _, lp := range parts {
		pe := kmsg.NewLeaderAndISRResponseTopicPartition()
		pe.Topic, pe.Partition, pe.ErrorCode = lp.topic, lp.st.Partition, lp.err
		if req.Version < 5 {
			resp.Partitions = append(resp.Partitions, pe)
			continue
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].TopicID != lp.topicID {
			t := kmsg.NewLeaderAndISRResponseTopic()
			t.TopicID = lp.topicID
			resp.Topics = append(resp.Topics, t)
		}
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, pe)
	}
	return resp
}

// stopPartition is one partition of a StopReplica request.
type stopPartition struct {
	tp          storage.TopicPartition
	leaderEpoch int32
	delete      bool
	err         int16
}

// Leader epoch sentinels of StopReplica v3 (LeaderAndIsr.EpochDuringDelete, NoEpoch).
const (
	epochDuringDelete = -2
	noEpoch           = -1
)

func flattenStopReplica(req *kmsg.StopReplicaRequest) []stopPartition {
	var out []stopPartition
	for _, t := range req.Topics {
		switch {
		case req.Version == 0:
			out = append(out, stopPartition{tp: storage.TopicPartition{Topic: t.Topic, Partition: t.Partition}, leaderEpoch: noEpoch, delete: req.DeletePartitions})
		case req.Version < 3:
			for _, p := range t.Partitions {
				out = append(out, stopPartition{tp: storage.TopicPartition{Topic: t.Topic, Partition: p}, leaderEpoch: noEpoch, delete: req.DeletePartitions})
			}
		default:
			for _, ps := range t.PartitionStates {
				out = append(out, stopPartition{tp: storage.TopicPartition{Topic: t.Topic, Partition: ps.Partition}, leaderEpoch: ps.LeaderEpoch, delete: ps.Delete})
			}
		}
	}
	return out
}

// StopReplicas applies a StopReplica request (any version 0-3) as Kafka 2.8's ReplicaManager.stopReplicas
// (reference 02 §10.3): a stale controller epoch answers STALE_CONTROLLER_EPOCH with no partitions; a leader
// epoch of -2 (topic deletion), -1 (none given) or newer than the local one stops the partition, an older or
// equal one is FENCED_LEADER_EPOCH; with delete the partition is dropped and its log deleted (also when the
// partition is not hosted, for logs left from before a restart). Delayed operations on stopped partitions are
// re-checked so they answer at once.
func (m *Manager) StopReplicas(req *kmsg.StopReplicaRequest) *kmsg.StopReplicaResponse {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	resp := req.ResponseKind().(*kmsg.StopReplicaResponse)
	lg := m.log.WithFields(logrus.Fields{"component": "state_change", "controller_id": req.ControllerID, "controller_epoch": req.ControllerEpoch})
	if cur := m.controllerEpoch.Load(); req.ControllerEpoch < cur {
		lg.WithField("latest_controller_epoch", cur).Warn("ignoring StopReplica from an old controller")
		resp.ErrorCode = kerr.StaleControllerEpoch.Code
		return resp
	}
	m.controllerEpoch.Store(req.ControllerEpoch)
	parts := flattenStopReplica(req)
	var stop []*stopPartition
	for i := range parts {
		sp := &parts[i]
		p, ok := m.Partition(sp.tp)
		if !ok {
			stop = append(stop, sp)
			continue
		}
		cur := p.LeaderEpoch()
		if sp.leaderEpoch == epochDuringDelete || sp.leaderEpoch == noEpoch || sp.leaderEpoch > cur {
			stop = append(stop, sp)
			continue
		}
		lg.WithFields(logrus.Fields{"topic": sp.tp.Topic, "partition": sp.tp.Partition, "leader_epoch": sp.leaderEpoch,
			"current_leader_epoch": cur}).Info("ignoring StopReplica: leader epoch not newer")
		sp.err = kerr.FencedLeaderEpoch.Code
	}
	// Fetchers stop first: they look partitions up in the manager (ReplicaManager.stopPartitions).
	stopTPs := make([]storage.TopicPartition, 0, len(stop))
	for _, sp := range stop {
		stopTPs = append(stopTPs, sp.tp)
	}
	m.fetchers.removeFetcherForPartitions(stopTPs)
	defer m.fetchers.shutdownIdleFetchers()
	var deleted []*Partition
	m.setPartitionsLocked(func(next map[storage.TopicPartition]*Partition) {
		for _, sp := range stop {
			if p, ok := next[sp.tp]; ok && sp.delete {
				delete(next, sp.tp)
				deleted = append(deleted, p)
			}
		}
	})
	for _, p := range deleted {
		p.delete()
	}
	for _, sp := range stop {
		if sp.delete {
			if err := m.logs.DeleteLog(sp.tp); err != nil {
				lg.WithError(err).WithFields(logrus.Fields{"topic": sp.tp.Topic, "partition": sp.tp.Partition}).Error("deleting log failed")
				sp.err = kerr.KafkaStorageError.Code
				if !errors.Is(err, storage.ErrStorage) {
					sp.err = kerr.UnknownServerError.Code
				}
			}
		}
		lg.WithFields(logrus.Fields{"topic": sp.tp.Topic, "partition": sp.tp.Partition, "delete": sp.delete}).Info("stopped replica")
		m.tryCompleteDelayed(sp.tp, true)
	}
	for _, sp := range parts {
		pe := kmsg.NewStopReplicaResponsePartition()
		pe.Topic, pe.Partition, pe.ErrorCode = sp.tp.Topic, sp.tp.Partition, sp.err
		resp.Partitions = append(resp.Partitions, pe)
	}
	return resp
}
