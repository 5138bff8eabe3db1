//go:build integration

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-zookeeper/zk"
)

// The fault tests read the truth from ZooKeeper, as kafkatest and the reliability plan's observer do
// (reference 10 §6.1, §6.3): who is controller, who is registered with which broker epoch (czxid), and each
// partition's leader, leader epoch and ISR from its state znode. The broker under test is only asked what a
// client would ask (Metadata).

// chaos reports whether the long forms run (SAMSA_CHAOS=1, `make chaos`).
func chaos() bool { return os.Getenv("SAMSA_CHAOS") == "1" }

// partitionState is /brokers/topics/<t>/partitions/<p>/state (reference 01).
type partitionState struct {
	ControllerEpoch int32   `json:"controller_epoch"`
	Leader          int32   `json:"leader"`
	LeaderEpoch     int32   `json:"leader_epoch"`
	ISR             []int32 `json:"isr"`
	ZkVersion       int32   `json:"-"` // the znode's version
}

func (s partitionState) String() string {
	return fmt.Sprintf("leader %d epoch %d isr %v (zkVersion %d)", s.Leader, s.LeaderEpoch, s.ISR, s.ZkVersion)
}

// PartitionState reads a partition's state znode.
func (z *ZKConn) PartitionState(topic string, p int32) (partitionState, error) {
	data, st, err := z.Get(fmt.Sprintf("/brokers/topics/%s/partitions/%d/state", topic, p))
	if err != nil {
		return partitionState{}, err
	}
	var s partitionState
	if err := json.Unmarshal(data, &s); err != nil {
		return partitionState{}, fmt.Errorf("state of %s-%d: %w: %s", topic, p, err, data)
	}
	s.ZkVersion = st.Version
	return s, nil
}

// States reads the state znodes of partitions 0..n-1.
func (z *ZKConn) States(topic string, n int32) ([]partitionState, error) {
	out := make([]partitionState, n)
	for p := range n {
		s, err := z.PartitionState(topic, p)
		if err != nil {
			return nil, err
		}
		out[p] = s
	}
	return out, nil
}

