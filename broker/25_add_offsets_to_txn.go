package broker

// AddOffsetsToTxn, v0–v3 (Kafka 2.8's range; v3 is the flexible encoding).
//
// Behaviour (KafkaApis.handleAddOffsetsToTxnRequest, reference 06 §4.5): adds the group's
// __consumer_offsets partition (abs(javaHash(group)) % partitions, the group coordinator's mapping) to the
// transaction, exactly as AddPartitionsToTxn does, so that the EndTxn markers reach the offsets the
// producer commits with TxnOffsetCommit. Errors as AddPartitionsToTxn's; PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2.
//
// Deviations: no authorizer (never TRANSACTIONAL_ID_AUTHORIZATION_FAILED or GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/broker/txn"
)

func handleAddOffsetsToTxn(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	offsets := txn.TopicPartition{Topic: group.TopicName, Partition: b.groups.PartitionFor(req.Group)}
	err := b.txn.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{offsets})
	resp.ErrorCode = errorCode(b.log, fencedForOldClients(err, req.Version < 2))
	return Response{Msg: resp}, nil
}
