package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Re-encoding for the log cleaner. Kafka's cleaner keeps a batch byte for byte when every record
// survives; otherwise it writes a new batch holding the survivors (MemoryRecords.filterTo,
// buildRetainedRecordsInto) or, when none survive but the batch must stay, a bare header
// (DefaultRecordBatch.writeEmptyHeader). Both keep the batch's offsets: the base offset and the
// last offset delta stay, so the producer's last sequence number (baseSequence + lastOffsetDelta)
// survives compaction, and every record keeps its offset delta.

// Rebuild returns a new batch holding recs, which must be records of b as Records handed them
// out, in order. The header keeps b's base offset, last offset delta, partition leader epoch,
// attributes (codec, timestamp type, transactional and control flags), producer id and epoch and
// base sequence. Each record keeps its offset delta, timestamp, key, value and headers; its
// attributes byte is written 0 (unused in v2, as Java writes it). The first timestamp becomes the
// first kept record's, the max timestamp the largest kept one (b's own for LogAppendTime, whose
// records all read as that time). The records are compressed again with b's codec.
func (b Batch) Rebuild(recs []Record) ([]byte, error) {
	if len(recs) == 0 {
		return nil, errors.New("record: rebuild: no records (use EmptyCopy)")
	}
	codec := b.Compression()
	if !codec.Valid() {
		return nil, unsupportedCodec(codec)
	}
	first := recs[0].Timestamp
	maxTs := first
	size := 0
	for i := range recs {
		r := &recs[i]
		if r.OffsetDelta < 0 || r.OffsetDelta > b.LastOffsetDelta() || (i > 0 && r.OffsetDelta <= recs[i-1].OffsetDelta) {
			return nil, fmt.Errorf("record: rebuild: offset delta %d out of order or outside [0, %d]", r.OffsetDelta, b.LastOffsetDelta())
		}
		maxTs = max(maxTs, r.Timestamp)
		size += rebuiltRecordSize(r, first)
	}
	if b.LogAppendTime() {
		maxTs = b.MaxTimestamp()
	}
	buf := make([]byte, HeaderSize, HeaderSize+size)
	for i := range recs {
		buf = appendRebuiltRecord(buf, &recs[i], first)
	}
	if codec != CodecNone {
		compressed, err := Compress(codec, buf[HeaderSize:])
		if err != nil {
			return nil, fmt.Errorf("record: rebuild: %w", err)
		}
		buf = append(buf[:HeaderSize], compressed...)
	}
	if len(buf)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("record: rebuild: batch of %d bytes", len(buf))
	}
	b.copyHeaderInto(buf, first, maxTs, int32(len(recs)), b.Attributes())
	return buf, nil
}

// EmptyCopy returns the header-only batch (61 bytes, no records) that stands in for b when all
// its records were removed but the batch must stay, e.g. as the last batch of an active producer
// (DefaultRecordBatch.writeEmptyHeader): base offset, last offset delta, leader epoch, producer
// id, epoch and base sequence, timestamp type, transactional and control flags and max timestamp
// are b's; it is uncompressed and its first timestamp is -1 (NO_TIMESTAMP).
func (b Batch) EmptyCopy() []byte {
	buf := make([]byte, HeaderSize)
	attrs := b.Attributes() &^ attrCodecMask
	b.copyHeaderInto(buf, NoTimestamp, b.MaxTimestamp(), 0, attrs)
	return buf
}

// copyHeaderInto writes a header into dst[:HeaderSize] for a batch of len(dst) bytes, taking
// the offsets, epoch and producer fields from b, and sets the CRC.
func (b Batch) copyHeaderInto(dst []byte, firstTs, maxTs int64, count int32, attrs int16) {
	be := binary.BigEndian
	be.PutUint64(dst[offBaseOffset:], uint64(b.BaseOffset()))
	be.PutUint32(dst[offBatchLength:], uint32(len(dst)-LogOverhead))
	be.PutUint32(dst[offLeaderEpoch:], uint32(b.PartitionLeaderEpoch()))
	dst[offMagic] = MagicV2
	be.PutUint16(dst[offAttributes:], uint16(attrs))
	be.PutUint32(dst[offLastOffsetDelta:], uint32(b.LastOffsetDelta()))
	be.PutUint64(dst[offFirstTimestamp:], uint64(firstTs))
	be.PutUint64(dst[offMaxTimestamp:], uint64(maxTs))
	be.PutUint64(dst[offProducerID:], uint64(b.ProducerID()))
	be.PutUint16(dst[offProducerEpoch:], uint16(b.ProducerEpoch()))
	be.PutUint32(dst[offBaseSequence:], uint32(b.BaseSequence()))
	be.PutUint32(dst[offNumRecords:], uint32(count))
	Batch(dst).setCRC()
}

func rebuiltBodySize(r *Record, first int64) int {
	n := 1 + varintLen(r.Timestamp-first) + varintLen(int64(r.OffsetDelta))
	n += bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesFieldSize(h.Value)
	}
	return n
}

func rebuiltRecordSize(r *Record, first int64) int {
	body := rebuiltBodySize(r, first)
	return varintLen(int64(body)) + body
}

func appendRebuiltRecord(dst []byte, r *Record, first int64) []byte {
	dst = appendVarint(dst, int64(rebuiltBodySize(r, first)))
	dst = append(dst, 0)
	dst = appendVarint(dst, r.Timestamp-first)
	dst = appendVarint(dst, int64(r.OffsetDelta))
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