// ControllerID reads /controller's brokerid.
func (z *ZKConn) ControllerID() (int32, error) {
	data, _, err := z.Get("/controller")
	if err != nil {
		return -1, err
	}
	var v struct {
		BrokerID int32 `json:"brokerid"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return -1, fmt.Errorf("/controller: %w: %s", err, data)
	}
	return v.BrokerID, nil
}

// ControllerEpoch reads /controller_epoch.
func (z *ZKConn) ControllerEpoch() (int64, error) {
	data, _, err := z.Get("/controller_epoch")
	if err != nil {
		return -1, err
	}
	return strconv.ParseInt(string(data), 10, 64)
}

// BrokerEpoch returns /brokers/ids/<id>'s czxid (the broker epoch of KIP-380), or ok false when the broker is
// not registered.
func (z *ZKConn) BrokerEpoch(id int32) (epoch int64, ok bool, err error) {
	_, st, err := z.Conn.Get(z.Path("/brokers/ids/" + strconv.Itoa(int(id))))
	if err != nil {
		if errors.Is(err, zk.ErrNoNode) {
			return 0, false, nil
		}
		return 0, false, err
	}
	return st.Czxid, true, nil
}

// controllerOf polls until /controller exists and returns its broker id.
func controllerOf(t testing.TB, z *ZKConn) int32 {
	t.Helper()
	var id int32
	eventually(t, 30*time.Second, func() error {
		var err error
		id, err = z.ControllerID()
		return err
	})
	return id
}

// waitStates polls the state znodes of topic's n partitions until ok accepts all of them, and returns how long
// that took. The failure message shows the states last seen.
func waitStates(t testing.TB, z *ZKConn, topic string, n int32, d time.Duration, what string,
	ok func(p int32, s partitionState) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last []partitionState
	deadline := start.Add(d)
	wait := 20 * time.Millisecond
	for {
		states, err := z.States(topic, n)
		if err == nil {
			last = states
			all := true
			for p, s := range states {
				if !ok(int32(p), s) {
					all = false
					break
				}
			}
			if all {
				return time.Since(start)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v; states of %s: %v (last error %v)", what, d, topic, last, err)
		}
		time.Sleep(wait) // poll interval, not synchronisation
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// waitFullISR waits until every partition of topic has all of want in its ISR and a leader among them.
func waitFullISR(t testing.TB, z *ZKConn, topic string, n int32, want []int32, d time.Duration) time.Duration {
	t.Helper()
	return waitStates(t, z, topic, n, d, fmt.Sprintf("ISR of %s contains %v", topic, want),
		func(_ int32, s partitionState) bool {
			for _, id := range want {
				if !slices.Contains(s.ISR, id) {
					return false
				}
			}
			return slices.Contains(want, s.Leader)
		})
}

// ledBy lists the partitions whose state names leader id.
func ledBy(states []partitionState, id int32) []int32 {
	var out []int32
	for p, s := range states {
		if s.Leader == id {
			out = append(out, int32(p))
		}
	}
	return out
}

// metadataPartition asks broker addr (not a client cache) for one partition's metadata.
func metadataPartition(c *Cluster, addr, topic string, p int32) (*sarama.PartitionMetadata, error) {
	md, err := c.MetadataFrom(addr, []string{topic})
	if err != nil {
		return nil, err
	}
	for _, tm := range md.Topics {
		if tm.Name != topic {
			continue
		}
		for _, pm := range tm.Partitions {
			if pm.ID == p {
				return pm, nil
			}
		}
		return nil, fmt.Errorf("%s-%d not in metadata (topic error %v)", topic, p, tm.Err)
	}
	return nil, fmt.Errorf("%s not in metadata", topic)
}

// waitMetadata polls broker ids' Metadata for topic-p until ok accepts every answer, and returns how long
// that took.
func waitMetadata(t testing.TB, c *Cluster, ids []int32, topic string, p int32, d time.Duration, what string,
	ok func(pm *sarama.PartitionMetadata) bool) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, d, func() error {
		for _, id := range ids {
			pm, err := metadataPartition(c, c.Addr(id), topic, p)
			if err != nil {
				return fmt.Errorf("broker %d: %w", id, err)
			}
			if !ok(pm) {
				return fmt.Errorf("%s: broker %d says %s-%d leader %d isr %v (err %v)", what, id, topic, p, pm.Leader, pm.Isr, pm.Err)
			}
		}
		return nil
	})
	return time.Since(start)
}

func sortedCopy(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// observer polls the state znodes of some partitions every 100 ms and keeps every change with the time it
// was seen: the timeline of reference 10 §6.3, reduced to what the checks use (leader moves).
type observer struct {
	z       *ZKConn
	targets []target
	mu      sync.Mutex
	seen    map[target][]observed
	stop    chan struct{}
	done    chan struct{}
}

type observed struct {
	at time.Time
	s  partitionState
}

// observe starts an observer of targets until the test ends.
func observe(t testing.TB, z *ZKConn, targets []target) *observer {
	o := &observer{z: z, targets: targets, seen: map[target][]observed{}, stop: make(chan struct{}),
		done: make(chan struct{})}
	go o.run()
	t.Cleanup(o.Stop)
	return o
}

func (o *observer) run() {
	defer close(o.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, tp := range o.targets {
			s, err := o.z.PartitionState(tp.topic, tp.partition)
			if err != nil {
				continue
			}
			now := time.Now()
			o.mu.Lock()
			h := o.seen[tp]
			if len(h) == 0 || h[len(h)-1].s.LeaderEpoch != s.LeaderEpoch || h[len(h)-1].s.Leader != s.Leader ||
				!slices.Equal(h[len(h)-1].s.ISR, s.ISR) {
				o.seen[tp] = append(h, observed{now, s})
			}
			o.mu.Unlock()
		}
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
	}
}

// Stop ends the polling (idempotent).
func (o *observer) Stop() {
	select {
	case <-o.stop:
	default:
		close(o.stop)
	}
	<-o.done
}

// leaderMoved reports whether tp's leader epoch seen at or before from differs from one seen up to a poll
// interval after to (the znode is written before the brokers hear of it, so a change the leader acted on
// shows by then).
func (o *observer) leaderMoved(tp target, from, to time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	epoch, known := int32(0), false
	for _, ob := range o.seen[tp] {
		if ob.at.After(to.Add(300 * time.Millisecond)) {
			break
		}
		if known && ob.s.LeaderEpoch != epoch && ob.at.After(from) {
			return true
		}
		epoch, known = ob.s.LeaderEpoch, true
	}
	return false
}

// timeline prints tp's observed states (for failure reports).
func (o *observer) timeline(tp target) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, ob := range o.seen[tp] {
		fmt.Fprintf(&b, "\n  %s %s", ob.at.Format("15:04:05.000"), ob.s)
	}
	return b.String()
}
