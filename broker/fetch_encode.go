package broker

import (
	"encoding/binary"

	"github.com/samsa-broker/samsa/storage"
)

// fetchResponse is a Fetch response (v0–v12) whose records stay in the log files: it is encoded by hand
// into byte chunks around the partitions' file ranges, which the connection sends with sendfile. The bytes
// are exactly what kmsg.FetchResponse.AppendTo produces for the same content (fetch_encode_test.go).
type fetchResponse struct {
	version    int16
	throttleMs int32
	errorCode  int16 // v7+
	sessionID  int32 // v7+
	topics     []fetchResponseTopic
}

type fetchResponseTopic struct {
	name       string
	partitions []fetchResponsePartition
}

type fetchResponsePartition struct {
	partition        int32
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64 // v4+
	logStartOffset   int64 // v5+
	// readCommitted sends AbortedTransactions (v4+) as an array, aborted, possibly empty (read_committed
	// without an error), instead of null (read_uncommitted, errors), as Kafka does.
	readCommitted bool
	aborted       []storage.AbortedTxn
	ranges        []storage.FileRange // the records; none: an empty (not null) record set
	// records replaces ranges for fetch v0–v3: the down-converted message set (fetch_legacy.go).
	records []byte
	// diverging is the DivergingEpoch (v12, tagged field 0) for a follower whose last fetched epoch
	// diverged; nil: the tag is left out.
	diverging *divergingEpoch
}

// divergingEpoch is Fetch v12's EpochEndOffset.
type divergingEpoch struct {
	epoch     int32
	endOffset int64
}

// Fixed per-partition size: partition, error, HW, LSO, log start, aborted (4), preferred replica, records
// length (4), tags; a little over for the compact forms.
const fetchPartitionOverhead = 4 + 2 + 8 + 8 + 8 + 4 + 4 + 4 + 1

// chunks encodes the response body (after the response header): one byte chunk before each partition's
// file ranges, then the ranges, and a last byte chunk for what follows the last records. The file ranges
// are handed over: the connection releases them once sent.
func (f *fetchResponse) chunks() []Chunk {
	flex := f.version >= 12
	size, nRanges := 16, 0
	for _, t := range f.topics {
		size += 8 + len(t.name) + len(t.partitions)*fetchPartitionOverhead
		for _, p := range t.partitions {
			nRanges += len(p.ranges)
			size += len(p.aborted) * 17
		}
	}
	buf := make([]byte, 0, size)
	out := make([]Chunk, 0, 2*nRanges+1)
	last := 0 // start of the bytes not yet in a chunk
	if f.version >= 1 {
		buf = binary.BigEndian.AppendUint32(buf, uint32(f.throttleMs))
	}
	if f.version >= 7 {
		buf = binary.BigEndian.AppendUint16(buf, uint16(f.errorCode))
		buf = binary.BigEndian.AppendUint32(buf, uint32(f.sessionID))
	}
	buf = appendWireArrayLen(buf, len(f.topics), flex)
	for _, t := range f.topics {
		buf = appendWireString(buf, t.name, flex)
		buf = appendWireArrayLen(buf, len(t.partitions), flex)
		for _, p := range t.partitions {
			buf = binary.BigEndian.AppendUint32(buf, uint32(p.partition))
			buf = binary.BigEndian.AppendUint16(buf, uint16(p.errorCode))
			buf = binary.BigEndian.AppendUint64(buf, uint64(p.highWatermark))
			if f.version >= 4 {
				buf = binary.BigEndian.AppendUint64(buf, uint64(p.lastStableOffset))
			}
			if f.version >= 5 {
				buf = binary.BigEndian.AppendUint64(buf, uint64(p.logStartOffset))
			}
			switch {
			case f.version < 4:
			case p.readCommitted:
				buf = appendWireArrayLen(buf, len(p.aborted), flex)
				for _, a := range p.aborted {
					buf = binary.BigEndian.AppendUint64(buf, uint64(a.ProducerID))
					buf = binary.BigEndian.AppendUint64(buf, uint64(a.FirstOffset))
					if flex {
						buf = append(buf, 0) // no tagged fields
					}
				}
			default:
				buf = appendWireNullArray(buf, flex)
			}
			if f.version >= 11 {
				buf = binary.BigEndian.AppendUint32(buf, ^uint32(0)) // PreferredReadReplica -1: no replica selector
			}
			n := int64(len(p.records))
			for _, r := range p.ranges {
				n += r.Length
			}
			if flex {
				buf = binary.AppendUvarint(buf, uint64(n)+1)
			} else {
				buf = binary.BigEndian.AppendUint32(buf, uint32(n))
			}
			if n > 0 {
				out = append(out, Chunk{Bytes: buf[last:len(buf):len(buf)]})
				last = len(buf)
				if len(p.records) > 0 {
					out = append(out, Chunk{Bytes: p.records})
				}
				for _, r := range p.ranges {
					if r.Length > 0 {
						out = append(out, Chunk{File: r})
					} else if r.Release != nil {
						r.Release()
					}
				}
			}
			switch {
			case flex && p.diverging != nil:
				// One tagged field, DivergingEpoch (tag 0): epoch, end offset, its own empty tag section.
				buf = append(buf, 1, 0, 4+8+1)
				buf = binary.BigEndian.AppendUint32(buf, uint32(p.diverging.epoch))
				buf = binary.BigEndian.AppendUint64(buf, uint64(p.diverging.endOffset))
				buf = append(buf, 0)
			case flex:
				buf = append(buf, 0) // partition tagged fields: no DivergingEpoch, CurrentLeader, SnapshotId
			}
		}
		if flex {
			buf = append(buf, 0)
		}
	}
	if flex {
		buf = append(buf, 0)
	}
	// Chunks keep pointing into buf's first array: a later append that grew buf copied it, but the
	// earlier bytes were already final, so both copies agree.
	return append(out, Chunk{Bytes: buf[last:]})
}

// appendWireArrayLen writes an array length: int32, or in flexible versions uvarint(n+1).
func appendWireArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// appendWireNullArray writes a null array: -1, or in flexible versions uvarint 0.
func appendWireNullArray(dst []byte, flex bool) []byte {
	if flex {
		return append(dst, 0)
	}
	return binary.BigEndian.AppendUint32(dst, ^uint32(0))
}

// appendWireString writes a non-null string: int16 length, or in flexible versions uvarint(len+1).
func appendWireString(dst []byte, s string, flex bool) []byte {
	if flex {
		dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	}
	return append(dst, s...)
}
