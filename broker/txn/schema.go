package txn

// The binary key and value of __transaction_state records (Kafka 2.8's TransactionLogKey and
// TransactionLogValue message definitions, version 0, not flexible). Integers are big-endian, strings an
// int16 length and UTF-8, arrays an int32 count (-1: null).
//
//	key   v0: version int16 = 0, transactionalId string
//	value v0: version int16 = 0, producerId int64, producerEpoch int16, transactionTimeoutMs int32,
//	          transactionStatus int8, transactionPartitions nullable [topic string, partitionIds [int32]],
//	          transactionLastUpdateTimestampMs int64, transactionStartTimestampMs int64
//
// transactionPartitions is null in state Empty and a (possibly empty) array otherwise, one entry per topic.
// A record with a null value is a tombstone: the transactional id expired. Records are written
// uncompressed in plain (non-idempotent) batches, one record per state change, timestamped now.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/samsa-broker/samsa/storage/record"
)

// ErrMalformed is returned for key or value bytes that do not parse.
var ErrMalformed = errors.New("txn: malformed __transaction_state record")

const schemaVersion int16 = 0

// Value is a decoded transaction metadata value.
type Value struct {
	ProducerID    int64
	ProducerEpoch int16
	TimeoutMs     int32
	State         State
	// Partitions is nil (null on the wire) in state Empty.
	Partitions   []TopicPartition
	LastUpdateMs int64
	StartMs      int64 // -1 without a transaction
}

// KeyBytes encodes the key of transactionalID.
func KeyBytes(transactionalID string) []byte {
	b := make([]byte, 0, 4+len(transactionalID))
	b = binary.BigEndian.AppendUint16(b, uint16(schemaVersion))
	return appendString(b, transactionalID)
}

// DecodeKey returns the transactional id of a key.
func DecodeKey(b []byte) (string, error) {
	r := reader{b: b}
	v := r.int16()
	if r.err == nil && v != schemaVersion {
		return "", fmt.Errorf("%w: key version %d", ErrMalformed, v)
	}
	id := r.string()
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes after the key", ErrMalformed, len(r.b))
	}
	return id, r.err
}

// ValueBytes encodes v. Partitions of one topic go into one entry, in the order given (callers sort).
func ValueBytes(v Value) ([]byte, error) {
	if v.State == Empty && len(v.Partitions) > 0 {
		return nil, fmt.Errorf("%w: state Empty with %d partitions", errIllegalState, len(v.Partitions))
	}
	b := make([]byte, 0, 64)
	b = binary.BigEndian.AppendUint16(b, uint16(schemaVersion))
	b = binary.BigEndian.AppendUint64(b, uint64(v.ProducerID))
	b = binary.BigEndian.AppendUint16(b, uint16(v.ProducerEpoch))
	b = binary.BigEndian.AppendUint32(b, uint32(v.TimeoutMs))
	b = append(b, byte(v.State))
	if v.State == Empty || v.Partitions == nil {
		b = binary.BigEndian.AppendUint32(b, math.MaxUint32) // null
	} else {
		type entry struct {
			topic string
			parts []int32
		}
		var entries []entry
		index := map[string]int{}
		for _, tp := range v.Partitions {
			i, ok := index[tp.Topic]
			if !ok {
				i = len(entries)
				index[tp.Topic] = i
				entries = append(entries, entry{topic: tp.Topic})
			}
			entries[i].parts = append(entries[i].parts, tp.Partition)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
		for _, e := range entries {
			b = appendString(b, e.topic)
			b = binary.BigEndian.AppendUint32(b, uint32(len(e.parts)))
			for _, p := range e.parts {
				b = binary.BigEndian.AppendUint32(b, uint32(p))
			}
		}
	}
	b = binary.BigEndian.AppendUint64(b, uint64(v.LastUpdateMs))
	b = binary.BigEndian.AppendUint64(b, uint64(v.StartMs))
	return b, nil
}

// DecodeValue parses a value (not a tombstone).
func DecodeValue(b []byte) (Value, error) {
	r := reader{b: b}
	var v Value
	if ver := r.int16(); r.err == nil && ver != schemaVersion {
		return v, fmt.Errorf("%w: value version %d", ErrMalformed, ver)
	}
	v.ProducerID = r.int64()
	v.ProducerEpoch = r.int16()
	v.TimeoutMs = r.int32()
	st := r.int8()
	if n := r.int32(); n >= 0 {
		v.Partitions = []TopicPartition{}
		for i := int32(0); i < n && r.err == nil; i++ {
			topic := r.string()
			np := r.int32()
			if np < 0 {
				r.fail("partition array of %s is null", topic)
			}
			for j := int32(0); j < np && r.err == nil; j++ {
				v.Partitions = append(v.Partitions, TopicPartition{Topic: topic, Partition: r.int32()})
			}
		}
	} else if n != -1 {
		r.fail("partition count %d", n)
	}
	v.LastUpdateMs = r.int64()
	v.StartMs = r.int64()
	if r.err != nil {
		return Value{}, r.err
	}
	if len(r.b) != 0 {
		return Value{}, fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(r.b))
	}
	var err error
	if v.State, err = stateFromByte(st); err != nil {
		return Value{}, err
	}
	return v, nil
}

// recordBatch builds the batch of one state change (or tombstone when value is nil), timestamped nowMs.
func recordBatch(nowMs int64, recs ...record.BuildRecord) ([]byte, error) {
	for i := range recs {
		recs[i].Timestamp = nowMs
	}
	return record.Build(recs, record.DefaultBuildOptions())
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// reader decodes big-endian fields, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("truncated: need %d bytes, have %d", n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int8() int8 {
	if b := r.take(1); b != nil {
		return int8(b[0])
	}
	return 0
}

func (r *reader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *reader) int64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *reader) string() string {
	n := r.int16()
	if n < 0 {
		r.fail("null string")
		return ""
	}
	return string(r.take(int(n)))
}
