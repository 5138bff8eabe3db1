package broker

// OffsetCommit, v0–v8 (Kafka 2.8's range).
//
// Partitions unknown to the metadata cache are UNKNOWN_TOPIC_OR_PARTITION. v0 stores offsets in ZooKeeper
// at /consumers/<group>/offsets/<topic>/<partition> (a decimal string), as Kafka 2.8 still does, with no
// group checks. v1+ go to the group coordinator (reference 05 §10.1): the commit timestamp is the
// request's (v1, -1 = now) or now; v2–v4 with RetentionTimeMs != -1 set an explicit expire timestamp of now
// + retention (stored as an offset value v1); the leader epoch (v6+) is kept.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
)

func handleOffsetCommit(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	snap := b.meta.Snapshot()
	now := time.Now().UnixMilli()
	var parts []group.CommitPartition
	var slots []*kmsg.OffsetCommitResponseTopicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		resp.Topics = append(resp.Topics, rt)
	}
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			rp := &resp.Topics[i].Partitions[j]
			*rp = kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			if !knownPartition(snap, t.Topic, p.Partition) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			cp := group.CommitPartition{TopicPartition: group.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Offset: p.Offset, LeaderEpoch: -1, CommitTimestamp: now, ExpireTimestamp: -1}
			if p.Metadata != nil {
				cp.Metadata = *p.Metadata
			}
			if req.Version >= 6 {
				cp.LeaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp != -1 {
				cp.CommitTimestamp = p.Timestamp
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
				cp.ExpireTimestamp = now + req.RetentionTimeMillis
			}
			parts = append(parts, cp)
			slots = append(slots, rp)
		}
	}
	if len(parts) == 0 {
		return Response{Msg: resp}, nil
	}
	if req.Version == 0 {
		for i, p := range parts {
			slots[i].ErrorCode = b.commitToZooKeeper(req.Group, p)
		}
		return Response{Msg: resp}, nil
	}
	codes := b.groups.CommitOffsets(ctx, req.Group, req.MemberID, req.InstanceID, req.Generation, parts)
	for i, code := range codes {
		slots[i].ErrorCode = code
	}
	return Response{Msg: resp}, nil
}

// commitToZooKeeper is OffsetCommit v0 for one partition.
func (b *Broker) commitToZooKeeper(groupID string, p group.CommitPartition) int16 {
	if len(p.Metadata) > int(b.cfg.OffsetMetadataMaxBytes) {
		return kerr.OffsetMetadataTooLarge.Code
	}
	if err := b.setZKOffset(groupID, p.Topic, p.Partition, p.Offset); err != nil {
		b.log.WithError(err).WithField("group", groupID).Warn("storing a v0 offset commit in zookeeper failed")
		return kerr.UnknownServerError.Code
	}
	return 0
}
