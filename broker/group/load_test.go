package group

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage/record"
)

// restart replaces the coordinator by a new one over the same logs (a failover to a broker with the same
// data): it loads every partition before answering.
func (h *harness) restart(mod ...func(*Config)) {
	h.t.Helper()
	h.c.Stop()
	cfg := testConfig()
	for _, m := range mod {
		m(&cfg)
	}
	h.c = New(cfg, h.parts, h.clock, nil)
	h.c.Start(context.Background())
	h.t.Cleanup(h.c.Stop)
	for p := int32(0); p < cfg.NumPartitions; p++ {
		h.c.OnElection(p, 1)
	}
	h.waitLoaded()
}

func TestLoadGroupsAndOffsetsFromLog(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	wantCodes(t, "commit", h.commit(testGroup, leader, gen, map[TopicPartition]int64{tp("topic", 0): 10, tp("topic", 1): 11}), 0)
	wantCodes(t, "commit", h.commit(testGroup, follower, gen, map[TopicPartition]int64{tp("topic", 1): 12}), 0)
	h.commit("simple", "", -1, map[TopicPartition]int64{tp("t", 0): 1, tp("t", 1): 2})
	h.c.DeleteOffsets(h.ctx, "simple", []TopicPartition{tp("t", 1)})
	// A group that had a generation and was deleted: its tombstones must win over its earlier records.
	r := h.join(joinReq("", withGroup("deleted")))
	s := syncReq(r.Generation, r.MemberID, nil)
	s.Group = "deleted"
	await1(t, h.syncAsync(s))
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = "deleted", r.MemberID
	h.c.LeaveGroup(h.ctx, lr)
	wantCode(t, "delete", h.c.DeleteGroups(h.ctx, []string{"deleted"})[0], 0)

	h.restart()

	d := h.c.DescribeGroup(h.ctx, testGroup)
	if d.State != "Stable" || d.Protocol != "range" || len(d.Members) != 2 || string(d.Members[0].Assignment) != "a" ||
		string(d.Members[1].Assignment) != "b" || d.Members[0].MemberID != leader {
		t.Fatalf("loaded group: %+v", d)
	}
	wantCode(t, "leader heartbeat", h.heartbeat(leader, gen, nil), 0)
	if got := h.fetched(testGroup, tp("topic", 0), tp("topic", 1)); got[tp("topic", 0)] != 10 || got[tp("topic", 1)] != 12 {
		t.Fatalf("loaded offsets %v", got)
	}
	if got := h.fetched("simple", tp("t", 0), tp("t", 1)); got[tp("t", 0)] != 1 || got[tp("t", 1)] != -1 {
		t.Fatalf("simple group's offsets %v", got)
	}
	if st := h.state("simple"); st != "Empty" {
		t.Fatalf("offset-only group state %s", st)
	}
	if st := h.state("deleted"); st != "" {
		t.Fatalf("deleted group loaded in state %s", st)
	}
	// Loaded members' sessions run from the load: the follower, silent, expires; the group rebalances.
	h.advance(9 * time.Second)
	wantCode(t, "leader heartbeat", h.heartbeat(leader, gen, nil), 0)
	h.advance(2 * time.Second)
	wantCode(t, "leader heartbeat after the follower expired", h.heartbeat(leader, gen, nil), kerr.RebalanceInProgress.Code)
}

func TestLoadStaticMemberKeepsItsInstance(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup(withVersion(5), withInstance("i1"))
	h.restart()
	inst := "i1"
	wantCode(t, "heartbeat", h.heartbeat(m, gen, &inst), 0)
	r := await1(t, h.joinAsync(joinReq("", withVersion(5), withInstance("i1"))))
	if r.ErrorCode != 0 || r.Generation != gen || r.MemberID == m {
		t.Fatalf("static rejoin after the load: %+v", r)
	}
	wantCode(t, "old id", h.heartbeat(m, gen, &inst), kerr.FencedInstanceID.Code)
}

func TestCoordinatorLoadInProgress(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	p := h.c.PartitionFor(testGroup)
	release := make(chan struct{})
	h.parts.mu.Lock()
	h.parts.readHook = func() { <-release }
	h.parts.mu.Unlock()
	h.c.OnResignation(p, -1)
	h.c.OnElection(p, 2)

	wantCode(t, "join", h.join(joinReq("")).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	wantCode(t, "heartbeat", h.heartbeat(m, gen, nil), 0)
	wantCode(t, "sync", await1(t, h.syncAsync(syncReq(gen, m, nil))).ErrorCode, kerr.RebalanceInProgress.Code)
	wantCodes(t, "commit", h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1}), kerr.CoordinatorLoadInProgress.Code)
	code, _ := h.c.FetchOffsets(h.ctx, testGroup, nil, false)
	wantCode(t, "fetch", code, kerr.CoordinatorLoadInProgress.Code)
	code, _ = h.c.ListGroups(nil)
	wantCode(t, "list", code, kerr.CoordinatorLoadInProgress.Code)

	close(release)
	h.waitLoaded()
	wantCode(t, "heartbeat after the load", h.heartbeat(m, gen, nil), 0)
	wantCodes(t, "commit after the load", h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1}), 0)
}

