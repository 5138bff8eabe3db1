//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Partition reassignment through Sarama's ClusterAdmin (KIP-455, reference 02 §8): growing the replication
// factor, moving a partition off a broker while producing, cancelling, and the refusals.
func TestReassignPartitions(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	admin := c.Admin()

	// What Sarama's TestFuncAdminAlterPartitionReassignments does: manual assignment {0:[1],1:[2]}, then
	// each partition gets the other broker as a second replica.
	t.Run("GrowReplicationFactor", func(t *testing.T) {
		const topic = "reassign-grow"
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: {1}, 1: {2}}})
		target := [][]int32{{1, 2}, {2, 1}}
		if err := admin.AlterPartitionReassignments(topic, target); err != nil {
			t.Fatalf("AlterPartitionReassignments: %v", err)
		}
		waitReassigned(t, c, admin, topic, target)
	})

	t.Run("MovePartitionOffBroker", func(t *testing.T) {
		const topic = "reassign-move"
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: {1}}})
		p := newReassignProducer(t, c, topic)
		for i := 0; i < 50; i++ {
			p.send(t, fmt.Sprintf("before-%d", i))
		}
		stop := p.background(t)
		p.waitAcked(t, 60)
		if err := admin.AlterPartitionReassignments(topic, [][]int32{{3}}); err != nil {
			t.Fatalf("AlterPartitionReassignments: %v", err)
		}
		waitReassigned(t, c, admin, topic, [][]int32{{3}})
		p.waitAcked(t, len(p.ackedValues())+10) // the new leader takes writes
		stop()
		eventually(t, 20*time.Second, func() error {
			dirs, err := os.ReadDir(c.DataDir(1))
			if err != nil {
				return err
			}
			for _, d := range dirs {
				if d.IsDir() && strings.HasPrefix(d.Name(), topic+"-") && !strings.HasSuffix(d.Name(), "-delete") {
					return fmt.Errorf("replica directory %s remains on the old broker", filepath.Join(c.DataDir(1), d.Name()))
				}
			}
			return nil
		})
		checkAllAckedReadable(t, c, topic, p.ackedValues())
	})

	t.Run("Cancel", func(t *testing.T) {
		const topic = "reassign-cancel"
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: {1}}})
		// A paused broker is still registered (its session outlives a short pause) but cannot catch up, so
		// the reassignment to it stays in progress until cancelled. It must not be the controller.
		ctrl, err := admin.Controller()
		if err != nil {
			t.Fatal(err)
		}
		paused := int32(3)
		if ctrl.ID() == 3 {
			paused = 2
		}
		c.Pause(paused)
		resumed := false
		defer func() {
			if !resumed {
				c.Resume(paused)
			}
		}()
		if err := admin.AlterPartitionReassignments(topic, [][]int32{{1, paused}}); err != nil {
			t.Fatalf("AlterPartitionReassignments: %v", err)
		}
		st, err := admin.ListPartitionReassignments(topic, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		if s := st[topic][0]; s == nil || !slices.Equal(s.Replicas, []int32{1, paused}) || !slices.Equal(s.AddingReplicas, []int32{paused}) ||
			len(s.RemovingReplicas) != 0 {
			t.Fatalf("in progress: %+v", st[topic])
		}
		if err := admin.AlterPartitionReassignments(topic, [][]int32{nil}); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		c.Resume(paused)
		resumed = true
		waitReassigned(t, c, admin, topic, [][]int32{{1}})
		err = admin.AlterPartitionReassignments(topic, [][]int32{nil})
		if !errors.Is(err, sarama.ErrNoReassignmentInProgress) {
			t.Fatalf("second cancel: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		const topic = "reassign-grow" // created above: {0:[1,2], 1:[2,1]}
		for _, tc := range []struct {
			name   string
			topic  string
			target [][]int32
			want   sarama.KError
		}{
			{"unknown topic", "reassign-none", [][]int32{{1}}, sarama.ErrUnknownTopicOrPartition},
			{"unknown partition", topic, [][]int32{{1, 2}, {2, 1}, {1}}, sarama.ErrUnknownTopicOrPartition},
			{"duplicate replica", topic, [][]int32{{1, 1}}, sarama.ErrInvalidReplicaAssignment},
			{"empty replica list", topic, [][]int32{{}}, sarama.ErrInvalidReplicaAssignment},
			{"broker not alive", topic, [][]int32{{1, 9}}, sarama.ErrInvalidReplicaAssignment},
			{"nothing to cancel", topic, [][]int32{nil}, sarama.ErrNoReassignmentInProgress},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := admin.AlterPartitionReassignments(tc.topic, tc.target)
				if !errors.Is(err, tc.want) {
					t.Fatalf("AlterPartitionReassignments(%s, %v): %v, want %v", tc.topic, tc.target, err, tc.want)
				}
			})
		}
		// Only the controller takes reassignments.
		ctrl, err := admin.Controller()
		if err != nil {
			t.Fatal(err)
		}
		other := int32(1)
		if ctrl.ID() == 1 {
			other = 2
		}
		b := sarama.NewBroker(c.Addr(other))
		if err := b.Open(c.SaramaConfig()); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		req := &sarama.AlterPartitionReassignmentsRequest{TimeoutMs: 10000}
		req.AddBlock(topic, 0, []int32{2, 1})
		resp, err := b.AlterPartitionReassignments(req)
		if err != nil || !errors.Is(resp.ErrorCode, sarama.ErrNotController) {
			t.Fatalf("AlterPartitionReassignments at broker %d (not controller): %+v %v", other, resp, err)
		}
		lreq := &sarama.ListPartitionReassignmentsRequest{TimeoutMs: 10000}
		lreq.AddBlock(topic, []int32{0})
		lresp, err := b.ListPartitionReassignments(lreq)
		if err != nil || !errors.Is(lresp.ErrorCode, sarama.ErrNotController) {
			t.Fatalf("ListPartitionReassignments at broker %d (not controller): %+v %v", other, lresp, err)
		}
	})
}

