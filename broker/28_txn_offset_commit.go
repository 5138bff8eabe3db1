package broker

// TxnOffsetCommit, v0–v3 (Kafka 2.8's range; v3 is the flexible encoding and carries the member id,
// generation and group instance id).
//
// Behaviour (KafkaApis.handleTxnOffsetCommitRequest, GroupCoordinator.handleTxnCommitOffsets, reference 05
// §12): partitions unknown to the metadata cache are UNKNOWN_TOPIC_OR_PARTITION; the rest go to the group
// coordinator, which appends them as one transactional batch of the producer (its epoch checked by the
// log) and keeps them pending until the transaction's marker reaches the group's offsets partition
// (WriteTxnMarkers): visible after a commit, dropped after an abort. The commit timestamp is now; a null
// metadata is "". Before v2, COORDINATOR_LOAD_IN_PROGRESS is answered COORDINATOR_NOT_AVAILABLE (clients
// before 2.0 could not handle it, KAFKA-7296).
//
// Deviations: no authorizer (never TRANSACTIONAL_ID_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED,
// TOPIC_AUTHORIZATION_FAILED).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/txn"
)

func handleTxnOffsetCommit(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	snap := b.meta.Snapshot()
	now := time.Now().UnixMilli()
	commit := txn.TxnOffsetCommit{GroupID: req.Group, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
		MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation}
	if req.Version < 3 {
		commit.MemberID, commit.InstanceID, commit.Generation = "", nil, -1
	}
	type slot struct{ topic, partition, offset int } // offset: index into commit.Offsets, -1 unknown
	var slots []slot
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			if !knownPartition(snap, t.Topic, p.Partition) {
				slots = append(slots, slot{i, j, -1})
				continue
			}
			o := txn.TxnOffset{TopicPartition: txn.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, CommitTimestamp: now}
			if req.Version < 2 {
				o.LeaderEpoch = -1
			}
			if p.Metadata != nil {
				o.Metadata = *p.Metadata
			}
			slots = append(slots, slot{i, j, len(commit.Offsets)})
			commit.Offsets = append(commit.Offsets, o)
		}
	}
	var codes []int16
	if len(commit.Offsets) > 0 {
		codes = b.txnOffsets.CommitTxnOffsets(ctx, commit)
	}
	resp.Topics = make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(t.Partitions))
	}
	for _, s := range slots {
		rp := &resp.Topics[s.topic].Partitions[s.partition]
		*rp = kmsg.NewTxnOffsetCommitResponseTopicPartition()
		rp.Partition = req.Topics[s.topic].Partitions[s.partition].Partition
		switch {
		case s.offset < 0:
			rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		default:
			rp.ErrorCode = codes[s.offset]
		}
		if req.Version < 2 && rp.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
			rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
	}
	return Response{Msg: resp}, nil
}
