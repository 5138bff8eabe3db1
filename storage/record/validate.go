package record

import (
	"fmt"
	"math"
	"sync"
)

// DefaultMaxUncompressed caps decompressed records when the caller gives no
// limit. Kafka has no such cap; 64 MiB is large enough for any batch a
// producer with max.request.size <= 64 MiB can build from uncompressed data
// (the producer caps the uncompressed size it feeds the compressor), and
// small enough that a decompression bomb cannot exhaust the broker.
const DefaultMaxUncompressed = 64 << 20

// ValidateConfig holds the topic settings and origin Validate needs. Every
// check that is configured applies whatever the origin; a follower or
// recovery caller passes FromClient=false and MaxTimestampDiff=-1.
type ValidateConfig struct {
	MaxMessageBytes  int   // max.message.bytes: batch size limit; <= 0 = unlimited
	LogAppendTime    bool  // message.timestamp.type=LogAppendTime
	MaxTimestampDiff int64 // message.timestamp.difference.max.ms; < 0 or MaxInt64 = unlimited (0 is a real limit)
	Compacted        bool  // cleanup.policy contains compact: every record needs a key
	FromClient       bool  // producer input: Kafka's AppendOrigin.Client rules
	MaxUncompressed  int   // cap on decompressed bytes; <= 0 = DefaultMaxUncompressed
}

// Info describes a batch that passed Validate.
type Info struct {
	NumRecords      int32
	LastOffsetDelta int32
	// MaxTimestamp is the largest record timestamp (NoTimestamp if no record
	// has one), or nowMs when cfg.LogAppendTime.
	MaxTimestamp int64
	// OffsetOfMaxTimestampDelta is the offset delta of the first record with
	// MaxTimestamp (-1 if none), or LastOffsetDelta when cfg.LogAppendTime
	// (Kafka's rule for v2). Note Kafka 2.8 reports the batch's last offset
	// for compressed CreateTime batches too (shallowOffsetOfMaxTimestamp);
	// storage may do the same by looking at Codec.
	OffsetOfMaxTimestampDelta int32
	Codec                     Codec
	Size                      int
}

// Validate deep-checks one batch the way Kafka 2.8 checks a produce request
// (ProduceRequest.validateRecords, Log.analyzeAndValidateRecords,
// LogValidator for a v2 in-place append). It does not modify b. Checks, in
// Kafka's order:
//
//  1. framing: len(b) matches the length field; magic 0/1 => ErrInvalidRecord
//     (produce v3+ needs v2), any other non-2 magic => ErrCorrupt;
//  2. FromClient: baseOffset == 0 (ErrInvalidRecord);
//  3. size <= MaxMessageBytes (ErrMessageTooLarge);
//  4. size >= HeaderSize and CRC-32C (ErrCorrupt);
//  5. codec 0-4 (ErrUnsupportedCompression);
//  6. batch rules (ErrInvalidRecord): FromClient: lastOffsetDelta+1 ==
//     NumRecords > 0, no control batch, producerId >= 0 => baseSequence >= 0;
//     otherwise NumRecords >= 0 and lastOffsetDelta >= 0;
//  7. the records, decompressed with output capped at MaxUncompressed: each
//     well-formed and the records exactly filling the section (ErrCorrupt);
//     offset deltas 0..n-1 from clients, strictly increasing and <=
//     lastOffsetDelta otherwise (compaction leaves gaps) (ErrInvalidRecord);
//  8. per record, every record checked: Compacted needs a key
//     (ErrInvalidRecord), CreateTime timestamps within MaxTimestampDiff of
//     nowMs, producer batches must not be LogAppendTime (ErrInvalidTimestamp);
//     reported as a *ValidationError, timestamp errors winning as in Kafka.
//
// An uncompressed batch is validated without heap allocation.
func Validate(b Batch, cfg ValidateConfig, nowMs int64) (Info, error) {
	if err := validateHeader(b, cfg); err != nil {
		return Info{}, err
	}
	info := Info{
		NumRecords:      b.NumRecords(),
		LastOffsetDelta: b.LastOffsetDelta(),
		Codec:           b.Compression(),
		Size:            len(b),
	}
	data := []byte(b[HeaderSize:])
	if info.Codec != CodecNone {
		bufp := decompressPool.Get().(*[]byte)
		defer putDecompressBuf(bufp)
		var err error
		if data, err = decompress(info.Codec, data, (*bufp)[:0], cfg.MaxUncompressed); err != nil {
			return Info{}, err
		}
		*bufp = data
	}
	if err := validateRecords(b, data, cfg, nowMs, &info); err != nil {
		return Info{}, err
	}
	if cfg.LogAppendTime {
		info.MaxTimestamp = nowMs
		info.OffsetOfMaxTimestampDelta = info.LastOffsetDelta
	}
	return info, nil
}

