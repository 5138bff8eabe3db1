package broker

// ListOffsets, v0–v6 (v0, the list of offsets before a time, is in list_offsets_legacy.go; v6 is the flexible
// encoding).
//
// Behaviour (KafkaApis.handleListOffsetRequestV1AndAbove, Partition.fetchOffsetForTimestamp, reference 08 §6):
//   - timestamp -2 (earliest): the log start offset; -1 (latest): the HW for read_uncommitted consumers, the
//     last stable offset for read_committed ones (v2+), the LEO for followers (replica id >= 0) and the
//     debugging replica id -2; any other timestamp: the first offset whose record timestamp is >= it,
//     below that bound, else offset and timestamp -1 with no error.
//   - Offsets and timestamps are -1 on every error. A partition listed twice in the request is
//     INVALID_REQUEST. Not hosted here: NOT_LEADER_OR_FOLLOWER if the cluster has it, else
//     UNKNOWN_TOPIC_OR_PARTITION. Only the leader answers, except for replica id -2.
//   - current_leader_epoch (v4+) fences as in Fetch (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH).
//   - Right after a leader change, while the new leader's HW is below the offset its epoch started at,
//     consumers asking for latest or a timestamp get OFFSET_NOT_AVAILABLE (v5+) or LEADER_NOT_AVAILABLE
//     (older versions).
//   - LeaderEpoch (v4+) is the current leader epoch for latest.
//
// Deviation: until the leader-epoch cache exists (issue 4) LeaderEpoch is -1 for earliest and timestamp
// lookups, where Kafka returns the epoch that wrote the offset.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/storage"
)

// ListOffsets replica ids (ListOffsetsRequest.CONSUMER_REPLICA_ID, DEBUGGING_REPLICA_ID).
const (
	consumerReplicaID  = -1
	debuggingReplicaID = -2
)

func handleListOffsets(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	if req.Version == 0 {
		listOffsetsV0(b, req, resp)
		return Response{Msg: resp}, nil
	}
	iso := replica.IsolationLogEnd
	if req.ReplicaID == consumerReplicaID {
		iso = replica.FetchIsolation(req.ReplicaID, req.IsolationLevel)
	}
	onlyLeader := req.ReplicaID != debuggingReplicaID
	seen := make(map[storage.TopicPartition]int, 8)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			seen[storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}]++
		}
	}
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			tp := storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if seen[tp] > 1 {
				rp.ErrorCode = kerr.InvalidRequest.Code
				continue
			}
			found, err := b.replicas.FetchOffsetForTimestamp(tp, p.Timestamp, iso, p.CurrentLeaderEpoch, onlyLeader)
			if err != nil {
				rp.ErrorCode = errorCode(b.log, err)
				if rp.ErrorCode == kerr.OffsetNotAvailable.Code && req.Version < 5 {
					rp.ErrorCode = kerr.LeaderNotAvailable.Code
				}
				continue
			}
			rp.Offset, rp.Timestamp = found.Offset, found.Timestamp
			if req.Version >= 4 {
				rp.LeaderEpoch = found.LeaderEpoch
			}
		}
	}
	return Response{Msg: resp}, nil
}
