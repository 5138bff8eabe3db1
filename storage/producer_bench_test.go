package storage

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// BenchmarkAppendIdempotent1KiB is BenchmarkAppend1KiB for an idempotent producer: each append
// also passes the duplicate, epoch and sequence checks and updates the producer's entry. The
// benchmark renumbers the batch's sequence and recomputes its CRC each time, as a producer does.
func BenchmarkAppendIdempotent1KiB(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	cfg.FileDeleteDelayMs = 0
	l := benchLog(b, cfg)
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = 42, 0, 0
	batch := buildBatchOpt(b, 1, 1024-40-61, testNow, opt)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		record.Batch(batch).SetBaseOffset(0)
		binary.BigEndian.PutUint32(batch[53:], uint32(i))
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], castagnoli))
		if ai, err := l.AppendAsLeader(batch, 1); err != nil || ai.Duplicate {
			b.Fatal(err, ai.Duplicate)
		}
		if l.Size() > 256<<20 {
			if err := l.TruncateFullyAndStartAt(l.LogEndOffset()); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCollectAbortedTransactions answers read_committed fetches over a log with one aborted
// transaction in every segment (16 segments).
func BenchmarkCollectAbortedTransactions(b *testing.B) {
	l := benchLog(b, testConfig())
	for seg := range 16 {
		mustProduce(b, l, int64(seg), 0, 0, 3, true)
		mustEndTxn(b, l, int64(seg), 0, false, 0)
		if err := l.Roll(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := l.CollectAbortedTransactions(int64(i%16)*4, l.LogEndOffset())
		if err != nil || len(got) == 0 {
			b.Fatal(err, got)
		}
	}
}
