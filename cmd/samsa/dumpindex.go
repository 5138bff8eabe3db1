package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/samsa-broker/samsa/storage/record"
)

// Index entry layouts (storage/index draws them): .index is int32 relative offset + int32 position,
// .timeindex is int64 timestamp + int32 relative offset, both big-endian.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

var errIndexMismatch = errors.New("index does not agree with the log")

// readEntries reads a whole index file, refusing a length that is not a whole number of entries (Kafka's
// sanity check).
func readEntries(path string, entrySize int) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data)%entrySize != 0 {
		return nil, fmt.Errorf("index file length %d is not a multiple of %d: corrupt", len(data), entrySize)
	}
	return data, nil
}

// batchAt reads the batch that starts at pos in the segment's .log file.
func batchAt(log *os.File, pos int64, maxBytes int) (record.Batch, error) {
	head := make([]byte, record.LogOverhead+5)
	if _, err := log.ReadAt(head, pos); err != nil {
		return nil, fmt.Errorf("no batch at position %d: %w", pos, err)
	}
	_, size, _, err := record.PeekHeader(head)
	if err != nil {
		return nil, fmt.Errorf("position %d: %w", pos, err)
	}
	if size > maxBytes {
		return nil, fmt.Errorf("position %d: batch of %d bytes exceeds --max-message-size", pos, size)
	}
	b := make([]byte, size)
	if _, err := log.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return record.Batch(b), nil
}

// openSegmentLog opens the .log file beside an index file (same base offset).
func openSegmentLog(indexPath string) (*os.File, error) {
	return os.Open(strings.TrimSuffix(indexPath, filepath.Ext(indexPath)) + ".log")
}

// dumpOffsetIndex prints `offset: O position: P` per entry. With --verify it checks that each entry points
// at a batch whose last offset is the entry's offset (what Kafka's dumpIndex checks).
func dumpOffsetIndex(w, stderr io.Writer, path string, o dumpOptions) error {
	base, err := segmentBase(path)
	if err != nil {
		return err
	}
	data, err := readEntries(path, offsetEntrySize)
	if err != nil {
		return err
	}
	if o.sanityOnly {
		if err := offsetIndexSane(data, base); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s passed sanity check.\n", path)
		return nil
	}
	log, err := openSegmentLog(path)
	if err != nil && o.verify {
		return err
	}
	if log != nil {
		defer log.Close()
	}
	var mismatches []string
	for i := 0; i < len(data)/offsetEntrySize; i++ {
		e := data[i*offsetEntrySize:]
		off := base + int64(int32(binary.BigEndian.Uint32(e)))
		pos := int64(int32(binary.BigEndian.Uint32(e[4:])))
		if off == base && i > 0 { // zeroed tail of a preallocated file left by a crash
			break
		}
		if log != nil {
			b, err := batchAt(log, pos, o.maxMsgBytes)
			switch {
			case err != nil:
				mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, log offset: -1 (%v)", off, err))
			case b.LastOffset() != off:
				mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, log offset: %d", off, b.LastOffset()))
			}
		}
		if !o.verify {
			fmt.Fprintf(w, "offset: %d position: %d\n", off, pos)
		}
	}
	return reportMismatches(stderr, path, mismatches, o.verify)
}

func offsetIndexSane(data []byte, base int64) error {
	n := len(data) / offsetEntrySize
	if n == 0 {
		return nil
	}
	last := base + int64(int32(binary.BigEndian.Uint32(data[(n-1)*offsetEntrySize:])))
	if last < base {
		return fmt.Errorf("corrupt index: last offset %d is below base offset %d", last, base)
	}
	return nil
}

// dumpTimeIndex prints `timestamp: T offset: O` per entry. With --verify it checks that the entry's offset is
// the last offset of a batch whose max timestamp is T, and that timestamps increase.
func dumpTimeIndex(w, stderr io.Writer, path string, o dumpOptions) error {
	base, err := segmentBase(path)
	if err != nil {
		return err
	}
	data, err := readEntries(path, timeEntrySize)
	if err != nil {
		return err
	}
	if o.sanityOnly {
		fmt.Fprintf(w, "%s passed sanity check.\n", path)
		return nil
	}
	log, err := openSegmentLog(path)
	if err != nil && o.verify {
		return err
	}
	var batches map[int64]record.Batch // last offset -> batch, loaded once for verification
	if log != nil {
		defer log.Close()
		batches = lastOffsets(log, o.maxMsgBytes)
	}
	var mismatches []string
	prev := int64(-1)
	for i := 0; i < len(data)/timeEntrySize; i++ {
		e := data[i*timeEntrySize:]
		ts := int64(binary.BigEndian.Uint64(e))
		off := base + int64(int32(binary.BigEndian.Uint32(e[8:])))
		if off == base && i > 0 {
			break
		}
		if batches != nil {
			b, ok := batches[off]
			switch {
			case !ok:
				mismatches = append(mismatches, fmt.Sprintf("  Indexed offset: %d, no batch ends there", off))
			case b.MaxTimestamp() != ts:
				mismatches = append(mismatches, fmt.Sprintf("  Index timestamp: %d, log timestamp: %d", ts, b.MaxTimestamp()))
			}
			if prev >= ts {
				mismatches = append(mismatches, fmt.Sprintf("  Index timestamp: %d, Previously indexed timestamp: %d", ts, prev))
			}
		}
		prev = ts
		if !o.verify {
			fmt.Fprintf(w, "timestamp: %d offset: %d\n", ts, off)
		}
	}
	return reportMismatches(stderr, path, mismatches, o.verify)
}

// lastOffsets maps each batch's last offset to its header (records are not kept).
func lastOffsets(log *os.File, maxBytes int) map[int64]record.Batch {
	m := make(map[int64]record.Batch)
	s := newBatchScanner(log, maxBytes)
	for b := s.next(); b != nil; b = s.next() {
		m[b.LastOffset()] = append(record.Batch(nil), b[:record.HeaderSize]...)
	}
	return m
}

func reportMismatches(stderr io.Writer, path string, mismatches []string, verify bool) error {
	if len(mismatches) == 0 {
		return nil
	}
	fmt.Fprintf(stderr, "Mismatches in :%s\n%s\n", path, strings.Join(mismatches, "\n"))
	if verify {
		return errIndexMismatch
	}
	return nil
}
