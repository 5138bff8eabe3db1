package index

import (
	"fmt"
	"testing"
)

// BenchmarkOffsetIndexLookup measures Lookup of random targets; the cost should grow with log(entries)
// (plus cache misses once the index outgrows the CPU caches).
func BenchmarkOffsetIndexLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			idx := newOffsetIndex(b, n*8)
			for k := 0; k < n; k++ {
				mustAppend(b, idx, testBase+int64(4*k+1), int32(k)*1024)
			}
			// Precomputed pseudo-random targets over the whole offset range, so the loop measures the
			// search, not the generator, and the branch predictor cannot learn the path.
			targets := make([]int64, 4096)
			x := uint64(42)
			for k := range targets {
				x = x*6364136223846793005 + 1442695040888963407
				targets[k] = testBase + int64(x>>33)%int64(4*n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var sink int64
			for k := 0; k < b.N; k++ {
				off, _ := idx.Lookup(targets[k&4095])
				sink += off
			}
			if sink == 0 {
				b.Fatal("no result")
			}
		})
	}
}

// BenchmarkOffsetIndexAppend measures Append into a 10 MiB index (the default segment.index.bytes),
// resetting it when full.
func BenchmarkOffsetIndexAppend(b *testing.B) {
	idx := newOffsetIndex(b, 10<<20)
	b.SetBytes(offsetEntrySize)
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(testBase)
	for k := 0; k < b.N; k++ {
		if idx.IsFull() {
			b.StopTimer()
			if err := idx.Reset(); err != nil {
				b.Fatal(err)
			}
			off = testBase
			b.StartTimer()
		}
		off++
		if err := idx.Append(off, int32(off-testBase)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimeIndexLookup measures TimeIndex.Lookup of random targets.
func BenchmarkTimeIndexLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 800_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			idx := newTimeIndex(b, (n+1)*12)
			for k := 0; k < n; k++ {
				mustMaybeAppend(b, idx, int64(10*k+1), testBase+int64(k))
			}
			targets := make([]int64, 4096)
			x := uint64(7)
			for k := range targets {
				x = x*6364136223846793005 + 1442695040888963407
				targets[k] = int64(x>>33) % int64(10*n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var sink int64
			for k := 0; k < b.N; k++ {
				_, off := idx.Lookup(targets[k&4095])
				sink += off
			}
			if sink == 0 {
				b.Fatal("no result")
			}
		})
	}
}
