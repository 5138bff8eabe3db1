//go:build integration

package integration

// Transactions (issue 6, reference 06 §4–7): Sarama's transactional producer against real brokers —
// consume-transform-produce with a ConsumerGroup, commits and aborts mixed; read_committed and
// read_uncommitted consumers; fencing by a second producer with the same transactional id; the coordinator
// aborting a transaction left open past its timeout; and the coordinator's broker killed mid-transaction.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// txnProducer is a Sarama transactional producer (idempotent, one request in flight, acks=all, manual
// partitioning), closed when the test ends.
func txnProducer(t *testing.T, c *Cluster, id string, tweak func(*sarama.Config)) sarama.SyncProducer {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.ClientID = "txn-" + id
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Transaction.ID = id
	cfg.Producer.Transaction.Retry.Max = 100
	cfg.Producer.Transaction.Retry.Backoff = 200 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	if tweak != nil {
		tweak(cfg)
	}
	p, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("transactional producer %s: %v", id, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// plainSend writes one record with a non-transactional producer (acks=all).
func plainSend(t *testing.T, c *Cluster, topic string, partition int32, value string) {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.StringEncoder(value)}); err != nil {
		t.Fatalf("plain send to %s-%d: %v", topic, partition, err)
	}
}

func send(t *testing.T, p sarama.SyncProducer, topic string, partition int32, value string) {
	t.Helper()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.StringEncoder(value)}); err != nil {
		t.Fatalf("send %q to %s-%d: %v", value, topic, partition, err)
	}
}

// readUntil consumes topic/partition from the start with the given isolation until a record with value
// sentinel arrives, and returns the values before it, in order.
func readUntil(t *testing.T, c *Cluster, topic string, partition int32, iso sarama.IsolationLevel, sentinel string) []string {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Consumer.IsolationLevel = iso
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cons, err := sarama.NewConsumer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, partition, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("consume %s-%d: %v", topic, partition, err)
	}
	defer pc.Close()
	var out []string
	timeout := time.NewTimer(45 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case m := <-pc.Messages():
			if string(m.Value) == sentinel {
				return out
			}
			out = append(out, string(m.Value))
		case err := <-pc.Errors():
			t.Fatalf("consume %s-%d: %v", topic, partition, err)
		case <-timeout.C:
			t.Fatalf("consume %s-%d (isolation %d): no %q after 45s; read %v", topic, partition, iso, sentinel, out)
		}
	}
}

// ctpHandler is a consume-transform-produce member: every input record becomes "out-<offset>" in one
// committed transaction together with the input's offset; inputs at offsets 2, 5, 8, ... are first
// processed in a transaction that is aborted ("aborted-<offset>"), then again in a committed one.
type ctpHandler struct {
	p        sarama.SyncProducer
	group    string
	out      string
	n        int
	mu       sync.Mutex
	done     int
	finished chan struct{}
	errs     []error
}

func (h *ctpHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *ctpHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *ctpHandler) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
}

func (h *ctpHandler) transact(msg *sarama.ConsumerMessage, value string, commit bool) error {
	if err := h.p.BeginTxn(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, _, err := h.p.SendMessage(&sarama.ProducerMessage{Topic: h.out, Partition: int32(msg.Offset % 2), Value: sarama.StringEncoder(value)}); err != nil {
		return fmt.Errorf("send %s: %w", value, err)
	}
	if err := h.p.AddMessageToTxn(msg, h.group, nil); err != nil {
		return fmt.Errorf("add offset %d: %w", msg.Offset, err)
	}
	if commit {
		return h.p.CommitTxn()
	}
	return h.p.AbortTxn()
}

func (h *ctpHandler) ConsumeClaim(_ sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		if msg.Offset%3 == 2 {
			if err := h.transact(msg, fmt.Sprintf("aborted-%d", msg.Offset), false); err != nil {
				h.fail(fmt.Errorf("aborted transaction for offset %d: %w", msg.Offset, err))
				return err
			}
		}
		if err := h.transact(msg, fmt.Sprintf("out-%d", msg.Offset), true); err != nil {
			h.fail(fmt.Errorf("committed transaction for offset %d: %w", msg.Offset, err))
			return err
		}
		h.mu.Lock()
		h.done++
		if h.done == h.n {
			close(h.finished)
		}
		h.mu.Unlock()
	}
	return nil
}

