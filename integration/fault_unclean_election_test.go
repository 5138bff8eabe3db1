//go:build integration

package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// When every ISR member of a partition is dead, the partition goes offline (leader -1 in ZooKeeper and in
// Metadata) and stays offline while only out-of-sync replicas are alive, until an ISR member returns: with
// unclean.leader.election.enable=false (the default) the controller never elects a replica that may lack
// committed records. With unclean.leader.election.enable=true on the topic it elects the out-of-sync replica
// at once, and the records only the dead ISR member had are lost; that loss is expected and reported, and the
// returning old leader truncates to the new leader's log so the replicas agree again (issue 4; reference 02
// §offline partitions, reference 10 F9's control run).
//
// Two topics with the same two replicas {A, B} (neither the controller, which stays up): "unclean-off"
// (default) and "unclean-on". B is killed and the ISR shrinks to {A}; records are acknowledged by A alone
// (min.insync.replicas=1); A is killed: both partitions go offline. B is started: unclean-on gets leader B,
// unclean-off stays offline. A is started: unclean-off comes back with leader A and loses nothing.
func TestFaultAllISRDeadPartitionOfflineUnlessUncleanElection(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	z := c.ZK()
	ctrl := controllerOf(t, z)
	var pair []int32
	for _, id := range []int32{1, 2, 3} {
		if id != ctrl {
			pair = append(pair, id)
		}
	}
	a, b := pair[0], pair[1]
	off, on := "unclean-off", "unclean-on"
	enabled := "true"
	c.CreateTopic(off, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
		ReplicaAssignment: map[int32][]int32{0: {a, b}}})
	c.CreateTopic(on, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
		ReplicaAssignment: map[int32][]int32{0: {a, b}},
		ConfigEntries:     map[string]*string{"unclean.leader.election.enable": &enabled}})
	for _, topic := range []string{off, on} {
		waitFullISR(t, z, topic, 1, pair, 30*time.Second)
	}
	tOff, tOn := target{off, 0}, target{on, 0}
	targets := []target{tOff, tOn}
	obs := observe(t, z, targets)
	w := startWorkload(t, c, targets, 50)
	w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)

	// B dies; the ISR becomes {A}, and A alone acknowledges what follows.
	c.Kill(b)
	for _, topic := range []string{off, on} {
		waitStates(t, z, topic, 1, sessionTimeout+20*time.Second, fmt.Sprintf("%s: ISR {%d}", topic, a),
			func(_ int32, s partitionState) bool { return s.Leader == a && slices.Equal(s.ISR, []int32{a}) })
	}
	shrunk := time.Now()
	w.waitAcks(t, targets, shrunk, 10, 30*time.Second)

	// A dies: every ISR member is dead.
	c.Kill(a)
	killedA := time.Now()
	for _, topic := range []string{off, on} {
		waitStates(t, z, topic, 1, sessionTimeout+20*time.Second, topic+": offline",
			func(_ int32, s partitionState) bool { return s.Leader == -1 && slices.Equal(s.ISR, []int32{a}) })
	}
	offline := time.Since(killedA)

	// B returns. The controller handles its startup once for both partitions: when unclean-on has its
	// unclean leader, the same decision has been made for unclean-off, which must still be offline.
	c.Start(b)
	var onState partitionState
	waitStates(t, z, on, 1, 30*time.Second, on+": unclean leader "+fmt.Sprint(b),
		func(_ int32, s partitionState) bool { onState = s; return s.Leader == b })
	offState, err := z.PartitionState(off, 0)
	if err != nil {
		t.Fatal(err)
	}
	if offState.Leader != -1 {
		t.Fatalf("%s elected %s with only the out-of-sync replica %d alive (unclean election is off)", off, offState, b)
	}
	live := []int32{ctrl, b}
	waitMetadata(t, c, live, on, 0, 15*time.Second, "unclean leader in Metadata",
		func(pm *sarama.PartitionMetadata) bool { return pm.Leader == b })
	waitMetadata(t, c, live, off, 0, 15*time.Second, "offline in Metadata",
		func(pm *sarama.PartitionMetadata) bool {
			return pm.Leader == -1 && pm.Err == sarama.ErrLeaderNotAvailable
		})
	// Still offline a moment later, with the producer trying all along (a bounded observation window).
	w.waitAcks(t, []target{tOn}, time.Now(), 10, 30*time.Second)
	if s, err := z.PartitionState(off, 0); err != nil || s.Leader != -1 {
		t.Fatalf("%s: %s (err %v): came back with only the out-of-sync replica alive", off, s, err)
	}
	offAcks := w.rec.acksSince(tOff, killedA)
	t.Logf("all ISR members dead: offline in ZooKeeper %.1fs after A=%d was killed; with B=%d back: %s %s, %s %s; %d acknowledgements on %s since",
		offline.Seconds(), a, b, on, onState, off, offState, offAcks, off)
	if offAcks > 0 {
		t.Errorf("%s acknowledged %d writes while offline", off, offAcks)
	}

	// A returns: unclean-off is led by the returning ISR member again; unclean-on's old leader follows B.
	restartA := time.Now()
	c.Start(a)
	back := waitStates(t, z, off, 1, 30*time.Second, off+": leader A again",
		func(_ int32, s partitionState) bool { return s.Leader == a })
	for _, topic := range []string{off, on} {
		waitFullISR(t, z, topic, 1, pair, 60*time.Second)
	}
	w.waitAcks(t, targets, time.Now(), 5, 30*time.Second)
	t.Logf("A back: %s led by %d %.1fs after its restart; both ISRs full %.1fs after it", off, a, back.Seconds(),
		time.Since(restartA).Seconds())

	w.Stop()
	w.rec.logOutcomes(t, targets)
	read := drain(t, c, targets)
	attempts := w.rec.snapshot()
	byTopic := func(topic string) []attempt {
		var out []attempt
		for _, at := range attempts {
			if at.tp.topic == topic {
				out = append(out, at)
			}
		}
		return out
	}
	vOff := check(byTopic(off), map[target][]readRecord{tOff: read[tOff]})
	vOff.excuseLeaderMoves(obs.leaderMoved)
	vOff.requireSafe(t, off)

	// unclean-on: loss is allowed; it can only be what A acknowledged after B left the ISR.
	vOn := check(byTopic(on), map[target][]readRecord{tOn: read[tOn]})
	t.Logf("checker %s (loss expected): %s", on, vOn)
	var early int
	for _, at := range byTopic(on) {
		if at.class == acked && at.done.Before(shrunk.Add(-time.Second)) && !slices.ContainsFunc(read[tOn],
			func(r readRecord) bool { return r.value == at.value }) {
			early++
		}
	}
	if early > 0 {
		t.Errorf("%s lost %d records acknowledged while B was still in the ISR", on, early)
	}
	if len(vOn.lost) == 0 {
		t.Logf("%s: the unclean election lost nothing this run (A had no record beyond B's log end)", on)
	}
	for _, topic := range []string{off, on} {
		requireIdenticalReplicaLogs(t, c, topic, 1)
	}
	logTruncations(t, c, a, on)
}
