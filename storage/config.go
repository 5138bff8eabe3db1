package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Config is the per-log configuration, in Kafka's topic-level names and units (LogConfig).
type Config struct {
	SegmentBytes                    int64  // segment.bytes
	SegmentMs                       int64  // segment.ms
	SegmentJitterMs                 int64  // segment.jitter.ms
	IndexIntervalBytes              int    // index.interval.bytes
	SegmentIndexBytes               int    // segment.index.bytes
	RetentionMs                     int64  // retention.ms (< 0: unlimited)
	RetentionBytes                  int64  // retention.bytes (< 0: unlimited)
	FileDeleteDelayMs               int64  // file.delete.delay.ms
	FlushMessages                   int64  // flush.messages
	FlushMs                         int64  // flush.ms
	MaxMessageBytes                 int    // max.message.bytes
	MessageTimestampType            string // message.timestamp.type: "CreateTime" | "LogAppendTime"
	MessageTimestampDifferenceMaxMs int64  // message.timestamp.difference.max.ms
	CleanupPolicy                   string // cleanup.policy: "delete", "compact" or "compact,delete"
	Preallocate                     bool   // preallocate
}

// DefaultConfig returns Kafka 2.8's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:                    1 << 30,
		SegmentMs:                       7 * 24 * 3600 * 1000,
		SegmentJitterMs:                 0,
		IndexIntervalBytes:              4096,
		SegmentIndexBytes:               10 << 20,
		RetentionMs:                     7 * 24 * 3600 * 1000,
		RetentionBytes:                  -1,
		FileDeleteDelayMs:               60000,
		FlushMessages:                   math.MaxInt64,
		FlushMs:                         math.MaxInt64,
		MaxMessageBytes:                 1048588,
		MessageTimestampType:            "CreateTime",
		MessageTimestampDifferenceMaxMs: math.MaxInt64,
		CleanupPolicy:                   "delete",
		Preallocate:                     false,
	}
}

// Validate reports every setting outside the range Kafka's LogConfig accepts (or that this
// implementation cannot honour, such as a segment larger than an int32 file position).
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	// A segment must hold one batch header, and positions in the offset index are int32.
	if c.SegmentBytes < 61 || c.SegmentBytes > math.MaxInt32 {
		bad("segment.bytes %d outside [61, %d]", c.SegmentBytes, math.MaxInt32)
	}
	if c.SegmentMs < 1 {
		bad("segment.ms %d below 1", c.SegmentMs)
	}
	if c.SegmentJitterMs < 0 {
		bad("segment.jitter.ms %d below 0", c.SegmentJitterMs)
	}
	if c.IndexIntervalBytes < 0 {
		bad("index.interval.bytes %d below 0", c.IndexIntervalBytes)
	}
	if c.SegmentIndexBytes < 0 {
		bad("segment.index.bytes %d below 0", c.SegmentIndexBytes)
	}
	if c.FileDeleteDelayMs < 0 {
		bad("file.delete.delay.ms %d below 0", c.FileDeleteDelayMs)
	}
	if c.FlushMessages < 1 {
		bad("flush.messages %d below 1", c.FlushMessages)
	}
	if c.FlushMs < 0 {
		bad("flush.ms %d below 0", c.FlushMs)
	}
	if c.MaxMessageBytes < 0 {
		bad("max.message.bytes %d below 0", c.MaxMessageBytes)
	}
	if c.MessageTimestampType != "CreateTime" && c.MessageTimestampType != "LogAppendTime" {
		bad("message.timestamp.type %q is neither CreateTime nor LogAppendTime", c.MessageTimestampType)
	}
	if c.MessageTimestampDifferenceMaxMs < 0 {
		bad("message.timestamp.difference.max.ms %d below 0", c.MessageTimestampDifferenceMaxMs)
	}
	for _, p := range strings.Split(c.CleanupPolicy, ",") {
		if p = strings.TrimSpace(p); p != "delete" && p != "compact" {
			bad("cleanup.policy %q: unknown policy %q", c.CleanupPolicy, p)
		}
	}
	return errors.Join(errs...)
}

