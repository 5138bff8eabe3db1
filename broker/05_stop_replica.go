package broker

// StopReplica, v0–v3 (Kafka 2.8's range; a 2.8 controller sends v3). Inter-broker: controller → broker.
//
// Stale broker epoch (KIP-380) refuses the whole request; the replica manager applies the per-partition
// rules (leader-epoch fencing, -2 = topic being deleted) and deletes logs when asked. Topics whose last
// partition here is deleted are dropped from the topic-config cache.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleStopReplica(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.StopReplicaRequest)
	if b.brokerEpochStale(req.BrokerEpoch) {
		resp := req.ResponseKind().(*kmsg.StopReplicaResponse)
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return Response{Msg: resp}, nil
	}
	resp := b.replicas.StopReplicas(req)
	b.groupsOnStopReplica(req) // offsets partitions no longer led are unloaded
	b.txnOnStopReplica(req)    // the same for transaction state partitions
	for _, t := range req.Topics {
		if !b.hostsTopic(t.Topic) {
			b.topics.remove(t.Topic)
		}
	}
	return Response{Msg: resp}, nil
}

// hostsTopic reports whether any partition of topic still has a replica here.
func (b *Broker) hostsTopic(topic string) bool {
	for _, p := range b.replicas.Partitions() {
		if p.TopicPartition().Topic == topic {
			return true
		}
	}
	return false
}