// Consume-transform-produce with Sarama's transactional producer and a ConsumerGroup, commits and aborts
// mixed: a read_committed consumer sees exactly the committed outputs, once each, never an aborted one; a
// read_uncommitted consumer sees both; the input offsets were committed with the outputs (AddOffsetsToTxn +
// TxnOffsetCommit), so the group's committed offset is the end of the input.
func TestTransactionalConsumeTransformProduce(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	const in, out, group, n = "ctp-in", "ctp-out", "ctp-group", 12
	c.CreateTopic(in, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
	c.CreateTopic(out, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1})
	for i := range n {
		plainSend(t, c, in, 0, fmt.Sprintf("in-%d", i))
	}

	h := &ctpHandler{p: txnProducer(t, c, "ctp", nil), group: group, out: out, n: n, finished: make(chan struct{})}
	cfg := c.SaramaConfig()
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Offsets.AutoCommit.Enable = false // offsets go through the transactions only
	cg, err := sarama.NewConsumerGroup(c.Bootstrap(), group, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	consumed := make(chan error, 1)
	go func() { consumed <- cg.Consume(ctx, []string{in}, h) }()
	select {
	case <-h.finished:
	case err := <-consumed:
		t.Fatalf("consumer group ended early: %v (handler errors %v)", err, h.errs)
	case <-time.After(45 * time.Second):
		t.Fatalf("processed %d of %d inputs in 45s (handler errors %v)", h.done, n, h.errs)
	}
	cancel()
	<-consumed
	if err := cg.Close(); err != nil {
		t.Fatal(err)
	}
	if len(h.errs) > 0 {
		t.Fatalf("handler errors: %v", h.errs)
	}

	for p := int32(0); p < 2; p++ {
		plainSend(t, c, out, p, "end")
		var wantCommitted, wantAll []string
		for i := int(p); i < n; i += 2 {
			if i%3 == 2 {
				wantAll = append(wantAll, fmt.Sprintf("aborted-%d", i))
			}
			wantAll = append(wantAll, fmt.Sprintf("out-%d", i))
			wantCommitted = append(wantCommitted, fmt.Sprintf("out-%d", i))
		}
		if got := readUntil(t, c, out, p, sarama.ReadCommitted, "end"); !slices.Equal(got, wantCommitted) {
			t.Errorf("read_committed %s-%d: %v\nwant %v", out, p, got, wantCommitted)
		}
		if got := readUntil(t, c, out, p, sarama.ReadUncommitted, "end"); !slices.Equal(got, wantAll) {
			t.Errorf("read_uncommitted %s-%d: %v\nwant %v", out, p, got, wantAll)
		}
	}
	offs, err := c.Admin().ListConsumerGroupOffsets(group, map[string][]int32{in: {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offs.GetBlock(in, 0); b == nil || b.Offset != n {
		t.Fatalf("committed offset of %s-0: %+v, want %d", in, b, n)
	}
}

// A second producer with the same transactional id fences the first (reference 06 §4.4): its
// InitProducerId aborts the first one's open transaction and bumps the epoch; the first producer can no
// longer commit; read_committed consumers see only the second one's records.
func TestSecondTransactionalProducerFencesFirst(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	const topic = "fence"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
	first := txnProducer(t, c, "fenced-id", nil)
	if err := first.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, first, topic, 0, "first")

	second := txnProducer(t, c, "fenced-id", nil)
	if err := first.CommitTxn(); err == nil {
		t.Fatal("the fenced producer committed")
	} else if !errors.Is(err, sarama.ErrProducerFenced) && !errors.Is(err, sarama.ErrInvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	if err := second.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, second, topic, 0, "second")
	if err := second.CommitTxn(); err != nil {
		t.Fatalf("second producer's commit: %v", err)
	}
	plainSend(t, c, topic, 0, "end")
	if got := readUntil(t, c, topic, 0, sarama.ReadCommitted, "end"); !slices.Equal(got, []string{"second"}) {
		t.Fatalf("read_committed: %v, want [second]", got)
	}
	if got := readUntil(t, c, topic, 0, sarama.ReadUncommitted, "end"); !slices.Equal(got, []string{"first", "second"}) {
		t.Fatalf("read_uncommitted: %v, want [first second]", got)
	}
}

// lastStableOffset asks the partition's leader for the latest offset with read_committed (ListOffsets v2+
// answers the LSO) and read_uncommitted (the HW).
func lastStableOffset(t *testing.T, c *Cluster, addr, topic string, partition int32) (lso, hw int64) {
	t.Helper()
	cl, err := protocol.Dial(context.Background(), addr, "lso-probe", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ask := func(iso int8) int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version, req.ReplicaID, req.IsolationLevel = 5, -1, iso
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = partition, -1
		rt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{rp}
		req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
		resp, err := cl.Request(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("ListOffsets %s-%d: error %d", topic, partition, p.ErrorCode)
		}
		return p.Offset
	}
	return ask(1), ask(0)
}

// A transaction left open holds the last stable offset at its first record, so read_committed consumers see
// nothing after it; once transaction.timeout.ms passes the coordinator fences and aborts it (reference 06
// §4.8), the LSO moves on, the consumers see the later records but never the open transaction's, and the
// abandoned producer can no longer commit.
func TestOpenTransactionAbortedAfterTimeout(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1, Overrides: map[string]string{
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
	}})
	const topic = "txn-timeout"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
	p := txnProducer(t, c, "abandoned", func(cfg *sarama.Config) { cfg.Producer.Transaction.Timeout = 6 * time.Second })
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, p, topic, 0, "open-1")
	send(t, p, topic, 0, "open-2")
	plainSend(t, c, topic, 0, "after")
	plainSend(t, c, topic, 0, "end")
	lso, hw := lastStableOffset(t, c, c.Addr(1), topic, 0)
	if lso != 0 || hw != 4 {
		t.Fatalf("with the transaction open: LSO %d HW %d, want 0 and 4", lso, hw)
	}
	// readUntil waits up to 45 s: the abort comes after the 6 s timeout plus one cleanup interval.
	if got := readUntil(t, c, topic, 0, sarama.ReadCommitted, "end"); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("read_committed after the timeout: %v, want [after]", got)
	}
	if lso, hw := lastStableOffset(t, c, c.Addr(1), topic, 0); lso != hw || hw != 5 {
		t.Fatalf("after the abort: LSO %d HW %d, want both 5 (the ABORT marker took offset 4)", lso, hw)
	}
	if err := p.CommitTxn(); err == nil {
		t.Fatal("the timed-out transaction committed")
	}
}

