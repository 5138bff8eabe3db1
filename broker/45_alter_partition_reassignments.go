package broker

// AlterPartitionReassignments, v0 (Kafka 2.8's range). Admin → the active controller (KIP-455, reference 02
// §8).
//
// Each partition names its target replicas, or null to cancel a reassignment in progress. A broker that is
// not the controller answers a top-level NOT_CONTROLLER with no partitions, as Kafka does. Per partition the
// controller answers UNKNOWN_TOPIC_OR_PARTITION (unknown, or topic being deleted),
// NO_REASSIGNMENT_IN_PROGRESS (cancelling nothing), INVALID_REPLICA_ASSIGNMENT (empty, duplicates, negative
// ids, adding a broker that is not live) or NONE once the reassignment is started: the answer does not
// wait for it to complete (ListPartitionReassignments shows the progress). A partition named twice counts
// once, with its last target (Kafka builds a map too). TimeoutMillis is not used, as in Kafka 2.8.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
)

func handleAlterPartitionReassignments(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	targets := make(map[controller.TopicPartition][]int32)
	var order []controller.TopicPartition // request order, for the answer
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := controller.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if _, seen := targets[tp]; !seen {
				order = append(order, tp)
			}
			targets[tp] = p.Replicas // nil: cancel
		}
	}
	if !b.isController() {
		resp.ErrorCode = kerr.NotController.Code
		return Response{Msg: resp}, nil
	}
	results, err := b.ctrl.AlterPartitionReassignments(ctx, targets)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Response{}, err
		}
		resp.ErrorCode = errorCode(b.log, err)
		resp.ErrorMessage = topicErrorMessage(err)
		return Response{Msg: resp}, nil
	}
	topicIndex := make(map[string]int)
	for _, tp := range order {
		i, ok := topicIndex[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			topicIndex[tp.Topic] = i
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.ErrorCode = errorCode(b.log, results[tp])
		rp.ErrorMessage = topicErrorMessage(results[tp])
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return Response{Msg: resp}, nil
}
