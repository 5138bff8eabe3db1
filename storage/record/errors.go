package record

import (
	"errors"
	"fmt"
	"io"
)

// Error kinds. Every error returned by this package wraps exactly one of them
// (plus detail), so broker/errors.go can map them to Kafka codes with
// errors.Is; the mapping is written down in doc.go.
var (
	// ErrCorrupt: the bytes are not a well-formed batch (bad CRC, impossible
	// lengths, garbage, undecodable compressed data, decompression bomb).
	ErrCorrupt = errors.New("record: corrupt message")
	// ErrInvalidRecord: well-formed bytes that break a LogValidator rule
	// (record count, offsets, control batch or sequence from a client,
	// missing key on a compacted topic, magic 0/1 in a v2-only path).
	ErrInvalidRecord = errors.New("record: invalid record")
	// ErrInvalidTimestamp: a record timestamp outside
	// message.timestamp.difference.max.ms, or a producer batch flagged
	// LogAppendTime.
	ErrInvalidTimestamp = errors.New("record: invalid timestamp")
	// ErrMessageTooLarge: the batch is larger than max.message.bytes.
	ErrMessageTooLarge = errors.New("record: message too large")
	// ErrUnsupportedCompression: compression codec id 5-7.
	ErrUnsupportedCompression = errors.New("record: unsupported compression type")
	// ErrTruncated: a buffer ends inside a batch (torn tail after a crash, or
	// a fetch response cut at max bytes). It also matches io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("record: truncated batch: %w", io.ErrUnexpectedEOF)
)

// errTooLarge is returned by Decompress when the output would exceed the
// caller's limit. It is a corruption: Kafka has no such limit, but a batch
// that inflates past it is either a bomb or unusable for us anyway.
var errTooLarge = fmt.Errorf("%w: decompressed size exceeds limit", ErrCorrupt)

// RecordError names one offending record of a batch, as Kafka's produce
// response v8+ reports them (RecordErrors: batch_index, message).
type RecordError struct {
	BatchIndex int32
	Message    string
}

// ValidationError is returned by Validate when one or more records break a
// per-record rule (missing key on a compacted topic, timestamp out of range).
// Like Kafka's LogValidator.processRecordErrors every record is checked and
// the batch fails as a whole; Kind is ErrInvalidTimestamp if any record had a
// timestamp error, else ErrInvalidRecord.
type ValidationError struct {
	Kind    error
	Records []RecordError
}

func (e *ValidationError) Error() string {
	if len(e.Records) == 0 {
		return e.Kind.Error()
	}
	return fmt.Sprintf("%v: %d record(s) rejected, first at batch index %d: %s",
		e.Kind, len(e.Records), e.Records[0].BatchIndex, e.Records[0].Message)
}

func (e *ValidationError) Unwrap() error { return e.Kind }

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRecord}, args...)...)
}
