package broker

// ListPartitionReassignments, v0 (Kafka 2.8's range). Admin → the active controller (KIP-455, reference 02
// §8).
//
// Topics null lists every partition being reassigned; otherwise only the named partitions that are being
// reassigned appear (unknown or idle ones are left out, as in Kafka). Each shows the full replica set RS
// (targets first), the adding and the removing replicas. A broker that is not the controller answers a
// top-level NOT_CONTROLLER. TimeoutMillis is not used.

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/controller"
)

func handleListPartitionReassignments(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if !b.isController() {
		resp.ErrorCode = kerr.NotController.Code
		return Response{Msg: resp}, nil
	}
	var tps []controller.TopicPartition // nil: all
	if req.Topics != nil {
		tps = []controller.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, controller.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	found, err := b.ctrl.ListPartitionReassignments(ctx, tps)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Response{}, err
		}
		resp.ErrorCode = errorCode(b.log, err)
		resp.ErrorMessage = topicErrorMessage(err)
		return Response{Msg: resp}, nil
	}
	listed := make([]controller.TopicPartition, 0, len(found))
	for tp := range found {
		listed = append(listed, tp)
	}
	slices.SortFunc(listed, func(a, b controller.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	for i, tp := range listed {
		if i == 0 || listed[i-1].Topic != tp.Topic {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		ra := found[tp]
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = ra.Replicas, ra.AddingReplicas, ra.RemovingReplicas
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	return Response{Msg: resp}, nil
}
