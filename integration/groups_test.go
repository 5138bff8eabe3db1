//go:build integration

package integration

// Consumer groups (issue 5, reference 05): Sarama's ConsumerGroup against real brokers — assignment, members
// leaving and joining, committed offsets across a restart of the whole group, static membership, the Kafka
// error codes for bad input, `samsa groups`, and a coordinator failover with a replicated offsets topic.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// consumedRecord is one record a group member processed.
type consumedRecord struct {
	member    string
	gen       int32
	partition int32
	offset    int64
}

// groupSetup is one session a member started: its generation and the partitions it claimed.
type groupSetup struct {
	gen        int32
	partitions []int32
}

// groupLog records what the members of a group did.
type groupLog struct {
	topic   string
	mu      sync.Mutex
	records []consumedRecord
	setups  map[string][]groupSetup
}

func newGroupLog(topic string) *groupLog {
	return &groupLog{topic: topic, setups: map[string][]groupSetup{}}
}

type groupHandler struct {
	name string
	log  *groupLog
}

func (h groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	ps := slices.Clone(s.Claims()[h.log.topic])
	slices.Sort(ps)
	h.log.mu.Lock()
	h.log.setups[h.name] = append(h.log.setups[h.name], groupSetup{gen: s.GenerationID(), partitions: ps})
	h.log.mu.Unlock()
	return nil
}

func (h groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.log.mu.Lock()
		h.log.records = append(h.log.records, consumedRecord{member: h.name, gen: s.GenerationID(), partition: msg.Partition, offset: msg.Offset})
		h.log.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

// groupMember is one running Sarama ConsumerGroup.
type groupMember struct {
	name   string
	cg     sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startMember runs a Sarama consumer group member (client id = name; instance = group.instance.id when not
// empty) until stop or the end of the test.
func startMember(t *testing.T, c *Cluster, groupID, name, instance string, log *groupLog) *groupMember {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.ClientID = name
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	cfg.Consumer.Group.InstanceId = instance
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(c.Bootstrap(), groupID, cfg)
	if err != nil {
		t.Fatalf("consumer group member %s: %v", name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{name: name, cg: cg, cancel: cancel, done: make(chan struct{})}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for range cg.Errors() { // retriable errors while coordinators move; the checks judge the outcome
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{log.topic}, groupHandler{name: name, log: log}); err != nil && ctx.Err() == nil {
				select { // a client retry backoff, not synchronisation
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
				}
			}
		}
	}()
	t.Cleanup(func() { m.stop(); <-errsDone })
	return m
}

func (m *groupMember) stop() {
	m.once.Do(func() {
		m.cancel()
		_ = m.cg.Close()
		<-m.done
	})
}

// produceEach sends n records to every partition of topic (acks=all).
func produceEach(t *testing.T, c *Cluster, topic string, partitions int32, n int) {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for part := int32(0); part < partitions; part++ {
		for i := 0; i < n; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(fmt.Sprintf("%d-%d", part, i))})
		}
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// waitConsumed waits until every offset below end[p] of every partition p was consumed.
func (l *groupLog) waitConsumed(t *testing.T, d time.Duration, end map[int32]int64) {
	t.Helper()
	eventually(t, d, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		seen := map[int32]map[int64]bool{}
		for _, r := range l.records {
			if seen[r.partition] == nil {
				seen[r.partition] = map[int64]bool{}
			}
			seen[r.partition][r.offset] = true
		}
		for p, e := range end {
			for o := int64(0); o < e; o++ {
				if !seen[p][o] && o >= l.floor(p) {
					return fmt.Errorf("partition %d offset %d not consumed (of %d)", p, o, e)
				}
			}
		}
		return nil
	})
}

// floor is the lowest offset this log is expected to see for partition p: the first one it consumed
// (a group resuming from committed offsets starts there). Caller holds l.mu.
func (l *groupLog) floor(p int32) int64 {
	lowest := int64(-1)
	for _, r := range l.records {
		if r.partition == p && (lowest < 0 || r.offset < lowest) {
			lowest = r.offset
		}
	}
	return max(lowest, 0)
}

// waitAssignment waits until each named member's latest session is of one generation and their claims
// cover partitions 0..n-1 exactly once; it returns that generation and each member's partitions.
func (l *groupLog) waitAssignment(t *testing.T, n int32, members ...string) (int32, map[string][]int32) {
	t.Helper()
	var gen int32
	var owned map[string][]int32
	eventually(t, 60*time.Second, func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		owned = map[string][]int32{}
		claimed := map[int32]string{}
		gen = -1
		for _, m := range members {
			s := l.setups[m]
			if len(s) == 0 {
				return fmt.Errorf("member %s has no session yet", m)
			}
			last := s[len(s)-1]
			if gen >= 0 && last.gen != gen {
				return fmt.Errorf("members in generations %d and %d", gen, last.gen)
			}
			gen = last.gen
			if len(last.partitions) == 0 {
				return fmt.Errorf("member %s has no partitions in generation %d", m, gen)
			}
			for _, p := range last.partitions {
				if other, ok := claimed[p]; ok {
					return fmt.Errorf("partition %d claimed by %s and %s", p, other, m)
				}
				claimed[p] = m
			}
			owned[m] = last.partitions
		}
		if int32(len(claimed)) != n {
			return fmt.Errorf("%d of %d partitions claimed in generation %d", len(claimed), n, gen)
		}
		return nil
	})
	return gen, owned
}

