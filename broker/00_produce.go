package broker

// Produce, v0–v9 (Kafka 2.8's range; v9 is the flexible encoding). v0–v2 carry legacy message sets, converted
// to one record batch v2 per partition before the append path below (produce_legacy.go).
//
// Behaviour (KafkaApis.handleProduceRequest, ReplicaManager.appendRecords, reference 03 §7 and 08 §6):
//   - Per partition, in Kafka's order: a topic-partition unknown to this broker (not hosted, not in the
//     metadata cache) is UNKNOWN_TOPIC_OR_PARTITION (produce never auto-creates); the records must hold
//     exactly one complete v2 batch (none, or a second one: INVALID_RECORD; magic 0/1: INVALID_RECORD;
//     unreadable header: CORRUPT_MESSAGE) and zstd needs v7+ (UNSUPPORTED_COMPRESSION_TYPE); then acks
//     must be -1, 0 or 1 (INVALID_REQUIRED_ACKS for every partition still standing); internal topics
//     (__consumer_offsets, __transaction_state) only take writes from client id __admin_client
//     (INVALID_TOPIC_EXCEPTION); then the replica manager appends as leader (NOT_LEADER_OR_FOLLOWER,
//     NOT_ENOUGH_REPLICAS, the log's validation errors) and, for acks=-1, waits for the ISR up to the
//     request's timeout.
//   - v8+: record-level validation failures (a missing key on a compacted topic, a timestamp out of range)
//     list the offending records' batch indexes in RecordErrors, with ErrorMessage, as Kafka's
//     RecordValidationException does; other errors leave both empty.
//   - acks=0: no response at all; if any partition failed, the connection is closed so the producer notices
//     and refreshes its metadata, as Kafka does.
//   - Idempotent and transactional batches are checked against the partition's producer state (storage,
//     reference 06 §3): a retry of one of the producer's last 5 batches succeeds with the original base
//     offset and that batch's timestamp as LogAppendTime and is not written again; a stale epoch is
//     INVALID_PRODUCER_EPOCH, a sequence gap OUT_OF_ORDER_SEQUENCE_NUMBER, a non-transactional batch inside
//     an open transaction INVALID_TXN_STATE. UNKNOWN_PRODUCER_ID and DUPLICATE_SEQUENCE_NUMBER are never
//     answered, as in Kafka 2.8.
//   - Transactional batches need the request's transactional id: without one every partition is
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED (KafkaApis: an unauthorized transactional id). As in Kafka 2.8
//     the leader does not check that the partition was added to the transaction.
//
//   - Client quotas (quotas.go): the request size counts against producer_byte_rate of (ANONYMOUS, client
//     id); a violation sets ThrottleMillis and mutes the connection (v6+: after answering, KIP-219; older:
//     the answer waits).
//
// Deviations:
//   - The response lists partitions in request order (Kafka: map order).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// Kafka's internal topics and the client id allowed to write them (AdminUtils.AdminClientId).
const (
	consumerOffsetsTopic  = "__consumer_offsets"
	transactionStateTopic = "__transaction_state"
	adminClientID         = "__admin_client"
)

func handleProduce(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	validAcks := req.Acks == -1 || req.Acks == 0 || req.Acks == 1
	internalAllowed := r.ClientID() == adminClientID
	txnWithoutID := req.TransactionID == nil && hasTransactionalBatch(req)
	toAppend := make(map[storage.TopicPartition][]byte)
	for i := range req.Topics {
		rt := &req.Topics[i]
		t := &resp.Topics[i]
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			p := &t.Partitions[j]
			*p = kmsg.NewProduceResponseTopicPartition()
			p.Partition, p.BaseOffset = rp.Partition, -1
			tp := storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			var err error
			recs := rp.Records
			switch {
			case txnWithoutID:
				err = fmt.Errorf("%w: transactional records without a transactional id", kerr.TransactionalIDAuthorizationFailed)
			case !b.replicas.KnownPartition(tp):
				err = kerr.UnknownTopicOrPartition
			case req.Version < 3:
				recs, err = legacyProduceRecords(b, req.Version, rt.Topic, rp.Records)
			default:
				err = validateProduceRecords(req.Version, rp.Records)
			}
			if err == nil && validAcks && !internalAllowed && (rt.Topic == consumerOffsetsTopic || rt.Topic == transactionStateTopic) {
				err = fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, rt.Topic)
			}
			if err != nil {
				p.ErrorCode = errorCode(b.log, err)
				continue
			}
			if recs == nil && validAcks { // an empty legacy set: nothing appended, no error (Log.append)
				continue
			}
			toAppend[tp] = recs
		}
	}
	var results map[storage.TopicPartition]replica.ProduceResult
	if len(toAppend) > 0 {
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		results = b.replicas.AppendRecords(ctx, timeout, req.Acks, toAppend)
	}
	failed := false
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			p := &t.Partitions[j]
			res, ok := results[storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
			if ok {
				fillProducePartition(b, p, res)
			}
			failed = failed || p.ErrorCode != 0
		}
	}
	// Client quota (quotas.go): the request's bytes once the append is done, as KafkaApis records them in
	// the response callback; an acks=0 producer is muted without an answer.
	throttle := b.recordQuota(quota.Produce, r, int64(r.Size))
	if req.Acks == 0 {
		if failed {
			return Response{}, errors.New("acks=0 produce failed: closing the connection so the producer refreshes its metadata")
		}
		return Response{None: true, Throttle: throttle, ClientThrottles: req.Version >= 6}, nil
	}
	resp.ThrottleMillis = throttleMillis(throttle)
	return Response{Msg: resp, Throttle: throttle, ClientThrottles: req.Version >= 6}, nil
}

func fillProducePartition(b *Broker, p *kmsg.ProduceResponseTopicPartition, res replica.ProduceResult) {
	p.ErrorCode = errorCode(b.log, res.Err)
	p.BaseOffset, p.LogAppendTime, p.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	var ve *record.ValidationError
	if errors.As(res.Err, &ve) {
		msg := ve.Error()
		p.ErrorMessage = &msg
		for _, re := range ve.Records {
			m := re.Message
			p.ErrorRecords = append(p.ErrorRecords, kmsg.ProduceResponseTopicPartitionErrorRecord{RelativeOffset: re.BatchIndex, ErrorMessage: &m})
		}
	}
}

// Byte offsets in a batch header (DefaultRecordBatch).
const (
	batchLengthOffset     = 8
	batchMagicOffset      = 16
	batchAttributesOffset = 21
	// minBatchLength is LegacyRecord.RECORD_OVERHEAD_V0: Kafka's batch iterator calls anything shorter
	// corrupt before looking at the magic.
	minBatchLength = 14
)

// validateProduceRecords is ProduceRequest.validateRecords (v3+) over Kafka's batch iterator, which stops
// silently at an incomplete batch: exactly one complete batch, with magic 2, and no zstd before v7. The
// deep checks (CRC, record count, timestamps) are the log's (record.Validate).
func validateProduceRecords(version int16, recs []byte) error {
	first, rest, err := nextProduceBatch(recs)
	if err != nil {
		return err
	}
	if first == nil {
		return fmt.Errorf("%w: produce requests with version %d must have at least one record batch", record.ErrInvalidRecord, version)
	}
	if magic := first[batchMagicOffset]; magic != 2 {
		return fmt.Errorf("%w: produce requests with version %d are only allowed to contain record batches with magic version 2", record.ErrInvalidRecord, version)
	}
	if len(first) < record.HeaderSize {
		return fmt.Errorf("%w: batch of %d bytes is shorter than its header", record.ErrCorrupt, len(first))
	}
	codec := record.Codec(binary.BigEndian.Uint16(first[batchAttributesOffset:]) & 0x7)
	if codec == record.CodecZstd && version < 7 {
		return fmt.Errorf("%w: produce requests with version %d may not use zstd", record.ErrUnsupportedCompression, version)
	}
	second, _, err := nextProduceBatch(rest)
	if err != nil {
		return err
	}
	if second != nil {
		return fmt.Errorf("%w: produce requests with version %d are only allowed to contain exactly one record batch", record.ErrInvalidRecord, version)
	}
	return nil
}

// hasTransactionalBatch is ProduceRequest.hasTransactionalRecords: some partition's first batch has the
// transactional attribute.
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if len(p.Records) > batchAttributesOffset+1 && record.Batch(p.Records).IsTransactional() {
				return true
			}
		}
	}
	return false
}

// nextProduceBatch is ByteBufferLogInputStream.nextBatch: nil when fewer bytes than a complete batch remain,
// CORRUPT_MESSAGE for an impossible length or an unknown magic.
func nextProduceBatch(buf []byte) (batch, rest []byte, err error) {
	if len(buf) < record.LogOverhead {
		return nil, nil, nil
	}
	size := int32(binary.BigEndian.Uint32(buf[batchLengthOffset:]))
	if size < minBatchLength {
		return nil, nil, fmt.Errorf("%w: record size %d is less than the minimum record overhead (%d)", record.ErrCorrupt, size, minBatchLength)
	}
	if len(buf) <= batchMagicOffset {
		return nil, nil, nil
	}
	if magic := int8(buf[batchMagicOffset]); magic < 0 || magic > 2 {
		return nil, nil, fmt.Errorf("%w: invalid magic %d", record.ErrCorrupt, magic)
	}
	end := int64(record.LogOverhead) + int64(size)
	if int64(len(buf)) < end {
		return nil, nil, nil
	}
	return buf[:end], buf[end:], nil
}
