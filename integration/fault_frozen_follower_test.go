//go:build integration

package integration

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A follower that stops fetching for longer than replica.lag.time.max.ms leaves the ISR, and rejoins once it
// has caught up again (issue 4; reference 03 §5, reference 10 F4). The follower is frozen with SIGSTOP (the
// GC-pause analogue); the leader's isr-expiration task proposes the shrink through AlterIsr, the controller
// writes the state znode and sends UpdateMetadata, so the smaller ISR shows in ZooKeeper and in every live
// broker's Metadata. acks=all on a topic with min.insync.replicas=2 continues after the shrink (U bounded by
// about 1.5 x the lag time); with min.insync.replicas=3 the producer gets NOT_ENOUGH_REPLICAS while the ISR is
// short, and none of those records is ever readable (P = 0). After SIGCONT the follower catches up and the ISR
// expands again, in ZooKeeper and Metadata, and min.insync.replicas=3 writes succeed again.
//
// replica.lag.time.max.ms is 3000 here; the ZooKeeper session is raised to 20 s so that the frozen broker
// keeps its session: the shrink must come from the leader's lag check, not from the controller seeing the
// broker die. The frozen broker is never the controller (a frozen controller cannot accept AlterIsr).
//
// SAMSA_CHAOS=1 repeats the freeze 3 times (reference 10 §6.5: repeat timing-sensitive scenarios). F4's
// variant B (both followers frozen) is not here: with 3 brokers one follower is the controller, and a frozen
// controller cannot commit the shrink.
func TestFaultFrozenFollowerLeavesAndRejoinsISR(t *testing.T) {
	const lag = 3 * time.Second
	c := StartCluster(t, Options{Brokers: 3, Overrides: map[string]string{
		"replica.lag.time.max.ms":      strconv.Itoa(int(lag.Milliseconds())),
		"zookeeper.session.timeout.ms": "20000",
	}})
	z := c.ZK()
	ctrl := controllerOf(t, z)
	var others []int32
	for _, id := range []int32{1, 2, 3} {
		if id != ctrl {
			others = append(others, id)
		}
	}
	leader, frozen := others[0], others[1]
	replicas := []int32{leader, ctrl, frozen}
	all := sortedCopy(replicas)
	isr2, isr3 := "frozen-isr2", "frozen-isr3"
	for topic, minISR := range map[string]string{isr2: "2", isr3: "3"} {
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: replicas},
			ConfigEntries:     map[string]*string{"min.insync.replicas": &minISR}})
		waitFullISR(t, z, topic, 1, all, 30*time.Second)
	}
	t2, t3 := target{isr2, 0}, target{isr3, 0}
	targets := []target{t2, t3}
	obs := observe(t, z, targets)
	w := startWorkload(t, c, targets, 50)
	w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)

	live := []int32{leader, ctrl}
	cycles := 1
	if chaos() {
		cycles = 3
	}
	for cycle := 1; cycle <= cycles; cycle++ {
		frozenAt := time.Now()
		c.Pause(frozen)
		shrinkZK := map[string]time.Duration{}
		for _, topic := range []string{isr2, isr3} {
			waitStates(t, z, topic, 1, 20*time.Second, fmt.Sprintf("%s: ISR without frozen broker %d", topic, frozen),
				func(_ int32, s partitionState) bool { return !slices.Contains(s.ISR, frozen) && s.Leader == leader })
			shrinkZK[topic] = time.Since(frozenAt)
		}
		shrinkMD := time.Duration(0)
		for _, topic := range []string{isr2, isr3} {
			waitMetadata(t, c, live, topic, 0, 10*time.Second, "ISR without the frozen broker in Metadata",
				func(pm *sarama.PartitionMetadata) bool {
					return pm.Leader == leader && !slices.Contains(pm.Isr, frozen) && len(pm.Isr) == 2
				})
			shrinkMD = max(shrinkMD, time.Since(frozenAt))
		}
		// While the ISR is short: min.insync.replicas=3 refuses, min.insync.replicas=2 keeps acknowledging.
		shrunk := time.Now()
		eventually(t, 15*time.Second, func() error {
			if n := w.rec.countSince(t3, "19 NOT_ENOUGH_REPLICAS", shrunk); n == 0 {
				return fmt.Errorf("%s: no NOT_ENOUGH_REPLICAS since the shrink", t3)
			}
			return nil
		})
		w.waitAcks(t, []target{t2}, shrunk, 3, 15*time.Second)
		ner := w.rec.countSince(t3, "19 NOT_ENOUGH_REPLICAS", frozenAt)
		nera := w.rec.countSince(t3, "20 NOT_ENOUGH_REPLICAS_AFTER_APPEND", frozenAt)

		resumedAt := time.Now()
		c.Resume(frozen)
		expandZK := map[string]time.Duration{}
		for _, topic := range []string{isr2, isr3} {
			waitFullISR(t, z, topic, 1, all, 30*time.Second)
			expandZK[topic] = time.Since(resumedAt)
		}
		expandMD := time.Duration(0)
		for _, topic := range []string{isr2, isr3} {
			waitMetadata(t, c, all, topic, 0, 15*time.Second, "full ISR in Metadata",
				func(pm *sarama.PartitionMetadata) bool { return slices.Equal(sortedCopy(pm.Isr), all) })
			expandMD = max(expandMD, time.Since(resumedAt))
		}
		expanded := time.Now()
		w.waitAcks(t, targets, expanded, 3, 30*time.Second)
		u := w.rec.unavailability(targets, frozenAt, expanded)

		t.Logf("cycle %d: froze follower %d (leader %d, controller %d) for %.1fs, replica.lag.time.max.ms %d",
			cycle, frozen, leader, ctrl, resumedAt.Sub(frozenAt).Seconds(), lag.Milliseconds())
		t.Logf("cycle %d: ISR shrink seen in ZooKeeper after %.2fs (%s) / %.2fs (%s), in Metadata of brokers %v after %.2fs (bound T_lag x 1.5 = %.1fs)",
			cycle, shrinkZK[isr2].Seconds(), isr2, shrinkZK[isr3].Seconds(), isr3, live, shrinkMD.Seconds(), (lag * 3 / 2).Seconds())
		t.Logf("cycle %d: ISR expand after SIGCONT seen in ZooKeeper after %.2fs (%s) / %.2fs (%s), in Metadata of all brokers after %.2fs (bound 10s)",
			cycle, expandZK[isr2].Seconds(), isr2, expandZK[isr3].Seconds(), isr3, expandMD.Seconds())
		t.Logf("cycle %d: U: %s (bound for min.insync.replicas=2: T_lag x 1.5 + 1s = %.1fs); on %s while shrunk: %d NOT_ENOUGH_REPLICAS, %d NOT_ENOUGH_REPLICAS_AFTER_APPEND",
			cycle, formatU(targets, u), (lag*3/2 + time.Second).Seconds(), t3, ner, nera)
	}

	w.Stop()
	w.rec.logOutcomes(t, targets)
	v := check(w.rec.snapshot(), drain(t, c, targets))
	v.excuseLeaderMoves(obs.leaderMoved)
	v.requireSafe(t, "frozen follower")
	if v.definite == 0 {
		t.Errorf("no definite failure recorded: the NOT_ENOUGH_REPLICAS answers were not classified")
	}
}
