package broker

// Metadata, v0–v11 (Kafka 2.8's range).
//
// Answered from this broker's metadata cache (fed by the controller's UpdateMetadata). Brokers are the live
// brokers with an endpoint on the listener the request arrived on. Topics null (v1+) or empty (v0) means all
// topics; auto-creation (auto.create.topics.enable and, v4+, AllowAutoTopicCreation) happens only for named
// unknown topics with legal names, answering LEADER_NOT_AVAILABLE while the controller sets them up, as
// Kafka does. A partition whose leader is not alive is LEADER_NOT_AVAILABLE with leader -1; a live leader
// lacking the listener is LISTENER_NOT_FOUND (v6+). v0 filters replicas and ISR to live brokers
// (REPLICA_NOT_AVAILABLE if any were dropped). Authorized operations are not computed (no authorizer):
// the fields keep Kafka's "not requested" value. Lookups by topic id (v10+) are not served by a 2.8 broker
// either: such entries get UNKNOWN_TOPIC_ID.

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
)

func handleMetadata(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	snap := b.meta.Snapshot()
	listener := r.Conn.Listener()

	for _, br := range snap.Brokers {
		ep, ok := br.Endpoint(listener)
		if !ok {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = br.ID, ep.Host, ep.Port, br.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	resp.ClusterID = &b.clusterID
	resp.ControllerID = snap.ControllerID

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if allTopics {
		for _, name := range snap.TopicNames() {
			resp.Topics = append(resp.Topics, metadataTopic(req.Version, snap, snap.Topics[name], listener))
		}
		return Response{Msg: resp}, nil
	}
	autoCreate := b.cfg.AutoCreateTopicsEnable && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			t := kmsg.NewMetadataResponseTopic()
			t.TopicID, t.ErrorCode = rt.TopicID, kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, t)
			continue
		}
		name := *rt.Topic
		if topic, ok := snap.Topics[name]; ok {
			resp.Topics = append(resp.Topics, metadataTopic(req.Version, snap, topic, listener))
			continue
		}
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = &name
		t.IsInternal = isInternalTopic(name)
		t.ErrorCode = b.unknownTopicCode(name, autoCreate)
		resp.Topics = append(resp.Topics, t)
	}
	return Response{Msg: resp}, nil
}

// unknownTopicCode answers a Metadata request for a topic missing from the cache, auto-creating it when
// allowed (Kafka's KafkaApis.getTopicMetadata / createTopic).
func (b *Broker) unknownTopicCode(name string, autoCreate bool) int16 {
	if err := validateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code
	}
	if !autoCreate {
		return kerr.UnknownTopicOrPartition.Code
	}
	spec := topicSpec{name: name, partitions: -1, rf: -1}
	err := b.prepareTopic(&spec)
	if err == nil {
		err = b.createTopic(spec)
	}
	switch {
	case err == nil:
		b.log.WithFields(logrus.Fields{"topic": name, "partitions": spec.partitions}).Info("auto-created topic")
	case errors.Is(err, kerr.TopicAlreadyExists):
		// created concurrently (another client or broker): the controller is setting it up
	case errors.Is(err, kerr.InvalidReplicationFactor):
		// Kafka answers INVALID_REPLICATION_FACTOR when there are fewer live brokers than the default RF
		return kerr.InvalidReplicationFactor.Code
	default:
		b.log.WithError(err).WithField("topic", name).Warn("auto-creating topic failed")
		return errorCode(b.log, err)
	}
	return kerr.LeaderNotAvailable.Code
}

// metadataTopic describes one cached topic for a Metadata response of the given version.
func metadataTopic(version int16, snap *metadata.Snapshot, t *metadata.Topic, listener string) kmsg.MetadataResponseTopic {
	rt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	rt.Topic = &name
	rt.TopicID = t.ID
	rt.IsInternal = isInternalTopic(t.Name)
	for _, p := range t.Partitions {
		rp := kmsg.NewMetadataResponseTopicPartition()
		rp.Partition, rp.Leader, rp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		rp.Replicas, rp.ISR, rp.OfflineReplicas = p.Replicas, p.ISR, p.OfflineReplicas
		if rp.Replicas == nil {
			rp.Replicas = []int32{}
		}
		if rp.ISR == nil {
			rp.ISR = []int32{}
		}
		leader, alive := snap.Broker(p.Leader)
		switch {
		case !alive:
			rp.ErrorCode, rp.Leader = kerr.LeaderNotAvailable.Code, -1
		default:
			if _, ok := leader.Endpoint(listener); !ok {
				rp.ErrorCode, rp.Leader = kerr.LeaderNotAvailable.Code, -1
				if version >= 6 {
					rp.ErrorCode = kerr.ListenerNotFound.Code
				}
			}
		}
		if version == 0 {
			var dropped bool
			rp.Replicas, dropped = liveWithListener(snap, rp.Replicas, listener)
			var droppedISR bool
			rp.ISR, droppedISR = liveWithListener(snap, rp.ISR, listener)
			if (dropped || droppedISR) && rp.ErrorCode == 0 {
				rp.ErrorCode = kerr.ReplicaNotAvailable.Code
			}
		}
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

// liveWithListener keeps the brokers that are alive and have the listener (Metadata v0's filtering).
func liveWithListener(snap *metadata.Snapshot, ids []int32, listener string) ([]int32, bool) {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if br, ok := snap.Broker(id); ok {
			if _, ok := br.Endpoint(listener); ok {
				out = append(out, id)
			}
		}
	}
	return out, len(out) != len(ids)
}
