package broker

// DeleteTopics, v0–v6 (Kafka 2.8's range).
//
// Only the active controller serves it (NOT_CONTROLLER elsewhere). Each existing topic gets its
// /admin/delete_topics/<t> marker (Kafka's AdminZkClient.deleteTopic); the controller stops and deletes the
// replicas and removes the znodes. The answer waits until the topic has left this broker's metadata cache
// or the timeout passes (REQUEST_TIMED_OUT; deletion continues). delete.topic.enable=false answers
// TOPIC_DELETION_DISABLED. v6 may name topics by id: ids are resolved through the metadata cache.
//
// Controller mutation quota (KIP-599, quotas.go): a topic charges its partition count (from the metadata
// cache) just before it is marked; v5+ is strict (THROTTLING_QUOTA_EXCEEDED while the client's bucket is
// in debt; no error message, as Kafka 2.8 answers only the code), older versions permissive.
// ThrottleMillis carries the throttle (v2+ KIP-219).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/zkregistry"
)

func handleDeleteTopics(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	snap := b.meta.Snapshot()
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	for _, n := range req.TopicNames {
		targets = append(targets, target{name: &n})
	}
	for _, t := range req.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}
	var pending []string
	q := b.mutationQuota(r, req.Version >= 5)
	for _, t := range targets {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.name, t.id
		if t.name == nil {
			if name, ok := topicNameByID(snap, t.id); ok {
				rt.Topic = &name
			}
		}
		err := b.deleteTopic(snap, rt.Topic, q)
		if err == nil {
			pending = append(pending, *rt.Topic)
		}
		rt.ErrorCode = errorCode(b.log, err)
		if req.Version >= 5 && err != errThrottlingQuotaExceeded {
			rt.ErrorMessage = topicErrorMessage(err)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	gone := func(s *metadata.Snapshot) bool {
		for _, n := range pending {
			if _, ok := s.Topics[n]; ok {
				return false
			}
		}
		return true
	}
	if len(pending) > 0 && (req.TimeoutMillis <= 0 ||
		!b.waitForMetadata(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond, gone)) {
		snap := b.meta.Snapshot()
		for i := range resp.Topics {
			rt := &resp.Topics[i]
			if rt.ErrorCode == 0 && rt.Topic != nil {
				if _, ok := snap.Topics[*rt.Topic]; ok {
					rt.ErrorCode = kerr.RequestTimedOut.Code
				}
			}
		}
	}
	return mutationResponse(resp, q), nil
}

// deleteTopic marks topic name for deletion after charging its partitions to q.
func (b *Broker) deleteTopic(snap *metadata.Snapshot, name *string, q *quota.MutationQuota) error {
	switch {
	case !b.isController():
		return kerr.NotController
	case name == nil:
		return kerr.UnknownTopicID
	case !b.cfg.DeleteTopicEnable:
		return kerr.TopicDeletionDisabled
	}
	if err := validateTopicName(*name); err != nil {
		return err
	}
	if q != nil {
		// Kafka answers unknown topics from its metadata cache before charging anything.
		t, ok := snap.Topics[*name]
		if !ok {
			return kafkaError(kerr.UnknownTopicOrPartition, "topic %q does not exist", *name)
		}
		if err := q.Record(float64(len(t.Partitions))); err != nil {
			return errThrottlingQuotaExceeded
		}
	}
	err := b.zk.MarkTopicForDeletion(*name)
	switch {
	case errors.Is(err, zkregistry.ErrUnknownTopic):
		return kafkaError(kerr.UnknownTopicOrPartition, "%v", err)
	case errors.Is(err, zkregistry.ErrTopicMarkedForDeletion):
		return nil // already being deleted: wait for it like Kafka does
	}
	return err
}

func topicNameByID(s *metadata.Snapshot, id [16]byte) (string, bool) {
	for name, t := range s.Topics {
		if t.ID == id {
			return name, true
		}
	}
	return "", false
}
