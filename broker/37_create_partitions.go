package broker

// CreatePartitions, v0–v3 (Kafka 2.8's range).
//
// Only the active controller serves it (NOT_CONTROLLER elsewhere). Kafka's AdminZkClient.addPartitions:
// the count must grow (INVALID_PARTITIONS otherwise); existing partitions keep their replicas; new ones
// are assigned with the topic's replication factor (that of partition 0) starting after the current
// count, or take the request's manual assignment (live brokers only, no duplicates, same replication
// factor: INVALID_REPLICA_ASSIGNMENT; a dead broker: BROKER_NOT_AVAILABLE). A topic queued for deletion answers INVALID_TOPIC_EXCEPTION. The
// new assignment is written to /brokers/topics/<t>; the controller creates the partitions from its watch.
// The answer waits until the new partitions have leaders, or REQUEST_TIMED_OUT. validateOnly checks only.
//
// Controller mutation quota (KIP-599, quotas.go): a valid increase charges the partitions it adds just
// before the write (validateOnly charges nothing); v3+ is strict (THROTTLING_QUOTA_EXCEEDED while the
// client's bucket is in debt), older versions permissive. ThrottleMillis carries the throttle (v1+ KIP-219).

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/zkregistry"
)

func handleCreatePartitions(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	counts := map[string]int{}
	for _, t := range req.Topics {
		counts[t.Topic]++
	}
	want := map[string]int32{}
	q := b.mutationQuota(r, req.Version >= 3)
	for _, t := range req.Topics {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		if counts[t.Topic] > 1 {
			err = kafkaError(kerr.InvalidRequest, "duplicate topic in request")
		} else {
			err = b.addPartitions(t, req.ValidateOnly, q)
		}
		if err == nil && !req.ValidateOnly {
			want[t.Topic] = t.Count
		}
		rt.ErrorCode = errorCode(b.log, err)
		rt.ErrorMessage = topicErrorMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	late := b.awaitLeaders(ctx, req.TimeoutMillis, want)
	for i := range resp.Topics {
		if rt := &resp.Topics[i]; late[rt.Topic] && rt.ErrorCode == 0 {
			rt.ErrorCode = kerr.RequestTimedOut.Code
		}
	}
	return mutationResponse(resp, q), nil
}

func (b *Broker) addPartitions(t kmsg.CreatePartitionsRequestTopic, validateOnly bool, q *quota.MutationQuota) error {
	if !b.isController() {
		return kerr.NotController
	}
	current, err := b.zk.GetTopicAssignment(t.Topic)
	if errors.Is(err, zkregistry.ErrUnknownTopic) || errors.Is(err, zkregistry.ErrNoNode) {
		return kafkaError(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.Topic)
	}
	if err != nil {
		return err
	}
	if st, err := b.zk.Exists(zkregistry.DeleteTopicPath(t.Topic)); err != nil {
		return err
	} else if st != nil {
		return kafkaError(kerr.InvalidTopicException, "topic %q is queued for deletion", t.Topic)
	}
	have := int32(len(current.Partitions))
	if t.Count <= have {
		return kafkaError(kerr.InvalidPartitions, "topic %q has %d partitions, which is not fewer than the %d requested",
			t.Topic, have, t.Count)
	}
	rf := len(current.Partitions[0])
	added, err := b.newPartitionReplicas(t, have, rf, current.Partitions[0][0])
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := q.Record(float64(t.Count - have)); err != nil {
		return errThrottlingQuotaExceeded
	}
	for p, rs := range added {
		current.Partitions[p] = rs
	}
	if err := b.zk.SetTopicAssignment(zkregistry.NoFencing, t.Topic, current); err != nil {
		return err
	}
	b.log.WithFields(logrus.Fields{"topic": t.Topic, "partitions": t.Count}).Info("added partitions")
	return nil
}

// newPartitionReplicas computes replicas for partitions have..count-1: the request's manual assignment,
// validated, or Kafka's algorithm continuing the existing layout.
func (b *Broker) newPartitionReplicas(t kmsg.CreatePartitionsRequestTopic, have int32, rf int, p0Leader int32) (map[int32][]int32, error) {
	snap := b.meta.Snapshot()
	newCount := t.Count - have
	if t.Assignment == nil {
		brokers := liveBrokerRacks(snap)
		a, err := controller.AssignReplicas(brokers, newCount, int16(rf), controller.AssignOptions{
			FixedStartIndex: controller.AddPartitionsStartIndex(brokers, p0Leader), StartPartitionID: have})
		if err != nil {
			return nil, kafkaError(kerr.InvalidReplicationFactor, "%v", err)
		}
		return a, nil
	}
	if int32(len(t.Assignment)) != newCount {
		return nil, kafkaError(kerr.InvalidReplicaAssignment, "increasing the partition count by %d needs %d assignments, got %d",
			newCount, newCount, len(t.Assignment))
	}
	out := make(map[int32][]int32, newCount)
	for i, a := range t.Assignment {
		if len(a.Replicas) != rf {
			return nil, kafkaError(kerr.InvalidReplicaAssignment, "assignment %v has %d replicas, the topic has %d", a.Replicas, len(a.Replicas), rf)
		}
		seen := map[int32]bool{}
		for _, id := range a.Replicas {
			if seen[id] {
				return nil, kafkaError(kerr.InvalidReplicaAssignment, "duplicate broker %d in assignment %v", id, a.Replicas)
			}
			seen[id] = true
			if _, ok := snap.Broker(id); !ok {
				return nil, kafkaError(kerr.BrokerNotAvailable, "broker %d in assignment %v is not alive", id, a.Replicas)
			}
		}
		out[have+int32(i)] = a.Replicas
	}
	return out, nil
}
