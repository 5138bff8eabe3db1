package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"testing/iotest"
)

func sized(size int32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(size)), body...)
}

// allocated returns the bytes allocated on the heap while fn ran.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Kafka's NetworkReceive: a negative size, or one above socket.request.max.bytes, closes the connection
// before the body is read; so does a frame too short to hold a request header.
func TestReadFrameSizeChecksBeforeBody(t *testing.T) {
	const limit = 1 << 20
	for _, tc := range []struct {
		name string
		size int32
		want error
	}{
		{"negative", -1, ErrInvalidFrame},
		{"min int32", math.MinInt32, ErrInvalidFrame},
		{"zero", 0, ErrInvalidFrame},
		{"shorter than a header", MinRequestSize - 1, ErrInvalidFrame},
		{"one above the limit", limit + 1, ErrFrameTooLarge},
		{"max int32", math.MaxInt32, ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(sized(tc.size, make([]byte, 64)))
			frame, err := ReadFrame(r, limit, nil)
			if !errors.Is(err, tc.want) || frame != nil {
				t.Fatalf("got %v, %d bytes; want %v", err, len(frame), tc.want)
			}
			if r.Len() != 64 {
				t.Fatalf("read %d body bytes before refusing", 64-r.Len())
			}
		})
	}
	for _, size := range []int32{MinRequestSize, limit} {
		body := recordsOf(int(size))
		frame, err := ReadFrame(bytes.NewReader(sized(size, body)), limit, nil)
		if err != nil || !bytes.Equal(frame, body) {
			t.Fatalf("size %d: %v", size, err)
		}
	}
}

// Reliability plan 8.2: no allocation proportional to the declared length before bytes arrive.
func TestReadFrameHugeDeclaredSizeAllocatesOnlyWhatArrives(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int32
		limit int32
		want  error
	}{
		{"1 GiB declared within the limit", 1 << 30, math.MaxInt32, io.ErrUnexpectedEOF},
		{"2^31-1 declared within the limit", math.MaxInt32, math.MaxInt32, io.ErrUnexpectedEOF},
		{"1 GiB declared above the limit", 1 << 30, 100 << 20, ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sized(tc.size, make([]byte, 10))
			var err error
			n := allocated(func() { _, err = ReadFrame(bytes.NewReader(in), tc.limit, nil) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if n >= 128<<10 {
				t.Fatalf("allocated %d bytes for 10 received", n)
			}
		})
	}
}

// While a large frame is incomplete, memory held is at most the bytes received plus one 64 KiB chunk.
func TestReadFrameMemoryTracksBytesReceived(t *testing.T) {
	const received = 300 << 10
	in := sized(64<<20, recordsOf(received))
	var err error
	n := allocated(func() { _, err = ReadFrame(bytes.NewReader(in), math.MaxInt32, nil) })
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatal(err)
	}
	if n > received+chunkSize+4096 {
		t.Fatalf("allocated %d bytes for %d received", n, received)
	}
}

func TestReadFrameContents(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		wrap func(io.Reader) io.Reader
	}{
		{"small", 100, func(r io.Reader) io.Reader { return r }},
		{"one chunk exactly", chunkSize, func(r io.Reader) io.Reader { return r }},
		{"chunked", 3*chunkSize + 17, func(r io.Reader) io.Reader { return r }},
		{"chunked one byte per read", 2*chunkSize + 5, iotest.OneByteReader},
		{"chunked half reads", 5*chunkSize + 1, iotest.HalfReader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := recordsOf(tc.size)
			in := append(sized(int32(tc.size), body), sized(8, recordsOf(8))...)
			r := tc.wrap(bytes.NewReader(in))
			frame, err := ReadFrame(r, 64<<20, nil)
			if err != nil || !bytes.Equal(frame, body) || cap(frame) != tc.size {
				t.Fatalf("err %v, len %d cap %d", err, len(frame), cap(frame))
			}
			frame, err = ReadFrame(r, 64<<20, frame)
			if err != nil || !bytes.Equal(frame, recordsOf(8)) {
				t.Fatalf("second frame: %v %v", err, frame)
			}
			if _, err := ReadFrame(r, 64<<20, frame); err != io.EOF {
				t.Fatalf("at the end: %v, want io.EOF", err)
			}
		})
	}
}

func TestReadFrameTruncated(t *testing.T) {
	full := sized(3*chunkSize, recordsOf(3*chunkSize))
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"partial size", full[:3], io.ErrUnexpectedEOF},
		{"size only", full[:4], io.ErrUnexpectedEOF},
		{"partial small body", sized(100, recordsOf(50)), io.ErrUnexpectedEOF},
		{"partial chunked body", full[:2*chunkSize], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := ReadFrame(bytes.NewReader(tc.in), math.MaxInt32, make([]byte, 0, 200))
			if err != tc.want || frame != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	in := sized(1024, recordsOf(1024))
	r := bytes.NewReader(in)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		frame, err := ReadFrame(r, 1<<20, buf)
		if err != nil || &frame[0] != &buf[:1][0] {
			t.Fatal("buffer not reused", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame with a big enough buffer", allocs)
	}
}

func TestSetSize(t *testing.T) {
	frame := append(make([]byte, 4), "abcdef"...)
	SetSize(frame, 1000)
	if got := binary.BigEndian.Uint32(frame); got != 1006 {
		t.Fatalf("size %d, want 1006", got)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		extra int64
	}{
		{"no room for the size", make([]byte, 3), 0},
		{"negative extra", make([]byte, 4), -1},
		{"over int32", make([]byte, 8), math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			SetSize(tc.frame, tc.extra)
		})
	}
}
