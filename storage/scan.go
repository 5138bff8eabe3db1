package storage

import (
	"context"
	"errors"

	"github.com/samsa-broker/samsa/storage/record"
)

// BatchReader is the part of a Log that ScanBatches needs; coordinators declare the same methods for
// their partition logs, so tests can hand them something else.
type BatchReader interface {
	LogStartOffset() int64
	LogEndOffset() int64
	Read(offset int64, maxBytes int, maxOffset int64, minOneMessage bool) (ReadResult, error)
}

// ScanBatches calls fn for every batch from the log start to the log end offset, reading bufSize bytes
// at a time (doubled when one batch does not fit, as Kafka's coordinators do when they load their
// partitions). A batch handed to fn aliases the read buffer: copy what must outlive the call.
func ScanBatches(ctx context.Context, l BatchReader, bufSize int, fn func(record.Batch) error) error {
	bufSize = max(bufSize, 1)
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := readAll(l, off, bufSize)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		next := off
		for len(data) > 0 {
			b, rest, err := record.Next(data)
			if errors.Is(err, record.ErrTruncated) {
				break // the read ended inside a batch: the next read starts at it
			}
			if err != nil {
				return err
			}
			data = rest
			if err := fn(b); err != nil {
				return err
			}
			next = b.NextOffset()
		}
		if next == off {
			bufSize *= 2
			continue
		}
		off = next
	}
	return nil
}

// readAll reads up to maxBytes from offset and copies the ranges into one buffer.
func readAll(l BatchReader, offset int64, maxBytes int) ([]byte, error) {
	res, err := l.Read(offset, maxBytes, -1, true)
	if err != nil {
		return nil, err
	}
	defer res.Release()
	var data []byte
	for _, fr := range res.Ranges {
		b, err := fr.Bytes()
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
	}
	return data, nil
}
