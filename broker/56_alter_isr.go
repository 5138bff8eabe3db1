package broker

// AlterIsr (AlterPartition in later Kafka), v0 (Kafka 2.8's range). Inter-broker: partition leader →
// controller (KIP-497, reference 02 §14).
//
// Only the active controller serves it (top-level NOT_CONTROLLER elsewhere, the leader then finds the new
// controller in its metadata cache). The controller checks the broker epoch (STALE_BROKER_EPOCH), and per
// partition the leader epoch (FENCED_LEADER_EPOCH), leadership (NOT_LEADER_OR_FOLLOWER), the zkVersion
// (INVALID_UPDATE_VERSION) and the ISR itself (INVALID_REQUEST), writes the state znode and answers with the
// state written; see controller.Controller.AlterISR for the rules and the deviations from Kafka 2.8 (replicas
// that are not live are left out of an expansion rather than written).

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
)

func handleAlterISR(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AlterPartitionRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	if !b.isController() {
		resp.ErrorCode = kerr.NotController.Code
		return Response{Msg: resp}, nil
	}
	var changes []controller.ISRChange
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			changes = append(changes, controller.ISRChange{
				TopicPartition: controller.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				LeaderEpoch:    p.LeaderEpoch, NewISR: p.NewISR, ZKVersion: p.PartitionEpoch,
			})
		}
	}
	results, err := b.ctrl.AlterISR(ctx, req.BrokerID, req.BrokerEpoch, changes)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Response{}, err // the connection or broker is going away
		}
		resp.ErrorCode = errorCode(b.log, err)
		return Response{Msg: resp}, nil
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			res := results[controller.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
			rp := kmsg.NewAlterPartitionResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = errorCode(b.log, res.Err)
			if res.Err == nil {
				rp.LeaderID, rp.LeaderEpoch, rp.ISR, rp.PartitionEpoch = res.Leader, res.LeaderEpoch, res.ISR, res.ZKVersion
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return Response{Msg: resp}, nil
}
