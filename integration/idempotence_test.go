//go:build integration

package integration

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// An idempotent producer (Sarama, Producer.Idempotent, one request in flight, acks=all, retries) writing
// while the partition's leader is SIGKILLed leaves the log with every record exactly once and in order
// (issue 6; reference 06 §2–3): a batch the dead leader wrote and replicated but never acknowledged is
// retried with the same producer id and sequence numbers, and the new leader, which replayed the producer
// state from the replicated batches, answers it as a duplicate with the original offset instead of writing
// it again. Each round kills the current leader, waits for a new one, restarts the victim and waits until it
// is back in the ISR (it rebuilds its producer state from snapshots and its log). Checked afterwards: the
// producer got no error; the partition holds values 0..n-1 once each, in offset order, with no gap; every
// acknowledged offset holds the value it was acknowledged for (a duplicate's answer is the original
// offset); the replicas' logs are identical.
func TestIdempotentProducerLeaderKillNoDuplicatesNoGaps(t *testing.T) {
	rounds := 2
	if chaos() {
		rounds = 6
	}
	const topic = "idempotent-leader-kill"
	all := []int32{1, 2, 3}
	c := StartCluster(t, Options{Brokers: 3})
	minISR := "2"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	z := c.ZK()
	waitFullISR(t, z, topic, 1, all, 30*time.Second)

	cfg := c.SaramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	// Enough retries to outlast a failover: the session timeout, the election and a metadata refresh.
	cfg.Producer.Retry.Max = 200
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Flush.Messages = 20
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewAsyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("idempotent producer: %v", err)
	}

	var (
		mu     sync.Mutex
		acked  = map[int64]int{} // offset -> value
		errs   []string
		nAcked int
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		succ, fail := p.Successes(), p.Errors()
		for succ != nil || fail != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				mu.Lock()
				acked[m.Offset] = m.Metadata.(int)
				nAcked++
				mu.Unlock()
			case e, ok := <-fail:
				if !ok {
					fail = nil
					continue
				}
				mu.Lock()
				errs = append(errs, fmt.Sprintf("value %v: %v", e.Msg.Metadata, e.Err))
				mu.Unlock()
			}
		}
	}()
	stop := make(chan struct{})
	sentc := make(chan int, 1)
	go func() {
		n := 0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sentc <- n
				return
			case <-tick.C:
			}
			for range 4 { // ~2000 values/s: several batches in every failover window
				p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(strconv.Itoa(n)), Metadata: n}
				n++
			}
		}
	}()
	waitAcked := func(n int, d time.Duration) {
		t.Helper()
		eventually(t, d, func() error {
			mu.Lock()
			defer mu.Unlock()
			if nAcked < n {
				return fmt.Errorf("%d records acknowledged, waiting for %d (errors: %d)", nAcked, n, len(errs))
			}
			return nil
		})
	}
	waitAcked(500, 30*time.Second)

	for r := 1; r <= rounds; r++ {
		s, err := z.PartitionState(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		victim := s.Leader
		pm, err := metadataPartition(c, c.Addr(victim), topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		var followers []int32 // in assignment order: the controller elects the first live one in the ISR
		for _, id := range pm.Replicas {
			if id != victim {
				followers = append(followers, id)
			}
		}
		heir, paused := followers[0], followers[1]
		// Pause the other follower so the leader cannot acknowledge (acks=all waits for the whole ISR) while
		// the heir already has the batch in flight: the kill then leaves a written, replicated, unacknowledged
		// batch, which the producer retries against the heir.
		c.Pause(paused)
		stalled := waitStall(t, &mu, &nAcked, 300*time.Millisecond, 3*time.Second)
		killed := time.Now()
		c.Kill(victim)
		c.Resume(paused)
		waitStates(t, z, topic, 1, sessionTimeout+20*time.Second, fmt.Sprintf("round %d: a leader other than %d", r, victim),
			func(_ int32, s partitionState) bool { return s.Leader > 0 && s.Leader != victim })
		failover := time.Since(killed)
		waitAcked(stalled+200, 60*time.Second)
		c.Start(victim)
		waitFullISR(t, z, topic, 1, all, 60*time.Second)
		s, err = z.PartitionState(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: follower %d paused, acks stalled at %d, SIGKILL of leader %d; new leader %d (expected %d) after %.1fs, broker back in the ISR after %.1fs",
			r, paused, stalled, victim, s.Leader, heir, failover.Seconds(), time.Since(killed).Seconds())
		mu.Lock()
		before := nAcked
		mu.Unlock()
		waitAcked(before+200, 30*time.Second)
	}

	close(stop)
	sent := <-sentc
	p.AsyncClose()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("producer did not drain within 2 minutes")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("%d of %d records failed, first: %s", len(errs), sent, errs[0])
	}
	if nAcked != sent {
		t.Fatalf("%d of %d records acknowledged", nAcked, sent)
	}
	waitFullISR(t, z, topic, 1, all, 30*time.Second)
	msgs := consumePartition(t, c, topic, 0, sent)
	for i, m := range msgs {
		v, err := strconv.Atoi(string(m.Value))
		if err != nil || v != i || m.Offset != int64(i) {
			t.Fatalf("offset %d holds %q at position %d: the log is not values 0..%d in order (a duplicate or a gap)",
				m.Offset, m.Value, i, sent-1)
		}
	}
	for off, v := range acked {
		if off != int64(v) {
			t.Fatalf("value %d was acknowledged at offset %d, but the log has it at %d", v, off, v)
		}
	}
	t.Logf("%d records from one idempotent producer over %d leader kills: each exactly once, in order", sent, rounds)
	requireIdenticalReplicaLogs(t, c, topic, 1)
}

// waitStall waits until the count of acknowledgements has not moved for quiet (the producer's request is
// held by the leader) and returns it; after limit it returns the count anyway.
func waitStall(t testing.TB, mu *sync.Mutex, n *int, quiet, limit time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(limit)
	mu.Lock()
	last, since := *n, time.Now()
	mu.Unlock()
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling a counter the producer goroutine moves
		mu.Lock()
		cur := *n
		mu.Unlock()
		if cur != last {
			last, since = cur, time.Now()
		} else if time.Since(since) >= quiet {
			return cur
		}
	}
	t.Logf("acknowledgements did not stall within %v", limit)
	return last
}