func TestUnloadAnswersParkedRequestsNotCoordinator(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	a := h.joinAsync(joinReq(leader))
	notAnswered(t, h, a, "leader's rejoin")
	h.c.OnResignation(h.c.PartitionFor(testGroup), 0)
	wantCode(t, "parked join", await1(t, a).ErrorCode, kerr.NotCoordinator.Code)
	wantCode(t, "heartbeat", h.heartbeat(follower, gen, nil), kerr.NotCoordinator.Code)
	wantCode(t, "join", h.join(joinReq("")).ErrorCode, kerr.NotCoordinator.Code)
}

func TestStaleResignationIsIgnored(t *testing.T) {
	h := newHarness(t)
	p := h.c.PartitionFor(testGroup)
	h.c.OnElection(p, 5) // re-elected with a newer epoch while leading
	h.c.OnResignation(p, 3)
	wantCode(t, "join after a stale resignation", h.join(joinReq("")).ErrorCode, 0)
	h.c.OnResignation(p, 5)
	wantCode(t, "join after the resignation", h.join(joinReq("")).ErrorCode, kerr.NotCoordinator.Code)
}

// appendTxn writes a transactional offset commit of producer pid straight into the group's partition.
func (h *harness) appendTxn(pid int64, groupID string, t TopicPartition, offset int64) {
	h.t.Helper()
	val, _ := OffsetValueBytes(OffsetValue{Offset: offset, LeaderEpoch: -1, ExpireTimestamp: -1}, 3)
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = pid, 0, 0, true
	b, err := record.Build([]record.BuildRecord{{Key: OffsetKeyBytes(groupID, t.Topic, t.Partition), Value: val}}, opt)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.parts.log(h.c.PartitionFor(groupID)).AppendAsCoordinator(b, 0); err != nil {
		h.t.Fatal(err)
	}
}

// appendMarker writes a transaction marker (control record key: version 0, type 0 abort / 1 commit).
func (h *harness) appendMarker(pid int64, groupID string, commit bool) {
	h.t.Helper()
	typ := byte(0)
	if commit {
		typ = 1
	}
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.Transactional, opt.Control = pid, 0, true, true
	b, err := record.Build([]record.BuildRecord{{Key: []byte{0, 0, 0, typ}, Value: []byte{0, 0, 0, 0, 0, 0}}}, opt)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.parts.log(h.c.PartitionFor(groupID)).AppendAsCoordinator(b, 0); err != nil {
		h.t.Fatal(err)
	}
}

func TestLoadTransactionalOffsetsWaitForTheirMarker(t *testing.T) {
	h := newHarness(t)
	h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 1, tp("t", 1): 1, tp("t", 2): 1})
	h.appendTxn(7, testGroup, tp("t", 0), 70)
	h.appendMarker(7, testGroup, true)
	h.appendTxn(8, testGroup, tp("t", 1), 80)
	h.appendMarker(8, testGroup, false)
	h.appendTxn(9, testGroup, tp("t", 2), 90) // no marker yet
	h.restart()
	got := h.fetched(testGroup, tp("t", 0), tp("t", 1), tp("t", 2))
	if got[tp("t", 0)] != 70 || got[tp("t", 1)] != 1 || got[tp("t", 2)] != 1 {
		t.Fatalf("offsets %v: committed transaction visible, aborted and open ones not", got)
	}
	_, offs := h.c.FetchOffsets(h.ctx, testGroup, []TopicPartition{tp("t", 2)}, true)
	wantCode(t, "open transaction's partition", offs[0].Err, kerr.UnstableOffsetCommit.Code)
}

func TestLoadReadsInChunksSmallerThanABatch(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", int32(i%3)): int64(i)})
	}
	h.restart(func(c *Config) { c.LoadBufferSize = 16 })
	if got := h.fetched(testGroup, tp("t", 0), tp("t", 1), tp("t", 2)); got[tp("t", 0)] != 18 || got[tp("t", 1)] != 19 || got[tp("t", 2)] != 17 {
		t.Fatalf("offsets %v", got)
	}
}
