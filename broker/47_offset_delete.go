package broker

// OffsetDelete, v0 (Kafka 2.8's, KIP-496). Partitions unknown to the metadata cache are
// UNKNOWN_TOPIC_OR_PARTITION; the rest go to the coordinator: an Empty group loses them, a consumer group
// only those of topics it does not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC for the others), other groups
// answer NON_EMPTY_GROUP; an unknown group GROUP_ID_NOT_FOUND. A group-level error empties the partition list.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
)

func handleOffsetDelete(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	snap := b.meta.Snapshot()
	var tps []group.TopicPartition
	var slots []*kmsg.OffsetDeleteResponseTopicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetDeleteResponseTopicPartition, len(t.Partitions))
		resp.Topics = append(resp.Topics, rt)
	}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			rp := &resp.Topics[i].Partitions[j]
			*rp = kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if !knownPartition(snap, t.Topic, p.Partition) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			slots = append(slots, rp)
		}
	}
	code, codes := b.groups.DeleteOffsets(ctx, req.Group, tps)
	if code != 0 {
		resp.ErrorCode, resp.Topics = code, nil
		return Response{Msg: resp}, nil
	}
	for i, rp := range slots {
		rp.ErrorCode = codes[i]
	}
	return Response{Msg: resp}, nil
}
