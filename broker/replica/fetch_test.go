package replica

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
)

func TestFetch_ConsumerReadsUpToHighWatermark(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 2, 10)
	f.mustProduce(x, 2, 10)
	res := f.m.FetchMessages(t.Context(), consumerFetch(x, 0, 1<<20))
	if res[0].Err != nil || res[0].Size() != 0 || res[0].HighWatermark != 0 || res[0].LogStartOffset != 0 || res[0].LastStableOffset != 0 {
		t.Fatalf("consumer must see nothing above the HW: %+v", res[0])
	}
	// The follower reads to the LEO and, having fetched from 2, moves the HW to 2.
	fr := f.m.FetchMessages(t.Context(), followerFetch(x, 0))
	if got := batchOffsets(t, readAll(t, &fr[0])); !slices.Equal(got, []int64{0, 2}) {
		t.Fatalf("follower batches %v", got)
	}
	fr = f.m.FetchMessages(t.Context(), followerFetch(x, 2))
	fr[0].Release()
	res = f.m.FetchMessages(t.Context(), consumerFetch(x, 0, 1<<20))
	if got := batchOffsets(t, readAll(t, &res[0])); !slices.Equal(got, []int64{0}) || res[0].HighWatermark != 2 {
		t.Fatalf("consumer after HW 2: batches %v HW %d", got, res[0].HighWatermark)
	}
}

func TestFetch_KIP74FirstBatchEvenIfLargerThanLimits(t *testing.T) {
	f := newFixture(t, Config{})
	x, y := tp("a", 0), tp("a", 1)
	f.lead(x, y)
	for range 3 {
		f.mustProduce(x, 1, 1000)
		f.mustProduce(y, 1, 1000)
	}
	p := consumerFetch(x, 0, 100)
	p.MaxBytes = 10
	p.Partitions = append(p.Partitions, FetchPartition{TopicPartition: y, FetchOffset: 0, LogStartOffset: -1, MaxBytes: 1 << 20, CurrentLeaderEpoch: -1})
	res := f.m.FetchMessages(t.Context(), p)
	if got := batchOffsets(t, readAll(t, &res[0])); !slices.Equal(got, []int64{0}) {
		t.Fatalf("first partition: whole first batch only, got %v", got)
	}
	if res[1].Err != nil || res[1].Size() != 0 {
		t.Fatalf("second partition past the response limit must be empty: %+v", res[1])
	}
}

func TestFetch_PartitionMaxBytesAfterDataIsHardLimit(t *testing.T) {
	f := newFixture(t, Config{})
	x, y := tp("a", 0), tp("a", 1)
	f.lead(x, y)
	f.mustProduce(x, 1, 10)
	f.mustProduce(y, 1, 1000)
	f.mustProduce(y, 1, 1000)
	p := consumerFetch(x, 0, 1<<20)
	p.Partitions = append(p.Partitions, FetchPartition{TopicPartition: y, FetchOffset: 0, LogStartOffset: -1, MaxBytes: 500, CurrentLeaderEpoch: -1})
	res := f.m.FetchMessages(t.Context(), p)
	readAll(t, &res[0])
	// y's first batch does not fit 500 bytes and x already returned data: nothing, not a cut batch.
	if res[1].Err != nil || res[1].Size() != 0 {
		t.Fatalf("second partition %+v", res[1])
	}
	// Alone, y's first batch comes back whole (KIP-74), and only it.
	res = f.m.FetchMessages(t.Context(), consumerFetch(y, 0, 500))
	if got := batchOffsets(t, readAll(t, &res[0])); !slices.Equal(got, []int64{0}) {
		t.Fatalf("alone: %v", got)
	}
	// Within the limit, batches come whole up to it and the last may be cut (clients skip it).
	res = f.m.FetchMessages(t.Context(), consumerFetch(y, 0, 1500))
	buf := readAll(t, &res[0])
	if len(buf) != 1500 || !slices.Equal(batchOffsets(t, buf), []int64{0}) {
		t.Fatalf("cut response: %d bytes, batches %v", len(buf), batchOffsets(t, buf))
	}
}

func TestFetch_OffsetOutOfRange(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 2, 10)
	for _, off := range []int64{3, -1} {
		res := f.m.FetchMessages(t.Context(), consumerFetch(x, off, 1<<20))
		if code(res[0].Err) != kerr.OffsetOutOfRange.Code || res[0].HighWatermark != -1 || res[0].LogStartOffset != -1 || len(res[0].Ranges) != 0 {
			t.Fatalf("offset %d: %+v", off, res[0])
		}
	}
	// The LEO itself is in range: an empty answer.
	if res := f.m.FetchMessages(t.Context(), consumerFetch(x, 2, 1<<20)); res[0].Err != nil || res[0].Size() != 0 || res[0].HighWatermark != 2 {
		t.Fatalf("at LEO: %+v", res[0])
	}
}

func TestFetch_NotLeaderAndLeaderEpochChecks(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 5, []int32{1}, []int32{1}, x))
	f.mustProduce(x, 1, 10)
	for _, c := range []struct {
		epoch int32
		want  int16
	}{{4, kerr.FencedLeaderEpoch.Code}, {6, kerr.UnknownLeaderEpoch.Code}, {5, 0}, {-1, 0}} {
		p := consumerFetch(x, 0, 1<<20)
		p.Partitions[0].CurrentLeaderEpoch = c.epoch
		res := f.m.FetchMessages(t.Context(), p)
		if code(res[0].Err) != c.want {
			t.Fatalf("epoch %d: %v", c.epoch, res[0].Err)
		}
		res[0].Release()
	}
	f.apply(lair(1, 2, 6, []int32{2, 1}, []int32{2, 1}, x))
	res := f.m.FetchMessages(t.Context(), consumerFetch(x, 0, 1<<20))
	if code(res[0].Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("leader-only fetch from a follower: %v", res[0].Err)
	}
	// KIP-392: a v11+ consumer may read a follower, up to the follower's HW.
	p := consumerFetch(x, 0, 1<<20)
	p.FetchOnlyFromLeader = false
	res = f.m.FetchMessages(t.Context(), p)
	if got := batchOffsets(t, readAll(t, &res[0])); res[0].Err != nil || !slices.Equal(got, []int64{0}) {
		t.Fatalf("follower read: %v %v", res[0].Err, got)
	}
}

