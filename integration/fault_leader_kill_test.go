//go:build integration

package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// With acks=all, RF=3, min.insync.replicas=2 and unclean election off, killing a partition's leader with SIGKILL
// loses no acknowledged record: a record is acknowledged only once every ISR member has it, the controller
// elects the new leader from the ISR, and the restarted broker truncates to the new leader's log and rejoins
// (issue 4; reference 10 F1, the kafkatest replication_test hard bounce). Each round kills the leader of one
// partition, the first the controller's broker too, restarts it once ZooKeeper has expired its session, and
// waits until it is back in every ISR; the producer writes throughout. Printed per failover: the time until
// every partition had a live leader again, the controller failover time C, the restarted broker's return to
// every ISR R, and U per partition. Afterwards L = P = IO = 0 and the replicas' logs are identical.
//
// Short form: 2 rounds at 50 values/s per partition. SAMSA_CHAOS=1: 10 rounds at 150/s, the controller's broker
// every third round.
func TestFaultKilledLeaderLosesNoAckedRecord(t *testing.T) {
	rounds, rate := 2, 50
	if chaos() {
		rounds, rate = 10, 150
	}
	const topic = "fault-leader-kill"
	const partitions = 3
	all := []int32{1, 2, 3}
	c := StartCluster(t, Options{Brokers: 3})
	minISR := "2"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	z := c.ZK()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)

	targets := targetsOf(topic, partitions)
	obs := observe(t, z, targets)
	w := startWorkload(t, c, targets, rate)
	w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)

	for r := 1; r <= rounds; r++ {
		states, err := z.States(topic, partitions)
		if err != nil {
			t.Fatal(err)
		}
		ctrl := controllerOf(t, z)
		ctrlEpoch, err := z.ControllerEpoch()
		if err != nil {
			t.Fatal(err)
		}
		victim := states[(r-1)%partitions].Leader
		if r%3 == 1 {
			victim = ctrl
		}
		role := "leader"
		if victim == ctrl {
			role = "controller and leader"
		}
		led := ledBy(states, victim)

		killed := time.Now()
		c.Kill(victim)
		failover := waitStates(t, z, topic, partitions, sessionTimeout+20*time.Second,
			fmt.Sprintf("round %d: partitions led by live brokers, broker %d out of the ISRs", r, victim),
			func(_ int32, s partitionState) bool {
				return s.Leader > 0 && s.Leader != victim && !slices.Contains(s.ISR, victim)
			})
		controllerNote := ""
		if victim == ctrl {
			var newCtrl int32
			eventually(t, 30*time.Second, func() error {
				id, err := z.ControllerID()
				if err != nil {
					return err
				}
				if id == victim {
					return fmt.Errorf("/controller still names the killed broker %d", id)
				}
				newCtrl = id
				return nil
			})
			epoch, err := z.ControllerEpoch()
			if err != nil {
				t.Fatal(err)
			}
			controllerNote = fmt.Sprintf("; controller %d -> %d, epoch %d -> %d, C <= %.1fs",
				victim, newCtrl, ctrlEpoch, epoch, time.Since(killed).Seconds())
			if epoch != ctrlEpoch+1 {
				t.Errorf("round %d: controller epoch went from %d to %d, want exactly one more", r, ctrlEpoch, epoch)
			}
		}

		restarted := time.Now()
		c.Start(victim)
		waitFullISR(t, z, topic, partitions, all, 60*time.Second)
		end := time.Now()
		u := w.rec.unavailability(targets, killed, end)
		t.Logf("round %d: SIGKILL broker %d (%s of %v): new leaders after %.1fs%s; restarted after %.1fs, back in every ISR %.1fs after its start (R); U: %s",
			r, victim, role, led, failover.Seconds(), controllerNote, restarted.Sub(killed).Seconds(),
			end.Sub(restarted).Seconds(), formatU(targets, u))
		for _, tp := range targets {
			if u[tp] > sessionTimeout+4*time.Second {
				t.Logf("round %d: U of %s is %.1fs, above profile T's bound of 10 s", r, tp, u[tp].Seconds())
			}
		}
		// The cluster is healed: the producer must get acknowledgements on every partition again.
		w.waitAcks(t, targets, end, 3, 30*time.Second)
	}

	w.Stop()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)
	w.rec.logOutcomes(t, targets)
	v := check(w.rec.snapshot(), drain(t, c, targets))
	v.excuseLeaderMoves(obs.leaderMoved)
	v.requireSafe(t, topic)
	requireIdenticalReplicaLogs(t, c, topic, partitions)
}
