package broker

// DescribeProducers, v0 (Kafka 2.8's range, KIP-664).
//
// Served by each partition's leader from its producer state (ReplicaManager.activeProducerState): every
// producer the partition remembers with its epoch, last sequence and timestamp, coordinator epoch and the
// first offset of its open transaction (-1 when none). A partition not hosted here is
// UNKNOWN_TOPIC_OR_PARTITION, one hosted as follower NOT_LEADER_OR_FOLLOWER.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func handleDescribeProducers(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			rp.ActiveProducers, rp.ErrorCode = b.activeProducers(storage.TopicPartition{Topic: t.Topic, Partition: p})
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return Response{Msg: resp}, nil
}

func (b *Broker) activeProducers(tp storage.TopicPartition) ([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, int16) {
	p, ok := b.replicas.Partition(tp)
	if !ok || p.Log() == nil {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	if !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition.Code
	}
	var out []kmsg.DescribeProducersResponseTopicPartitionActiveProducer
	for _, s := range p.Log().ActiveProducers() {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = s.ProducerID, int32(s.Epoch), s.LastSequence
		ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = s.LastTimestamp, s.CoordinatorEpoch, s.CurrentTxnFirstOffset
		out = append(out, ap)
	}
	return out, 0
}
