package txn

import "context"

// GroupOffsets is what transactional offset commits need of the group coordinator (Kafka's
// GroupCoordinator.handleTxnCommitOffsets and scheduleHandleTxnCompletion). The broker wires it to
// broker/group; the transaction coordinator itself never calls it.
type GroupOffsets interface {
	// CommitTxnOffsets appends the offsets as a transactional batch of the producer to the group's
	// __consumer_offsets partition and keeps them pending for the producer: invisible to OffsetFetch until
	// a COMMIT marker reaches that partition. It returns one error code per offset, in order.
	CommitTxnOffsets(ctx context.Context, req TxnOffsetCommit) []int16
	// CompleteTxn is called after the producer's COMMIT (commit true) or ABORT marker was written to the
	// given __consumer_offsets partitions: its pending offsets there become committed, or are dropped.
	CompleteTxn(producerID int64, offsetsPartitions []int32, commit bool)
}

// TxnOffsetCommit is a TxnOffsetCommit request after the handler's checks.
type TxnOffsetCommit struct {
	GroupID       string
	ProducerID    int64
	ProducerEpoch int16
	MemberID      string  // v3+, "" otherwise: not checked
	InstanceID    *string // v3+
	Generation    int32   // v3+, -1 otherwise: not checked
	Offsets       []TxnOffset
}

// TxnOffset is one partition's transactional offset.
type TxnOffset struct {
	TopicPartition
	Offset          int64
	LeaderEpoch     int32 // -1: none
	Metadata        string
	CommitTimestamp int64
}
