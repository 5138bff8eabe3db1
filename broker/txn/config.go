package txn

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// TopicName is Kafka's internal topic holding transaction metadata.
const TopicName = "__transaction_state"

// Config is the coordinator's slice of the broker configuration (transaction.* in Kafka's names).
type Config struct {
	BrokerID int32
	// NumPartitions is the partition count of __transaction_state, fixed for the broker's lifetime: the
	// topic's count when it exists at startup, else transaction.state.log.num.partitions.
	NumPartitions int32

	MaxTimeout            time.Duration // transaction.max.timeout.ms
	IDExpiration          time.Duration // transactional.id.expiration.ms
	AbortTimedOutInterval time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	RemoveExpiredInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	LoadBufferSize        int           // transaction.state.log.load.buffer.size
	RequestTimeout        time.Duration // request.timeout.ms: marker requests and tombstone appends
	// MarkersVersion is the WriteTxnMarkers version sent: 1 at inter.broker.protocol.version >= 2.8-IV0, else 0.
	MarkersVersion int16
	// RetryBackoff paces resending markers whose partition leader is unknown or failed (Kafka's sender
	// thread polls with retry.backoff.ms).
	RetryBackoff time.Duration
}

// DefaultConfig is Kafka 2.8's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:         50,
		MaxTimeout:            15 * time.Minute,
		IDExpiration:          7 * 24 * time.Hour,
		AbortTimedOutInterval: 10 * time.Second,
		RemoveExpiredInterval: time.Hour,
		LoadBufferSize:        5 << 20,
		RequestTimeout:        30 * time.Second,
		MarkersVersion:        1,
		RetryBackoff:          100 * time.Millisecond,
	}
}

// Partitions is what the coordinator needs of the __transaction_state partitions this broker leads. The
// broker implements it over the replica manager.
type Partitions interface {
	// Append writes one batch to the partition as leader with acks=-1 (TransactionLog.EnforcedRequiredAcks),
	// waiting up to timeout. Errors carry a *kerr.Error (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
	// REQUEST_TIMED_OUT, ...).
	Append(ctx context.Context, partition int32, timeout time.Duration, batch []byte) (baseOffset int64, err error)
	// Log is the local log of the partition while this broker leads it.
	Log(partition int32) (Log, bool)
}

// Log is the part of storage.Log that loading reads.
type Log interface {
	LogStartOffset() int64
	LogEndOffset() int64
	Read(offset int64, maxBytes int, maxOffset int64, minOneMessage bool) (storage.ReadResult, error)
}

// ProducerIDs hands out producer ids unique in the cluster (the broker's block allocator over
// /latest_producer_id_block).
type ProducerIDs interface {
	GenerateProducerID() (int64, error)
}

// Transport carries transaction markers to partition leaders (Kafka's TransactionMarkerChannelManager's
// network client, on the inter-broker listener).
type Transport interface {
	// Leader is the partition's current leader from the metadata cache: known is false when the cluster
	// does not have the partition (a deleted topic); id is -1 while it has no live, reachable leader.
	Leader(tp TopicPartition) (id int32, known bool)
	// Send sends one WriteTxnMarkers request to broker id and returns its answer; an error means the
	// request may or may not have been applied (the markers are resent).
	Send(ctx context.Context, id int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
}

// Clock is the coordinator's time source; tests use a fake.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }
