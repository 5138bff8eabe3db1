package broker

// AddPartitionsToTxn, v0–v3 (Kafka 2.8's range; v3 is the flexible encoding).
//
// Behaviour (KafkaApis.handleAddPartitionToTxnRequest, TransactionCoordinator.handleAddPartitionsToTransaction,
// reference 06 §4.5): every partition must be in the metadata cache, else that partition is
// UNKNOWN_TOPIC_OR_PARTITION and all the others OPERATION_NOT_ATTEMPTED (nothing is added). Otherwise the
// coordinator adds them all or none, and every partition carries its one answer: INVALID_PRODUCER_ID_MAPPING
// (unknown transactional id or producer id), PRODUCER_FENCED (an old epoch; INVALID_PRODUCER_EPOCH before v2),
// CONCURRENT_TRANSACTIONS (a change in flight or the transaction completing), NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE (the state write failed).
//
// Deviations: no authorizer, so never TRANSACTIONAL_ID_AUTHORIZATION_FAILED or TOPIC_AUTHORIZATION_FAILED.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/txn"
)

func handleAddPartitionsToTxn(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	snap := b.meta.Snapshot()
	var parts []txn.TopicPartition
	unknown := false
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, txn.TopicPartition{Topic: t.Topic, Partition: p})
			unknown = unknown || !knownPartition(snap, t.Topic, p)
		}
	}
	var err error
	if !unknown {
		err = b.txn.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
		err = fencedForOldClients(err, req.Version < 2)
	}
	code := errorCode(b.log, err)
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			if unknown {
				rp.ErrorCode = kerr.OperationNotAttempted.Code
				if !knownPartition(snap, t.Topic, p) {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return Response{Msg: resp}, nil
}

// fencedForOldClients maps PRODUCER_FENCED (90, Kafka 2.7+) to INVALID_PRODUCER_EPOCH for request versions
// whose clients do not know it (reference 08 §8).
func fencedForOldClients(err error, old bool) error {
	if old && errors.Is(err, kerr.ProducerFenced) {
		return kerr.InvalidProducerEpoch
	}
	return err
}
