package broker

// OffsetFetch, v0–v7 (Kafka 2.8's range; the multi-group v8 came with 3.0).
//
// v0 reads ZooKeeper (/consumers/<group>/offsets/<topic>/<partition>), where v0 commits went: unknown
// partitions and missing znodes answer offset -1 with UNKNOWN_TOPIC_OR_PARTITION, as Kafka 2.8 does. v1+
// ask the group coordinator (reference 05 §10.2): -1 for partitions without a commit, whatever the group's
// state; null topics (v2+) = every committed partition; v7 RequireStable answers UNSTABLE_OFFSET_COMMIT
// for partitions with a commit in flight. A coordinator error is top-level from v2 on, per partition before.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
)

func handleOffsetFetch(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	var tps []group.TopicPartition
	if req.Topics != nil {
		tps = []group.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, group.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	var offsets []group.FetchedOffset
	if req.Version == 0 {
		offsets = b.fetchFromZooKeeper(req.Group, tps)
	} else {
		var code int16
		code, offsets = b.groups.FetchOffsets(ctx, req.Group, tps, req.RequireStable)
		if code != 0 {
			resp.ErrorCode = code
			if req.Version >= 2 {
				return Response{Msg: resp}, nil
			}
			offsets = make([]group.FetchedOffset, 0, len(tps))
			for _, tp := range tps {
				offsets = append(offsets, group.FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1, Err: code})
			}
		}
	}
	byTopic := map[string]int{}
	for _, o := range offsets {
		i, ok := byTopic[o.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[o.Topic] = i
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = o.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewOffsetFetchResponseTopicPartition()
		metadata := o.Metadata
		rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = o.Partition, o.Offset, o.LeaderEpoch, &metadata, o.Err
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return Response{Msg: resp}, nil
}

// fetchFromZooKeeper is OffsetFetch v0.
func (b *Broker) fetchFromZooKeeper(groupID string, tps []group.TopicPartition) []group.FetchedOffset {
	snap := b.meta.Snapshot()
	out := make([]group.FetchedOffset, 0, len(tps))
	for _, tp := range tps {
		f := group.FetchedOffset{TopicPartition: tp, Offset: -1, LeaderEpoch: -1, Err: kerr.UnknownTopicOrPartition.Code}
		if knownPartition(snap, tp.Topic, tp.Partition) {
			off, found, err := b.getZKOffset(groupID, tp.Topic, tp.Partition)
			switch {
			case err != nil:
				b.log.WithError(err).WithField("group", groupID).Warn("reading a v0 offset from zookeeper failed")
				f.Err = kerr.UnknownServerError.Code
			case found:
				f.Offset, f.Err = off, 0
			}
		}
		out = append(out, f)
	}
	return out
}
