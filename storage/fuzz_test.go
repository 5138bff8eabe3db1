package storage

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// validPrefix is an independent statement of what recovery keeps: whole v2 batches with a valid
// CRC whose offsets start at or above the segment base, increase, and fit a relative offset.
func validPrefix(data []byte, base int64) (n int, batches []record.Batch) {
	next := base
	for {
		b, rest, err := record.Next(data[n:])
		if err != nil {
			return n, batches
		}
		if !b.CRCValid() || b.LastOffsetDelta() < 0 || b.BaseOffset() < next || b.LastOffset()-base > math.MaxInt32 {
			return n, batches
		}
		batches = append(batches, b)
		next = b.NextOffset()
		n = len(data) - len(rest)
	}
}

// FuzzSegmentRecovery writes arbitrary bytes as a segment's .log and recovers it (reliability
// plan 8.3 target 9): the result must be the longest prefix of valid batches, every kept batch
// readable at its offsets, and the rebuilt indexes must agree with a linear scan.
func FuzzSegmentRecovery(f *testing.F) {
	var valid []byte
	for i, c := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4, record.CodecZstd} {
		opt := record.DefaultBuildOptions()
		opt.Codec, opt.BaseOffset = c, int64(i*10)
		valid = append(valid, buildBatchOpt(f, 1+i, 100, testNow+int64(i), opt)...)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(valid[:40])
	f.Add([]byte{})
	corrupt := bytes.Clone(valid)
	corrupt[300] ^= 0x55
	f.Add(corrupt)
	zeros := append(bytes.Clone(valid), make([]byte, 200)...)
	f.Add(zeros)
	backwards := append(bytes.Clone(valid), valid[:len(valid)/3]...)
	f.Add(backwards)
	cfg := testConfig()
	cfg.IndexIntervalBytes = 64
	cfg.SegmentIndexBytes = 4096
	clock := newFakeClock(testNow)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		pdir := filepath.Join(dir, testTP.dirName())
		if err := os.MkdirAll(pdir, 0o755); err != nil {
			t.Fatal(err)
		}
		path := segmentFile(pdir, 0, logSuffix)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		l := openTestLog(t, dir, cfg, clock, 0, 0, false)
		defer l.close(false) // no fsync: it would dominate the run time
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, batches := validPrefix(data, 0)
		if !bytes.Equal(got, data[:n]) {
			t.Fatalf("recovered %d bytes, the valid prefix is %d", len(got), n)
		}
		wantLEO := int64(0)
		if len(batches) > 0 {
			wantLEO = batches[len(batches)-1].NextOffset()
		}
		if l.LogEndOffset() != wantLEO {
			t.Fatalf("LEO %d, want %d", l.LogEndOffset(), wantLEO)
		}
		for _, b := range batches {
			res, err := l.Read(b.BaseOffset(), 1, -1, true)
			if err != nil {
				t.Fatalf("read batch %d: %v", b.BaseOffset(), err)
			}
			var buf []byte
			if len(res.Ranges) > 0 {
				buf, err = res.Ranges[0].Bytes()
			}
			res.Release()
			if first, _, nerr := record.Next(buf); err != nil || nerr != nil && !errors.Is(nerr, io.EOF) || !bytes.Equal(first, b) {
				t.Fatalf("batch at %d reads back as %d bytes (%v)", b.BaseOffset(), len(buf), err)
			}
		}
		checkIndexesAgreeWithLog(t, l)
	})
}