func validateHeader(b Batch, cfg ValidateConfig) error {
	if len(b) < peekSize {
		return corruptf("batch of %d bytes is shorter than its %d-byte prefix", len(b), peekSize)
	}
	if len(b) != b.Size() {
		return corruptf("batch length field says %d bytes, view has %d", b.Size(), len(b))
	}
	switch m := b.Magic(); {
	case m == 0 || m == 1:
		return invalidf("magic %d: only v2 record batches are accepted", m)
	case m != MagicV2:
		return corruptf("invalid magic %d", m)
	}
	if cfg.FromClient && b.BaseOffset() != 0 {
		return invalidf("client batch has base offset %d, want 0", b.BaseOffset())
	}
	if cfg.MaxMessageBytes > 0 && len(b) > cfg.MaxMessageBytes {
		return fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d",
			ErrMessageTooLarge, len(b), cfg.MaxMessageBytes)
	}
	if len(b) < HeaderSize {
		return corruptf("batch of %d bytes is shorter than the %d-byte header", len(b), HeaderSize)
	}
	if got := b.ComputeCRC(); got != b.CRC() {
		return corruptf("crc 0x%08x, computed 0x%08x", b.CRC(), got)
	}
	if c := b.Compression(); !c.Valid() {
		return unsupportedCodec(c)
	}
	count, lod := b.NumRecords(), b.LastOffsetDelta()
	if !cfg.FromClient {
		if count < 0 || lod < 0 {
			return invalidf("record count %d, last offset delta %d", count, lod)
		}
		return nil
	}
	switch {
	case lod < 0:
		return invalidf("invalid offset range: last offset delta %d", lod)
	case count <= 0:
		return invalidf("invalid record count %d", count)
	case int64(count) != int64(lod)+1:
		return invalidf("record count %d does not match last offset delta %d", count, lod)
	case b.IsControl():
		return invalidf("clients may not send control batches")
	case b.ProducerID() >= 0 && b.BaseSequence() < 0:
		return invalidf("producer id %d with base sequence %d", b.ProducerID(), b.BaseSequence())
	}
	return nil
}

// validateRecords walks data (the records section, decompressed) and fills
// info's timestamp fields.
func validateRecords(b Batch, data []byte, cfg ValidateConfig, nowMs int64, info *Info) error {
	count, lod := info.NumRecords, info.LastOffsetDelta
	if int64(count)*(1+minRecordBody) > int64(len(data)) {
		return malformedf("record count %d cannot fit in %d bytes", count, len(data))
	}
	first := b.FirstTimestamp()
	batchLogAppend := b.LogAppendTime()
	checkTs := !cfg.LogAppendTime && cfg.MaxTimestampDiff >= 0 && cfg.MaxTimestampDiff != math.MaxInt64
	info.MaxTimestamp, info.OffsetOfMaxTimestampDelta = NoTimestamp, -1

	var recErrs []RecordError // nil unless a record is rejected
	badTs := false
	prevDelta := int32(-1)
	rr := recordReader{buf: data}
	var rec rawRecord
	for i := int32(0); i < count; i++ {
		if err := rr.next(&rec); err != nil {
			return err
		}
		d := rec.offsetDelta
		if cfg.FromClient && d != i {
			return invalidf("record %d has offset delta %d", i, d)
		}
		if d <= prevDelta || d > lod {
			return invalidf("record %d has offset delta %d after %d, last offset delta %d", i, d, prevDelta, lod)
		}
		prevDelta = d
		ts := first + rec.timestampDelta
		if batchLogAppend {
			ts = b.MaxTimestamp()
		}
		// LogValidator.validateRecord: the key check, else the timestamp checks.
		switch {
		case cfg.Compacted && rec.key == nil:
			recErrs = append(recErrs, RecordError{i, "compacted topic cannot accept a record without a key"})
		case checkTs && ts != NoTimestamp && absDiff(ts, nowMs) > uint64(cfg.MaxTimestampDiff):
			badTs = true
			recErrs = append(recErrs, RecordError{i, fmt.Sprintf(
				"timestamp %d is out of range: now %d, max difference %d ms", ts, nowMs, cfg.MaxTimestampDiff)})
		case cfg.FromClient && batchLogAppend:
			badTs = true
			recErrs = append(recErrs, RecordError{i, "producer batch has the LogAppendTime timestamp type"})
		}
		if ts > info.MaxTimestamp {
			info.MaxTimestamp, info.OffsetOfMaxTimestampDelta = ts, d
		}
	}
	if !rr.done() {
		return malformedf("%d bytes left after %d records", rr.remaining(), count)
	}
	if recErrs != nil {
		kind := ErrInvalidRecord
		if badTs {
			kind = ErrInvalidTimestamp
		}
		return &ValidationError{Kind: kind, Records: recErrs}
	}
	return nil
}

// absDiff is |a-b| without overflow.
func absDiff(a, b int64) uint64 {
	if a > b {
		return uint64(a) - uint64(b)
	}
	return uint64(b) - uint64(a)
}

func unsupportedCodec(c Codec) error {
	return fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, int8(c))
}

// decompressPool recycles Validate's decompression buffers: Validate keeps no
// reference to the records once it returns. Buffers above maxPooledBuf are
// dropped so one huge batch does not pin memory forever.
var decompressPool = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuf = 1 << 20

func putDecompressBuf(p *[]byte) {
	if cap(*p) > maxPooledBuf {
		return
	}
	*p = (*p)[:0]
	decompressPool.Put(p)
}
