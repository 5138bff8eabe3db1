package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func TestAppend_Acks1AssignsOffsetsAndMovesHighWatermark(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	for i, want := range []int64{0, 3, 6} {
		res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 3, 20)})[x]
		if res.Err != nil || res.BaseOffset != want || res.LogAppendTime != -1 || res.LogStartOffset != 0 {
			t.Fatalf("append %d: %+v", i, res)
		}
		p, _ := f.m.Partition(x)
		if st := p.State(); st.HighWatermark != want+3 || st.LogEndOffset != want+3 {
			t.Fatalf("RF=1: HW %d LEO %d after append %d", st.HighWatermark, st.LogEndOffset, i)
		}
	}
}

func TestAppend_AcksAllWithSingleReplicaCompletesThroughPurgatory(t *testing.T) {
	f := newFixture(t, Config{})
	x, y := tp("a", 0), tp("a", 1)
	f.lead(x, y)
	res := f.produce(-1, time.Minute, map[storage.TopicPartition][]byte{x: batch(t, 2, 5), y: batch(t, 1, 5)})
	if res[x].Err != nil || res[y].Err != nil || res[x].BaseOffset != 0 || res[y].BaseOffset != 0 {
		t.Fatalf("results %+v", res)
	}
	if n := f.m.produce.Delayed(); n != 0 {
		t.Fatalf("%d produce operations still pending", n)
	}
}

func TestAppend_AcksAllWaitsForFollowerFetch(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	done := make(chan ProduceResult, 1)
	go func() {
		done <- f.produce(-1, time.Minute, map[storage.TopicPartition][]byte{x: batch(t, 4, 5)})[x]
	}()
	eventually(t, 5*time.Second, "produce waiting in the purgatory", func() bool { return f.m.produce.Delayed() == 1 })
	p, _ := f.m.Partition(x)
	if hw := p.State().HighWatermark; hw != 0 {
		t.Fatalf("HW %d moved before the follower fetched", hw)
	}
	// The follower fetches from offset 2: it has half the batch, the HW moves to 2, not enough.
	follower := followerFetch(x, 2)
	res := f.m.FetchMessages(t.Context(), follower)
	if res[0].Err != nil || res[0].HighWatermark != 0 {
		t.Fatalf("follower fetch: %+v", res[0])
	}
	res[0].Release()
	select {
	case r := <-done:
		t.Fatalf("produce completed before the ISR had the batch: %+v", r)
	default:
	}
	if got := p.State().RemoteLogEndOffs[2]; got != 2 {
		t.Fatalf("leader's view of the follower's LEO: %d", got)
	}
	res = f.m.FetchMessages(t.Context(), followerFetch(x, 4))
	res[0].Release()
	r := <-done
	if r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("produce result %+v", r)
	}
	if hw := p.State().HighWatermark; hw != 4 {
		t.Fatalf("HW %d, want 4", hw)
	}
}

func followerFetch(x storage.TopicPartition, offset int64) FetchParams {
	return FetchParams{
		ReplicaID: 2, MaxBytes: 1 << 20, Isolation: IsolationLogEnd, FetchOnlyFromLeader: true,
		Partitions: []FetchPartition{{TopicPartition: x, FetchOffset: offset, LogStartOffset: 0, MaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}},
	}
}

func TestAppend_AcksAllTimesOutWithRequestTimedOut(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	res := f.produce(-1, 20*time.Millisecond, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]
	if code(res.Err) != kerr.RequestTimedOut.Code || res.BaseOffset != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestAppend_AcksAllContextEndAnswersEarly(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan ProduceResult, 1)
	go func() {
		done <- f.m.AppendRecords(ctx, time.Hour, -1, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]
	}()
	eventually(t, 5*time.Second, "produce waiting", func() bool { return f.m.produce.Delayed() == 1 })
	cancel()
	if r := <-done; code(r.Err) != kerr.RequestTimedOut.Code {
		t.Fatalf("result %+v", r)
	}
}

func TestAppend_MinInsyncReplicasBeforeAppend(t *testing.T) {
	f := newFixture(t, Config{MinInsyncReplicas: 2})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1}, []int32{1, 2}, x))
	res := f.produce(-1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]
	if code(res.Err) != kerr.NotEnoughReplicas.Code || res.BaseOffset != -1 {
		t.Fatalf("acks=-1: %+v", res)
	}
	p, _ := f.m.Partition(x)
	if leo := p.State().LogEndOffset; leo != 0 {
		t.Fatalf("NOT_ENOUGH_REPLICAS appended: LEO %d", leo)
	}
	if res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]; res.Err != nil {
		t.Fatalf("acks=1 must ignore min.insync.replicas: %v", res.Err)
	}
}

func TestAppend_NotEnoughReplicasAfterAppendWhenIsrShrinks(t *testing.T) {
	f := newFixture(t, Config{TopicMinInsyncReplicas: func(string) int { return 2 }})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	done := make(chan ProduceResult, 1)
	go func() {
		done <- f.produce(-1, time.Minute, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]
	}()
	eventually(t, 5*time.Second, "produce waiting", func() bool { return f.m.produce.Delayed() == 1 })
	// The controller shrinks the ISR to the leader: the HW reaches the batch, but with fewer in-sync
	// replicas than required.
	f.apply(lair(1, 1, 1, []int32{1}, []int32{1, 2}, x))
	if r := <-done; code(r.Err) != kerr.NotEnoughReplicasAfterAppend.Code || r.BaseOffset != 0 {
		t.Fatalf("result %+v", r)
	}
}

