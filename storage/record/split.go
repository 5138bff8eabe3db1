package record

import (
	"encoding/binary"
	"io"
)

// Next splits the first batch off buf by its header alone (no CRC, no record
// walk); callers that need more call Validate or CRCValid.
//
// Errors, in the order they are checked:
//   - io.EOF when buf is empty (a clean end, not an error for scanners);
//   - ErrTruncated (also io.ErrUnexpectedEOF) when buf ends before the
//     length field, or before the end of a batch whose header looks sane;
//   - ErrCorrupt for batchLength < HeaderSize-LogOverhead or, once the
//     magic byte is present, magic != 2.
//
// Like Kafka's FileLogInputStream, a length that points past the end of buf
// is a torn tail, not corruption; the magic check runs first so that garbage
// with a huge length is reported as corruption rather than as a short read.
func Next(buf []byte) (b Batch, rest []byte, err error) {
	if len(buf) == 0 {
		return nil, buf, io.EOF
	}
	size, err := frameSize(buf)
	if err != nil {
		return nil, buf, err
	}
	if len(buf) < size {
		return nil, buf, ErrTruncated
	}
	return Batch(buf[:size:size]), buf[size:], nil
}

// frameSize checks the length and, when present, magic of the batch at the
// start of buf and returns its total size.
func frameSize(buf []byte) (int, error) {
	if len(buf) < LogOverhead {
		return 0, ErrTruncated
	}
	length := int32(binary.BigEndian.Uint32(buf[offBatchLength:]))
	if length < minBatchLength {
		return 0, corruptf("batch length %d below minimum %d", length, minBatchLength)
	}
	if len(buf) > offMagic && buf[offMagic] != MagicV2 {
		return 0, corruptf("magic %d, want %d", int8(buf[offMagic]), MagicV2)
	}
	return LogOverhead + int(length), nil
}

// PeekHeader reads the base offset, total size and magic of a batch from its
// first LogOverhead+5 (17) bytes, for log scans that read headers from a file
// before reading whole batches. It returns ErrTruncated when h is shorter,
// and ErrCorrupt (with the decoded fields filled in, for messages) when the
// length is below the v2 minimum or the magic is not 2.
func PeekHeader(h []byte) (baseOffset int64, size int, magic int8, err error) {
	if len(h) < peekSize {
		return 0, 0, 0, ErrTruncated
	}
	baseOffset = int64(binary.BigEndian.Uint64(h[offBaseOffset:]))
	length := int32(binary.BigEndian.Uint32(h[offBatchLength:]))
	size = LogOverhead + int(length)
	magic = int8(h[offMagic])
	switch {
	case length < minBatchLength:
		err = corruptf("batch length %d below minimum %d", length, minBatchLength)
	case magic != MagicV2:
		err = corruptf("magic %d, want %d", magic, MagicV2)
	}
	return baseOffset, size, magic, err
}
