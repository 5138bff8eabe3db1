package broker

// InitProducerId, v0–v4 (Kafka 2.8's range; v2+ flexible; v3+ carries ProducerId/ProducerEpoch, KIP-360;
// v4 may answer PRODUCER_FENCED).
//
// Behaviour (KafkaApis.handleInitProducerIdRequest, TransactionCoordinator.handleInitProducerId,
// reference 06 §1 and §4.4):
//   - ProducerId and ProducerEpoch must be both -1 or both set, else INVALID_REQUEST.
//   - No transactional id (an idempotent producer): any broker answers with a fresh producer id from this
//     broker's block of /latest_producer_id_block (broker/producerid.go) and epoch 0, whatever id and epoch
//     a v3+ request names. Nothing is stored: the partitions learn the producer from its batches. (An
//     idempotent client bumps its epoch itself, KIP-360; a 2.8 broker never does it for it.)
//   - A transactional id goes to the transaction coordinator (broker/txn), which owns the id's partition
//     of __transaction_state: fencing, epoch bumps and the KIP-360 rules live there; an empty id is
//     INVALID_REQUEST. Before v4 PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH, which older
//     clients understand.
//   - Errors answer producer id -1 and epoch -1.
//
// Deviations:
//   - When ZooKeeper cannot reserve a new block, the answer is COORDINATOR_NOT_AVAILABLE (retriable):
//     Kafka's ZooKeeper client blocks the request until the session is back, or fails it as
//     UNKNOWN_SERVER_ERROR.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/txn"
)

func handleInitProducerID(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	pid, epoch, err := b.initProducerID(ctx, req)
	if err != nil {
		resp.ProducerID, resp.ProducerEpoch = -1, -1
		resp.ErrorCode = errorCode(b.log, err)
		if resp.ErrorCode == kerr.ProducerFenced.Code && req.Version < 4 {
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code
		}
		return Response{Msg: resp}, nil
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return Response{Msg: resp}, nil
}

func (b *Broker) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (int64, int16, error) {
	var expected *txn.ProducerIDAndEpoch
	switch {
	case req.ProducerID == -1 && req.ProducerEpoch == -1:
	case req.ProducerID == -1 || req.ProducerEpoch == -1:
		return -1, -1, fmt.Errorf("%w: producer id %d with epoch %d", kerr.InvalidRequest, req.ProducerID, req.ProducerEpoch)
	default:
		expected = &txn.ProducerIDAndEpoch{ProducerID: req.ProducerID, Epoch: req.ProducerEpoch}
	}
	if req.TransactionalID == nil {
		pid, err := b.producerIDs.GenerateProducerID()
		if err != nil {
			return -1, -1, fmt.Errorf("%w: %v", kerr.CoordinatorNotAvailable, err)
		}
		return pid, 0, nil
	}
	if *req.TransactionalID == "" {
		return -1, -1, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	}
	if b.txn == nil {
		return -1, -1, fmt.Errorf("%w: the transaction coordinator is not running", kerr.CoordinatorNotAvailable)
	}
	return b.txn.InitProducerID(ctx, *req.TransactionalID, req.TransactionTimeoutMillis, expected)
}