// checkGenerations: within one generation each record is consumed once, and only by its partition's owner.
func (l *groupLog) checkGenerations(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	type key struct {
		gen       int32
		partition int32
		offset    int64
	}
	seen := map[key]string{}
	owner := map[[2]int32]string{}
	for _, r := range l.records {
		k := key{r.gen, r.partition, r.offset}
		if m, dup := seen[k]; dup {
			t.Fatalf("generation %d: %d@%d consumed twice (by %s and %s)", r.gen, r.partition, r.offset, m, r.member)
		}
		seen[k] = r.member
		gp := [2]int32{r.gen, r.partition}
		if o, ok := owner[gp]; ok && o != r.member {
			t.Fatalf("generation %d: partition %d consumed by %s and %s", r.gen, r.partition, o, r.member)
		}
		owner[gp] = r.member
	}
}

func ends(partitions int32, n int64) map[int32]int64 {
	out := map[int32]int64{}
	for p := int32(0); p < partitions; p++ {
		out[p] = n
	}
	return out
}

// committedOffsets reads the group's committed offsets of topic through its coordinator.
func committedOffsets(t *testing.T, c *Cluster, groupID, topic string) map[int32]int64 {
	t.Helper()
	resp, err := c.Admin().ListConsumerGroupOffsets(groupID, nil)
	if err != nil {
		t.Fatalf("offsets of %s: %v", groupID, err)
	}
	out := map[int32]int64{}
	for p, b := range resp.Blocks[topic] {
		out[p] = b.Offset
	}
	return out
}

