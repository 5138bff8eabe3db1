package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MinRequestSize is the smallest legal request frame: a v0 request header (int16 api key, int16 api version,
// int32 correlation id) with an empty body. Anything shorter cannot even be attributed to a request.
const MinRequestSize = 8

// chunkSize bounds how far ReadFrame's memory runs ahead of the bytes that actually arrived, for frames that
// do not fit the caller's buffer. 64 KiB is the slack the reliability plan allows per connection (10 §8.2,
// "heap growth per connection bounded by bytes received + 64 KB").
const chunkSize = 64 << 10

type chunk = [chunkSize]byte

// chunkPool recycles the staging chunks of large frames, so a connection that keeps sending frames larger
// than its buffer does not churn the garbage collector with 64 KiB allocations.
var chunkPool = sync.Pool{New: func() any { return new(chunk) }}

// ReadFrame reads one size-prefixed request frame from r and returns its payload (header and body, without
// the 4-byte size).
//
// The size is checked before anything else is read or allocated: negative or below MinRequestSize gives
// ErrInvalidFrame, above maxSize gives ErrFrameTooLarge (Kafka's NetworkReceive/InvalidReceiveException);
// the caller closes the connection on either.
//
// The payload is read into buf when cap(buf) is large enough; pass the returned slice back as buf on the next
// call to reuse its storage. Otherwise memory is never allocated in proportion to the declared size before
// the bytes arrive: frames up to 64 KiB get one allocation of their size, larger ones are staged in 64 KiB
// pooled chunks taken only as data arrives and copied once into a buffer of the exact size when the last
// byte is in. So while a frame is incomplete, memory held for it is at most the bytes received plus 64 KiB,
// and a peer declaring 2^31-1 bytes and sending ten costs one chunk.
//
// A clean end of stream before the first byte of a frame returns io.EOF; an end of stream inside a frame
// returns io.ErrUnexpectedEOF. Other read errors (deadlines) are returned as they are. On any error the
// returned slice is nil.
func ReadFrame(r io.Reader, maxSize int32, buf []byte) ([]byte, error) {
	var sizeBuf []byte
	if cap(buf) >= 4 {
		sizeBuf = buf[:4]
	} else {
		sizeBuf = make([]byte, 4)
	}
	if _, err := io.ReadFull(r, sizeBuf); err != nil {
		return nil, err // io.EOF when nothing was read, io.ErrUnexpectedEOF for a partial size
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf))
	switch {
	case size < 0:
		return nil, fmt.Errorf("%w: negative size %d", ErrInvalidFrame, size)
	case size > maxSize:
		return nil, fmt.Errorf("%w: size %d > limit %d", ErrFrameTooLarge, size, maxSize)
	case size < MinRequestSize:
		return nil, fmt.Errorf("%w: size %d < request header size %d", ErrInvalidFrame, size, MinRequestSize)
	}
	n := int(size)
	if cap(buf) >= n || n <= chunkSize {
		body := buf[:0]
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, bodyErr(err)
		}
		return body, nil
	}
	return readChunked(r, n)
}

// readChunked reads an n-byte payload (n > chunkSize) through pooled chunks, then copies it into one buffer.
func readChunked(r io.Reader, n int) ([]byte, error) {
	chunks := make([]*chunk, 0, 8)
	defer func() {
		for _, c := range chunks {
			chunkPool.Put(c)
		}
	}()
	for got := 0; got < n; {
		c := chunkPool.Get().(*chunk)
		chunks = append(chunks, c)
		m := min(chunkSize, n-got)
		if _, err := io.ReadFull(r, c[:m]); err != nil {
			return nil, bodyErr(err)
		}
		got += m
	}
	body := make([]byte, n)
	off := 0
	for _, c := range chunks {
		off += copy(body[off:], c[:])
	}
	return body, nil
}

// bodyErr turns a clean EOF inside a frame into io.ErrUnexpectedEOF: the size promised more bytes.
func bodyErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// SetSize writes frame's 4-byte size prefix: the bytes of frame after the prefix plus extra bytes the caller
// sends right after frame, such as log file ranges that a zero-copy Fetch response sends with sendfile.
// frame must start with the 4 bytes reserved by BeginResponse (or AppendRequest) and the total must fit an
// int32; breaking either is a bug in the caller, so it panics.
func SetSize(frame []byte, extra int64) {
	total := int64(len(frame)) - 4 + extra
	if len(frame) < 4 || extra < 0 || total > 1<<31-1 {
		panic(fmt.Sprintf("protocol: SetSize of %d+%d bytes", len(frame), extra))
	}
	binary.BigEndian.PutUint32(frame, uint32(total))
}
