package storage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// benchmarkClean measures a full cleaning (offset map plus rewrite and swap) of a dirty log of
// logMB MiB (on disk) of random 100-byte values over 10,000 keys, 10 records per batch, in MB/s
// of log read (Kafka's "MB of log processed").
func benchmarkClean(b *testing.B, codec record.Codec, logMB int64) {
	cfg := DefaultConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 8 << 20
	cfg.FileDeleteDelayMs = 0
	template := b.TempDir()
	clock := newFakeClock(testNow)
	l := openTestLog(b, template, cfg, clock, 0, 0, true)
	opt := record.DefaultBuildOptions()
	opt.Codec = codec
	pool := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range pool {
		pool[i] = byte(rng.Uint32())
	}
	for i := 0; l.Size() < logMB<<20; i++ {
		recs := make([]record.BuildRecord, 10)
		for j := range recs {
			off := rng.IntN(len(pool) - 100)
			recs[j] = record.BuildRecord{Key: []byte(fmt.Sprintf("key-%05d", (i*10+j)%10000)), Value: pool[off : off+100], Timestamp: testNow}
		}
		batch, err := record.Build(recs, opt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.AppendAsLeader(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	size := l.Size()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	w := newCleanerWorker(0, DefaultCleanerConfig(), testLogger(b))
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), fmt.Sprint(i))
		copyDir(b, template, dir)
		l := openTestLog(b, dir, cfg, clock, 0, 0, true)
		l.SetHighWatermark(l.LogEndOffset())
		ltc, _ := newLogToClean(l, 0, false, clock.now(), DefaultCompactionConfig())
		b.StartTimer()
		st, err := w.clean(context.Background(), ltc)
		b.StopTimer()
		if err != nil || st.messagesWritten != 10000 {
			b.Fatalf("clean: %v, %d records kept", err, st.messagesWritten)
		}
		_ = l.Close()
		b.StartTimer()
	}
}

func BenchmarkClean(b *testing.B)     { benchmarkClean(b, record.CodecNone, 32) }
func BenchmarkCleanLZ4(b *testing.B)  { benchmarkClean(b, record.CodecLZ4, 8) }
func BenchmarkCleanZstd(b *testing.B) { benchmarkClean(b, record.CodecZstd, 8) }