func TestConsumerGroups(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3, Overrides: map[string]string{"offsets.topic.replication.factor": "1"}})
	const topic, groupID, parts = "group-orders", "orders", int32(12)
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1})
	log := newGroupLog(topic)
	m1 := startMember(t, c, groupID, "m1", "", log)
	m2 := startMember(t, c, groupID, "m2", "", log)
	m3 := startMember(t, c, groupID, "m3", "", log)

	t.Run("three members over twelve partitions", func(t *testing.T) {
		produceEach(t, c, topic, parts, 100)
		_, owned := log.waitAssignment(t, parts, "m1", "m2", "m3")
		for m, ps := range owned {
			if len(ps) != 4 {
				t.Errorf("%s owns %v; the range assignor gives each of three members four of twelve", m, ps)
			}
		}
		log.waitConsumed(t, 60*time.Second, ends(parts, 100))
		log.checkGenerations(t)
	})

	t.Run("a member leaves and one joins", func(t *testing.T) {
		m3.stop()
		log.waitAssignment(t, parts, "m1", "m2")
		m4 := startMember(t, c, groupID, "m4", "", log)
		_ = m4
		log.waitAssignment(t, parts, "m1", "m2", "m4")
		produceEach(t, c, topic, parts, 100)
		log.waitConsumed(t, 60*time.Second, ends(parts, 200))
		log.checkGenerations(t)

		t.Run("samsa groups describes members, offsets and lag", func(t *testing.T) {
			bs := strings.Join(c.Bootstrap(), ",")
			if out := runTool(t, "", "groups", "--bootstrap-server", bs, "--list"); !slices.Contains(strings.Split(out, "\n"), groupID) {
				t.Fatalf("--list printed %q", out)
			}
			eventually(t, 30*time.Second, func() error {
				out := runTool(t, "", "groups", "--bootstrap-server", bs, "--describe", "--group", groupID)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if len(lines) != 1+int(parts) || !strings.HasPrefix(lines[0], "GROUP ") {
					return fmt.Errorf("--describe printed:\n%s", out)
				}
				for _, l := range lines[1:] {
					f := strings.Fields(l)
					if len(f) != 9 || f[0] != groupID || f[3] != "200" || f[4] != "200" || f[5] != "0" ||
						!slices.Contains([]string{"m1", "m2", "m4"}, f[8]) || f[7] != "/127.0.0.1" {
						return fmt.Errorf("--describe line %q", l)
					}
				}
				return nil
			})
			out := runTool(t, "", "groups", "--bootstrap-server", bs, "--describe", "--group", groupID, "--state")
			if f := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1]); len(f) != 6 || f[3] != "range" || f[4] != "Stable" || f[5] != "3" {
				t.Fatalf("--state printed:\n%s", out)
			}
		})

		t.Run("committed offsets survive a restart of the whole group", func(t *testing.T) {
			m1.stop()
			m2.stop()
			m4.stop()
			eventually(t, 20*time.Second, func() error {
				got := committedOffsets(t, c, groupID, topic)
				for p := int32(0); p < parts; p++ {
					if got[p] != 200 {
						return fmt.Errorf("committed offsets %v, want 200 everywhere", got)
					}
				}
				return nil
			})
			again := newGroupLog(topic)
			startMember(t, c, groupID, "n1", "", again)
			startMember(t, c, groupID, "n2", "", again)
			startMember(t, c, groupID, "n3", "", again)
			produceEach(t, c, topic, parts, 100)
			again.waitConsumed(t, 60*time.Second, ends(parts, 300))
			again.mu.Lock()
			defer again.mu.Unlock()
			for p := int32(0); p < parts; p++ {
				if f := again.floor(p); f != 200 {
					t.Errorf("partition %d: the restarted group started at offset %d, want the committed 200", p, f)
				}
			}
		})
	})

	t.Run("a static member rejoining within its session timeout gets its partitions without a rebalance", func(t *testing.T) {
		slog := newGroupLog(topic)
		a := startMember(t, c, "static-group", "a", "instance-a", slog)
		startMember(t, c, "static-group", "b", "instance-b", slog)
		gen, owned := slog.waitAssignment(t, parts, "a", "b")
		slog.mu.Lock()
		bSessions := len(slog.setups["b"])
		slog.mu.Unlock()
		a.stop() // a static member does not leave the group on close (KIP-345)
		startMember(t, c, "static-group", "a2", "instance-a", slog)
		eventually(t, 30*time.Second, func() error {
			slog.mu.Lock()
			defer slog.mu.Unlock()
			s := slog.setups["a2"]
			if len(s) == 0 {
				return errors.New("the restarted instance has no session yet")
			}
			if s[0].gen != gen || !slices.Equal(s[0].partitions, owned["a"]) {
				return fmt.Errorf("restarted instance: generation %d partitions %v, want generation %d partitions %v",
					s[0].gen, s[0].partitions, gen, owned["a"])
			}
			return nil
		})
		produceEach(t, c, topic, parts, 10)
		slog.waitConsumed(t, 60*time.Second, ends(parts, 310))
		slog.mu.Lock()
		defer slog.mu.Unlock()
		if n := len(slog.setups["b"]); n != bSessions {
			t.Fatalf("the other member started %d new sessions: the static rejoin caused a rebalance", n-bSessions)
		}
	})

	t.Run("bad input gets Kafka's error codes and the group survives", func(t *testing.T) {
		groupBadInput(t, c)
	})

	t.Run("OffsetCommit and OffsetFetch v0 keep offsets in ZooKeeper", func(t *testing.T) {
		zkOffsetsV0(t, c, topic)
	})
}

