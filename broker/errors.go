package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// errorMap is the one place where errors become Kafka error codes (franz-go's kerr). Lower packages return
// wrapped sentinels; handlers call errorCode. Order matters only where one error wraps several sentinels.
var errorMap = []struct {
	err  error
	code *kerr.Error
}{
	{record.ErrCorrupt, kerr.CorruptMessage},
	{record.ErrTruncated, kerr.CorruptMessage},
	{record.ErrInvalidRecord, kerr.InvalidRecord},
	{record.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{record.ErrMessageTooLarge, kerr.MessageTooLarge},
	{record.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrRecordListTooLarge, kerr.RecordListTooLarge},
	{storage.ErrLogClosed, kerr.NotLeaderForPartition},
	{storage.ErrStorage, kerr.KafkaStorageError},
	{storage.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{storage.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{storage.ErrInvalidTxnState, kerr.InvalidTxnState},
	{storage.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
}

// errorCode maps err to a Kafka error code: 0 for nil, the code of a *kerr.Error anywhere in the chain (how
// broker packages return a Kafka error directly), the mapped code for a known sentinel, and
// UNKNOWN_SERVER_ERROR (logged here, once) for anything else.
func errorCode(lg *logrus.Entry, err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorMap {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	lg.WithError(err).Error("unexpected error answered as UNKNOWN_SERVER_ERROR")
	return kerr.UnknownServerError.Code
}

// kafkaError returns an error that answers as code, with a detail message for responses that carry one.
func kafkaError(code *kerr.Error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{code}, args...)...)
}
