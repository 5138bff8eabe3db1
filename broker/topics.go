package broker

// Topic administration shared by CreateTopics, CreatePartitions and auto-creation: validation and the
// ZooKeeper writes of Kafka 2.8's AdminZkClient. The controller does the rest from its watches; callers
// that must answer "created" wait until this broker's metadata cache shows leaders (Kafka's topic purgatory).

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/zkregistry"
)

// maxTopicNameLength is Kafka's 249: 255 minus room for the partition suffix and the -delete marker.
const maxTopicNameLength = 249

var legalTopicChars = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateTopicName is Kafka's Topic.validate: INVALID_TOPIC_EXCEPTION for an illegal name.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", kerr.InvalidTopicException, name)
	case len(name) > maxTopicNameLength:
		return fmt.Errorf("%w: topic name is longer than %d characters", kerr.InvalidTopicException, maxTopicNameLength)
	case !legalTopicChars.MatchString(name):
		return fmt.Errorf("%w: topic name %q has characters other than ASCII alphanumerics, '.', '_' and '-'",
			kerr.InvalidTopicException, name)
	}
	return nil
}

// isInternalTopic: the topics Kafka flags IsInternal in Metadata.
func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

// topicSpec is a topic to create: counts or an explicit assignment, plus config overrides.
type topicSpec struct {
	name       string
	partitions int32
	rf         int16
	assignment map[int32][]int32 // explicit replica assignment, or nil
	configs    map[string]string
}

// liveBrokerRacks lists the live brokers from the metadata cache, for replica assignment.
func liveBrokerRacks(s *metadata.Snapshot) []controller.BrokerRack {
	out := make([]controller.BrokerRack, 0, len(s.Brokers))
	for _, b := range s.Brokers {
		br := controller.BrokerRack{ID: b.ID}
		if b.Rack != nil {
			br.Rack = *b.Rack
		}
		out = append(out, br)
	}
	return out
}

// prepareTopic validates spec and computes its assignment without writing anything.
func (b *Broker) prepareTopic(spec *topicSpec) error {
	if err := validateTopicName(spec.name); err != nil {
		return err
	}
	if err := config.ValidateTopicConfigs(spec.configs); err != nil {
		return fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
	}
	if spec.assignment != nil {
		if spec.partitions != -1 || spec.rf != -1 {
			return fmt.Errorf("%w: both a replica assignment and partition/replication counts were given", kerr.InvalidRequest)
		}
		if err := zkregistry.ValidateAssignment(spec.assignment); err != nil {
			return fmt.Errorf("%w: %v", kerr.InvalidReplicaAssignment, err)
		}
		return nil
	}
	if spec.partitions == -1 {
		spec.partitions = b.cfg.NumPartitions
	}
	if spec.rf == -1 {
		spec.rf = int16(b.cfg.DefaultReplicationFactor)
	}
	if spec.partitions <= 0 {
		return fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
	}
	a, err := controller.AssignReplicas(liveBrokerRacks(b.meta.Snapshot()), spec.partitions, spec.rf, controller.NewTopicAssignOptions())
	switch {
	case errors.Is(err, controller.ErrInvalidReplicationFactor):
		return fmt.Errorf("%w: %v", kerr.InvalidReplicationFactor, err)
	case errors.Is(err, controller.ErrInvalidPartitions):
		return fmt.Errorf("%w: %v", kerr.InvalidPartitions, err)
	case err != nil:
		return fmt.Errorf("%w: %v", kerr.InvalidRequest, err)
	}
	spec.assignment = a
	return nil
}

// createTopic writes the topic's znodes (config first, then assignment), as AdminZkClient does.
func (b *Broker) createTopic(spec topicSpec) error {
	_, err := b.zk.CreateTopic(spec.name, zkregistry.TopicAssignment{Partitions: spec.assignment}, spec.configs)
	switch {
	case errors.Is(err, zkregistry.ErrTopicExists):
		return fmt.Errorf("%w: %v", kerr.TopicAlreadyExists, err)
	case errors.Is(err, zkregistry.ErrTopicCollision):
		return fmt.Errorf("%w: %v", kerr.InvalidTopicException, err)
	case errors.Is(err, zkregistry.ErrInvalidReplicaAssignment):
		return fmt.Errorf("%w: %v", kerr.InvalidReplicaAssignment, err)
	}
	return err
}

// waitForTopics polls the metadata cache (woken by its updates) until done reports true or the timeout
// passes. It reports whether done became true.
func (b *Broker) waitForMetadata(ctx context.Context, timeout time.Duration, done func(*metadata.Snapshot) bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		changed := b.meta.Changed()
		if done(b.meta.Snapshot()) {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return done(b.meta.Snapshot())
		case <-ctx.Done():
			return false
		}
	}
}

// topicsHaveLeaders reports whether every named topic is in the cache with a leader for each of its
// partitions (the condition Kafka's DelayedCreatePartitions waits for).
func topicsHaveLeaders(names []string, wantPartitions map[string]int32) func(*metadata.Snapshot) bool {
	return func(s *metadata.Snapshot) bool {
		for _, n := range names {
			t, ok := s.Topics[n]
			if !ok || int32(len(t.Partitions)) < wantPartitions[n] {
				return false
			}
			for _, p := range t.Partitions {
				if p.Leader < 0 {
					return false
				}
			}
		}
		return true
	}
}

// awaitLeaders waits (Kafka's DelayedCreatePartitions) until every topic in want has at least that many
// partitions, all with leaders, in this broker's metadata cache, or the timeout passes; then it returns the
// topics still without, which the caller answers REQUEST_TIMED_OUT. A non-positive timeout answers at once.
func (b *Broker) awaitLeaders(ctx context.Context, timeoutMs int32, want map[string]int32) map[string]bool {
	if len(want) == 0 {
		return nil
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	if timeoutMs > 0 && b.waitForMetadata(ctx, time.Duration(timeoutMs)*time.Millisecond, topicsHaveLeaders(names, want)) {
		return nil
	}
	snap := b.meta.Snapshot()
	late := map[string]bool{}
	for _, n := range names {
		if !topicsHaveLeaders([]string{n}, want)(snap) {
			late[n] = true
		}
	}
	return late
}

// isController: controller-only APIs answer NOT_CONTROLLER on other brokers.
func (b *Broker) isController() bool { return b.ctrl != nil && b.ctrl.IsActive() }

// topicErrorMessage is the error message Kafka puts next to a topic-level error code (v1+ responses): our
// detail, without the generic description of the code that wrapping put in front of it.
func topicErrorMessage(err error) *string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		msg = strings.TrimPrefix(msg, ke.Error()+": ")
	}
	return &msg
}
