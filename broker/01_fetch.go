package broker

// Fetch, v0–v12 (Kafka 2.8's range; v12 is the flexible encoding). v0–v3 answers are down-converted to magic 0
// or 1 (fetch_legacy.go); v4+ send the stored batches as they are.
//
// Behaviour (KafkaApis.handleFetchRequest, ReplicaManager.fetchMessages, reference 03 §4, §8.2, §9):
//   - Partitions the broker does not know (not hosted, not in the metadata cache) answer
//     UNKNOWN_TOPIC_OR_PARTITION with HW, LSO and log start -1, like every partition-level error.
//   - The response limit is min(max_bytes, fetch.max.bytes) and min_bytes is capped by it. Partitions are
//     read in request order; the first one that has data returns at least its first batch even when it is
//     larger than the limits (KIP-74), the others stop at partition_max_bytes and the remaining response
//     budget, and never return a first batch cut short.
//   - Consumers (replica id -1, and -2 for debugging) read up to the HW (read_committed: the last stable
//     offset, with AbortedTransactions listing the aborted transactions overlapping the records returned,
//     possibly none; null for read_uncommitted); followers (replica id >= 0) up to the LEO, which records
//     their position and may advance the HW.
//     Followers and consumers below v11 may only read from the leader; v11+ consumers may read from a
//     follower (KIP-392). current_leader_epoch (v9+) fences stale (FENCED_LEADER_EPOCH) and future
//     (UNKNOWN_LEADER_EPOCH) epochs.
//   - Fewer than min_bytes available: the request waits in the fetch purgatory up to max_wait_ms, woken by
//     appends and HW moves.
//   - The response is encoded by hand (fetch_encode.go): the records are log file ranges sent with sendfile,
//     never read into memory.
//
// Fetch sessions (KIP-227, v7+): no session is ever created. A full request (session epoch -1 or 0) is
// served sessionless and answered with session id 0, which tells a client asking for a session (epoch 0)
// that the broker made none, so it keeps sending full requests — always legal in Kafka (e.g. a full session
// cache). An incremental request (epoch > 0) names a session we do not have: FETCH_SESSION_ID_NOT_FOUND,
// with no partitions, as Kafka answers for an unknown session.
//
// LastFetchedEpoch (v12): when the leader's end offset for that epoch is below the fetch offset, or its epoch
// below the requested one, the partition answers no records and DivergingEpoch (the follower truncates and
// fetches again); an epoch the leader cannot place is OFFSET_OUT_OF_RANGE (Partition.readRecords).
//
// A consumer fetch below v10 of a topic with compression.type=zstd answers UNSUPPORTED_COMPRESSION_TYPE for
// that partition (those versions cannot carry zstd, KIP-110; KafkaApis.maybeConvertFetchedData).
//
// Client quotas (quotas.go): a consumer's response size counts against consumer_byte_rate of (ANONYMOUS,
// client id); a violation answers an empty response with ThrottleMillis and mutes the connection.
//
// Deviations: PreferredReadReplica (v11+) is always -1 (no replica.selector.class). Partitions are answered
// in request order (Kafka puts partitions it rejected before reading at the end).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/storage"
)

// Fetch session epochs (FetchMetadata.INITIAL_EPOCH, FINAL_EPOCH).
const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
)

