package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// BuildRecord is one record to put in a batch; Key/Value nil mean null.
type BuildRecord struct {
	Key, Value []byte
	Timestamp  int64
	Headers    []Header
}

// BuildOptions sets the batch header fields Build does not derive from the
// records. Start from DefaultBuildOptions: the zero value would claim
// producer id 0 with sequence 0.
type BuildOptions struct {
	BaseOffset           int64
	Codec                Codec
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Transactional        bool
	Control              bool // control batches are also Transactional in Kafka
	PartitionLeaderEpoch int32
}

// DefaultBuildOptions is a non-idempotent, uncompressed batch at offset 0:
// producer id, epoch, base sequence and leader epoch all -1, as a plain
// producer sends.
func DefaultBuildOptions() BuildOptions {
	return BuildOptions{
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoProducerEpoch,
		BaseSequence:         NoSequence,
		PartitionLeaderEpoch: NoPartitionLeaderEpoch,
	}
}

// Build encodes recs as one v2 batch laid out exactly like the Java producer
// (MemoryRecordsBuilder) and Sarama do: offset deltas 0..n-1, firstTimestamp
// = the first record's timestamp, timestamp deltas relative to it,
// maxTimestamp = the largest timestamp, CreateTime, record attributes 0, and
// the records compressed as one stream after the count when opt.Codec is set.
// The batch has a valid CRC and passes Validate for its settings.
func Build(recs []BuildRecord, opt BuildOptions) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errors.New("record: build: a batch needs at least one record")
	}
	if len(recs) > math.MaxInt32 {
		return nil, fmt.Errorf("record: build: %d records", len(recs))
	}
	if !opt.Codec.Valid() {
		return nil, unsupportedCodec(opt.Codec)
	}
	first := recs[0].Timestamp
	maxTs := first
	rawSize := 0
	for i := range recs {
		maxTs = max(maxTs, recs[i].Timestamp)
		rawSize += encodedRecordSize(&recs[i], int32(i), first)
	}

	buf := make([]byte, HeaderSize, HeaderSize+rawSize)
	for i := range recs {
		buf = appendRecord(buf, &recs[i], int32(i), first)
	}
	if opt.Codec != CodecNone {
		compressed, err := Compress(opt.Codec, buf[HeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("record: build: %w", err)
		}
		buf = append(buf[:HeaderSize], compressed...)
	}
	if len(buf)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("record: build: batch of %d bytes", len(buf))
	}

	attrs := int16(opt.Codec)
	if opt.Transactional {
		attrs |= attrTransactional
	}
	if opt.Control {
		attrs |= attrControl
	}
	be := binary.BigEndian
	be.PutUint64(buf[offBaseOffset:], uint64(opt.BaseOffset))
	be.PutUint32(buf[offBatchLength:], uint32(len(buf)-LogOverhead))
	be.PutUint32(buf[offLeaderEpoch:], uint32(opt.PartitionLeaderEpoch))
	buf[offMagic] = MagicV2
	be.PutUint16(buf[offAttributes:], uint16(attrs))
	be.PutUint32(buf[offLastOffsetDelta:], uint32(len(recs)-1))
	be.PutUint64(buf[offFirstTimestamp:], uint64(first))
	be.PutUint64(buf[offMaxTimestamp:], uint64(maxTs))
	be.PutUint64(buf[offProducerID:], uint64(opt.ProducerID))
	be.PutUint16(buf[offProducerEpoch:], uint16(opt.ProducerEpoch))
	be.PutUint32(buf[offBaseSequence:], uint32(opt.BaseSequence))
	be.PutUint32(buf[offNumRecords:], uint32(len(recs)))
	Batch(buf).setCRC()
	return buf, nil
}

// recordBodySize is the size of a record after its length varint.
func recordBodySize(r *BuildRecord, offsetDelta int32, first int64) int {
	n := 1 + varintLen(r.Timestamp-first) + varintLen(int64(offsetDelta))
	n += bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldSize(h.Value)
	}
	return n
}

func encodedRecordSize(r *BuildRecord, offsetDelta int32, first int64) int {
	body := recordBodySize(r, offsetDelta, first)
	return varintLen(int64(body)) + body
}

func bytesFieldSize(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return varintLen(int64(len(b))) + len(b)
}

func appendRecord(dst []byte, r *BuildRecord, offsetDelta int32, first int64) []byte {
	dst = appendVarint(dst, int64(recordBodySize(r, offsetDelta, first)))
	dst = append(dst, 0) // attributes: unused in v2
	dst = appendVarint(dst, r.Timestamp-first)
	dst = appendVarint(dst, int64(offsetDelta))
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = appendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytesField(dst, h.Value)
	}
	return dst
}

func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	dst = appendVarint(dst, int64(len(b)))
	return append(dst, b...)
}
