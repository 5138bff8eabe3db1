package broker

// OffsetForLeaderEpoch, v0–v4 (Kafka 2.8's range; v2 adds CurrentLeaderEpoch and ThrottleMillis, v3
// ReplicaId, v4 is the flexible encoding). Followers ask it before truncating (KIP-101, KIP-279); KIP-320
// consumers ask it to detect log truncation.
//
// Behaviour (KafkaApis.handleOffsetForLeaderEpochRequest, ReplicaManager.lastOffsetForLeaderEpoch, reference
// 03 §6.4): per partition, only the leader answers: NOT_LEADER_OR_FOLLOWER when this broker does not lead it
// (or does not host it but the cluster has it), UNKNOWN_TOPIC_OR_PARTITION when nobody has it. A
// CurrentLeaderEpoch other than -1 must equal the leader's: older is FENCED_LEADER_EPOCH, newer
// UNKNOWN_LEADER_EPOCH. The answer is the leader-epoch cache's end offset for LeaderEpoch: the largest epoch
// <= it that the leader knows and the offset where that epoch ended (the log end offset for the current
// epoch); -1/-1 when the cache cannot place it. v0 answers carry no epoch (the encoding drops it).
//
// Deviation: no authorization (Kafka requires CLUSTER_ACTION, or DESCRIBE on the topic); ReplicaId is
// accepted and not used, as in Kafka 2.8.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func handleOffsetForLeaderEpoch(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = p.Partition
			current := p.CurrentLeaderEpoch
			if req.Version < 2 {
				current = -1 // not in the request before v2
			}
			eo, err := b.replicas.LastOffsetForLeaderEpoch(storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}, current, p.LeaderEpoch)
			if err != nil {
				rp.ErrorCode = errorCode(b.log, err)
				continue
			}
			rp.LeaderEpoch, rp.EndOffset = eo.LeaderEpoch, eo.EndOffset
		}
	}
	return Response{Msg: resp}, nil
}
