package controller

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

const wait = 20 * time.Second

func tp(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

// Reference 02 §2.1: the first controller of a new cluster has epoch 1; /controller names it; the others
// see it and stay inactive. Failover enables /feature.
func TestFirstControllerOfClusterGetsEpochOne(t *testing.T) {
	cl := newCluster(t)
	b1 := cl.start(1)
	eventually(t, wait, "broker 1 elected", b1.ctrl.IsActive)
	if e := b1.ctrl.Epoch(); e != 1 {
		t.Fatalf("epoch %d, want 1", e)
	}
	info, found, err := cl.admin.GetController()
	if err != nil || !found || info.BrokerID != 1 {
		t.Fatalf("/controller = %+v %v %v", info, found, err)
	}
	epoch, _, _, err := cl.admin.GetControllerEpoch()
	if err != nil || epoch != 1 {
		t.Fatalf("/controller_epoch = %d %v", epoch, err)
	}
	data, _, err := cl.admin.Get(zkregistry.FeaturePath)
	if err != nil || string(data) != `{"version":1,"status":1,"features":{}}` {
		t.Fatalf("/feature = %s %v", data, err)
	}

	b2 := cl.start(2)
	eventually(t, wait, "broker 2 sees controller 1", func() bool { return b2.ctrl.ActiveControllerID() == 1 })
	if b2.ctrl.IsActive() || b2.ctrl.Epoch() != 0 {
		t.Fatal("second broker became active")
	}
	// Broker startup (02 §5.2): everyone learns about broker 2.
	for _, b := range []*fakeBroker{b1, b2} {
		eventually(t, wait, "UpdateMetadata listing brokers 1 and 2", func() bool {
			return slices.Equal(liveBrokerIDs(b.lastUpdateMetadata()), []int32{1, 2})
		})
	}
	r := b2.lastUpdateMetadata()
	if r.Version != 7 || r.ControllerID != 1 || r.ControllerEpoch != 1 || r.BrokerEpoch != b2.epoch {
		t.Fatalf("UpdateMetadata v%d controller %d epoch %d broker epoch %d (want %d)", r.Version, r.ControllerID,
			r.ControllerEpoch, r.BrokerEpoch, b2.epoch)
	}
	ep := r.LiveBrokers[1].Endpoints
	if len(ep) != 1 || ep[0].ListenerName != "PLAINTEXT" || ep[0].SecurityProtocol != 0 || ep[0].Host != "127.0.0.1" ||
		ep[0].Port != int32(b2.ln.Addr().(*net.TCPAddr).Port) {
		t.Fatalf("endpoints of broker 2: %+v", ep)
	}
}

// Reference 02 §2: when the controller goes away another broker wins /controller with epoch + 1, loads the
// state and sends it; writes fenced with the old epoch's zkVersion fail with ErrControllerMoved.
func TestControllerFailoverBumpsEpochAndFencesOldController(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	b1, b2, b3 := cl.brokers[1], cl.brokers[2], cl.brokers[3]
	cl.createTopic("t", map[int32][]int32{0: {1, 2}, 1: {2, 3}}, nil)
	_, oldVersion, _, err := cl.admin.GetControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}

	b1.ctrl.Stop() // broker 1 keeps its session: only its controller goes
	eventually(t, wait, "a new controller", func() bool { return b2.ctrl.IsActive() || b3.ctrl.IsActive() })
	next := b2
	if b3.ctrl.IsActive() {
		next = b3
	}
	if e := next.ctrl.Epoch(); e != 2 {
		t.Fatalf("new epoch %d, want 2", e)
	}
	_, err = b1.zk.FencedMulti(oldVersion, zkregistry.CreateOp("/fenced", nil, zkregistry.Persistent))
	if !errors.Is(err, zkregistry.ErrControllerMoved) {
		t.Fatalf("fenced write with the old epoch: %v, want ErrControllerMoved", err)
	}
	if cl.exists("/fenced") {
		t.Fatal("fenced write was applied")
	}
	// Failover (02 §3 step 7): every live replica gets LeaderAndIsr from the new controller.
	for _, c := range []struct {
		b  *fakeBroker
		tp TopicPartition
	}{{b1, tp("t", 0)}, {b2, tp("t", 0)}, {b2, tp("t", 1)}, {b3, tp("t", 1)}} {
		eventually(t, wait, "LeaderAndIsr from the new controller", func() bool {
			_, r, ok := c.b.leaderAndIsr(c.tp)
			return ok && r.ControllerEpoch == 2 && r.ControllerID == next.id
		})
	}
}