// The transaction coordinator's broker is SIGKILLed mid-transaction (__transaction_state replicated 3
// times, min ISR 2): a new leader of the id's partition loads the transaction (reference 06 §4.9), the
// producer's commit is retried against it and completes, and the producer goes on with further
// transactions. read_committed consumers see each committed record exactly once.
func TestTransactionCoordinatorKilledMidTransaction(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	const topic, id = "txn-failover", "failover-id"
	minISR := "2"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	p := txnProducer(t, c, id, func(cfg *sarama.Config) {
		cfg.Producer.Retry.Max = 200
		cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	})
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		send(t, p, topic, 0, fmt.Sprintf("first-%d", i))
	}
	cl := c.Client()
	coord, err := cl.TransactionCoordinator(id)
	if err != nil {
		t.Fatal(err)
	}
	victim := coord.ID()
	c.Kill(victim)
	start := time.Now()
	if err := p.CommitTxn(); err != nil {
		t.Fatalf("commit after killing coordinator broker %d: %v", victim, err)
	}
	t.Logf("commit completed %v after killing the coordinator (broker %d)", time.Since(start).Round(time.Millisecond), victim)
	if err := p.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, p, topic, 0, "second")
	if err := p.CommitTxn(); err != nil {
		t.Fatalf("the next transaction: %v", err)
	}
	plainSend(t, c, topic, 0, "end")
	want := []string{"first-0", "first-1", "first-2", "second"}
	if got := readUntil(t, c, topic, 0, sarama.ReadCommitted, "end"); !slices.Equal(got, want) {
		t.Fatalf("read_committed: %v, want %v", got, want)
	}
}