func TestFetch_MinBytesCountsAvailableBytes(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 1, 100)
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = time.Hour, 2000
	done := make(chan []FetchResult, 1)
	go func() { done <- f.m.FetchMessages(t.Context(), p) }()
	eventually(t, 5*time.Second, "fetch waiting", func() bool { return f.m.fetch.Delayed() == 1 })
	f.mustProduce(x, 1, 100) // ~300 bytes in all: still short of 2000
	if f.m.fetch.Delayed() != 1 {
		t.Fatal("fetch completed below min_bytes")
	}
	select {
	case <-done:
		t.Fatal("fetch answered below min_bytes")
	default:
	}
	f.mustProduce(x, 1, 2000)
	res := <-done
	if got := batchOffsets(t, readAll(t, &res[0])); !slices.Equal(got, []int64{0, 1, 2}) {
		t.Fatalf("batches %v", got)
	}
}

func TestFetch_MaxWaitExpiresWithWhatIsThere(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 1, 10)
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = 20*time.Millisecond, 1<<20
	res := f.m.FetchMessages(t.Context(), p)
	if got := batchOffsets(t, readAll(t, &res[0])); res[0].Err != nil || !slices.Equal(got, []int64{0}) {
		t.Fatalf("expired fetch: %v %v", res[0].Err, got)
	}
}

func TestFetch_LeadershipChangeCompletesWaitingFetch(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = time.Hour, 1
	done := make(chan []FetchResult, 1)
	go func() { done <- f.m.FetchMessages(t.Context(), p) }()
	eventually(t, 5*time.Second, "fetch waiting", func() bool { return f.m.fetch.Delayed() == 1 })
	f.apply(lair(1, 2, 1, []int32{2, 1}, []int32{2, 1}, x))
	if res := <-done; code(res[0].Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("result %+v", res[0])
	}
}

func TestFetch_ContextEndAnswersWaitingFetch(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	ctx, cancel := context.WithCancel(context.Background())
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = time.Hour, 1
	done := make(chan []FetchResult, 1)
	go func() { done <- f.m.FetchMessages(ctx, p) }()
	eventually(t, 5*time.Second, "fetch waiting", func() bool { return f.m.fetch.Delayed() == 1 })
	cancel()
	if res := <-done; res[0].Err != nil || res[0].Size() != 0 {
		t.Fatalf("result %+v", res[0])
	}
}

func TestFetch_StopAnswersWaitingFetch(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.lead(x)
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = time.Hour, 1
	done := make(chan []FetchResult, 1)
	go func() { done <- f.m.FetchMessages(t.Context(), p) }()
	eventually(t, 5*time.Second, "fetch waiting", func() bool { return f.m.fetch.Delayed() == 1 })
	f.m.Stop()
	if res := <-done; res[0].Err != nil {
		t.Fatalf("result %+v", res[0])
	}
}

func TestFetch_FollowerFetchUnknownReplicaGetsNoRecords(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	f.mustProduce(x, 1, 10)
	p := followerFetch(x, 0)
	p.ReplicaID = 9
	res := f.m.FetchMessages(t.Context(), p)
	if res[0].Err != nil || res[0].Size() != 0 {
		t.Fatalf("result %+v", res[0])
	}
}

func TestFetch_FollowerOutsideIsrCaughtUpHoldsHighWatermark(t *testing.T) {
	// Reference 03 §4.1: a replica outside the ISR that caught up within replica.lag.time.max.ms holds back
	// the HW, so that it can join the ISR.
	f := newFixture(t, Config{ReplicaLagTimeMaxMs: 1000})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1}, []int32{1, 2}, x))
	res := f.m.FetchMessages(t.Context(), followerFetch(x, 0)) // caught up at LEO 0: lastCaughtUp = now
	res[0].Release()
	f.mustProduce(x, 2, 10)
	p, _ := f.m.Partition(x)
	if hw := p.State().HighWatermark; hw != 0 {
		t.Fatalf("HW %d passed a caught-up follower", hw)
	}
	f.now.Add(1001) // the follower is now lagging: it no longer holds the HW back
	f.mustProduce(x, 1, 10)
	if hw := p.State().HighWatermark; hw != 3 {
		t.Fatalf("HW %d, want 3", hw)
	}
}

func TestFetch_ResultsKeepRequestOrder(t *testing.T) {
	f := newFixture(t, Config{})
	parts := []storage.TopicPartition{tp("b", 1), tp("a", 0), tp("b", 0)}
	f.lead(parts...)
	for i, x := range parts {
		for range i + 1 {
			f.mustProduce(x, 1, 1)
		}
	}
	p := FetchParams{ReplicaID: -1, MaxBytes: 1 << 20, FetchOnlyFromLeader: true}
	for _, x := range parts {
		p.Partitions = append(p.Partitions, FetchPartition{TopicPartition: x, MaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LogStartOffset: -1})
	}
	res := f.m.FetchMessages(t.Context(), p)
	for i := range res {
		if n := len(batchOffsets(t, readAll(t, &res[i]))); n != i+1 {
			t.Fatalf("partition %d: %d batches", i, n)
		}
	}
}
