package broker

// Fetch v0–v3: pre-0.11 consumers read message sets of magic 0 (v0, v1) or magic 1 (v2, v3).
//
// The log holds record batch v2 only, so a consumer's partition data is down-converted as Kafka 2.8's
// KafkaApis.handleFetchRequest (maybeConvertFetchedData) and RecordsUtil.downConvert do (record.DownConvert:
// control batches dropped, offsets kept, one wrapper message per compressed batch). Unlike v4+ the records go
// through memory: the file ranges the replica manager found are read, converted and released. The converted
// set is cut after the last whole message within the size of the data read (itself bounded by max_bytes and
// partition_max_bytes), except that the first converted batch is always whole, as KIP-283's
// LazyDownConversionRecords sizes its send (max of the original size and the first converted batch).
//
// Per partition, in Kafka's order: a topic with compression.type=zstd answers UNSUPPORTED_COMPRESSION_TYPE
// (versions below 10 cannot read zstd); data that needs converting on a topic with
// message.downconversion.enable=false answers UNSUPPORTED_VERSION to consumers (followers are exempt); a zstd
// batch (written with compression.type=producer) answers UNSUPPORTED_COMPRESSION_TYPE; KAFKA_STORAGE_ERROR is
// answered as NOT_LEADER_OR_FOLLOWER (maybeDownConvertStorageError). These errors come with high watermark,
// last stable offset and log start offset -1 and no records (errorResponse). An empty read converts nothing
// and needs no permission (hasCompatibleMagic holds for no batches).
//
// Deviation: Kafka reads v0–v2 with a hard partition_max_bytes limit (no KIP-74 first-batch guarantee, so a
// larger first message comes back truncated and old clients retry with a larger fetch size); here every version
// gets at least the first batch, which old clients read just as well.

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// downConvertPartition turns op's file ranges (if any) into a magic 0/1 message set for a fetch v0–v3.
func downConvertPartition(b *Broker, version int16, topic string, fetchOffset int64, fromFollower bool, op *fetchResponsePartition) {
	if op.errorCode == kerr.KafkaStorageError.Code {
		op.errorCode = kerr.NotLeaderForPartition.Code
	}
	tc := b.fetchTopicConfig(topic)
	if rejectZstdTopic(tc, op) {
		return
	}
	var size int64
	for _, r := range op.ranges {
		size += r.Length
	}
	if size == 0 {
		return
	}
	if !fromFollower && !tc.MessageDownconversionEnable {
		legacyFetchError(op, kerr.UnsupportedVersion)
		return
	}
	data, err := readRanges(op.ranges)
	releaseRanges(op)
	if err != nil {
		op.errorCode = errorCode(b.log, err)
		op.highWatermark, op.lastStableOffset, op.logStartOffset = -1, -1, -1
		return
	}
	magic := int8(record.MagicV1)
	if version <= 1 {
		magic = record.MagicV0
	}
	out, err := record.DownConvert(data, magic, fetchOffset, len(data), 0)
	if err != nil {
		if errors.Is(err, record.ErrUnsupportedCompression) {
			legacyFetchError(op, kerr.UnsupportedCompressionType)
			return
		}
		op.errorCode = errorCode(b.log, fmt.Errorf("down-convert %s to magic %d: %w", storage.TopicPartition{Topic: topic}, magic, err))
		op.highWatermark, op.lastStableOffset, op.logStartOffset = -1, -1, -1
		return
	}
	op.records = out
}

// fetchTopicConfig is the topic's cached config, else the broker's topic defaults.
func (b *Broker) fetchTopicConfig(topic string) config.TopicConfig {
	if tc, ok := b.topics.get(topic); ok {
		return tc
	}
	return b.currentConfig().TopicDefaults()
}

// rejectZstdTopic answers UNSUPPORTED_COMPRESSION_TYPE for a consumer fetch below v10 (which cannot read
// zstd, KIP-110) of a topic with compression.type=zstd, as KafkaApis.maybeConvertFetchedData does for every
// version below 10, and reports whether it did.
func rejectZstdTopic(tc config.TopicConfig, op *fetchResponsePartition) bool {
	if tc.CompressionType != "zstd" {
		return false
	}
	legacyFetchError(op, kerr.UnsupportedCompressionType)
	return true
}

// legacyFetchError is KafkaApis' errorResponse: the error, offsets -1, no records.
func legacyFetchError(op *fetchResponsePartition, e *kerr.Error) {
	releaseRanges(op)
	op.errorCode = e.Code
	op.highWatermark, op.lastStableOffset, op.logStartOffset = -1, -1, -1
}

func releaseRanges(op *fetchResponsePartition) {
	for _, r := range op.ranges {
		if r.Release != nil {
			r.Release()
		}
	}
	op.ranges = nil
}

// readRanges copies the log file ranges into one buffer.
func readRanges(ranges []storage.FileRange) ([]byte, error) {
	var n int64
	for _, r := range ranges {
		n += r.Length
	}
	buf := make([]byte, n)
	pos := int64(0)
	for _, r := range ranges {
		if r.Length == 0 {
			continue
		}
		if _, err := r.File.ReadAt(buf[pos:pos+r.Length], r.Position); err != nil {
			return nil, fmt.Errorf("read %s at %d: %w", r.File.Name(), r.Position, err)
		}
		pos += r.Length
	}
	return buf, nil
}
