package broker

// ElectLeaders, v0–v2 (Kafka 2.8's range). Admin → the active controller (reference 02 §11, KIP-460).
//
// v0 always runs a preferred election; v1+ carry ElectionType (0 PREFERRED, 1 UNCLEAN) and a top-level error
// code (always NONE here, as in Kafka 2.8 without an authorizer). Topics null means every partition in this
// broker's metadata cache; then partitions answered ELECTION_NOT_NEEDED are left out of the response, as
// Kafka does. A broker that is not the controller answers NOT_CONTROLLER for every partition. Per partition
// the controller answers UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION (topic being deleted),
// ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE, or NONE; a NONE is
// only sent once this broker's metadata cache shows the new leader, else REQUEST_TIMED_OUT after
// TimeoutMillis (Kafka's DelayedElectLeader).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/controller"
)

func handleElectLeaders(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.ElectPreferred
	var err error
	if req.Version >= 1 {
		switch req.ElectionType {
		case 0:
		case 1:
			typ = controller.ElectUnclean
		default:
			err = kafkaError(kerr.InvalidRequest, "unknown election type %d", req.ElectionType)
			resp.ErrorCode = kerr.InvalidRequest.Code
		}
	}
	all := req.Topics == nil
	tps := electionPartitions(req, b.meta.Snapshot())
	var results map[controller.TopicPartition]controller.ElectionResult
	switch {
	case err != nil:
	case b.isController():
		results, err = b.ctrl.ElectLeaders(ctx, typ, tps)
	default:
		err = kerr.NotController
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Response{}, err
		}
		results = make(map[controller.TopicPartition]controller.ElectionResult, len(tps))
		for _, tp := range tps {
			results[tp] = controller.ElectionResult{Err: err}
		}
	}
	b.awaitElectedLeaders(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond, results)

	topicIndex := make(map[string]int)
	for _, tp := range tps {
		res := results[tp]
		if all && errors.Is(res.Err, kerr.ElectionNotNeeded) {
			continue
		}
		i, ok := topicIndex[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			topicIndex[tp.Topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[i]
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.ErrorCode = errorCode(b.log, res.Err)
		rp.ErrorMessage = electionErrorMessage(res.Err)
		rt.Partitions = append(rt.Partitions, rp)
	}
	return Response{Msg: resp}, nil
}

// electionPartitions lists the request's partitions in request order without duplicates, or every
// partition of the metadata cache when Topics is null.
func electionPartitions(req *kmsg.ElectLeadersRequest, snap *metadata.Snapshot) []controller.TopicPartition {
	var out []controller.TopicPartition
	if req.Topics == nil {
		for _, name := range snap.TopicNames() {
			for _, p := range snap.Topics[name].Partitions {
				out = append(out, controller.TopicPartition{Topic: name, Partition: p.Index})
			}
		}
		return out
	}
	seen := make(map[controller.TopicPartition]bool)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := controller.TopicPartition{Topic: t.Topic, Partition: p}
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	return out
}

// awaitElectedLeaders waits until the metadata cache shows every elected leader, at most timeout; the
// partitions still not shown are answered REQUEST_TIMED_OUT.
func (b *Broker) awaitElectedLeaders(ctx context.Context, timeout time.Duration, results map[controller.TopicPartition]controller.ElectionResult) {
	shown := func(s *metadata.Snapshot, tp controller.TopicPartition, leader int32) bool {
		t, ok := s.Topics[tp.Topic]
		if !ok {
			return false
		}
		p, ok := t.Partition(tp.Partition)
		return ok && p.Leader == leader
	}
	pending := func(s *metadata.Snapshot) []controller.TopicPartition {
		var out []controller.TopicPartition
		for tp, r := range results {
			if r.Err == nil && !shown(s, tp, r.Leader) {
				out = append(out, tp)
			}
		}
		return out
	}
	if len(pending(b.meta.Snapshot())) == 0 {
		return
	}
	b.waitForMetadata(ctx, max(timeout, 0), func(s *metadata.Snapshot) bool { return len(pending(s)) == 0 })
	for _, tp := range pending(b.meta.Snapshot()) {
		results[tp] = controller.ElectionResult{Leader: results[tp].Leader,
			Err: kafkaError(kerr.RequestTimedOut, "the new leader of %s is not yet known to this broker", tp)}
	}
}

// electionErrorMessage is the per-partition ErrorMessage: our detail when there is one, else the code's
// description (Kafka's ApiError default message); null for NONE.
func electionErrorMessage(err error) *string {
	var ke *kerr.Error
	if errors.As(err, &ke) && err == error(ke) {
		return &ke.Description
	}
	return topicErrorMessage(err)
}
