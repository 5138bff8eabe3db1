package broker

// CreateTopics, v0–v7 (Kafka 2.8's range).
//
// Only the active controller serves it (NOT_CONTROLLER elsewhere, clients re-resolve through Metadata's
// ControllerId), as in Kafka 2.8. Per topic: name rules, duplicate names in one request (INVALID_REQUEST),
// counts or an explicit assignment (not both), -1 counts take the broker defaults, replication factor vs
// live brokers, config validation (INVALID_CONFIG). Then /config/topics/<t> and /brokers/topics/<t> are
// written and the answer waits until every partition has a leader in this broker's metadata cache, or the
// request's timeout passes (REQUEST_TIMED_OUT; the topic is still created). validateOnly (v1+) checks
// without writing. v5+ answers with the topic's partition count, replication factor and configs. No
// create-topic policy is supported.
//
// Controller mutation quota (KIP-599, quotas.go): a valid topic charges its partition count just before it
// is written (validateOnly charges nothing); v6+ is strict (THROTTLING_QUOTA_EXCEEDED while the client's
// bucket is in debt), older versions permissive. ThrottleMillis carries the throttle (v3+ KIP-219).

import (
	"context"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
)

func handleCreateTopics(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	counts := map[string]int{}
	for _, t := range req.Topics {
		counts[t.Topic]++
	}
	want := map[string]int32{}
	q := b.mutationQuota(r, req.Version >= 6)
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		spec, err := b.createTopicRequest(req, t, counts[t.Topic] > 1, q)
		if err == nil {
			rt.NumPartitions, rt.ReplicationFactor = int32(len(spec.assignment)), int16(len(spec.assignment[0]))
			if req.Version >= 5 {
				rt.Configs = b.createTopicsConfigs(spec.configs)
			}
			if !req.ValidateOnly {
				want[t.Topic] = rt.NumPartitions
				b.log.WithFields(logrus.Fields{"topic": t.Topic, "partitions": rt.NumPartitions,
					"replication_factor": rt.ReplicationFactor}).Info("created topic")
			}
		} else {
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
		}
		rt.ErrorCode = errorCode(b.log, err)
		if req.Version >= 1 {
			rt.ErrorMessage = topicErrorMessage(err)
		}
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

// createTopicRequest validates one topic of the request and, unless validateOnly, charges its partitions
// to q and creates it.
func (b *Broker) createTopicRequest(req *kmsg.CreateTopicsRequest, t kmsg.CreateTopicsRequestTopic, duplicate bool,
	q *quota.MutationQuota) (topicSpec, error) {
	spec := topicSpec{name: t.Topic, partitions: t.NumPartitions, rf: t.ReplicationFactor, configs: map[string]string{}}
	switch {
	case !b.isController():
		return spec, kerr.NotController
	case duplicate:
		return spec, kafkaError(kerr.InvalidRequest, "create topics request had duplicate entries for the topic")
	}
	for _, c := range t.Configs {
		if c.Value != nil {
			spec.configs[c.Name] = *c.Value
		}
	}
	if len(t.ReplicaAssignment) > 0 {
		spec.assignment = make(map[int32][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			spec.assignment[a.Partition] = a.Replicas
		}
	}
	if err := b.prepareTopic(&spec); err != nil {
		return spec, err
	}
	if spec.assignment != nil && t.NumPartitions == -1 && len(t.ReplicaAssignment) > 0 {
		if err := b.checkBrokersAlive(spec.assignment); err != nil {
			return spec, err
		}
	}
	if req.ValidateOnly {
		return spec, nil
	}
	if q != nil {
		// An existing topic must not cost tokens (ZkAdminManager checks the metadata cache first).
		if _, ok := b.meta.Snapshot().Topics[spec.name]; ok {
			return spec, kafkaError(kerr.TopicAlreadyExists, "topic %q already exists", spec.name)
		}
		if err := q.Record(float64(len(spec.assignment))); err != nil {
			return spec, errThrottlingQuotaExceeded
		}
	}
	return spec, b.createTopic(spec)
}

// checkBrokersAlive: a manual assignment may only name live brokers.
func (b *Broker) checkBrokersAlive(a map[int32][]int32) error {
	snap := b.meta.Snapshot()
	for _, replicas := range a {
		for _, id := range replicas {
			if _, ok := snap.Broker(id); !ok {
				return kafkaError(kerr.InvalidReplicaAssignment, "replica assignment names broker %d, which is not alive", id)
			}
		}
	}
	return nil
}

// createTopicsConfigs lists the topic's effective configs for CreateTopics v5+.
func (b *Broker) createTopicsConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	entries, err := b.dynamicConfig().DescribeTopic(overrides)
	if err != nil {
		return nil
	}
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.Sensitive
		out = append(out, c)
	}
	return out
}
