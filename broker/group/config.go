package group

import (
	"time"

	"github.com/samsa-broker/samsa/storage/record"
)

// TopicName is Kafka's internal topic holding offset commits and group metadata.
const TopicName = "__consumer_offsets"

// NewMemberJoinTimeout is Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member's parked JoinGroup
// cannot heartbeat, so it gets this long instead of its session timeout before it is dropped.
const NewMemberJoinTimeout = 5 * time.Minute

// Config is the coordinator's slice of the broker configuration (group.* and offsets.* in Kafka's names).
type Config struct {
	BrokerID int32
	// NumPartitions is the partition count of __consumer_offsets, fixed for the broker's lifetime: the
	// topic's count when it exists at startup, else offsets.topic.num.partitions.
	NumPartitions int32

	MinSessionTimeout      time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms
	MaxSize                int           // group.max.size
	MetadataMaxBytes       int           // offset.metadata.max.bytes (Java string length)
	Retention              time.Duration // offsets.retention.minutes
	RetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	CommitTimeout          time.Duration // offsets.commit.timeout.ms
	CommitRequiredAcks     int16         // offsets.commit.required.acks
	LoadBufferSize         int           // offsets.load.buffer.size
	Compression            record.Codec  // offsets.topic.compression.codec

	// Record versions written, from inter.broker.protocol.version (reference 05 §2): OffsetValueVersion is 1
	// below 2.1-IV0, 2 below 2.1-IV1, else 3; GroupValueVersion is 1 below 2.1-IV0, 2 below 2.3-IV0, else 3.
	OffsetValueVersion int16
	GroupValueVersion  int16
	// StaticMembership: group.instance.id is accepted (IBP >= 2.3-IV0); otherwise requests carrying one are
	// answered UNSUPPORTED_VERSION, as Kafka does.
	StaticMembership bool
}

// DefaultConfig is Kafka 2.8's defaults at the latest inter-broker protocol.
func DefaultConfig() Config {
	return Config{
		NumPartitions:          50,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		InitialRebalanceDelay:  3 * time.Second,
		MaxSize:                1<<31 - 1,
		MetadataMaxBytes:       4096,
		Retention:              7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
		CommitTimeout:          5 * time.Second,
		CommitRequiredAcks:     -1,
		LoadBufferSize:         5 << 20,
		OffsetValueVersion:     3,
		GroupValueVersion:      3,
		StaticMembership:       true,
	}
}
