package record

import (
	"errors"
	"fmt"
	"math"
)

// CodecProducer as a target codec keeps the producer's codec
// (compression.type=producer).
const CodecProducer Codec = -1

// UpConvertOptions are the topic settings UpConvert applies.
type UpConvertOptions struct {
	// TargetCodec is the topic's compression.type (CodecProducer: the codec of
	// the producer's wrapper messages, none if it sent none).
	TargetCodec Codec
	// MaxMessageBytes limits every shallow entry (offset and size included),
	// as Log.analyzeAndValidateRecords does; <= 0 means unlimited. The v2
	// batch is checked again by Validate.
	MaxMessageBytes int
	// MaxUncompressed caps decompression over the whole set (<= 0:
	// DefaultMaxUncompressed).
	MaxUncompressed int
}

// UpConvert turns a legacy message set from a produce request v0–v2 into one
// v2 batch, as Kafka 2.8's LogValidator does for message.format.version 2
// (convertAndAssignOffsetsNonCompressed, or validateMessagesAndAssignOffsetsCompressed
// with inPlaceAssignment false): offsets 0..n-1 (the log assigns the real
// ones), CreateTime, the message timestamps (magic 0: NoTimestamp), no
// producer id, and opt.TargetCodec. The inner offsets a producer wrote are
// ignored, as Kafka ignores them when it rebuilds.
//
// It returns (nil, nil) for a set without one complete message (Kafka appends
// nothing and answers without error). Errors: ErrCorrupt (CRC, framing,
// compression), ErrInvalidRecord (magic 2 or mixed magic in the set, nested
// compression, empty wrapper), ErrInvalidTimestamp (a message flagged
// LogAppendTime by the producer), ErrMessageTooLarge (a shallow entry above
// MaxMessageBytes), ErrUnsupportedCompression.
func UpConvert(set []byte, opt UpConvertOptions) ([]byte, error) {
	// Shallow pass: Kafka's analyzeAndValidateRecords (sizes, one magic,
	// source codec) before any decompression.
	source, magic, n := CodecNone, int8(-1), 0
	for rest := set; ; {
		m, size, ok, err := nextLegacy(rest)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		rest = rest[size:]
		if opt.MaxMessageBytes > 0 && size > opt.MaxMessageBytes {
			return nil, fmt.Errorf("%w: message of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, size, opt.MaxMessageBytes)
		}
		if magic >= 0 && m.Magic != magic {
			return nil, invalidf("all messages must have the same magic: %d then %d", magic, m.Magic)
		}
		magic = m.Magic
		if magic > MagicV1 {
			return nil, invalidf("record batch of magic %d inside a legacy message set", magic)
		}
		if c := m.Codec(); c != CodecNone {
			source = c
		}
		if m.LogAppendTime() {
			return nil, fmt.Errorf("%w: invalid timestamp type in message at offset %d: producer should not set timestamp type to LogAppendTime", ErrInvalidTimestamp, m.Offset)
		}
		n++
	}
	if n == 0 {
		return nil, nil
	}
	target := opt.TargetCodec
	if target == CodecProducer {
		target = source
	}
	var recs []BuildRecord
	err := WalkLegacy(set, opt.MaxUncompressed, func(_, m *LegacyMessage) error {
		if len(recs) == math.MaxInt32 {
			return invalidf("more than %d messages", math.MaxInt32)
		}
		recs = append(recs, BuildRecord{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Build(recs, DefaultBuildOptions().withCodec(target))
}

func (o BuildOptions) withCodec(c Codec) BuildOptions {
	o.Codec = c
	return o
}

// DownConvert turns the v2 batches in data (as read from a log; a trailing
// incomplete batch is ignored) into a message set of magic toMagic (0 or 1)
// for fetch v0–v3, as Kafka 2.8's RecordsUtil.downConvert does:
//
//   - control batches are dropped;
//   - offsets are kept; in uncompressed batches records below firstOffset
//     (the fetch offset) are dropped, compressed batches are kept whole;
//   - an uncompressed batch becomes one message per record, a compressed one
//     one wrapper message (same codec; offset = its last record's, magic 1
//     timestamp = the max timestamp) around its records (magic 0: absolute
//     offsets, LZ4 with Kafka's magic 0 header checksum; magic 1: offsets
//     relative to the first record);
//   - magic 1 keeps timestamps and the LogAppendTime flag (the batch's max
//     timestamp as every record's), magic 0 drops them; headers are dropped.
//
// The result stops before the first message that would take it past limit
// bytes, except that the first converted batch is always whole (so a consumer
// makes progress, as KIP-283's LazyDownConversionRecords guarantees).
// Records are decompressed up to maxUncompressed bytes per batch (<= 0:
// DefaultMaxUncompressed). A zstd batch cannot be expressed in magic 0/1:
// ErrUnsupportedCompression.
func DownConvert(data []byte, toMagic int8, firstOffset int64, limit, maxUncompressed int) ([]byte, error) {
	if toMagic != MagicV0 && toMagic != MagicV1 {
		return nil, fmt.Errorf("record: down-convert to magic %d", toMagic)
	}
	var out []byte
	converted := false // a batch is already in out
	var recs []Record
	for len(data) > 0 {
		b, rest, err := Next(data)
		if errors.Is(err, ErrTruncated) {
			break // a torn tail, as a fetch cut at max bytes leaves
		}
		if err != nil {
			return nil, err
		}
		data = rest
		if b.Magic() != MagicV2 {
			return nil, corruptf("batch of magic %d in the log", b.Magic())
		}
		if b.IsControl() {
			continue
		}
		codec := b.Compression()
		if codec == CodecZstd {
			return nil, fmt.Errorf("%w: zstd batches cannot be down-converted to magic %d", ErrUnsupportedCompression, toMagic)
		}
		recs = recs[:0]
		err = b.Records(maxUncompressed, func(r Record) error {
			if codec != CodecNone || r.Offset >= firstOffset {
				recs = append(recs, r)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			continue
		}
		attrs := int8(0)
		if toMagic == MagicV1 && b.LogAppendTime() {
			attrs = legacyAttrLogAppendTime
		}
		if codec == CodecNone {
			for _, r := range recs {
				if converted && len(out)+legacySize(toMagic, r.Key, r.Value) > limit {
					return out, nil
				}
				out = appendLegacy(out, r.Offset, toMagic, attrs, r.Timestamp, r.Key, r.Value)
			}
			converted = true
			continue
		}
		var inner []byte
		maxTs := int64(NoTimestamp)
		for _, r := range recs {
			off := r.Offset
			if toMagic == MagicV1 {
				off -= recs[0].Offset
			}
			inner = appendLegacy(inner, off, toMagic, attrs, r.Timestamp, r.Key, r.Value)
			maxTs = max(maxTs, r.Timestamp)
		}
		compressed, err := Compress(codec, inner)
		if err != nil {
			return nil, err
		}
		if codec == CodecLZ4 && toMagic == MagicV0 {
			breakLegacyLZ4Header(compressed)
		}
		last := recs[len(recs)-1].Offset
		if converted && len(out)+legacySize(toMagic, nil, compressed) > limit {
			return out, nil
		}
		out = appendLegacy(out, last, toMagic, attrs|int8(codec), maxTs, nil, compressed)
		converted = true
	}
	return out, nil
}
