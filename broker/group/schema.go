package group

// The binary key and value schemas of __consumer_offsets records (Kafka 2.8's OffsetCommitKey,
// OffsetCommitValue, GroupMetadataKey and GroupMetadataValue message definitions). Each key and value is a
// big-endian int16 version followed by a non-flexible struct: strings are int16 length + UTF-8 (nullable
// ones use length -1 for null), bytes are int32 length + data, arrays are an int32 count.
//
//	offset commit key   v0/v1: group string, topic string, partition int32        (2.8 writes v1)
//	group metadata key  v2:    group string
//	offset commit value v0: offset int64, metadata string, commitTimestamp int64
//	                    v1: offset int64, metadata string, commitTimestamp int64, expireTimestamp int64
//	                    v2: offset int64, metadata string, commitTimestamp int64
//	                    v3: offset int64, leaderEpoch int32, metadata string, commitTimestamp int64
//	group metadata value v0-v3: protocolType string, generation int32, protocol nullable string,
//	                    leader nullable string, [v2+ currentStateTimestamp int64], members [member]
//	member:             memberId string, [v3+ groupInstanceId nullable string], clientId string,
//	                    clientHost string, [v1+ rebalanceTimeout int32], sessionTimeout int32,
//	                    subscription bytes, assignment bytes
//
// A record with a null value is a tombstone for its key.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMalformed is returned for key or value bytes that do not parse.
var ErrMalformed = errors.New("group: malformed __consumer_offsets record")

// Key versions.
const (
	offsetKeyV0  int16 = 0
	offsetKeyV1  int16 = 1
	groupKeyV2   int16 = 2
	maxValueVers       = 3
)

// Key is a decoded record key: an offset commit key (Topic set) or a group metadata key.
type Key struct {
	Version   int16
	Group     string
	Topic     string // offset keys only
	Partition int32  // offset keys only
}

// IsOffset reports whether k is an offset commit key (versions 0 and 1).
func (k Key) IsOffset() bool { return k.Version == offsetKeyV0 || k.Version == offsetKeyV1 }

// OffsetValue is an offset commit value (Kafka's OffsetAndMetadata).
type OffsetValue struct {
	Offset          int64
	LeaderEpoch     int32 // -1: none (and in versions below 3)
	Metadata        string
	CommitTimestamp int64
	ExpireTimestamp int64 // -1: none; only version 1 carries one
}

// GroupValue is a group metadata value.
type GroupValue struct {
	ProtocolType          string
	Generation            int32
	Protocol              *string
	Leader                *string
	CurrentStateTimestamp int64 // -1: unknown (and in versions below 2)
	Members               []MemberValue
}

// MemberValue is one member in a group metadata value.
type MemberValue struct {
	MemberID         string
	InstanceID       *string // version 3+
	ClientID         string
	ClientHost       string
	RebalanceTimeout int32 // version 1+; version 0 reads the session timeout
	SessionTimeout   int32
	Subscription     []byte // the member's metadata for the group's protocol
	Assignment       []byte
}

// OffsetKeyBytes encodes an offset commit key, version 1 (what Kafka 2.8 writes).
func OffsetKeyBytes(group, topic string, partition int32) []byte {
	var w writer
	w.int16(offsetKeyV1)
	w.string(group)
	w.string(topic)
	w.int32(partition)
	return w.b
}

// GroupKeyBytes encodes a group metadata key, version 2.
func GroupKeyBytes(group string) []byte {
	var w writer
	w.int16(groupKeyV2)
	w.string(group)
	return w.b
}

// OffsetValueBytes encodes v in the given version (0-3). Version 1 is the only one with an expire
// timestamp; versions below 3 drop the leader epoch.
func OffsetValueBytes(v OffsetValue, version int16) ([]byte, error) {
	if version < 0 || version > maxValueVers {
		return nil, fmt.Errorf("group: offset commit value version %d", version)
	}
	var w writer
	w.int16(version)
	w.int64(v.Offset)
	if version >= 3 {
		w.int32(v.LeaderEpoch)
	}
	w.string(v.Metadata)
	w.int64(v.CommitTimestamp)
	if version == 1 {
		w.int64(v.ExpireTimestamp)
	}
	return w.b, nil
}

// GroupValueBytes encodes v in the given version (0-3).
func GroupValueBytes(v GroupValue, version int16) ([]byte, error) {
	if version < 0 || version > maxValueVers {
		return nil, fmt.Errorf("group: group metadata value version %d", version)
	}
	var w writer
	w.int16(version)
	w.string(v.ProtocolType)
	w.int32(v.Generation)
	w.nullableString(v.Protocol)
	w.nullableString(v.Leader)
	if version >= 2 {
		w.int64(v.CurrentStateTimestamp)
	}
	w.int32(int32(len(v.Members)))
	for _, m := range v.Members {
		w.string(m.MemberID)
		if version >= 3 {
			w.nullableString(m.InstanceID)
		}
		w.string(m.ClientID)
		w.string(m.ClientHost)
		if version >= 1 {
			w.int32(m.RebalanceTimeout)
		}
		w.int32(m.SessionTimeout)
		w.bytes(m.Subscription)
		w.bytes(m.Assignment)
	}
	return w.b, nil
}

