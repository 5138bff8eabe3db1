package broker

// ListOffsets v0 (KafkaApis.handleListOffsetRequestV0, Log.legacyFetchOffsetsBefore): up to max_num_offsets
// offsets "before" a timestamp, in descending order, as pre-0.10.1 clients (Sarama below V0_10_1_0) ask for
// the earliest (-2) and latest (-1) offsets.
//
// Kafka lists the base offset of every segment (the log start offset for the first) with the segment file's
// last-modified time, plus the log end offset with the current time when the active segment holds data; -1
// starts from the last entry, -2 from the first, another timestamp from the last entry modified at or before it,
// and the answer is up to max_num_offsets entries walking back from there. For consumers (replica id -1)
// offsets above the high watermark are replaced by the high watermark. Errors (UNKNOWN_TOPIC_OR_PARTITION,
// NOT_LEADER_OR_FOLLOWER, ...) come with no offsets. Only the leader answers, except for replica id -2. Unlike
// v1+ a partition listed twice is answered twice.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/storage"
)

// ListOffsets special timestamps (ListOffsetsRequest.LATEST_TIMESTAMP, EARLIEST_TIMESTAMP).
const (
	latestTimestamp   = -1
	earliestTimestamp = -2
)

func listOffsetsV0(b *Broker, req *kmsg.ListOffsetsRequest, resp *kmsg.ListOffsetsResponse) {
	onlyLeader := req.ReplicaID != debuggingReplicaID
	fromConsumer := req.ReplicaID == consumerReplicaID
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
			offsets, err := legacyOffsetsBefore(b, tp, p.Timestamp, p.MaxNumOffsets, fromConsumer, onlyLeader)
			if err != nil {
				rp.ErrorCode = errorCode(b.log, err)
				continue
			}
			rp.OldStyleOffsets = offsets
		}
	}
}

// legacyOffsetsBefore is Partition.legacyFetchOffsetsForTimestamp: storage.Log.LegacyOffsetsBefore on the
// partition's log, after the leadership check Kafka's localLogWithEpochOrException makes.
func legacyOffsetsBefore(b *Broker, tp storage.TopicPartition, ts int64, maxNum int32, fromConsumer, onlyLeader bool) ([]int64, error) {
	if _, err := b.replicas.FetchOffsetForTimestamp(tp, latestTimestamp, replica.IsolationLogEnd, -1, onlyLeader); err != nil {
		return nil, err
	}
	var l *storage.Log
	if p, ok := b.replicas.Partition(tp); ok {
		l = p.Log()
	}
	if l == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	out := l.LegacyOffsetsBefore(ts, time.Now().UnixMilli(), int(maxNum))
	if !fromConsumer {
		return out, nil
	}
	hw := l.HighWatermark()
	if len(out) > 0 && out[0] > hw { // descending: only a prefix can exceed the HW
		k := 0
		for k < len(out) && out[k] > hw {
			k++
		}
		out = append([]int64{hw}, out[k:]...)
	}
	return out, nil
}
