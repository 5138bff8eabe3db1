package replica

import (
	"context"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// BenchmarkAppendRecords is the leader's produce path for acks=1 with one 16 KiB batch (16 records of
// 1 KiB): partition lookup, validation, offset assignment, the write, HW advancement and the purgatory
// pokes. The same buffer is appended every time, its base offset reset as a producer would send it.
func BenchmarkAppendRecords(b *testing.B) {
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{b.TempDir()}, Default: storage.DefaultConfig()}, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	m := NewManager(1, logs, Config{}, quietLog())
	defer func() {
		m.Stop()
		_ = logs.Close()
	}()
	x := tp("bench", 0)
	m.BecomeLeaderOrFollower(lair(1, 1, 0, []int32{1}, []int32{1}, x), func(string) storage.Config { return storage.DefaultConfig() })
	buf := batch(b, 16, 1000)
	req := map[storage.TopicPartition][]byte{x: buf}
	ctx := context.Background()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		record.Batch(buf).SetBaseOffset(0)
		if res := m.AppendRecords(ctx, time.Second, 1, req)[x]; res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// BenchmarkFetchMessages reads 1 MiB of a partition's log as a consumer: the result is a file range, so
// the cost does not depend on the bytes (SetBytes shows what one fetch hands to sendfile).
func BenchmarkFetchMessages(b *testing.B) {
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{b.TempDir()}, Default: storage.DefaultConfig()}, quietLog())
	if err != nil {
		b.Fatal(err)
	}
	m := NewManager(1, logs, Config{}, quietLog())
	defer func() {
		m.Stop()
		_ = logs.Close()
	}()
	x := tp("bench", 0)
	m.BecomeLeaderOrFollower(lair(1, 1, 0, []int32{1}, []int32{1}, x), func(string) storage.Config { return storage.DefaultConfig() })
	for range 128 {
		if res := m.AppendRecords(context.Background(), time.Second, 1, map[storage.TopicPartition][]byte{x: batch(b, 16, 1000)})[x]; res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	p := consumerFetch(x, 0, 1<<20)
	res := m.FetchMessages(context.Background(), p)
	b.SetBytes(res[0].Size())
	res[0].Release()
	b.ReportAllocs()
	for b.Loop() {
		res := m.FetchMessages(context.Background(), p)
		res[0].Release()
	}
}

// BenchmarkReplication_AcksAllRF2 is one acks=-1 produce of a 16 KiB batch to a leader with one follower
// replicating through a real fetcher (in-process transport, real logs): the append, the follower's long-poll
// fetch waking, its append, the next fetch advancing the HW, and the produce purgatory completing.
func BenchmarkReplication_AcksAllRF2(b *testing.B) {
	c := newTestCluster(b, Config{ReplicaFetchWaitMaxMs: 500}, 1, 2)
	x := tp("bench", 0)
	c.lair(x, 1, 1, []int32{1, 2}, []int32{1, 2}, 1, 2)
	buf := batch(b, 16, 1000)
	req := map[storage.TopicPartition][]byte{x: buf}
	m := c.brokers[1].m
	ctx := context.Background()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		record.Batch(buf).SetBaseOffset(0)
		if res := m.AppendRecords(ctx, 10*time.Second, -1, req)[x]; res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}
