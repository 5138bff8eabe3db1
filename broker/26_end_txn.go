package broker

// EndTxn, v0–v3 (Kafka 2.8's range; v3 is the flexible encoding).
//
// Behaviour (KafkaApis.handleEndTxnRequest, TransactionCoordinator.handleEndTransaction, reference 06
// §4.6): an Ongoing transaction is prepared (PrepareCommit/PrepareAbort written to __transaction_state) and
// answered NONE as soon as that record is durable; the coordinator then writes the markers to every
// partition of the transaction and finally CompleteCommit/CompleteAbort. A retry after completion is NONE,
// one while completing CONCURRENT_TRANSACTIONS, any other state INVALID_TXN_STATE; a wrong producer id
// INVALID_PRODUCER_ID_MAPPING, a wrong epoch PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2).
//
// Deviations: no authorizer (never TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleEndTxn(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	err := b.txn.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	resp.ErrorCode = errorCode(b.log, fencedForOldClients(err, req.Version < 2))
	return Response{Msg: resp}, nil
}
