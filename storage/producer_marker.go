package storage

import (
	"encoding/binary"

	"github.com/samsa-broker/samsa/storage/record"
)

// BuildEndTxnMarker encodes a COMMIT (commit) or ABORT transaction marker for AppendAsCoordinator
// (Kafka's MemoryRecords.withEndTransactionMarker, reference 04 §3.2): a control batch
// (transactional + control attributes) with the producer's id and epoch, base sequence -1 and one
// record whose key is version 0 + type (0 ABORT, 1 COMMIT) and whose value is version 0 +
// coordinatorEpoch, timestamped timestampMs.
func BuildEndTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestampMs int64) ([]byte, error) {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch = producerID, producerEpoch
	opt.Transactional, opt.Control = true, true
	return record.Build([]record.BuildRecord{{Key: key, Value: value, Timestamp: timestampMs}}, opt)
}