// waitReassigned polls until the controller lists no reassignment for topic's partitions and every
// broker's Metadata shows exactly the target replicas, all of them in the ISR.
func waitReassigned(t *testing.T, c *Cluster, admin sarama.ClusterAdmin, topic string, target [][]int32) {
	t.Helper()
	parts := make([]int32, len(target))
	for i := range target {
		parts[i] = int32(i)
	}
	eventually(t, 20*time.Second, func() error {
		st, err := admin.ListPartitionReassignments(topic, parts)
		if err != nil {
			return err
		}
		if len(st[topic]) > 0 {
			return fmt.Errorf("still reassigning: %v", st[topic])
		}
		for _, id := range c.RunningIDs() {
			md, err := c.MetadataFrom(c.Addr(id), []string{topic})
			if err != nil {
				return err
			}
			if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != len(target) {
				return fmt.Errorf("broker %d: metadata %+v", id, md.Topics)
			}
			for _, p := range md.Topics[0].Partitions {
				want := target[p.ID]
				isr := slices.Clone(p.Isr)
				slices.Sort(isr)
				sorted := slices.Clone(want)
				slices.Sort(sorted)
				if !slices.Equal(p.Replicas, want) || !slices.Equal(isr, sorted) || !slices.Contains(want, p.Leader) {
					return fmt.Errorf("broker %d: %s-%d replicas %v isr %v leader %d, want replicas and isr %v",
						id, topic, p.ID, p.Replicas, p.Isr, p.Leader, want)
				}
			}
		}
		return nil
	})
}

// reassignProducer writes to partition 0 with acks=all and remembers what was acknowledged.
type reassignProducer struct {
	prod  sarama.SyncProducer
	topic string

	mu    sync.Mutex
	acked []string // guarded by mu
}

func newReassignProducer(t *testing.T, c *Cluster, topic string) *reassignProducer {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	return &reassignProducer{prod: prod, topic: topic}
}

func (p *reassignProducer) trySend(v string) error {
	_, _, err := p.prod.SendMessage(&sarama.ProducerMessage{Topic: p.topic, Partition: 0, Value: sarama.StringEncoder(v)})
	if err == nil {
		p.mu.Lock()
		p.acked = append(p.acked, v)
		p.mu.Unlock()
	}
	return err
}

func (p *reassignProducer) send(t *testing.T, v string) {
	t.Helper()
	if err := p.trySend(v); err != nil {
		t.Fatalf("produce %s: %v", v, err)
	}
}

func (p *reassignProducer) ackedValues() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.acked)
}

// background produces until the returned stop is called (which waits for the last send).
func (p *reassignProducer) background(t *testing.T) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			if err := p.trySend(fmt.Sprintf("during-%d", i)); err != nil {
				t.Logf("produce during the move: %v", err) // not acknowledged: not checked
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (p *reassignProducer) waitAcked(t *testing.T, n int) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		if got := len(p.ackedValues()); got < n {
			return fmt.Errorf("%d records acknowledged, want %d", got, n)
		}
		return nil
	})
}

// checkAllAckedReadable reads partition 0 from the start to its end and checks every acknowledged value is
// there (retries may add duplicates, which are allowed: the producer is not idempotent).
func checkAllAckedReadable(t *testing.T, c *Cluster, topic string, acked []string) {
	t.Helper()
	cl := c.Client()
	latest, err := cl.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	msgs := consumePartition(t, c, topic, 0, int(latest))
	read := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		read[string(m.Value)] = true
	}
	var lost []string
	for _, v := range acked {
		if !read[v] {
			lost = append(lost, v)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged records lost after the move: %v", len(lost), len(acked), lost)
	}
	t.Logf("%d acknowledged records, %d read back", len(acked), len(msgs))
}