// A controller whose fenced write fails with ErrControllerMoved resigns (Kafka's maybeResign). Here the epoch
// was moved without an election, so the controller also drops its stale /controller and the next election
// restores a consistent epoch, which then initializes the topic.
func TestControllerMovedOnFencedWriteResigns(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1)
	b1 := cl.brokers[1]
	_, v, _, err := cl.admin.GetControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.admin.Set(zkregistry.ControllerEpochPath, zkregistry.EncodeControllerEpoch(5), v); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.admin.CreateTopic("t", zkregistry.TopicAssignment{Partitions: map[int32][]int32{0: {1}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "re-elected with epoch 6", func() bool { return b1.ctrl.Epoch() == 6 })
	eventually(t, wait, "partition initialized by epoch 6", func() bool {
		st, ok := cl.state(tp("t", 0))
		return ok && st.ControllerEpoch == 6 && st.Leader == 1
	})
}

// A session expiry makes the active controller resign before anything else (Kafka's Expire event); with the
// new session it takes part in the next election.
func TestSessionExpiryResigns(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1)
	b1 := cl.brokers[1]
	b1.ctrl.HandleSessionEvent(zkregistry.SessionEvent{State: zkregistry.SessionExpired})
	eventually(t, wait, "resigned", func() bool { return !b1.ctrl.IsActive() })
	// The session did not really expire, so /controller is still ours: the controller drops it and wins again.
	b1.ctrl.HandleSessionEvent(zkregistry.SessionEvent{State: zkregistry.SessionConnected, NewSession: true})
	eventually(t, wait, "re-elected with epoch 2", func() bool { return b1.ctrl.Epoch() == 2 })
}