func zkOffsetsV0(t *testing.T, c *Cluster, topic string) {
	cl, err := protocol.Dial(context.Background(), c.Bootstrap()[0], "zk-offsets", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m := &rawMember{t: t, cl: cl}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group = 0, "zk-group"
	for _, name := range []string{topic, "no-such-topic"} {
		ct := kmsg.NewOffsetCommitRequestTopic()
		ct.Topic = name
		cp := kmsg.NewOffsetCommitRequestTopicPartition()
		cp.Partition, cp.Offset = 0, 7
		ct.Partitions = append(ct.Partitions, cp)
		commit.Topics = append(commit.Topics, ct)
	}
	cr := m.request(commit).(*kmsg.OffsetCommitResponse)
	wantErr(t, "v0 commit", cr.Topics[0].Partitions[0].ErrorCode, nil)
	wantErr(t, "v0 commit to an unknown topic", cr.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	data, _, err := c.ZK().Get("/consumers/zk-group/offsets/" + topic + "/0")
	if err != nil || string(data) != "7" {
		t.Fatalf("znode: %q %v", data, err)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 0, "zk-group"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = topic, []int32{0, 1}
	fetch.Topics = append(fetch.Topics, ft)
	fr := m.request(fetch).(*kmsg.OffsetFetchResponse)
	p0, p1 := fr.Topics[0].Partitions[0], fr.Topics[0].Partitions[1]
	if p0.Offset != 7 || p0.ErrorCode != 0 || p1.Offset != -1 || p1.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("v0 fetch: %+v %+v", p0, p1)
	}
}

// rawMember is a group member speaking the protocol directly, on its own connection (a parked JoinGroup
// holds its connection).
type rawMember struct {
	t      *testing.T
	cl     *protocol.Client
	group  string
	id     string
	gen    int32
	leader string
}

func (m *rawMember) request(req kmsg.Request) kmsg.Response {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := m.cl.Request(ctx, req)
	if err != nil {
		m.t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

func (m *rawMember) joinReq(protocolType string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.ProtocolType = m.group, m.id, protocolType
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	r.Protocols = append(r.Protocols, p)
	return r
}

// join joins (with the KIP-394 round trip for a new member) and returns the error code.
func (m *rawMember) join(protocolType string) int16 {
	resp := m.request(m.joinReq(protocolType)).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		m.id = resp.MemberID
		resp = m.request(m.joinReq(protocolType)).(*kmsg.JoinGroupResponse)
	}
	if resp.ErrorCode == 0 {
		m.gen, m.leader = resp.Generation, resp.LeaderID
	}
	return resp.ErrorCode
}

func (m *rawMember) sync(gen int32, assignments map[string][]byte) int16 {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 3
	r.Group, r.Generation, r.MemberID = m.group, gen, m.id
	for id, a := range assignments {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		r.GroupAssignment = append(r.GroupAssignment, ga)
	}
	return m.request(r).(*kmsg.SyncGroupResponse).ErrorCode
}

func (m *rawMember) heartbeat(memberID string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 3
	r.Group, r.Generation, r.MemberID = m.group, gen, memberID
	return m.request(r).(*kmsg.HeartbeatResponse).ErrorCode
}

// groupCoordinator finds a group's coordinator through FindCoordinator (retrying while the offsets topic is
// created and loaded).
func groupCoordinator(t *testing.T, c *Cluster, groupID string) string {
	t.Helper()
	var addr string
	eventually(t, 30*time.Second, func() error {
		cl, err := protocol.Dial(context.Background(), c.Bootstrap()[0], "groups-test", 10*time.Second)
		if err != nil {
			return err
		}
		defer cl.Close()
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.Version, r.CoordinatorKey = 2, groupID
		resp, err := cl.Request(context.Background(), r)
		if err != nil {
			return err
		}
		fc := resp.(*kmsg.FindCoordinatorResponse)
		if fc.ErrorCode != 0 {
			return kerr.ErrorForCode(fc.ErrorCode)
		}
		addr = fmt.Sprintf("%s:%d", fc.Host, fc.Port)
		return nil
	})
	return addr
}

func wantErr(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(wantCode))
	}
}

func groupBadInput(t *testing.T, c *Cluster) {
	const groupID = "bad-input"
	addr := groupCoordinator(t, c, groupID)
	newMember := func() *rawMember {
		cl, err := protocol.Dial(context.Background(), addr, "raw-member", 40*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		return &rawMember{t: t, cl: cl, group: groupID}
	}
	a, b, other := newMember(), newMember(), newMember()
	eventually(t, 30*time.Second, func() error { // the partition may still be loading
		if code := a.join("consumer"); code != 0 {
			return kerr.ErrorForCode(code)
		}
		return nil
	})
	wantErr(t, "leader's sync", a.sync(a.gen, map[string][]byte{a.id: []byte("a")}), nil)

	wantErr(t, "heartbeat of an unknown member", a.heartbeat("nobody", a.gen), kerr.UnknownMemberID)
	wantErr(t, "heartbeat with an illegal generation", a.heartbeat(a.id, a.gen+5), kerr.IllegalGeneration)
	wantErr(t, "join with another protocol type", other.join("connect"), kerr.InconsistentGroupProtocol)
	wantErr(t, "sync with an illegal generation", a.sync(a.gen+5, nil), kerr.IllegalGeneration)

	// b's join starts a rebalance and is parked until a rejoins.
	bDone := make(chan int16, 1)
	go func() {
		resp := b.request(b.joinReq("consumer")).(*kmsg.JoinGroupResponse)
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			b.id = resp.MemberID
			resp = b.request(b.joinReq("consumer")).(*kmsg.JoinGroupResponse)
		}
		b.gen = resp.Generation
		bDone <- resp.ErrorCode
	}()
	eventually(t, 30*time.Second, func() error {
		if code := a.heartbeat(a.id, a.gen); code != kerr.RebalanceInProgress.Code {
			return fmt.Errorf("heartbeat during the rebalance: %v", kerr.ErrorForCode(code))
		}
		return nil
	})
	wantErr(t, "sync during the rebalance", a.sync(a.gen, nil), kerr.RebalanceInProgress)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 7
	commit.Group, commit.Generation, commit.MemberID = groupID, a.gen, a.id
	ct := kmsg.NewOffsetCommitRequestTopic()
	ct.Topic = "group-orders"
	cp := kmsg.NewOffsetCommitRequestTopicPartition()
	cp.Partition, cp.Offset = 0, 42
	ct.Partitions = append(ct.Partitions, cp)
	commit.Topics = append(commit.Topics, ct)
	cr := a.request(commit).(*kmsg.OffsetCommitResponse)
	wantErr(t, "commit of the current generation while preparing a rebalance", cr.Topics[0].Partitions[0].ErrorCode, nil)

	// The group survives all of it: a rejoins, both get the next generation, and it stabilises.
	wantErr(t, "leader's rejoin", a.join("consumer"), nil)
	select {
	case code := <-bDone:
		wantErr(t, "b's join", code, nil)
	case <-time.After(30 * time.Second):
		t.Fatal("b's join was not answered")
	}
	if a.gen != b.gen || a.leader != a.id {
		t.Fatalf("generations %d and %d, leader %s (a is %s)", a.gen, b.gen, a.leader, a.id)
	}
	syncDone := make(chan int16, 1)
	go func() { syncDone <- b.sync(b.gen, nil) }()
	wantErr(t, "leader's sync", a.sync(a.gen, map[string][]byte{a.id: []byte("a"), b.id: []byte("b")}), nil)
	wantErr(t, "follower's sync", <-syncDone, nil)
	wantErr(t, "a's heartbeat", a.heartbeat(a.id, a.gen), nil)
	wantErr(t, "b's heartbeat", b.heartbeat(b.id, b.gen), nil)
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version, d.Groups = 4, []string{groupID}
	g := a.request(d).(*kmsg.DescribeGroupsResponse).Groups[0]
	if g.State != "Stable" || len(g.Members) != 2 {
		t.Fatalf("described as %s with %d members", g.State, len(g.Members))
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version, f.Group = 7, groupID
	fr := a.request(f).(*kmsg.OffsetFetchResponse)
	if len(fr.Topics) != 1 || fr.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("committed offsets %+v", fr.Topics)
	}
}

// Killing the coordinator's broker moves the group to the new leader of its offsets partition (RF 3),
// which loads the group's offsets from its replica of the log; the members find it and continue from the
// committed offsets, skipping nothing.
func TestConsumerGroupCoordinatorFailover(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3}) // offsets.topic.replication.factor 3 (the harness's min(3, brokers))
	const topic, groupID, parts = "failover-orders", "failover", int32(6)
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 3})
	log := newGroupLog(topic)
	startMember(t, c, groupID, "f1", "", log)
	startMember(t, c, groupID, "f2", "", log)
	produceEach(t, c, topic, parts, 50)
	log.waitAssignment(t, parts, "f1", "f2")
	log.waitConsumed(t, 60*time.Second, ends(parts, 50))
	eventually(t, 20*time.Second, func() error {
		got := committedOffsets(t, c, groupID, topic)
		for p := int32(0); p < parts; p++ {
			if got[p] != 50 {
				return fmt.Errorf("committed %v", got)
			}
		}
		return nil
	})
	cl := c.Client()
	coord, err := cl.Coordinator(groupID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing broker %d, the group's coordinator", coord.ID())
	c.Kill(coord.ID())
	c.WaitForLeaders(topic, parts) // after the ZooKeeper session of the killed broker expired
	produceEach(t, c, topic, parts, 50)
	log.waitConsumed(t, 90*time.Second, ends(parts, 100))
	log.checkGenerations(t)
	eventually(t, 30*time.Second, func() error {
		got := committedOffsets(t, c, groupID, topic)
		for p := int32(0); p < parts; p++ {
			if got[p] != 100 {
				return fmt.Errorf("committed after the failover %v", got)
			}
		}
		return nil
	})
	if err := cl.RefreshCoordinator(groupID); err != nil {
		t.Fatal(err)
	}
	if now, err := cl.Coordinator(groupID); err != nil || now.ID() == coord.ID() {
		t.Fatalf("coordinator after the kill: %v %v", now, err)
	}
	var ids []int
	for _, id := range c.RunningIDs() {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	t.Logf("running brokers %v", ids)
}