func TestAppend_LeadershipLossAnswersWaitingProduce(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	done := make(chan ProduceResult, 1)
	go func() {
		done <- f.produce(-1, time.Minute, map[storage.TopicPartition][]byte{x: batch(t, 1, 5)})[x]
	}()
	eventually(t, 5*time.Second, "produce waiting", func() bool { return f.m.produce.Delayed() == 1 })
	f.apply(lair(1, 2, 1, []int32{2, 1}, []int32{1, 2}, x))
	if r := <-done; code(r.Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("result %+v", r)
	}
}

func TestAppend_UnknownVersusNotLeaderByMetadata(t *testing.T) {
	known := tp("known", 0)
	f := newFixture(t, Config{MetadataContains: func(x storage.TopicPartition) bool { return x == known }})
	res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{known: batch(t, 1, 1), tp("nope", 0): batch(t, 1, 1)})
	if code(res[known].Err) != kerr.NotLeaderForPartition.Code {
		t.Fatalf("known elsewhere: %v", res[known].Err)
	}
	if code(res[tp("nope", 0)].Err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown: %v", res[tp("nope", 0)].Err)
	}
	if !f.m.KnownPartition(known) || f.m.KnownPartition(tp("nope", 0)) {
		t.Fatal("KnownPartition")
	}
}

func TestAppend_InvalidRequiredAcks(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	for _, acks := range []int16{2, -2, 5} {
		res := f.produce(acks, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 1)})[x]
		if code(res.Err) != kerr.InvalidRequiredAcks.Code {
			t.Fatalf("acks %d: %v", acks, res.Err)
		}
	}
	if p, _ := f.m.Partition(x); p.State().LogEndOffset != 0 {
		t.Fatal("invalid acks appended")
	}
}

func TestAppend_ValidationErrorPassesThrough(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	b := batch(t, 2, 5)
	b[len(b)-1] ^= 0xff // breaks the CRC
	res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: b})[x]
	if !errors.Is(res.Err, record.ErrCorrupt) || res.BaseOffset != -1 || res.LogStartOffset != 0 {
		t.Fatalf("result %+v", res)
	}
}

func TestAppend_WakesFetchWaitingForData(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.lead(x)
	p := consumerFetch(x, 0, 1<<20)
	p.MaxWait, p.MinBytes = time.Hour, 1
	done := make(chan []FetchResult, 1)
	go func() { done <- f.m.FetchMessages(t.Context(), p) }()
	eventually(t, 5*time.Second, "fetch waiting", func() bool { return f.m.fetch.Delayed() == 1 })
	f.mustProduce(x, 3, 10)
	res := <-done
	if res[0].Err != nil || res[0].HighWatermark != 3 {
		t.Fatalf("result %+v", res[0])
	}
	if got := batchOffsets(t, readAll(t, &res[0])); len(got) != 1 || got[0] != 0 {
		t.Fatalf("batches %v", got)
	}
}

func TestAppend_ConcurrentProducersAndWaitingConsumer(t *testing.T) {
	f := newFixture(t, Config{})
	f.m.Start(t.Context())
	x := tp("a", 0)
	f.lead(x)
	const producers, perProducer = 4, 50
	total := int64(producers * perProducer)
	// A consumer long-polls from offset 0 until it has seen every record, one fetch at a time.
	seen := make(chan int64, 1)
	go func() {
		next := int64(0)
		for next < total {
			p := consumerFetch(x, next, 1<<20)
			p.MaxWait, p.MinBytes = 5*time.Second, 1
			res := f.m.FetchMessages(t.Context(), p)
			if res[0].Err != nil {
				t.Error(res[0].Err)
				break
			}
			buf := readAll(t, &res[0])
			for len(buf) > 0 {
				b, rest, err := record.Next(buf)
				if err != nil {
					break
				}
				next = b.NextOffset()
				buf = rest
			}
		}
		seen <- next
	}()
	errs := make(chan error, producers)
	for range producers {
		go func() {
			for range perProducer {
				res := f.produce(-1, 5*time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 8)})[x]
				if res.Err != nil {
					errs <- res.Err
					return
				}
			}
			errs <- nil
		}()
	}
	for range producers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := <-seen; got != total {
		t.Fatalf("consumer reached offset %d, want %d", got, total)
	}
}

func TestAppend_UpdateTopicConfigChangesMinInsyncReplicas(t *testing.T) {
	f := newFixture(t, Config{})
	x, other := tp("a", 0), tp("b", 0)
	f.lead(x, other)
	if n := len(f.m.Partitions()); n != 2 {
		t.Fatalf("%d partitions hosted", n)
	}
	cfg := testLogConfig()
	cfg.MaxMessageBytes = 100
	f.m.UpdateTopicConfig("a", cfg, 2)
	res := f.produce(-1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 5), other: batch(t, 1, 5)})
	if code(res[x].Err) != kerr.NotEnoughReplicas.Code || res[other].Err != nil {
		t.Fatalf("min.insync.replicas 2 on a only: %v / %v", res[x].Err, res[other].Err)
	}
	if res := f.produce(1, time.Second, map[storage.TopicPartition][]byte{x: batch(t, 1, 500)})[x]; !errors.Is(res.Err, record.ErrMessageTooLarge) {
		t.Fatalf("max.message.bytes 100: %v", res.Err)
	}
}
