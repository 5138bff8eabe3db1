package record

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Sizes of the v2 batch framing (DefaultRecordBatch.java).
const (
	HeaderSize  = 61 // RECORD_BATCH_OVERHEAD: everything before the first record
	LogOverhead = 12 // baseOffset int64 + batchLength int32, not counted in batchLength

	// MagicV2 is the record format of batches; magic 0 and 1 (legacy.go)
	// only pass through the converters.
	MagicV2 = 2
	// NoTimestamp, NoProducerID, NoProducerEpoch, NoSequence and
	// NoPartitionLeaderEpoch are Kafka's "absent" values (RecordBatch.java).
	NoTimestamp            = -1
	NoProducerID           = -1
	NoProducerEpoch        = -1
	NoSequence             = -1
	NoPartitionLeaderEpoch = -1

	// minBatchLength is the smallest legal batchLength: a header with no records.
	minBatchLength = HeaderSize - LogOverhead
	// peekSize is what PeekHeader needs: offset, length, epoch, magic.
	peekSize = LogOverhead + 5
)

// Field offsets inside a batch (see the table in doc.go).
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21 // the CRC covers [offAttributes, end)
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
)

// Attribute bits (the low byte of the int16 attributes).
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// castagnoli is the CRC-32C table; hash/crc32 uses SSE4.2/ARMv8 CRC
// instructions for it, so checking a batch costs far less than copying it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Codec is the compression codec id stored in attribute bits 0-2.
type Codec int8

// Codec ids as in Kafka's CompressionType.java.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns Kafka's name for the codec (compression.type values).
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return "unknown"
}

// Valid reports whether c is one of the five codecs Kafka 2.8 knows.
func (c Codec) Valid() bool { return c >= CodecNone && c <= CodecZstd }

// Batch is a view over exactly one complete v2 record batch:
// len(b) == LogOverhead + BatchLength(). Accessors do not check that; a Batch
// comes from Next or has passed Validate. Accessors of header fields need
// len(b) >= HeaderSize and panic otherwise (a broken invariant).
type Batch []byte

func (b Batch) BaseOffset() int64 { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }

// LastOffsetDelta is lastOffset - baseOffset; it is preserved by compaction
// even when the records carrying those offsets are removed.
func (b Batch) LastOffsetDelta() int32 { return int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])) }
func (b Batch) LastOffset() int64      { return b.BaseOffset() + int64(b.LastOffsetDelta()) }
func (b Batch) NextOffset() int64      { return b.LastOffset() + 1 }

// BatchLength is the length field: the batch size minus LogOverhead.
func (b Batch) BatchLength() int32 { return int32(binary.BigEndian.Uint32(b[offBatchLength:])) }

// Size is the whole batch in bytes according to its length field.
func (b Batch) Size() int { return LogOverhead + int(b.BatchLength()) }

func (b Batch) PartitionLeaderEpoch() int32 {
	return int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
}
func (b Batch) Magic() int8       { return int8(b[offMagic]) }
func (b Batch) CRC() uint32       { return binary.BigEndian.Uint32(b[offCRC:]) }
func (b Batch) Attributes() int16 { return int16(binary.BigEndian.Uint16(b[offAttributes:])) }

// Compression returns the codec bits; ids 5-7 are returned as they are and
// rejected by Validate.
func (b Batch) Compression() Codec    { return Codec(b.Attributes() & attrCodecMask) }
func (b Batch) LogAppendTime() bool   { return b.Attributes()&attrLogAppendTime != 0 }
func (b Batch) IsTransactional() bool { return b.Attributes()&attrTransactional != 0 }
func (b Batch) IsControl() bool       { return b.Attributes()&attrControl != 0 }

func (b Batch) FirstTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[offFirstTimestamp:])) }
func (b Batch) MaxTimestamp() int64   { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }
func (b Batch) ProducerID() int64     { return int64(binary.BigEndian.Uint64(b[offProducerID:])) }
func (b Batch) ProducerEpoch() int16  { return int16(binary.BigEndian.Uint16(b[offProducerEpoch:])) }
func (b Batch) BaseSequence() int32   { return int32(binary.BigEndian.Uint32(b[offBaseSequence:])) }

// LastSequence is baseSequence + lastOffsetDelta, wrapping past MaxInt32 to 0
// like DefaultRecordBatch.incrementSequence; NoSequence stays NoSequence.
func (b Batch) LastSequence() int32 {
	base := b.BaseSequence()
	if base == NoSequence {
		return NoSequence
	}
	return IncrementSequence(base, b.LastOffsetDelta())
}

// IncrementSequence adds inc to a producer sequence number, wrapping past
// math.MaxInt32 to 0 (sequences are non-negative; DefaultRecordBatch.java).
func IncrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// NumRecords is the record count field (uncompressed even when the records are).
func (b Batch) NumRecords() int32 { return int32(binary.BigEndian.Uint32(b[offNumRecords:])) }

// ComputeCRC is the CRC-32C of bytes [21, end): it leaves out baseOffset,
// batchLength, partitionLeaderEpoch and magic so a leader can stamp offsets
// and its epoch without recomputing it.
func (b Batch) ComputeCRC() uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }
func (b Batch) CRCValid() bool     { return b.ComputeCRC() == b.CRC() }

// SetBaseOffset stamps the batch's first offset (outside the CRC).
func (b Batch) SetBaseOffset(o int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(o)) }

// SetPartitionLeaderEpoch stamps the leader epoch (outside the CRC).
func (b Batch) SetPartitionLeaderEpoch(e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch LogAppendTime with maxTimestamp = now, as
// LogValidator does for message.timestamp.type=LogAppendTime; readers then
// report now as every record's timestamp. Both fields are inside the CRC.
func (b Batch) SetLogAppendTime(now int64) {
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(b.Attributes()|attrLogAppendTime))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(now))
	b.setCRC()
}

// SetMaxTimestamp overwrites maxTimestamp (CreateTime path) and the CRC. Like
// DefaultRecordBatch.setMaxTimestamp it does nothing when the value is
// unchanged, so a correct client batch is not rewritten.
func (b Batch) SetMaxTimestamp(ts int64) {
	if b.MaxTimestamp() == ts {
		return
	}
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	b.setCRC()
}

func (b Batch) setCRC() { binary.BigEndian.PutUint32(b[offCRC:], b.ComputeCRC()) }
