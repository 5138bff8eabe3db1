package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// benchBatch builds one uncompressed producer batch of about size bytes (records of 1 KiB or less).
func benchBatch(b *testing.B, size int) []byte {
	n := max(size/1024, 1)
	return buildBatch(b, n, size/n-40, testNow)
}

func benchLog(b *testing.B, cfg Config) *Log {
	clock := newFakeClock(testNow)
	l, err := openLog(b.TempDir()+"/"+testTP.dirName(), testTP, cfg, 0, 0, true, testLogger(b), clock.fn())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.close(false) })
	return l
}

// benchmarkAppend appends the same batch over and over as a leader: validation (CRC and record
// walk), offset assignment in place, one pwrite into the page cache, index maintenance, rolls.
// The log is emptied every 256 MiB so the benchmark does not fill the disk.
func benchmarkAppend(b *testing.B, size int, segmentBytes int64) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = segmentBytes
	cfg.FileDeleteDelayMs = 0
	l := benchLog(b, cfg)
	batch := benchBatch(b, size)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		record.Batch(batch).SetBaseOffset(0) // the producer's batch has base offset 0
		if _, err := l.AppendAsLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
		if l.Size() > 256<<20 {
			if err := l.TruncateFullyAndStartAt(l.LogEndOffset()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkAppend1KiB(b *testing.B)        { benchmarkAppend(b, 1<<10, 64<<20) }
func BenchmarkAppend16KiB(b *testing.B)       { benchmarkAppend(b, 16<<10, 64<<20) }
func BenchmarkAppend16KiBNoRoll(b *testing.B) { benchmarkAppend(b, 16<<10, 1<<30) }

// BenchmarkRead reads a 64 MiB log front to back in 1 MiB fetches through the returned file
// ranges (pread into a reused buffer), as a consumer fetch path without sendfile would.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l := benchLog(b, cfg)
	batch := benchBatch(b, 16<<10)
	for l.Size() < 64<<20 {
		record.Batch(batch).SetBaseOffset(0)
		if _, err := l.AppendAsLeader(batch, 1); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 1<<20+len(batch))
	var total int64
	offset := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if offset >= l.LogEndOffset() {
			offset = 0
		}
		res, err := l.Read(offset, 1<<20, -1, true)
		if err != nil {
			b.Fatal(err)
		}
		fr := res.Ranges[0]
		if _, err := fr.File.ReadAt(buf[:fr.Length], fr.Position); err != nil {
			b.Fatal(err)
		}
		total += fr.Length
		// Continue after the last whole batch, as a consumer does.
		rest := buf[:fr.Length]
		for {
			bt, r, err := record.Next(rest)
			if err != nil {
				break
			}
			offset = bt.NextOffset()
			rest = r
		}
		res.Release()
	}
	b.SetBytes(total / int64(b.N))
}

// BenchmarkIndexLookup measures the Log-level translation of a random offset to its batch's file
// position with 1 and 1,000 segments holding the same 64 MiB: segment binary search, offset
// index binary search, then one pread of the batch headers after the index entry ("read"); and
// the in-memory part alone ("index").
func BenchmarkIndexLookup(b *testing.B) {
	for _, segments := range []int{1, 1000} {
		cfg := DefaultConfig()
		cfg.SegmentBytes = int64(64<<20) / int64(segments)
		cfg.SegmentIndexBytes = 1 << 20
		l := benchLog(b, cfg)
		batch := benchBatch(b, 1<<10)
		for l.NumSegments() < segments || l.Size() < 63<<20 {
			record.Batch(batch).SetBaseOffset(0)
			if _, err := l.AppendAsLeader(batch, 1); err != nil {
				b.Fatal(err)
			}
		}
		rng := rand.New(rand.NewPCG(1, 2))
		offsets := make([]int64, 4096)
		for i := range offsets {
			offsets[i] = rng.Int64N(l.LogEndOffset())
		}
		v := l.view.Load()
		b.Run(fmt.Sprintf("segments=%d/index", l.NumSegments()), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				off := offsets[i%len(offsets)]
				s := v.segs[v.floor(off)]
				s.idxMu.RLock()
				_, pos := s.oidx.Lookup(off)
				s.idxMu.RUnlock()
				if pos < 0 {
					b.Fatal(pos)
				}
			}
		})
		b.Run(fmt.Sprintf("segments=%d/read", l.NumSegments()), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				res, err := l.Read(offsets[i%len(offsets)], 1, -1, true)
				if err != nil || len(res.Ranges) != 1 {
					b.Fatal(err)
				}
				res.Release()
			}
		})
	}
}
