//go:build integration

package integration

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The machine's own limits, measured in the same `make bench` run as the end-to-end benchmarks so that
// scripts/bench.sh can print those as ratios: how fast one loopback TCP connection carries bytes between
// two goroutines, and how fast sendfile moves a page-cached file into one. The reading side is the same in
// both and in the fetch benchmarks: a goroutine copying the bytes into its own memory.
//
// The sending socket gets SO_SNDBUF = baselineSendBuffer, Kafka's socket.send.buffer.bytes default, which
// the broker also applies to its connections (so its fetches send through such a socket). It matters: on
// the 2-core VM these were written on, 64-256 KiB send buffers moved bytes ~1.4x faster than autotuned
// ones (5.3 vs 3.3-3.8 GB/s with write, 2.7-3.1 vs 1.8-2.1 GB/s with sendfile), presumably because the
// bytes in flight stay in the CPU caches; with autotuned buffers the broker's fetch beat the "limit".
const baselineSendBuffer = 100 * 1024

// BenchmarkLoopbackTCP: one connection, 1 MiB writes, a reader draining with 1 MiB reads.
func BenchmarkLoopbackTCP(b *testing.B) {
	src, done := loopbackPair(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := src.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer() // the bytes still in socket buffers are part of the work
	got := closeAndDrain(b, src, done)
	b.StopTimer()
	if want := int64(b.N) * int64(len(buf)); got != want {
		b.Fatalf("reader received %d bytes, want %d", got, want)
	}
}

// BenchmarkLoopbackSendfile: sendfile(2) of 8 MiB ranges (the fetch benchmarks' max_bytes) of a page-cached
// 64 MiB file to one connection, with an explicit offset and the socket's non-blocking descriptor, as the
// broker does; a reader drains with 1 MiB reads.
func BenchmarkLoopbackSendfile(b *testing.B) {
	const fileSize, chunk = 64 << 20, benchFetchMaxBytes
	f := pageCachedFile(b, fileSize)
	src, done := loopbackPair(b)
	raw, err := src.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	fd := int(f.Fd())
	b.SetBytes(chunk)
	var off int64
	for b.Loop() {
		if err := sendfileRange(raw, fd, off, chunk); err != nil {
			b.Fatal(err)
		}
		off = (off + chunk) % fileSize
	}
	b.StartTimer()
	got := closeAndDrain(b, src, done)
	b.StopTimer()
	if want := int64(b.N) * chunk; got != want {
		b.Fatalf("reader received %d bytes, want %d", got, want)
	}
}

// drained is what the reading side of a loopback pair saw.
type drained struct {
	n   int64
	err error
}

// loopbackPair returns the writing end of a loopback TCP connection whose other end a goroutine drains
// until EOF, reporting the byte count on the channel.
func loopbackPair(b *testing.B) (*net.TCPConn, <-chan drained) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	src, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	if err := src.(*net.TCPConn).SetWriteBuffer(baselineSendBuffer); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = src.Close() })
	dst, ok := <-accepted
	if !ok {
		b.Fatal("loopback accept failed")
	}
	b.Cleanup(func() { _ = dst.Close() })
	done := make(chan drained, 1)
	go func() {
		buf := make([]byte, 1<<20)
		var d drained
		for {
			n, err := dst.Read(buf)
			d.n += int64(n)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					d.err = err
				}
				done <- d
				return
			}
		}
	}()
	return src.(*net.TCPConn), done
}

// closeAndDrain half-closes src and waits until the reader has seen everything, returning the byte count.
func closeAndDrain(b *testing.B, src *net.TCPConn, done <-chan drained) int64 {
	if err := src.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	d := <-done
	if d.err != nil {
		b.Fatalf("reader: %v", d.err)
	}
	return d.n
}

// pageCachedFile writes a size-byte file (so its pages are in the page cache, like a log segment just
// appended) and returns it open for reading.
func pageCachedFile(b *testing.B, size int) *os.File {
	b.Helper()
	path := filepath.Join(b.TempDir(), "sendfile.bin")
	block := benchValue(1 << 20)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for written := 0; written < size; written += len(block) {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	if f, err = os.Open(path); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return f
}

// sendfileRange sends n bytes of the file fd from off to the socket behind raw, waiting for the socket to
// drain whenever it is full.
func sendfileRange(raw syscall.RawConn, fd int, off, n int64) error {
	var sendErr error
	err := raw.Write(func(sfd uintptr) bool {
		for n > 0 {
			m, err := unix.Sendfile(int(sfd), fd, &off, int(n))
			if m > 0 {
				n -= int64(m)
			}
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false // poll until writable, then call us again
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				sendErr = err
				return true
			case m == 0:
				sendErr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
	if sendErr != nil {
		return sendErr
	}
	return err
}