func handleFetch(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.FetchRequest)
	out := &fetchResponse{version: req.Version}
	if req.Version >= 7 && req.SessionEpoch != fetchSessionInitialEpoch && req.SessionEpoch != fetchSessionFinalEpoch {
		out.errorCode = kerr.FetchSessionIDNotFound.Code
		return Response{Chunks: out.chunks()}, nil
	}
	maxBytes := req.MaxBytes
	if limit := b.cfg.FetchMaxBytes; limit > 0 && limit < maxBytes {
		maxBytes = limit
	}
	params := replica.FetchParams{
		ReplicaID:           req.ReplicaID,
		MaxWait:             time.Duration(req.MaxWaitMillis) * time.Millisecond,
		MinBytes:            min(req.MinBytes, maxBytes),
		MaxBytes:            maxBytes,
		Isolation:           replica.FetchIsolation(req.ReplicaID, req.IsolationLevel),
		FetchOnlyFromLeader: req.ReplicaID >= 0 || req.Version < 11,
	}
	// slot maps each request partition to its FetchMessages result, or -1 when rejected up front.
	slot := make([]int, 0, 8)
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			tp := storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if !b.replicas.KnownPartition(tp) {
				slot = append(slot, -1)
				continue
			}
			slot = append(slot, len(params.Partitions))
			params.Partitions = append(params.Partitions, replica.FetchPartition{
				TopicPartition:     tp,
				FetchOffset:        p.FetchOffset,
				LogStartOffset:     p.LogStartOffset,
				MaxBytes:           p.PartitionMaxBytes,
				CurrentLeaderEpoch: p.CurrentLeaderEpoch,
				LastFetchedEpoch:   p.LastFetchedEpoch,
			})
		}
	}
	var results []replica.FetchResult
	if len(params.Partitions) > 0 {
		results = b.replicas.FetchMessages(ctx, params)
	}
	readCommitted := params.Isolation == replica.IsolationCommitted
	out.topics = make([]fetchResponseTopic, len(req.Topics))
	k := 0
	for i := range req.Topics {
		t := &req.Topics[i]
		ot := &out.topics[i]
		ot.name = t.Topic
		ot.partitions = make([]fetchResponsePartition, len(t.Partitions))
		for j := range t.Partitions {
			op := &ot.partitions[j]
			op.partition = t.Partitions[j].Partition
			s := slot[k]
			k++
			if s < 0 {
				op.errorCode = kerr.UnknownTopicOrPartition.Code
				op.highWatermark, op.lastStableOffset, op.logStartOffset = -1, -1, -1
				continue
			}
			res := &results[s]
			op.errorCode = errorCode(b.log, res.Err)
			op.highWatermark, op.lastStableOffset, op.logStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
			op.readCommitted = readCommitted && res.Err == nil
			op.aborted = res.AbortedTransactions
			op.ranges = res.Ranges
			if d := res.DivergingEpoch; d != nil && req.Version >= 12 {
				op.diverging = &divergingEpoch{epoch: d.LeaderEpoch, endOffset: d.EndOffset}
			}
			switch {
			case req.Version < 4:
				downConvertPartition(b, req.Version, t.Topic, t.Partitions[j].FetchOffset, req.ReplicaID >= 0, op)
			case req.Version < 10 && req.ReplicaID < 0:
				rejectZstdTopic(b.fetchTopicConfig(t.Topic), op)
			}
		}
	}
	chunks := out.chunks()
	if req.ReplicaID >= 0 { // followers are not client-quota'd
		return Response{Chunks: chunks}, nil
	}
	return consumerFetchQuota(b, r, req.Version, chunks), nil
}

// consumerFetchQuota records a consumer's response size against consumer_byte_rate (quotas.go). A
// throttled consumer gets, as in KafkaApis, no data: its bytes are unrecorded and the answer is an empty
// response carrying the throttle time (FetchContext.getThrottledResponse); the connection is muted after
// answering for v8+ (KIP-219), before answering below.
func consumerFetchQuota(b *Broker, r *Request, version int16, chunks []Chunk) Response {
	var size int64
	for _, c := range chunks {
		size += c.size()
	}
	throttle := b.recordQuota(quota.Fetch, r, size)
	if throttle <= 0 {
		return Response{Chunks: chunks}
	}
	b.unrecordQuota(quota.Fetch, r, size)
	Response{Chunks: chunks}.release()
	empty := &fetchResponse{version: version, throttleMs: throttleMillis(throttle)}
	return Response{Chunks: empty.chunks(), Throttle: throttle, ClientThrottles: version >= 8}
}
