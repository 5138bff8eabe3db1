package broker

// FindCoordinator, v0–v3 (Kafka 2.8's range; the batched v4 came with 3.0).
//
// Key type 0 (group): the leader of __consumer_offsets partition abs(javaHash(key)) % partitions, on the
// listener the request arrived on. The topic is created on first need (offsets.topic.* settings, RF capped
// by the live brokers) and COORDINATOR_NOT_AVAILABLE answered meanwhile, as while the partition has no live
// leader. Key type 1 (transaction): the same for __transaction_state (transaction.state.log.* settings).
// Other key types: INVALID_REQUEST. Errors carry node -1, host "" and port -1, as Kafka's do.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleFindCoordinator(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	var err error
	switch req.CoordinatorType {
	case 0:
		br, ep, e := b.groupCoordinatorNode(req.CoordinatorKey, r.Conn.Listener())
		if err = e; err == nil {
			resp.NodeID, resp.Host, resp.Port = br.ID, ep.Host, ep.Port
		}
	case 1:
		br, ep, e := b.txnCoordinatorNode(req.CoordinatorKey, r.Conn.Listener())
		if err = e; err == nil {
			resp.NodeID, resp.Host, resp.Port = br.ID, ep.Host, ep.Port
		}
	default:
		err = kafkaError(kerr.InvalidRequest, "unknown coordinator type %d", req.CoordinatorType)
	}
	if err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			msg := ke.Description
			resp.ErrorMessage = &msg
		}
		resp.ErrorCode = errorCode(b.log, err)
		resp.NodeID, resp.Host, resp.Port = -1, "", -1
	}
	return Response{Msg: resp}, nil
}
