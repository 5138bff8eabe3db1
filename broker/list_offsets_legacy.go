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
//
// Deviation: storage does not expose its segments, so the list holds only the log start offset and the log
// end offset (the base offsets of segments in between are left out), and the first segment counts as last
// modified before any timestamp: a timestamp in the past answers the log start offset. Earliest and latest,
// the lookups old clients make, answer exactly as Kafka.

import (
	"time"

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

// legacyOffsetsBefore is Partition.legacyFetchOffsetsForTimestamp over the log start and end offsets.
func legacyOffsetsBefore(b *Broker, tp storage.TopicPartition, ts int64, maxNum int32, fromConsumer, onlyLeader bool) ([]int64, error) {
	// The lookups check leadership as Kafka's localLogWithEpochOrException does.
	end, err := b.replicas.FetchOffsetForTimestamp(tp, latestTimestamp, replica.IsolationLogEnd, -1, onlyLeader)
	if err != nil {
		return nil, err
	}
	start, err := b.replicas.FetchOffsetForTimestamp(tp, earliestTimestamp, replica.IsolationLogEnd, -1, onlyLeader)
	if err != nil {
		return nil, err
	}
	entries := []int64{start.Offset} // oldest first, as offsetTimeArray
	if end.Offset > start.Offset {
		entries = append(entries, end.Offset) // modified "now"
	}
	idx := len(entries) - 1
	switch {
	case ts == latestTimestamp:
	case ts == earliestTimestamp:
		idx = 0
	case ts < time.Now().UnixMilli():
		idx = 0 // the log end entry is modified now, after ts; the first segment counts as older
	}
	n := min(int(max(maxNum, 0)), idx+1)
	out := make([]int64, 0, n)
	for k := 0; k < n; k++ {
		out = append(out, entries[idx-k])
	}
	if !fromConsumer {
		return out, nil
	}
	hw := int64(-1)
	if p, ok := b.replicas.Partition(tp); ok {
		if l := p.Log(); l != nil {
			hw = l.HighWatermark()
		}
	}
	if len(out) > 0 && out[0] > hw { // descending: only a prefix can exceed the HW
		k := 0
		for k < len(out) && out[k] > hw {
			k++
		}
		out = append([]int64{hw}, out[k:]...)
	}
	return out, nil
}
