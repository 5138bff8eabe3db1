//go:build integration

package integration

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A broker cut from ZooKeeper, but not from clients or its peers, loses its session: ZooKeeper deletes its
// registration, the controller moves its leaderships to the live ISR members and drops it from the ISRs. When
// the link heals the broker learns of the expiry, registers again with a new broker epoch (czxid), and comes
// back as a follower that truncates whatever it appended as a stale leader: nothing acknowledged is lost and
// the replicas do not diverge (issue 4; reference 10 F7, the KIP-380 broker epoch).
//
// Every broker reaches ZooKeeper through its own tcpProxy (zkproxy_test.go); the victim is a broker that leads
// a partition and is not the controller. The cut is silent (bytes stop, connections stay), held until the
// cluster has failed over, then healed. Printed: time to session expiry, to failover, to re-registration and
// back into every ISR, and U per partition. SAMSA_CHAOS=1 adds F7's variant: a second cut 2 s after the
// first heal.
func TestFaultBrokerCutFromZooKeeperRejoinsAsFollower(t *testing.T) {
	proxies := map[int32]*tcpProxy{}
	c := StartCluster(t, Options{Brokers: 3, ZooKeeperVia: func(id int32, zkAddr string) string {
		p := startTCPProxy(t, zkAddr)
		proxies[id] = p
		return p.Addr()
	}})
	const topic = "fault-zk-cut"
	const partitions = 3
	all := []int32{1, 2, 3}
	minISR := "2"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}})
	z := c.ZK()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)
	targets := targetsOf(topic, partitions)
	obs := observe(t, z, targets)
	w := startWorkload(t, c, targets, 50)
	w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)

	cuts := 1
	if chaos() {
		cuts = 2
	}
	for cut := 1; cut <= cuts; cut++ {
		states, err := z.States(topic, partitions)
		if err != nil {
			t.Fatal(err)
		}
		ctrl := controllerOf(t, z)
		victim := int32(-1)
		for _, id := range all {
			if id != ctrl && len(ledBy(states, id)) > 0 {
				victim = id
				break
			}
		}
		if victim < 0 {
			t.Fatalf("cut %d: no partition led by a broker other than the controller %d: %v", cut, ctrl, states)
		}
		led := ledBy(states, victim)
		epochBefore, ok, err := z.BrokerEpoch(victim)
		if err != nil || !ok {
			t.Fatalf("broker %d not registered before the cut: %v", victim, err)
		}

		cutAt := time.Now()
		proxies[victim].Cut()
		var expired time.Duration
		eventually(t, sessionTimeout+20*time.Second, func() error {
			_, ok, err := z.BrokerEpoch(victim)
			if err != nil {
				return err
			}
			if ok {
				return fmt.Errorf("/brokers/ids/%d still registered", victim)
			}
			expired = time.Since(cutAt)
			return nil
		})
		waitStates(t, z, topic, partitions, 20*time.Second,
			fmt.Sprintf("cut %d: partitions led by others, broker %d out of the ISRs", cut, victim),
			func(_ int32, s partitionState) bool {
				return s.Leader > 0 && s.Leader != victim && !slices.Contains(s.ISR, victim)
			})
		failover := time.Since(cutAt)
		// The rest of the cluster serves the partitions the victim led: acks=all writes succeed again.
		w.waitAcks(t, targets, time.Now(), 3, 20*time.Second)
		writable := time.Since(cutAt)

		healAt := time.Now()
		proxies[victim].Heal()
		var epochAfter int64
		eventually(t, sessionTimeout+20*time.Second, func() error {
			e, ok, err := z.BrokerEpoch(victim)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("/brokers/ids/%d not registered again", victim)
			}
			epochAfter = e
			return nil
		})
		reregistered := time.Since(healAt)
		if epochAfter == epochBefore {
			t.Errorf("cut %d: broker %d re-registered with the same broker epoch %d", cut, victim, epochAfter)
		}
		waitFullISR(t, z, topic, partitions, all, 60*time.Second)
		rejoined := time.Since(healAt)
		end := time.Now()
		states, err = z.States(topic, partitions)
		if err != nil {
			t.Fatal(err)
		}
		u := w.rec.unavailability(targets, cutAt, end)
		t.Logf("cut %d: broker %d (leader of %v; controller %d) cut from ZooKeeper: registration gone after %.1fs, every partition led by another broker after %.1fs, acks=all acknowledged on every partition after %.1fs",
			cut, victim, led, ctrl, expired.Seconds(), failover.Seconds(), writable.Seconds())
		t.Logf("cut %d: healed after %.1fs: re-registered after %.1fs (broker epoch %d -> %d), back in every ISR after %.1fs, now leading %v; U: %s",
			cut, healAt.Sub(cutAt).Seconds(), reregistered.Seconds(), epochBefore, epochAfter, rejoined.Seconds(),
			ledBy(states, victim), formatU(targets, u))
		if cut < cuts {
			w.waitAcks(t, targets, end, 3, 20*time.Second)
		}
	}

	w.Stop()
	waitFullISR(t, z, topic, partitions, all, 30*time.Second)
	w.rec.logOutcomes(t, targets)
	v := check(w.rec.snapshot(), drain(t, c, targets))
	v.excuseLeaderMoves(obs.leaderMoved)
	v.requireSafe(t, topic)
	requireIdenticalReplicaLogs(t, c, topic, partitions)
	for _, id := range all {
		logTruncations(t, c, id, topic)
	}
}

// logTruncations prints the lines of broker id's log that mention truncating topic's partitions: the evidence
// that a returning broker cut a divergent suffix (or had none to cut).
func logTruncations(t testing.TB, c *Cluster, id int32, topic string) {
	t.Helper()
	data, err := os.ReadFile(c.LogPath(id))
	if err != nil {
		t.Logf("broker %d log: %v", id, err)
		return
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "truncat") && strings.Contains(l, topic) {
			lines = append(lines, l)
		}
	}
	if len(lines) > 6 {
		lines = append(lines[:6], fmt.Sprintf("... %d more", len(lines)-6))
	}
	t.Logf("broker %d truncation lines for %s: %d\n%s", id, topic, len(lines), strings.Join(lines, "\n"))
}
