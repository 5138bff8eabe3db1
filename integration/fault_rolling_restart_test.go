//go:build integration

package integration

import (
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A rolling restart with controlled shutdown (SIGTERM each broker in turn, wait until it is back in every ISR)
// under load loses nothing and costs a retrying producer no error at all: before the process exits, the
// controller moves its leaderships to other ISR members and takes it out of the ISRs, so producers see at most
// NOT_LEADER_OR_FOLLOWER and retry (issue 4; reference 02 controlled shutdown, reference 10 F2/F3).
//
// The producer is Sarama's AsyncProducer as an application would run it: acks=all, retries on (Retry.Max 50,
// backoff 100 ms), idempotence off, so duplicates may appear and are only reported. Every final error it
// returns is indeterminate (reference 10 §1.1) and fails this test. Printed per restart: how long the
// controlled shutdown took, the return to every ISR, and U per partition (bound for a clean bounce: 3 s).
// SAMSA_CHAOS=1: three full rounds.
func TestFaultRollingRestartWithControlledShutdownLosesNothing(t *testing.T) {
	rounds := 1
	if chaos() {
		rounds = 3
	}
	const topic = "fault-rolling"
	const partitions = 3
	all := []int32{1, 2, 3}
	c := StartCluster(t, Options{Brokers: 3})
	minISR := "2"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	z := c.ZK()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)
	targets := targetsOf(topic, partitions)

	p := startRetryingProducer(t, c, targets, 50)
	p.w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)

	for r := 1; r <= rounds; r++ {
		for _, id := range all {
			states, err := z.States(topic, partitions)
			if err != nil {
				t.Fatal(err)
			}
			ctrl := controllerOf(t, z)
			stopping := time.Now()
			c.Stop(id)
			stopped := time.Since(stopping)
			after, err := z.States(topic, partitions)
			if err != nil {
				t.Fatal(err)
			}
			if led := ledBy(after, id); len(led) > 0 {
				t.Errorf("round %d: broker %d still leads %v in ZooKeeper after its controlled shutdown", r, id, led)
			}
			restarted := time.Now()
			c.Start(id)
			waitFullISR(t, z, topic, partitions, all, 60*time.Second)
			end := time.Now()
			p.w.waitAcks(t, targets, end, 3, 30*time.Second)
			u := p.w.rec.unavailability(targets, stopping, end)
			role := ""
			if id == ctrl {
				role = ", the controller"
			}
			t.Logf("round %d: SIGTERM broker %d (leader of %v%s): exited after %.1fs, back in every ISR %.1fs after its restart; U: %s",
				r, id, ledBy(states, id), role, stopped.Seconds(), end.Sub(restarted).Seconds(), formatU(targets, u))
		}
	}

	p.Close()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)
	p.w.rec.logOutcomes(t, targets)
	v := check(p.w.rec.snapshot(), drain(t, c, targets))
	v.requireSafe(t, topic)
	if v.indeterminate > 0 {
		t.Errorf("the retrying producer gave up on %d records (every final error counts: retries should have hidden the leader moves)", v.indeterminate)
	}
	t.Logf("duplicates from retries (idempotence off, informational): %d", len(v.dups))
	requireIdenticalReplicaLogs(t, c, topic, partitions)
}

// retryingProducer drives Sarama's AsyncProducer at a constant rate over targets and feeds a recorder: a
// success is acked at the offset Sarama reports, a final error is indeterminate.
type retryingProducer struct {
	w        *workload // only its recorder and waitAcks are used
	prod     sarama.AsyncProducer
	stop     chan struct{}
	input    sync.WaitGroup
	outcomes sync.WaitGroup
	once     sync.Once
}

func startRetryingProducer(t testing.TB, c *Cluster, targets []target, perSecond int) *retryingProducer {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.ClientID = "samsa-rolling"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = false
	cfg.Producer.Retry.Max = 50
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes, cfg.Producer.Return.Errors = true, true
	prod, err := sarama.NewAsyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("async producer: %v", err)
	}
	p := &retryingProducer{w: &workload{rec: newRecorder()}, prod: prod, stop: make(chan struct{})}
	p.outcomes.Add(1)
	go func() { // outcomes
		defer p.outcomes.Done()
		succ, errs := prod.Successes(), prod.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				p.w.rec.finish([]*attempt{m.Metadata.(*attempt)}, acked, m.Offset, "ok")
			case e, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				p.w.rec.finish([]*attempt{e.Msg.Metadata.(*attempt)}, indeterminate, -1, "final error: "+shortErr(e.Err))
			}
		}
	}()
	p.input.Add(1)
	go func() { // input, round robin over the targets
		defer p.input.Done()
		tick := time.NewTicker(time.Second / time.Duration(perSecond*len(targets)))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			tp := targets[i%len(targets)]
			a := p.w.rec.begin(tp, 1)[0]
			select {
			case prod.Input() <- &sarama.ProducerMessage{Topic: tp.topic, Partition: tp.partition,
				Value: sarama.StringEncoder(a.value), Metadata: a}:
			case <-p.stop:
				p.w.rec.abandon(a) // stopped while the producer's input was full: never sent
				return
			}
		}
	}()
	t.Cleanup(p.Close)
	return p
}

// Close stops the input and waits until Sarama has reported every message (AsyncClose drains them).
func (p *retryingProducer) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.input.Wait() // nothing may send on Input once AsyncClose has closed it
		p.prod.AsyncClose()
		p.outcomes.Wait()
	})
}
