package zkregistry

import "fmt"

// ReassignPartition is one entry of the legacy /admin/reassign_partitions.
type ReassignPartition struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// EncodeReassignment writes
// {"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]}]}.
func EncodeReassignment(entries []ReassignPartition) []byte {
	list := []byte{'['}
	for i, e := range entries {
		if i > 0 {
			list = append(list, ',')
		}
		o := newObject().str("topic", e.Topic).int("partition", int64(e.Partition))
		list = append(list, o.raw("replicas", appendInts(nil, e.Replicas)).bytes()...)
	}
	list = append(list, ']')
	return newObject().int("version", 1).raw("partitions", list).bytes()
}

type partitionListJSON struct {
	Version    flexInt `json:"version"`
	Partitions []struct {
		Topic     *string `json:"topic"`
		Partition flexInt `json:"partition"`
		Replicas  []int32 `json:"replicas"`
	} `json:"partitions"`
}

func decodePartitionList(what string, data []byte, needReplicas bool) ([]ReassignPartition, error) {
	var j partitionListJSON
	if err := decodeJSON(what, data, &j); err != nil {
		return nil, err
	}
	if j.Partitions == nil {
		return nil, fmt.Errorf("decode %s: %w: missing \"partitions\"", what, ErrMalformed)
	}
	out := make([]ReassignPartition, 0, len(j.Partitions))
	for _, p := range j.Partitions {
		if p.Topic == nil {
			return nil, fmt.Errorf("decode %s: %w: entry without \"topic\"", what, ErrMalformed)
		}
		part, err := int32Field(what, "partition", p.Partition)
		if err != nil {
			return nil, err
		}
		if needReplicas && p.Replicas == nil {
			return nil, fmt.Errorf("decode %s: %w: entry without \"replicas\"", what, ErrMalformed)
		}
		out = append(out, ReassignPartition{Topic: *p.Topic, Partition: part, Replicas: p.Replicas})
	}
	return out, nil
}

// DecodeReassignment parses /admin/reassign_partitions.
func DecodeReassignment(data []byte) ([]ReassignPartition, error) {
	return decodePartitionList("partition reassignment", data, true)
}

// encodeTopicPartitions writes {"version":1,"partitions":[{"topic":..,"partition":..}]}.
func encodeTopicPartitions(tps []TopicPartition) []byte {
	list := []byte{'['}
	for i, tp := range tps {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, newObject().str("topic", tp.Topic).int("partition", int64(tp.Partition)).bytes()...)
	}
	list = append(list, ']')
	return newObject().int("version", 1).raw("partitions", list).bytes()
}

func decodeTopicPartitions(what string, data []byte) ([]TopicPartition, error) {
	entries, err := decodePartitionList(what, data, false)
	if err != nil {
		return nil, err
	}
	out := make([]TopicPartition, len(entries))
	for i, e := range entries {
		out[i] = TopicPartition{Topic: e.Topic, Partition: e.Partition}
	}
	return out, nil
}

// EncodePreferredReplicaElection writes /admin/preferred_replica_election.
func EncodePreferredReplicaElection(tps []TopicPartition) []byte { return encodeTopicPartitions(tps) }

// DecodePreferredReplicaElection parses /admin/preferred_replica_election.
func DecodePreferredReplicaElection(data []byte) ([]TopicPartition, error) {
	return decodeTopicPartitions("preferred replica election", data)
}

// EncodeIsrChange writes an /isr_change_notification/isr_change_<seq> node.
func EncodeIsrChange(tps []TopicPartition) []byte { return encodeTopicPartitions(tps) }

// DecodeIsrChange parses an ISR change notification.
func DecodeIsrChange(data []byte) ([]TopicPartition, error) {
	return decodeTopicPartitions("isr change notification", data)
}

// LogDirFailureEvent is the only log-dir event type (1).
const LogDirFailureEvent = 1

// LogDirEvent is /log_dir_event_notification/log_dir_event_<seq>.
type LogDirEvent struct {
	BrokerID int32
	Event    int32 // LogDirFailureEvent
}

// Encode writes {"version":1,"broker":..,"event":..}.
func (e LogDirEvent) Encode() []byte {
	return newObject().int("version", 1).int("broker", int64(e.BrokerID)).int("event", int64(e.Event)).bytes()
}

// DecodeLogDirEvent parses a log-dir event notification.
func DecodeLogDirEvent(data []byte) (LogDirEvent, error) {
	const what = "log dir event"
	var j struct {
		Broker flexInt `json:"broker"`
		Event  flexInt `json:"event"`
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return LogDirEvent{}, err
	}
	b, err := int32Field(what, "broker", j.Broker)
	if err != nil {
		return LogDirEvent{}, err
	}
	ev, err := int32Field(what, "event", j.Event)
	if err != nil {
		return LogDirEvent{}, err
	}
	return LogDirEvent{BrokerID: b, Event: ev}, nil
}
