package broker

// WriteTxnMarkers, v0–v1 (Kafka 2.8's range; v1 is the flexible encoding). Inter-broker: the transaction
// coordinator sends it to partition leaders.
//
// Behaviour (KafkaApis.handleWriteTxnMarkersRequest, reference 06 §4.7 and 04 §3.2): for each marker,
// every partition without a local replica is UNKNOWN_TOPIC_OR_PARTITION; the others each get one control
// batch (producer id and epoch of the marker, transactional, base sequence -1; one record: key
// version 0 + type ABORT 0 / COMMIT 1, value version 0 + coordinator epoch) appended as leader with origin
// coordinator and acks=-1, waiting up to request.timeout.ms. The log checks the producer and coordinator
// epochs (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED) and closes the producer's transaction;
// a non-leader answers NOT_LEADER_OR_FOLLOWER. A marker written to a __consumer_offsets partition then makes
// the group coordinator commit (or drop) the producer's pending transactional offsets there.
//
// Deviations: every log here has message format v2, so UNSUPPORTED_FOR_MESSAGE_FORMAT never occurs; no
// authorizer (Kafka requires ClusterAction). Markers are appended one after another, each marker's
// partitions together (Kafka: concurrently).

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// Control record types (ControlRecordType).
const (
	controlAbort  = 0
	controlCommit = 1
)

func handleWriteTxnMarkers(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	timeout := time.Duration(b.cfg.RequestTimeoutMs) * time.Millisecond
	for _, m := range req.Markers {
		codes := map[storage.TopicPartition]int16{}
		batches := map[storage.TopicPartition][]byte{}
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				tp := storage.TopicPartition{Topic: t.Topic, Partition: p}
				if part, ok := b.replicas.Partition(tp); !ok || part.Log() == nil {
					codes[tp] = kerr.UnknownTopicOrPartition.Code
					continue
				}
				batch, err := endTxnMarkerBatch(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Committed, time.Now().UnixMilli())
				if err != nil {
					codes[tp] = errorCode(b.log, err)
					continue
				}
				batches[tp] = batch
			}
		}
		var offsets []int32 // __consumer_offsets partitions where the marker landed
		if len(batches) > 0 {
			for tp, res := range b.replicas.AppendRecordsAsCoordinator(ctx, timeout, -1, batches) {
				codes[tp] = errorCode(b.log, res.Err)
				if res.Err == nil && tp.Topic == group.TopicName {
					offsets = append(offsets, tp.Partition)
				}
			}
		}
		if len(offsets) > 0 {
			b.txnOffsets.CompleteTxn(m.ProducerID, offsets, m.Committed)
		}
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, codes[storage.TopicPartition{Topic: t.Topic, Partition: p}]
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return Response{Msg: resp}, nil
}

// endTxnMarkerBatch is MemoryRecords.withEndTransactionMarker: a control batch holding one
// EndTransactionMarker record.
func endTxnMarkerBatch(producerID int64, producerEpoch int16, coordinatorEpoch int32, commit bool, nowMs int64) ([]byte, error) {
	key := make([]byte, 4) // version 0, type
	if commit {
		binary.BigEndian.PutUint16(key[2:], controlCommit)
	} else {
		binary.BigEndian.PutUint16(key[2:], controlAbort)
	}
	value := make([]byte, 6) // version 0, coordinator epoch
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.Transactional, opt.Control = producerID, producerEpoch, true, true
	return record.Build([]record.BuildRecord{{Key: key, Value: value, Timestamp: nowMs}}, opt)
}
