package controller

import (
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Request versions Kafka 2.8 sends at inter.broker.protocol.version 2.8-IV1 (reference 02 §10).
const (
	leaderAndIsrVersion   = 5 // topic ids, Type
	updateMetadataVersion = 7 // topic ids
	stopReplicaVersion    = 3 // per-partition leader epoch and delete flag
)

// Leader values with a meaning beyond a broker id (Kafka's LeaderAndIsr object).
const (
	leaderDuringDelete int32 = -2 // UpdateMetadata: the topic is being deleted, brokers drop the partition
	epochDuringDelete  int32 = -2 // StopReplica leader epoch for topics queued for deletion
	noEpoch            int32 = -1 // StopReplica leader epoch when the leadership is unknown
)

// requestBatch collects the requests of one state change and sends them at the end, per broker, in the
// order LeaderAndIsr, UpdateMetadata, StopReplica (Kafka's AbstractControllerBrokerRequestBatch). Entries are
// snapshots taken when added.
type requestBatch struct {
	lisr      map[int32]map[TopicPartition]lisrEntry
	umBrokers map[int32]bool
	umParts   map[TopicPartition]kmsg.UpdateMetadataRequestTopicPartition
	stop      map[int32]map[TopicPartition]kmsg.StopReplicaRequestTopicPartitionState
}

type lisrEntry struct {
	state            zkregistry.PartitionState
	replicas         []int32 // RS
	adding, removing []int32 // AR, RR: empty unless the partition is being reassigned
	isNew            bool
}

func newBatch() *requestBatch {
	return &requestBatch{
		lisr:      make(map[int32]map[TopicPartition]lisrEntry),
		umBrokers: make(map[int32]bool),
		umParts:   make(map[TopicPartition]kmsg.UpdateMetadataRequestTopicPartition),
		stop:      make(map[int32]map[TopicPartition]kmsg.StopReplicaRequestTopicPartitionState),
	}
}

// addLeaderAndIsr queues the partition's cached leadership for brokers, and, as Kafka does, UpdateMetadata
// for the partition to every live broker. isNew sticks once set within a batch.
func (c *Controller) addLeaderAndIsr(b *requestBatch, brokers []int32, tp TopicPartition, isNew bool) {
	st, ok := c.cc.leadership[tp]
	if !ok {
		return
	}
	for _, id := range brokers {
		if id < 0 {
			continue
		}
		m := b.lisr[id]
		if m == nil {
			m = make(map[TopicPartition]lisrEntry)
			b.lisr[id] = m
		}
		adding, removing := c.cc.reassignmentOf(tp)
		m[tp] = lisrEntry{state: st, replicas: slices.Clone(c.cc.assignment(tp)), adding: adding, removing: removing,
			isNew: isNew || m[tp].isNew}
	}
	c.addUpdateMetadata(b, c.cc.registeredIDs(), []TopicPartition{tp})
}

// addUpdateMetadata queues UpdateMetadata for brokers carrying tps (every recipient of a batch gets the same
// partitions). Partitions without leadership are skipped; those of topics queued for deletion go out with
// leader -2 (LeaderDuringDelete), leader epoch 0 and zkVersion 0, as Kafka's LeaderAndIsr.duringDelete.
func (c *Controller) addUpdateMetadata(b *requestBatch, brokers []int32, tps []TopicPartition) {
	for _, id := range brokers {
		b.umBrokers[id] = true
	}
	for _, tp := range tps {
		st, ok := c.cc.leadership[tp]
		if !ok {
			continue
		}
		a := c.cc.assignment(tp)
		p := kmsg.UpdateMetadataRequestTopicPartition{
			Partition: tp.Partition, ControllerEpoch: st.ControllerEpoch, Leader: st.Leader,
			LeaderEpoch: st.LeaderEpoch, ISR: slices.Clone(st.ISR), ZKVersion: st.ZKVersion,
			Replicas: slices.Clone(a), OfflineReplicas: offlineReplicas(a, c.cc.isLive),
		}
		if c.cc.isDeleting(tp.Topic) {
			p.Leader, p.LeaderEpoch, p.ZKVersion = leaderDuringDelete, 0, 0
		}
		b.umParts[tp] = p
	}
}

// addStopReplica queues StopReplica for broker. The leader epoch is -2 for topics queued for deletion, else
// the cached one (or -1), as Kafka sends it (KIP-570).
func (c *Controller) addStopReplica(b *requestBatch, broker int32, tp TopicPartition, deletePartition bool) {
	epoch := noEpoch
	if c.cc.isDeleting(tp.Topic) {
		epoch = epochDuringDelete
	} else if st, ok := c.cc.leadership[tp]; ok {
		epoch = st.LeaderEpoch
	}
	m := b.stop[broker]
	if m == nil {
		m = make(map[TopicPartition]kmsg.StopReplicaRequestTopicPartitionState)
		b.stop[broker] = m
	}
	m[tp] = kmsg.StopReplicaRequestTopicPartitionState{Partition: tp.Partition, LeaderEpoch: epoch, Delete: deletePartition}
}

func offlineReplicas(assignment []int32, live liveFunc) []int32 {
	out := []int32{}
	for _, r := range assignment {
		if !live(r) {
			out = append(out, r)
		}
	}
	return out
}

// sendBatch builds one request per broker and kind and queues them on the brokers' channels. Brokers that
// are not live get nothing (Kafka drops those requests too).
func (c *Controller) sendBatch(b *requestBatch) {
	for _, id := range sortedKeys(b.lisr) {
		if info, ok := c.cc.brokers[id]; ok {
			c.channels.send(id, c.leaderAndIsrRequest(info, b.lisr[id]))
		}
	}
	if len(b.umBrokers) > 0 {
		brokers := c.liveBrokersForMetadata()
		for _, id := range sortedKeys(b.umBrokers) {
			if info, ok := c.cc.brokers[id]; ok {
				c.channels.send(id, c.updateMetadataRequest(info, b.umParts, brokers))
			}
		}
	}
	for _, id := range sortedKeys(b.stop) {
		if info, ok := c.cc.brokers[id]; ok {
			c.channels.send(id, c.stopReplicaRequest(info, b.stop[id]))
		}
	}
}

// leaderAndIsrRequest builds LeaderAndIsr v5 for one broker (reference 02 §10.1).
func (c *Controller) leaderAndIsrRequest(to zkregistry.BrokerInfo, entries map[TopicPartition]lisrEntry) *kmsg.LeaderAndISRRequest {
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version = leaderAndIsrVersion
	req.ControllerID = c.cfg.BrokerID
	req.ControllerEpoch = c.cc.epoch
	req.BrokerEpoch = to.Epoch
	req.Type = 0 // Kafka 2.8 always sends 0
	leaders := make(map[int32]bool)
	tps := sortedTPKeys(entries)
	for i, tp := range tps {
		if i == 0 || tps[i-1].Topic != tp.Topic {
			req.TopicStates = append(req.TopicStates, kmsg.LeaderAndISRRequestTopicState{
				Topic: tp.Topic, TopicID: c.topicID(tp.Topic)})
		}
		e := entries[tp]
		ts := &req.TopicStates[len(req.TopicStates)-1]
		ts.PartitionStates = append(ts.PartitionStates, kmsg.LeaderAndISRRequestTopicPartition{
			Partition: tp.Partition, ControllerEpoch: e.state.ControllerEpoch, Leader: e.state.Leader,
			LeaderEpoch: e.state.LeaderEpoch, ISR: slices.Clone(e.state.ISR), ZKVersion: e.state.ZKVersion,
			Replicas: e.replicas, AddingReplicas: e.adding, RemovingReplicas: e.removing, IsNew: e.isNew,
		})
		leaders[e.state.Leader] = true
	}
	for _, id := range sortedKeys(leaders) {
		info, ok := c.cc.brokers[id]
		if !ok {
			continue
		}
		ep, ok := info.Endpoint(c.cfg.InterBrokerListener)
		if !ok {
			c.log.WithFields(logrus.Fields{"leader": id, "listener": c.cfg.InterBrokerListener}).
				Warn("leader has no inter-broker endpoint")
			continue
		}
		req.LiveLeaders = append(req.LiveLeaders, kmsg.LeaderAndISRRequestLiveLeader{BrokerID: id, Host: ep.Host, Port: ep.Port})
	}
	return req
}

// liveBrokersForMetadata lists every live broker with all its endpoints, for UpdateMetadata.
func (c *Controller) liveBrokersForMetadata() []kmsg.UpdateMetadataRequestLiveBroker {
	out := make([]kmsg.UpdateMetadataRequestLiveBroker, 0, len(c.cc.brokers))
	for _, id := range c.cc.registeredIDs() {
		info := c.cc.brokers[id]
		lb := kmsg.UpdateMetadataRequestLiveBroker{ID: id, Endpoints: []kmsg.UpdateMetadataRequestLiveBrokerEndpoint{}}
		if info.Rack != "" {
			rack := info.Rack
			lb.Rack = &rack
		}
		for _, ep := range info.Endpoints {
			proto, ok := securityProtocolID(ep.SecurityProtocol)
			if !ok {
				continue
			}
			lb.Endpoints = append(lb.Endpoints, kmsg.UpdateMetadataRequestLiveBrokerEndpoint{
				Port: ep.Port, Host: ep.Host, ListenerName: ep.Listener, SecurityProtocol: proto})
		}
		out = append(out, lb)
	}
	return out
}

// updateMetadataRequest builds UpdateMetadata v7 for one broker (reference 02 §10.2).
func (c *Controller) updateMetadataRequest(to zkregistry.BrokerInfo, parts map[TopicPartition]kmsg.UpdateMetadataRequestTopicPartition,
	brokers []kmsg.UpdateMetadataRequestLiveBroker) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = updateMetadataVersion
	req.ControllerID = c.cfg.BrokerID
	req.ControllerEpoch = c.cc.epoch
	req.BrokerEpoch = to.Epoch
	req.LiveBrokers = brokers
	req.TopicStates = []kmsg.UpdateMetadataRequestTopicState{}
	tps := sortedTPKeys(parts)
	for i, tp := range tps {
		if i == 0 || tps[i-1].Topic != tp.Topic {
			req.TopicStates = append(req.TopicStates, kmsg.UpdateMetadataRequestTopicState{
				Topic: tp.Topic, TopicID: c.topicID(tp.Topic)})
		}
		ts := &req.TopicStates[len(req.TopicStates)-1]
		ts.PartitionStates = append(ts.PartitionStates, parts[tp])
	}
	return req
}

