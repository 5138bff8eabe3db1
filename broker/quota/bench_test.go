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

// BenchmarkMutationQuotaDisabled is the cost a CreateTopics/DeleteTopics/CreatePartitions request pays
// with no controller_mutation_rate configured.
func BenchmarkMutationQuotaDisabled(b *testing.B) {
	m := NewManager(DefaultConfig(), time.Now)
	for b.Loop() {
		_ = m.NewMutationQuota("ANONYMOUS", "bench", true).Record(1)
	}
}

// BenchmarkMutationQuotaStrict is a strict check and charge under a quota never exhausted.
func BenchmarkMutationQuotaStrict(b *testing.B) {
	m := NewManager(DefaultConfig(), time.Now)
	if err := m.Update(Entity{ClientID: Default}, map[string]string{ControllerMutationRate: "1e15"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := m.NewMutationQuota("ANONYMOUS", "bench", true).Record(1); err != nil {
			b.Fatal(err)
		}
	}
}
