package quota

import (
	"testing"
	"time"
)

// BenchmarkRecordDisabled is the per-request cost with no quota configured anywhere.
func BenchmarkRecordDisabled(b *testing.B) {
	m := NewManager(DefaultConfig(), time.Now)
	for b.Loop() {
		m.Record(Produce, "ANONYMOUS", "bench", 1024)
	}
}

// BenchmarkRecordQuotaed is the per-request cost for a client under a quota: cached resolution, sensor
// update and rate check.
func BenchmarkRecordQuotaed(b *testing.B) {
	m := NewManager(DefaultConfig(), time.Now)
	if err := m.Update(Entity{ClientID: Default}, map[string]string{ProducerByteRate: "1e15"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m.Record(Produce, "ANONYMOUS", "bench", 1024)
	}
}

// BenchmarkRecordQuotaedParallel is the same from every core, each with its own client id.
func BenchmarkRecordQuotaedParallel(b *testing.B) {
	m := NewManager(DefaultConfig(), time.Now)
	if err := m.Update(Entity{ClientID: Default}, map[string]string{ProducerByteRate: "1e15"}); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		id := time.Now().String()
		for pb.Next() {
			m.Record(Produce, "ANONYMOUS", id, 1024)
		}
	})
}
