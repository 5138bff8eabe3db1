package broker

// Produce v0–v2: message sets of magic 0 (v0, v1) and magic 1 (v2) from pre-0.11 clients.
//
// The log holds record batch v2 only (message.format.version 2, Kafka 2.8's default), so each partition's
// message set is up-converted into one v2 batch before the ordinary append path (Log.appendAsLeader and
// LogValidator), as Kafka's LogValidator.convertAndAssignOffsetsNonCompressed /
// validateMessagesAndAssignOffsetsCompressed do: every message becomes a record with its key, value and (magic 1)
// CreateTime timestamp, magic 0 messages get NO_TIMESTAMP, and the batch is compressed with the topic's
// compression.type (producer: the codec of the producer's wrapper messages). The shallow rules of
// Log.analyzeAndValidateRecords come first: each message at most max.message.bytes (MESSAGE_TOO_LARGE), CRCs
// (CORRUPT_MESSAGE), one magic per set (INVALID_RECORD); a message flagged LogAppendTime by the producer is
// INVALID_TIMESTAMP. The converted batch then passes the same validation as a v2 produce (timestamps, keys of
// compacted topics, max.message.bytes, message.timestamp.type stamping).
//
// A set without one complete message appends nothing and answers NONE with base offset -1 (Kafka returns the
// empty LogAppendInfo). As in Kafka, produce v0–v2 are not checked for magic (ProduceRequest.validateRecords
// only covers v3+, "to ensure compatibility with clients which send the wrong magic version"): a set that
// starts with a v2 batch is appended as a v3 produce would be; idempotent and transactional producers need
// v3+ in practice (InitProducerId, a transactional id), and transactional batches without a transactional id
// are refused as for every version.

import (
	"github.com/samsa-broker/samsa/storage/record"
)

// legacyProduceRecords returns the v2 batch to append for one partition of a produce v0–v2 (nil: nothing to
// append).
func legacyProduceRecords(b *Broker, version int16, topic string, recs []byte) ([]byte, error) {
	if len(recs) > batchMagicOffset && recs[batchMagicOffset] == record.MagicV2 {
		if err := validateProduceRecords(version, recs); err != nil {
			return nil, err
		}
		return recs, nil
	}
	tc, ok := b.topics.get(topic)
	if !ok {
		tc = b.currentConfig().TopicDefaults()
	}
	return record.UpConvert(recs, record.UpConvertOptions{
		TargetCodec:     targetCodec(tc.CompressionType),
		MaxMessageBytes: int(tc.MaxMessageBytes),
	})
}

// targetCodec maps compression.type to the codec of converted batches (BrokerCompressionCodec).
func targetCodec(compressionType string) record.Codec {
	switch compressionType {
	case "uncompressed":
		return record.CodecNone
	case "gzip":
		return record.CodecGzip
	case "snappy":
		return record.CodecSnappy
	case "lz4":
		return record.CodecLZ4
	case "zstd":
		return record.CodecZstd
	}
	return record.CodecProducer
}
