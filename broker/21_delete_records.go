package broker

// DeleteRecords, v0–v2 (v2 is the flexible encoding; the versions do not differ otherwise).
//
// Behaviour (KafkaApis.handleDeleteRecordsRequest, ReplicaManager.deleteRecords, reference 03 §10):
//   - A partition the metadata cache does not know is UNKNOWN_TOPIC_OR_PARTITION; the rest go to the replica
//     manager, which moves each leader's log start offset to the requested offset (-1: the high watermark)
//     and answers once the low watermark (the smallest log start offset of the leader and its alive
//     followers) reached it, or at timeout_ms with REQUEST_TIMED_OUT.
//   - Per partition: NOT_LEADER_OR_FOLLOWER when not led here, OFFSET_OUT_OF_RANGE for an offset above the
//     high watermark or below -1, POLICY_VIOLATION when cleanup.policy lacks delete, INVALID_TOPIC_EXCEPTION
//     for internal topics. LowWatermark is -1 on error.
//   - A partition listed twice counts once (the last offset wins, as in Kafka's map); the response lists
//     each topic once, in request order. No authorizer: TOPIC_AUTHORIZATION_FAILED is never answered.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func handleDeleteRecords(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	snap := b.meta.Snapshot()

	var topics []string // in first appearance order
	parts := map[string][]int32{}
	listed := map[storage.TopicPartition]bool{}
	offsets := map[storage.TopicPartition]int64{} // for the replica manager
	answers := map[storage.TopicPartition]kmsg.DeleteRecordsResponseTopicPartition{}
	for _, t := range req.Topics {
		if _, ok := parts[t.Topic]; !ok {
			topics = append(topics, t.Topic)
			parts[t.Topic] = nil
		}
		for _, p := range t.Partitions {
			tp := storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if !listed[tp] {
				listed[tp] = true
				parts[t.Topic] = append(parts[t.Topic], p.Partition)
			}
			known := false
			if mt, ok := snap.Topics[t.Topic]; ok {
				_, known = mt.Partition(p.Partition)
			}
			if !known {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, kerr.UnknownTopicOrPartition.Code
				answers[tp] = rp
				continue
			}
			offsets[tp] = p.Offset
		}
	}
	if len(offsets) > 0 {
		timeout := time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
		for tp, res := range b.replicas.DeleteRecords(ctx, timeout, offsets) {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.LowWatermark, rp.ErrorCode = tp.Partition, res.LowWatermark, errorCode(b.log, res.Err)
			answers[tp] = rp
		}
	}
	for _, name := range topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = name
		for _, p := range parts[name] {
			rt.Partitions = append(rt.Partitions, answers[storage.TopicPartition{Topic: name, Partition: p}])
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return Response{Msg: resp}, nil
}