// DecodeKey decodes a record key.
func DecodeKey(b []byte) (Key, error) {
	r := reader{b: b}
	k := Key{Version: r.int16()}
	switch k.Version {
	case offsetKeyV0, offsetKeyV1:
		k.Group, k.Topic, k.Partition = r.string(), r.string(), r.int32()
	case groupKeyV2:
		k.Group = r.string()
	default:
		if r.err == nil {
			return Key{}, fmt.Errorf("%w: unknown key version %d", ErrMalformed, k.Version)
		}
	}
	return k, r.done("key")
}

// DecodeOffsetValue decodes an offset commit value, versions 0-3 (Kafka 2.8 knows no others either).
func DecodeOffsetValue(b []byte) (OffsetValue, error) {
	r := reader{b: b}
	v := OffsetValue{LeaderEpoch: -1, ExpireTimestamp: -1}
	version := r.int16()
	if r.err == nil && (version < 0 || version > maxValueVers) {
		return OffsetValue{}, fmt.Errorf("%w: unknown offset commit value version %d", ErrMalformed, version)
	}
	v.Offset = r.int64()
	if version >= 3 {
		v.LeaderEpoch = r.int32()
	}
	v.Metadata = r.string()
	v.CommitTimestamp = r.int64()
	if version == 1 {
		v.ExpireTimestamp = r.int64()
	}
	return v, r.done("offset commit value")
}

// DecodeGroupValue decodes a group metadata value and returns its version.
func DecodeGroupValue(b []byte) (GroupValue, int16, error) {
	r := reader{b: b}
	v := GroupValue{CurrentStateTimestamp: -1}
	version := r.int16()
	if r.err == nil && (version < 0 || version > maxValueVers) {
		return GroupValue{}, version, fmt.Errorf("%w: unknown group metadata value version %d", ErrMalformed, version)
	}
	v.ProtocolType = r.string()
	v.Generation = r.int32()
	v.Protocol = r.nullableString()
	v.Leader = r.nullableString()
	if version >= 2 {
		v.CurrentStateTimestamp = r.int64()
	}
	n := r.int32()
	if n < 0 || int(n) > len(r.b) { // every member takes at least one byte: a bound against huge counts
		r.fail("member count")
	}
	for i := int32(0); i < n && r.err == nil; i++ {
		m := MemberValue{MemberID: r.string()}
		if version >= 3 {
			m.InstanceID = r.nullableString()
		}
		m.ClientID = r.string()
		m.ClientHost = r.string()
		if version >= 1 {
			m.RebalanceTimeout = r.int32()
		}
		m.SessionTimeout = r.int32()
		if version == 0 {
			m.RebalanceTimeout = m.SessionTimeout // GroupMetadataManager.readGroupMessageValue
		}
		m.Subscription = r.bytes()
		m.Assignment = r.bytes()
		v.Members = append(v.Members, m)
	}
	return v, version, r.done("group metadata value")
}

// SubscribedTopics parses the topics of a consumer protocol subscription (ConsumerProtocolSubscription, any
// version: version int16, topics [string], ...). Later fields are not needed and not read.
func SubscribedTopics(metadata []byte) ([]string, error) {
	r := reader{b: metadata}
	if v := r.int16(); r.err == nil && v < 0 {
		return nil, fmt.Errorf("%w: consumer subscription version %d", ErrMalformed, v)
	}
	n := r.int32()
	if n < 0 || int(n) > len(r.b) {
		r.fail("topic count")
	}
	var topics []string
	for i := int32(0); i < n && r.err == nil; i++ {
		topics = append(topics, r.string())
	}
	if r.err != nil {
		return nil, fmt.Errorf("consumer subscription: %w", r.err)
	}
	return topics, nil
}

type writer struct{ b []byte }

func (w *writer) int16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *writer) int32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *writer) int64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }

func (w *writer) string(s string) {
	if len(s) > math.MaxInt16 {
		s = s[:math.MaxInt16] // callers bound their strings (group ids, topics, metadata) far below this
	}
	w.int16(int16(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) nullableString(s *string) {
	if s == nil {
		w.int16(-1)
		return
	}
	w.string(*s)
}

func (w *writer) bytes(b []byte) {
	w.int32(int32(len(b)))
	w.b = append(w.b, b...)
}

// reader decodes big-endian fields; the first problem sticks in err and later reads return zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or invalid %s", ErrMalformed, what)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.fail(what)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int16() int16 {
	if b := r.take(2, "int16"); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) int32() int32 {
	if b := r.take(4, "int32"); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *reader) int64() int64 {
	if b := r.take(8, "int64"); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *reader) string() string {
	n := r.int16()
	if n < 0 {
		r.fail("string length")
		return ""
	}
	return string(r.take(int(n), "string"))
}

func (r *reader) nullableString() *string {
	n := r.int16()
	if r.err != nil || n == -1 {
		return nil
	}
	if n < 0 {
		r.fail("string length")
		return nil
	}
	s := string(r.take(int(n), "string"))
	if r.err != nil {
		return nil
	}
	return &s
}

// bytes copies: values outlive the read buffer they came from.
func (r *reader) bytes() []byte {
	n := r.int32()
	if n < 0 {
		// Kafka's generated readers refuse null for these non-nullable fields
		r.fail("bytes length")
		return nil
	}
	b := r.take(int(n), "bytes")
	if r.err != nil {
		return nil
	}
	return append([]byte{}, b...)
}

// done reports the first decoding problem. Trailing bytes are allowed: Kafka's readers of these
// non-flexible structs ignore them too.
func (r *reader) done(what string) error {
	if r.err != nil {
		return fmt.Errorf("%s: %w", what, r.err)
	}
	return nil
}