// Reference 02 §6.2 / 13.3: a new topic's partitions get state znodes (leader = first live replica, ISR =
// live replicas, leader epoch 0), LeaderAndIsr v5 (isNew) goes to the ISR, UpdateMetadata v7 to everyone.
func TestTopicCreationInitializesPartitions(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	id := cl.createTopic("orders", map[int32][]int32{0: {1, 2}, 1: {2, 3}, 2: {3, 1}}, nil)

	data, stat, err := cl.admin.Get(zkregistry.PartitionStatePath("orders", 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}`; string(data) != want || stat.Version != 0 {
		t.Fatalf("state znode %s (version %d), want %s", data, stat.Version, want)
	}
	for _, c := range []struct {
		broker  int32
		p       int32
		leader  int32
		replica []int32
	}{{1, 0, 1, []int32{1, 2}}, {2, 0, 1, []int32{1, 2}}, {2, 1, 2, []int32{2, 3}}, {3, 1, 2, []int32{2, 3}},
		{3, 2, 3, []int32{3, 1}}, {1, 2, 3, []int32{3, 1}}} {
		b := cl.brokers[c.broker]
		eventually(t, wait, "LeaderAndIsr", func() bool { _, _, ok := b.leaderAndIsr(tp("orders", c.p)); return ok })
		ps, r, _ := b.leaderAndIsr(tp("orders", c.p))
		if r.Version != 5 || r.ControllerID != 1 || r.ControllerEpoch != 1 || r.BrokerEpoch != b.epoch || r.Type != 0 {
			t.Fatalf("broker %d: LeaderAndIsr v%d controller %d/%d broker epoch %d (want %d) type %d", c.broker, r.Version,
				r.ControllerID, r.ControllerEpoch, r.BrokerEpoch, b.epoch, r.Type)
		}
		if r.TopicStates[0].TopicID != id {
			t.Fatalf("topic id %x, want %x", r.TopicStates[0].TopicID, id)
		}
		if !ps.IsNew || ps.Leader != c.leader || ps.LeaderEpoch != 0 || !slices.Equal(ps.ISR, c.replica) ||
			!slices.Equal(ps.Replicas, c.replica) || ps.ControllerEpoch != 1 || ps.ZKVersion != 0 {
			t.Fatalf("broker %d partition %d: %+v", c.broker, c.p, ps)
		}
		if !slices.ContainsFunc(r.LiveLeaders, func(l kmsg.LeaderAndISRRequestLiveLeader) bool {
			return l.BrokerID == c.leader && l.Host == "127.0.0.1" && l.Port > 0
		}) {
			t.Fatalf("live leaders %+v lack %d", r.LiveLeaders, c.leader)
		}
	}
	// Partition 0 is not on broker 3.
	if _, _, ok := cl.brokers[3].leaderAndIsr(tp("orders", 0)); ok {
		t.Fatal("broker 3 got LeaderAndIsr for a partition it does not host")
	}
	for _, b := range cl.brokers {
		for p := int32(0); p < 3; p++ {
			eventually(t, wait, "UpdateMetadata for every partition", func() bool {
				_, _, ok := b.updateMetadata(tp("orders", p))
				return ok
			})
		}
		ps, r, _ := b.updateMetadata(tp("orders", 1))
		if r.TopicStates[0].TopicID != id || ps.Leader != 2 || !slices.Equal(ps.ISR, []int32{2, 3}) ||
			len(ps.OfflineReplicas) != 0 || r.BrokerEpoch != b.epoch {
			t.Fatalf("broker %d UpdateMetadata %+v", b.id, ps)
		}
	}
}

// Reference 02 §13.3: partitions added to the topic znode are initialized like new ones.
func TestAddedPartitionsAreInitialized(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	cl.createTopic("t", map[int32][]int32{0: {1, 2}}, nil)
	a, err := cl.admin.GetTopicAssignment("t")
	if err != nil {
		t.Fatal(err)
	}
	a.Partitions[1] = []int32{2, 1}
	if err := cl.admin.SetTopicAssignment(zkregistry.NoFencing, "t", a); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "partition 1 initialized", func() bool {
		st, ok := cl.state(tp("t", 1))
		return ok && st.Leader == 2 && slices.Equal(st.ISR, []int32{2, 1})
	})
	for _, b := range cl.brokers {
		eventually(t, wait, "LeaderAndIsr for partition 1", func() bool {
			ps, _, ok := b.leaderAndIsr(tp("t", 1))
			return ok && ps.IsNew && ps.Leader == 2
		})
	}
}

// Reference 02 §5.3: the partitions a dead broker led get a new leader from the live ISR (leader epoch + 1);
// it leaves every ISR in ZooKeeper; remaining replicas get LeaderAndIsr, everyone UpdateMetadata.
func TestBrokerFailureElectsNewLeaderFromISR(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	cl.createTopic("t", map[int32][]int32{0: {3, 2}, 1: {2, 3}, 2: {1, 2}}, nil)
	b1, b2 := cl.brokers[1], cl.brokers[2]
	cl.brokers[3].kill()

	for _, c := range []struct {
		p      int32
		leader int32
		isr    []int32
		epoch  int32
	}{{0, 2, []int32{2}, 1}, {1, 2, []int32{2}, 1}, {2, 1, []int32{1, 2}, 0}} {
		eventually(t, wait, "new leader and isr in zookeeper", func() bool {
			st, ok := cl.state(tp("t", c.p))
			return ok && st.Leader == c.leader && slices.Equal(st.ISR, c.isr) && st.LeaderEpoch == c.epoch &&
				st.ControllerEpoch == 1
		})
	}
	eventually(t, wait, "LeaderAndIsr with the new leader", func() bool {
		ps, _, ok := b2.leaderAndIsr(tp("t", 0))
		return ok && ps.Leader == 2 && ps.LeaderEpoch == 1 && !ps.IsNew && slices.Equal(ps.ISR, []int32{2})
	})
	for _, b := range []*fakeBroker{b1, b2} {
		eventually(t, wait, "UpdateMetadata without broker 3", func() bool {
			ps, r, ok := b.updateMetadata(tp("t", 0))
			return ok && ps.Leader == 2 && slices.Equal(ps.OfflineReplicas, []int32{3}) &&
				slices.Equal(liveBrokerIDs(r), []int32{1, 2})
		})
	}
}

// Reference 02 §5.3/§6.3 with unclean.leader.election.enable=false: when every ISR member is dead the
// partition goes offline (leader -1, the last leader stays the ISR); an out-of-sync replica coming back is not
// elected; the ISR member coming back is.
func TestPartitionOfflineUntilISRMemberReturns(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	cl.createTopic("t", map[int32][]int32{0: {2, 3}}, nil)
	cl.brokers[2].kill()
	eventually(t, wait, "broker 3 leads", func() bool {
		st, ok := cl.state(tp("t", 0))
		return ok && st.Leader == 3 && slices.Equal(st.ISR, []int32{3})
	})
	cl.brokers[3].kill()
	eventually(t, wait, "partition offline", func() bool {
		st, ok := cl.state(tp("t", 0))
		return ok && st.Leader == zkregistry.NoLeader && slices.Equal(st.ISR, []int32{3})
	})
	eventually(t, wait, "UpdateMetadata with leader -1", func() bool {
		ps, _, ok := cl.brokers[1].updateMetadata(tp("t", 0))
		return ok && ps.Leader == zkregistry.NoLeader
	})

	b2 := cl.start(2)
	eventually(t, wait, "restarted broker 2 gets the partition's state", func() bool {
		ps, _, ok := b2.leaderAndIsr(tp("t", 0))
		return ok && ps.Leader == zkregistry.NoLeader
	})
	if st, _ := cl.state(tp("t", 0)); st.Leader != zkregistry.NoLeader {
		t.Fatalf("out-of-sync replica elected: %+v", st)
	}

	b3 := cl.start(3)
	eventually(t, wait, "ISR member elected again", func() bool {
		st, ok := cl.state(tp("t", 0))
		return ok && st.Leader == 3 && slices.Equal(st.ISR, []int32{3})
	})
	st, _ := cl.state(tp("t", 0))
	eventually(t, wait, "LeaderAndIsr to the new incarnation", func() bool {
		ps, r, ok := b3.leaderAndIsr(tp("t", 0))
		return ok && ps.Leader == 3 && ps.LeaderEpoch == st.LeaderEpoch && r.BrokerEpoch == b3.epoch
	})
}

// Reference 02 §6.3: a topic's unclean.leader.election.enable=true lets the first live replica lead when no
// ISR member is alive; its ISR is itself.
func TestUncleanElectionEnabledByTopicConfig(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	cl.createTopic("t", map[int32][]int32{0: {2, 3}}, map[string]string{uncleanConfigKey: "true"})
	cl.brokers[2].kill()
	eventually(t, wait, "broker 3 leads", func() bool { st, _ := cl.state(tp("t", 0)); return st.Leader == 3 })
	cl.brokers[3].kill()
	eventually(t, wait, "offline", func() bool { st, _ := cl.state(tp("t", 0)); return st.Leader == zkregistry.NoLeader })
	cl.start(2)
	eventually(t, wait, "unclean leader 2", func() bool {
		st, ok := cl.state(tp("t", 0))
		return ok && st.Leader == 2 && slices.Equal(st.ISR, []int32{2})
	})
}

// Reference 02 §5.2: a starting broker gets UpdateMetadata with every partition, LeaderAndIsr for its
// replicas, the others learn about it, and partitions that had no live replica come online.
func TestBrokerStartupGetsStateAndBringsPartitionsOnline(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	cl.createTopic("a", map[int32][]int32{0: {1, 2}}, nil)
	// Partition b-0 lives only on broker 3, which is not there yet: it stays NewPartition.
	if _, err := cl.admin.CreateTopic("b", zkregistry.TopicAssignment{Partitions: map[int32][]int32{0: {3}}}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "topic b known", func() bool {
		known := false
		inspect(t, cl.brokers[1].ctrl, func(cc *controllerContext) { known = cc.topics["b"] != nil })
		return known
	})
	if _, ok := cl.state(tp("b", 0)); ok {
		t.Fatal("partition without a live replica was initialized")
	}

	b3 := cl.start(3)
	eventually(t, wait, "partition b-0 online", func() bool {
		st, ok := cl.state(tp("b", 0))
		return ok && st.Leader == 3
	})
	eventually(t, wait, "full metadata for the new broker", func() bool {
		_, _, ok := b3.updateMetadata(tp("a", 0))
		return ok
	})
	for _, b := range []*fakeBroker{cl.brokers[1], cl.brokers[2]} {
		eventually(t, wait, "others learn about broker 3", func() bool {
			return slices.Equal(liveBrokerIDs(b.lastUpdateMetadata()), []int32{1, 2, 3})
		})
	}
}

// Reference 02 §9: deletion sends UpdateMetadata with leader -2 to everyone and StopReplica(delete=true,
// leader epoch -2) to every replica, then removes the topic, its config and the marker.
func TestTopicDeletionRemovesZNodes(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	cl.createTopic("doomed", map[int32][]int32{0: {1, 2}, 1: {2, 1}}, map[string]string{"retention.ms": "1000"})
	if err := cl.admin.MarkTopicForDeletion("doomed"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{zkregistry.TopicPath("doomed"), zkregistry.TopicConfigPath("doomed"),
		zkregistry.DeleteTopicPath("doomed")} {
		eventually(t, wait, path+" deleted", func() bool { return !cl.exists(path) })
	}
	for _, b := range cl.brokers {
		for p := int32(0); p < 2; p++ {
			ps, _, ok := b.updateMetadata(tp("doomed", p))
			if !ok || ps.Leader != leaderDuringDelete {
				t.Fatalf("broker %d partition %d: UpdateMetadata %+v %v, want leader -2", b.id, p, ps, ok)
			}
			sr, r, ok := b.stopReplica(tp("doomed", p))
			if !ok || !sr.Delete || sr.LeaderEpoch != epochDuringDelete || r.Version != 3 || r.BrokerEpoch != b.epoch {
				t.Fatalf("broker %d partition %d: StopReplica %+v %v", b.id, p, sr, ok)
			}
		}
	}
	inspect(t, cl.brokers[1].ctrl, func(cc *controllerContext) {
		if cc.topics["doomed"] != nil || cc.isDeleting("doomed") {
			t.Error("deleted topic still in the controller context")
		}
	})
}

// Reference 02 §9 steps 3-5: a replica on an offline broker (or one that failed) keeps the topic queued;
// deletion resumes and completes when the broker comes back.
func TestTopicDeletionWaitsForOfflineReplica(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2, 3)
	cl.createTopic("t", map[int32][]int32{0: {2, 3}}, nil)
	cl.brokers[3].kill()
	eventually(t, wait, "broker 3 gone", func() bool {
		return slices.Equal(liveBrokerIDs(cl.brokers[1].lastUpdateMetadata()), []int32{1, 2})
	})
	if err := cl.admin.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	ctrl := cl.brokers[1].ctrl
	eventually(t, wait, "broker 2's replica deleted, broker 3's waiting", func() bool {
		var done bool
		inspect(t, ctrl, func(cc *controllerContext) {
			d := cc.deletions["t"]
			done = d != nil && d.replicas[replica{tp("t", 0), 2}] == deletionSuccessful &&
				d.replicas[replica{tp("t", 0), 3}] != deletionSuccessful && d.ineligible
		})
		return done
	})
	if !cl.exists(zkregistry.TopicPath("t")) || !cl.exists(zkregistry.DeleteTopicPath("t")) {
		t.Fatal("topic deleted while a replica was offline")
	}

	b3 := cl.start(3)
	eventually(t, wait, "topic deleted", func() bool { return !cl.exists(zkregistry.TopicPath("t")) })
	if sr, _, ok := b3.stopReplica(tp("t", 0)); !ok || !sr.Delete {
		t.Fatal("returning broker was not asked to delete its replica")
	}
	if _, _, ok := b3.leaderAndIsr(tp("t", 0)); ok {
		t.Fatal("returning broker was told to host a partition being deleted")
	}
}

// Reference 02 §9 step 4: a StopReplica error makes the replica ineligible; a broker startup retries it.
func TestTopicDeletionRetriesFailedReplicaOnBrokerStartup(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	cl.createTopic("t", map[int32][]int32{0: {2}}, nil)
	b2 := cl.brokers[2]
	b2.stopReplicaError.Store(56) // KAFKA_STORAGE_ERROR
	if err := cl.admin.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "deletion failed on broker 2", func() bool {
		var failed bool
		inspect(t, cl.brokers[1].ctrl, func(cc *controllerContext) {
			d := cc.deletions["t"]
			failed = d != nil && d.ineligible && !d.any(deletionStarted)
		})
		return failed
	})
	if !cl.exists(zkregistry.TopicPath("t")) {
		t.Fatal("topic deleted although its replica failed")
	}
	b2.kill()
	cl.start(2)
	eventually(t, wait, "topic deleted after the restart", func() bool { return !cl.exists(zkregistry.TopicPath("t")) })
}

// Reference 02 §9 step 2: markers of unknown topics are removed.
func TestDeletionMarkerOfUnknownTopicRemoved(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1)
	if _, err := cl.admin.CreateRecursive(zkregistry.DeleteTopicPath("ghost"), nil, zkregistry.Persistent); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "marker removed", func() bool { return !cl.exists(zkregistry.DeleteTopicPath("ghost")) })
}

// delete.topic.enable=false: markers are removed and the topic stays.
func TestTopicDeletionDisabledRemovesMarkers(t *testing.T) {
	cl := newCluster(t)
	b1 := cl.start(1, func(c *Config) { c.DisableTopicDeletion = true })
	eventually(t, wait, "elected", b1.ctrl.IsActive)
	cl.createTopic("t", map[int32][]int32{0: {1}}, nil)
	if err := cl.admin.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "marker removed", func() bool { return !cl.exists(zkregistry.DeleteTopicPath("t")) })
	if !cl.exists(zkregistry.TopicPath("t")) {
		t.Fatal("topic deleted with delete.topic.enable=false")
	}
}

// Reference 02 §6.2: new partitions of a topic being deleted are reverted in the topic znode.
func TestPartitionsAddedDuringDeletionAreReverted(t *testing.T) {
	cl := newCluster(t)
	cl.startActive(1, 2)
	cl.createTopic("t", map[int32][]int32{0: {2}}, nil)
	cl.brokers[2].kill() // the deletion cannot finish
	eventually(t, wait, "broker 2 gone", func() bool {
		return slices.Equal(liveBrokerIDs(cl.brokers[1].lastUpdateMetadata()), []int32{1})
	})
	if err := cl.admin.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "queued for deletion", func() bool {
		var queued bool
		inspect(t, cl.brokers[1].ctrl, func(cc *controllerContext) { queued = cc.isDeleting("t") })
		return queued
	})
	a, err := cl.admin.GetTopicAssignment("t")
	if err != nil {
		t.Fatal(err)
	}
	a.Partitions[1] = []int32{1}
	if err := cl.admin.SetTopicAssignment(zkregistry.NoFencing, "t", a); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, "added partition reverted", func() bool {
		a, err := cl.admin.GetTopicAssignment("t")
		return err == nil && len(a.Partitions) == 1
	})
	if _, ok := cl.state(tp("t", 1)); ok {
		t.Fatal("partition of a topic being deleted was initialized")
	}
}

// Reference 02 §3 (failover after a full cluster restart): the new controller (epoch = stored + 1) loads the
// state znodes, removes replicas of dead brokers from the ISRs (OfflineReplica) and elects a live ISR member
// for partitions whose leader is dead, bumping the leader epoch for each write.
func TestFailoverLoadsStateAndElectsForDeadLeaders(t *testing.T) {
	cl := newCluster(t)
	if _, err := cl.admin.CreateRecursive(zkregistry.ControllerEpochPath, zkregistry.EncodeControllerEpoch(7), zkregistry.Persistent); err != nil {
		t.Fatal(err)
	}
	// A topic znode without topic_id, as pre-2.8 admin tools write it.
	a := zkregistry.TopicAssignment{Partitions: map[int32][]int32{0: {3, 1}, 1: {1, 3}}}
	if _, err := cl.admin.CreateRecursive(zkregistry.TopicPath("t"), a.Encode(), zkregistry.Persistent); err != nil {
		t.Fatal(err)
	}
	// State written by the previous controller (epoch 7) before every broker went down.
	for p, st := range map[int32]zkregistry.PartitionState{
		0: {Leader: 3, LeaderEpoch: 4, ISR: []int32{3, 1}, ControllerEpoch: 7},
		1: {Leader: 1, LeaderEpoch: 2, ISR: []int32{1, 3}, ControllerEpoch: 7},
	} {
		if _, err := cl.admin.CreateRecursive(zkregistry.PartitionStatePath("t", p), st.Encode(), zkregistry.Persistent); err != nil {
			t.Fatal(err)
		}
	}
	b1 := cl.start(1)
	eventually(t, wait, "elected with epoch 8", func() bool { return b1.ctrl.Epoch() == 8 })
	for _, c := range []struct {
		p     int32
		want  zkregistry.PartitionState
		lisrE int32
	}{
		// ISR shrink (epoch 5, leader -1), then the election of 1 (epoch 6).
		{0, zkregistry.PartitionState{Leader: 1, LeaderEpoch: 6, ISR: []int32{1}, ControllerEpoch: 8}, 6},
		// Follower 3 leaves the ISR; the leader stays.
		{1, zkregistry.PartitionState{Leader: 1, LeaderEpoch: 3, ISR: []int32{1}, ControllerEpoch: 8}, 3},
	} {
		eventually(t, wait, "state after failover", func() bool {
			st, ok := cl.state(tp("t", c.p))
			return ok && st.Leader == c.want.Leader && st.LeaderEpoch == c.want.LeaderEpoch &&
				slices.Equal(st.ISR, c.want.ISR) && st.ControllerEpoch == c.want.ControllerEpoch
		})
		eventually(t, wait, "LeaderAndIsr with the new state", func() bool {
			ps, r, ok := b1.leaderAndIsr(tp("t", c.p))
			return ok && ps.Leader == 1 && ps.LeaderEpoch == c.lisrE && r.ControllerEpoch == 8
		})
	}
	// The controller gave the topic an id (IBP >= 2.8-IV0).
	a, err := cl.admin.GetTopicAssignment("t")
	if err != nil || a.TopicID.IsZero() {
		t.Fatalf("topic id not assigned: %+v %v", a, err)
	}
}
