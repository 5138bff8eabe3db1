package txn

import (
	"fmt"
	"testing"
)

func benchValue() Value {
	v := Value{ProducerID: 1000, ProducerEpoch: 2, TimeoutMs: 60000, State: Ongoing, LastUpdateMs: 1, StartMs: 1}
	for i := range 20 {
		v.Partitions = append(v.Partitions, TopicPartition{Topic: fmt.Sprintf("topic-%d", i/5), Partition: int32(i)})
	}
	return v
}

func BenchmarkValueBytes(b *testing.B) {
	v := benchValue()
	enc, _ := ValueBytes(v)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValueBytes(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeValue(b *testing.B) {
	enc, _ := ValueBytes(benchValue())
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeValue(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransactionCycle is one AddPartitions + EndTxn(commit) through to CompleteCommit: three state
// records appended to a real log (page cache, no fsync) and one marker exchange with a fake broker.
func BenchmarkTransactionCycle(b *testing.B) {
	tc := coordinatorWithLeaders(b)
	pid, epoch := tc.initPID("tx", 60000)
	parts := []TopicPartition{tpA0, tpA1, tpB0}
	b.ReportAllocs()
	for b.Loop() {
		if err := tc.AddPartitions(ctx, "tx", pid, epoch, parts); err != nil {
			b.Fatal(err)
		}
		if err := tc.EndTxn(ctx, "tx", pid, epoch, true); err != nil {
			b.Fatal(err)
		}
		tc.waitState("tx", CompleteCommit)
	}
}
