package zkregistry

import (
	"fmt"
	"strconv"
)

// TopicJSONVersion is the /brokers/topics/<topic> version Kafka 2.8 writes.
const TopicJSONVersion = 3

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + itoa(tp.Partition) }

// TopicAssignment is /brokers/topics/<topic>: the replica assignment. The
// first replica of each list is the preferred leader. Adding/Removing hold
// entries only for partitions being reassigned (Partitions then holds the
// union of old and new replicas).
type TopicAssignment struct {
	Partitions map[int32][]int32
	Adding     map[int32][]int32
	Removing   map[int32][]int32
	TopicID    UUID // ZeroUUID: none (pre-2.8 writers); then no "topic_id" key
	Version    int  // JSON version read; Encode writes TopicJSONVersion
}

// Encode writes version 3 with the reference key order; partition keys in
// numeric order.
func (a TopicAssignment) Encode() []byte {
	o := newObject().int("version", TopicJSONVersion)
	o.raw("partitions", partitionMap(a.Partitions))
	o.raw("adding_replicas", partitionMap(a.Adding))
	o.raw("removing_replicas", partitionMap(a.Removing))
	if !a.TopicID.IsZero() {
		o.str("topic_id", a.TopicID.String())
	}
	return o.bytes()
}

type topicJSON struct {
	Version    flexInt            `json:"version"`
	Partitions map[string][]int32 `json:"partitions"`
	Adding     map[string][]int32 `json:"adding_replicas"`
	Removing   map[string][]int32 `json:"removing_replicas"`
	TopicID    *string            `json:"topic_id"`
}

// DecodeTopicAssignment parses versions 1-3; adding/removing replicas and
// topic_id may be missing.
func DecodeTopicAssignment(data []byte) (TopicAssignment, error) {
	const what = "topic assignment"
	var j topicJSON
	if err := decodeJSON(what, data, &j); err != nil {
		return TopicAssignment{}, err
	}
	v, err := int32Field(what, "version", j.Version)
	if err != nil {
		return TopicAssignment{}, err
	}
	if j.Partitions == nil {
		return TopicAssignment{}, fmt.Errorf("decode %s: %w: missing \"partitions\"", what, ErrMalformed)
	}
	a := TopicAssignment{Version: int(v)}
	if a.Partitions, err = decodePartitionMap(j.Partitions); err != nil {
		return TopicAssignment{}, err
	}
	if a.Adding, err = decodePartitionMap(j.Adding); err != nil {
		return TopicAssignment{}, err
	}
	if a.Removing, err = decodePartitionMap(j.Removing); err != nil {
		return TopicAssignment{}, err
	}
	if j.TopicID != nil {
		if a.TopicID, err = ParseUUID(*j.TopicID); err != nil {
			return TopicAssignment{}, fmt.Errorf("decode %s: %w", what, err)
		}
	}
	return a, nil
}

func decodePartitionMap(m map[string][]int32) (map[int32][]int32, error) {
	out := make(map[int32][]int32, len(m))
	for k, v := range m {
		p, err := strconv.ParseInt(k, 10, 32)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("decode topic assignment: %w: bad partition %q", ErrMalformed, k)
		}
		if v == nil {
			v = []int32{}
		}
		out[int32(p)] = v
	}
	return out, nil
}

// PartitionStateJSONVersion is the state znode's JSON version.
const PartitionStateJSONVersion = 1

// NoLeader is the leader value of a partition without a leader.
const NoLeader int32 = -1

// PartitionState is /brokers/topics/<t>/partitions/<p>/state (Kafka's
// LeaderIsrAndControllerEpoch).
type PartitionState struct {
	Leader          int32 // NoLeader when none
	LeaderEpoch     int32
	ISR             []int32
	ControllerEpoch int32 // epoch of the controller that made the leadership decision
	ZKVersion       int32 // the znode's data version; not in the JSON
}

// Encode writes the reference key order:
// {"controller_epoch":..,"leader":..,"version":1,"leader_epoch":..,"isr":[..]}.
func (s PartitionState) Encode() []byte {
	o := newObject().int("controller_epoch", int64(s.ControllerEpoch)).int("leader", int64(s.Leader))
	o.int("version", PartitionStateJSONVersion).int("leader_epoch", int64(s.LeaderEpoch))
	o.raw("isr", appendInts(nil, s.ISR))
	return o.bytes()
}

type partitionStateJSON struct {
	ControllerEpoch flexInt `json:"controller_epoch"`
	Leader          flexInt `json:"leader"`
	LeaderEpoch     flexInt `json:"leader_epoch"`
	ISR             []int32 `json:"isr"`
}

// DecodePartitionState parses a state znode; zkVersion is the znode's
// stat.Version.
func DecodePartitionState(data []byte, zkVersion int32) (PartitionState, error) {
	const what = "partition state"
	var j partitionStateJSON
	if err := decodeJSON(what, data, &j); err != nil {
		return PartitionState{}, err
	}
	s := PartitionState{ZKVersion: zkVersion, ISR: j.ISR}
	var err error
	if s.Leader, err = int32Field(what, "leader", j.Leader); err != nil {
		return PartitionState{}, err
	}
	if s.LeaderEpoch, err = int32Field(what, "leader_epoch", j.LeaderEpoch); err != nil {
		return PartitionState{}, err
	}
	if s.ControllerEpoch, err = int32Field(what, "controller_epoch", j.ControllerEpoch); err != nil {
		return PartitionState{}, err
	}
	if s.ISR == nil {
		return PartitionState{}, fmt.Errorf("decode %s: %w: missing \"isr\"", what, ErrMalformed)
	}
	return s, nil
}