// AllowsDelete reports whether cleanup.policy contains delete: only then may DeleteRecords move
// the log start offset (Kafka's LogConfig.delete, checked by Partition.deleteRecordsOnLeader).
func (c Config) AllowsDelete() bool { return c.hasPolicy("delete") }

func (c Config) hasPolicy(p string) bool {
	for _, q := range strings.Split(c.CleanupPolicy, ",") {
		if strings.TrimSpace(q) == p {
			return true
		}
	}
	return false
}

// TopicPartition names one partition's log.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// dirName is the partition directory's name: topic + "-" + partition (Log.logDirName).
func (tp TopicPartition) dirName() string { return tp.String() }

// validTopic applies Kafka's legal-character rule (Topic.validate) so that a topic name can never
// escape its log dir.
func validTopic(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return fmt.Errorf("storage: illegal topic name %q", t)
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("storage: illegal character %q in topic name %q", r, t)
		}
	}
	return nil
}

// parseTopicPartitionDir splits a partition directory name at its last '-' (Log.parseTopicPartitionName).
func parseTopicPartitionDir(name string) (TopicPartition, error) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, fmt.Errorf("storage: directory %q is not in the form topic-partition", name)
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return TopicPartition{}, fmt.Errorf("storage: directory %q is not in the form topic-partition", name)
	}
	tp := TopicPartition{Topic: name[:i], Partition: int32(p)}
	if err := validTopic(tp.Topic); err != nil {
		return TopicPartition{}, fmt.Errorf("storage: directory %q: %w", name, err)
	}
	return tp, nil
}

// Sentinel errors. record.Err* pass through AppendAsLeader/AppendAsFollower wrapped.
var (
	// ErrOffsetOutOfRange: a read or DeleteRecords offset outside [log start, LEO] (or above the HW).
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrRecordListTooLarge: an append larger than segment.bytes (RECORD_LIST_TOO_LARGE).
	ErrRecordListTooLarge = errors.New("storage: record list too large")
	// ErrLogClosed: the Log was closed (or deleted).
	ErrLogClosed = errors.New("storage: log closed")
	// ErrUnexpectedAppendOffset: a follower append whose first offset is below the LEO, or whose
	// batches' offsets do not increase (Kafka's UnexpectedAppendOffsetException /
	// OffsetsOutOfOrderException).
	ErrUnexpectedAppendOffset = errors.New("storage: unexpected append offset")
	// ErrStorage: an I/O error on a log file (KAFKA_STORAGE_ERROR); the log dir should go offline.
	ErrStorage = errors.New("storage: log dir I/O error")
)

func ioErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrStorage, fmt.Sprintf(format, args...))
}

// AppendInfo describes a completed append.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	MaxTimestamp            int64 // -1 when no record has a timestamp
	OffsetOfMaxTimestamp    int64
	LogAppendTime           int64 // -1 unless message.timestamp.type=LogAppendTime
	NumRecords              int32
	Size                    int
	// Duplicate: the batch retried one of its producer's last 5 batches, so nothing was written
	// and FirstOffset/LastOffset are the original batch's, LogAppendTime its timestamp.
	Duplicate bool
}

// FileRange is a slice of a segment's .log file holding whole batches (the last one may be cut
// by maxBytes, as in Kafka). The holder keeps the segment's file open until Release, even if
// retention deletes the segment meanwhile. Read the bytes with ReadAt/pread or WriteTo (sendfile
// with an explicit offset); never use File's seek offset, which other readers share.
type FileRange struct {
	File     *os.File
	Position int64
	Length   int64
	Release  func() // idempotent; nil when Length is 0
}

// ReadResult is Read's answer. Ranges holds at most one range (one segment per call, as Kafka).
type ReadResult struct {
	Ranges         []FileRange
	LogStartOffset int64
	LogEndOffset   int64
}

// Size is the total number of bytes in Ranges.
func (r ReadResult) Size() int64 {
	var n int64
	for _, fr := range r.Ranges {
		n += fr.Length
	}
	return n
}

// Release releases every range.
func (r ReadResult) Release() {
	for _, fr := range r.Ranges {
		if fr.Release != nil {
			fr.Release()
		}
	}
}

// once wraps f so that only the first call runs it.
func once(f func()) func() {
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			f()
		}
	}
}