// stopReplicaRequest builds StopReplica v3 for one broker (reference 02 §10.3).
func (c *Controller) stopReplicaRequest(to zkregistry.BrokerInfo, parts map[TopicPartition]kmsg.StopReplicaRequestTopicPartitionState) *kmsg.StopReplicaRequest {
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version = stopReplicaVersion
	req.ControllerID = c.cfg.BrokerID
	req.ControllerEpoch = c.cc.epoch
	req.BrokerEpoch = to.Epoch
	tps := sortedTPKeys(parts)
	for i, tp := range tps {
		if i == 0 || tps[i-1].Topic != tp.Topic {
			req.Topics = append(req.Topics, kmsg.StopReplicaRequestTopic{Topic: tp.Topic})
		}
		t := &req.Topics[len(req.Topics)-1]
		t.PartitionStates = append(t.PartitionStates, parts[tp])
	}
	return req
}

func (c *Controller) topicID(topic string) [16]byte {
	if t := c.cc.topics[topic]; t != nil {
		return t.id
	}
	return zkregistry.ZeroUUID
}

// securityProtocolID maps a security protocol name to Kafka's SecurityProtocol id.
func securityProtocolID(name string) (int16, bool) {
	switch name {
	case "PLAINTEXT":
		return 0, true
	case "SSL":
		return 1, true
	case "SASL_PLAINTEXT":
		return 2, true
	case "SASL_SSL":
		return 3, true
	}
	return 0, false
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortedTPKeys[V any](m map[TopicPartition]V) []TopicPartition {
	out := make([]TopicPartition, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortTPs(out)
	return out
}
