//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Reference 10 F19 (Kafka's reassign_partitions_test.py): every partition of a topic is moved to a shuffled
// replica set with AlterPartitionReassignments while a retrying acks=all producer writes, and two brokers are
// clean-bounced (SIGTERM, then started again) during the move — checked: the move is still in progress while
// both are down. Pass: the reassignment completes within 60 s —
// ZooKeeper's topic znode shows exactly the target replicas with no adding/removing replicas left, and every
// target replica is in its ISR — and the checker finds no acknowledged record lost (L = 0) and no phantom;
// the replicas' logs are identical afterwards. min.insync.replicas is 3 with RF 3, as in Kafka's test, so a
// half-done move cannot acknowledge anything. Duplicates (idempotence off) are reported only.
//
// Short form: 4 brokers, 8 partitions, 25 values/s per partition, brokers 1 and 3 bounced. SAMSA_CHAOS=1: 20
// partitions (the plan's size) and two moves in a row.
func TestFaultReassignmentWithBrokerBouncesLosesNothing(t *testing.T) {
	partitions, rate, moves := int32(8), 25, 1
	if chaos() {
		partitions, moves = 20, 2
	}
	const topic = "fault-reassign"
	all := []int32{1, 2, 3, 4}
	c := StartCluster(t, Options{Brokers: 4})
	minISR := "3"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	z := c.ZK()
	targets := targetsOf(topic, partitions)
	current := waitAssignment(t, z, topic, partitions, nil, 30*time.Second)

	p := startRetryingProducer(t, c, targets, rate)
	p.w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)
	rng := rand.New(rand.NewPCG(19, 19))
	for m := 1; m <= moves; m++ {
		// The bounces must overlap the move, which on this little data completes in well under a second. So
		// broker 1 goes down first and the plan keeps it wherever it is now (an adding replica must be live):
		// those partitions cannot complete until broker 1 is back in their ISR. Broker 3 goes down during
		// the move, and both come back.
		start := time.Now()
		c.Stop(1)
		plan := shuffledAssignment(rng, current, all, 1)
		// Broker 1 may have been the controller: a fresh admin client finds the new one (Sarama's cached
		// controller would just be refused), and the call is retried until a controller takes it.
		eventually(t, 30*time.Second, func() error { return c.Admin().AlterPartitionReassignments(topic, plan) })
		c.Stop(3)
		ids := make([]int32, partitions)
		for i := range ids {
			ids[i] = int32(i)
		}
		var st map[string]map[int32]*sarama.PartitionReplicaReassignmentsStatus
		eventually(t, 30*time.Second, func() (err error) { // broker 3 may have become the controller
			st, err = c.Admin().ListPartitionReassignments(topic, ids)
			return err
		})
		if len(st[topic]) == 0 {
			t.Fatalf("move %d: no reassignment in progress with brokers 1 and 3 down; the bounces would not overlap the move", m)
		}
		inProgress := len(st[topic])
		c.Start(1)
		c.Start(3)
		bounced := time.Since(start)
		current = waitAssignment(t, z, topic, partitions, plan, 60*time.Second-time.Since(start))
		t.Logf("move %d of %d partitions: %d still moving with brokers 1 and 3 down, both back %.1fs after the first SIGTERM; reassignment complete (target replicas, full ISRs) %.1fs after it",
			m, partitions, inProgress, bounced.Seconds(), time.Since(start).Seconds())
		p.w.waitAcks(t, targets, time.Now(), 3, 30*time.Second)
	}

	p.Close()
	p.w.rec.logOutcomes(t, targets)
	v := check(p.w.rec.snapshot(), drain(t, c, targets))
	v.requireSafe(t, topic)
	t.Logf("records the retrying producer gave up on (indeterminate): %d; duplicates from retries (idempotence off): %d", v.indeterminate, len(v.dups))
	requireIdenticalReplicaLogs(t, c, topic, partitions)
}

// shuffledAssignment gives every partition a new replica set of the same size drawn from brokers, different
// from its current one (Kafka's test shuffles the whole assignment), in which broker keep is a replica exactly
// where it is one now (it is down: it can be neither added nor usefully removed).
func shuffledAssignment(rng *rand.Rand, current [][]int32, brokers []int32, keep int32) [][]int32 {
	plan := make([][]int32, len(current))
	for i, cur := range current {
		for {
			perm := slices.Clone(brokers)
			rng.Shuffle(len(perm), func(a, b int) { perm[a], perm[b] = perm[b], perm[a] })
			next := perm[:len(cur)]
			if !slices.Equal(next, cur) && slices.Contains(next, keep) == slices.Contains(cur, keep) {
				plan[i] = next
				break
			}
		}
	}
	return plan
}

// waitAssignment waits until /brokers/topics/<topic> lists want (nil: any assignment) for every partition with
// no reassignment in progress, and each partition's ISR holds all of its replicas; it returns the assignment.
func waitAssignment(t testing.TB, z *ZKConn, topic string, n int32, want [][]int32, d time.Duration) [][]int32 {
	t.Helper()
	var got [][]int32
	eventually(t, d, func() error {
		data, _, err := z.Get("/brokers/topics/" + topic)
		if err != nil {
			return err
		}
		var tz struct {
			Partitions map[string][]int32 `json:"partitions"`
			Adding     map[string][]int32 `json:"adding_replicas"`
			Removing   map[string][]int32 `json:"removing_replicas"`
		}
		if err := json.Unmarshal(data, &tz); err != nil {
			return err
		}
		if len(tz.Adding) > 0 || len(tz.Removing) > 0 {
			return fmt.Errorf("still reassigning: adding %v, removing %v", tz.Adding, tz.Removing)
		}
		states, err := z.States(topic, n)
		if err != nil {
			return err
		}
		got = make([][]int32, n)
		for p := range n {
			replicas := tz.Partitions[strconv.Itoa(int(p))]
			if want != nil && !slices.Equal(replicas, want[p]) {
				return fmt.Errorf("partition %d: replicas %v, want %v", p, replicas, want[p])
			}
			for _, r := range replicas {
				if !slices.Contains(states[p].ISR, r) {
					return fmt.Errorf("partition %d: ISR %v lacks replica %d", p, states[p].ISR, r)
				}
			}
			got[p] = replicas
		}
		return nil
	})
	return got
}
