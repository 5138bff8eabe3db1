package group

// Group state machine tests with a fake clock, named after the cases of Kafka's GroupCoordinatorTest.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// twoMembers builds a Stable group of generation 2: leader A (joined first) and follower B, with
// assignments "a" and "b".
func (h *harness) twoMembers(opts ...joinOpt) (leader, follower string, gen int32) {
	h.t.Helper()
	leader, _ = h.stableGroup(opts...)
	bCh := h.joinAsync(joinReq("", opts...))
	notAnswered(h.t, h, bCh, "new member's join")
	aCh := h.joinAsync(joinReq(leader, opts...))
	a, b := await1(h.t, aCh), await1(h.t, bCh)
	if a.ErrorCode != 0 || b.ErrorCode != 0 || a.Generation != 2 || b.Generation != 2 {
		h.t.Fatalf("rejoin: leader %s gen %d, follower %s gen %d", errName(a.ErrorCode), a.Generation, errName(b.ErrorCode), b.Generation)
	}
	if a.LeaderID != leader || len(a.Members) != 2 || len(b.Members) != 0 {
		h.t.Fatalf("leader %s with %d members, follower got %d members", a.LeaderID, len(a.Members), len(b.Members))
	}
	follower = b.MemberID
	fs := h.syncAsync(syncReq(2, follower, nil))
	notAnswered(h.t, h, fs, "follower's sync before the leader's")
	ls := await1(h.t, h.syncAsync(syncReq(2, leader, map[string]string{leader: "a", follower: "b"})))
	f := await1(h.t, fs)
	if string(ls.MemberAssignment) != "a" || string(f.MemberAssignment) != "b" {
		h.t.Fatalf("assignments: leader %q follower %q", ls.MemberAssignment, f.MemberAssignment)
	}
	return leader, follower, 2
}

func TestJoinGroupWrongCoordinator(t *testing.T) {
	h := newHarness(t)
	h.c.OnResignation(h.c.PartitionFor(testGroup), -1)
	wantCode(t, "join", h.join(joinReq("")).ErrorCode, kerr.NotCoordinator.Code)
}

func TestInvalidGroupId(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "join", h.join(joinReq("", withGroup(""))).ErrorCode, kerr.InvalidGroupID.Code)
	r := kmsg.NewPtrHeartbeatRequest()
	wantCode(t, "heartbeat", h.c.Heartbeat(h.ctx, r).ErrorCode, kerr.InvalidGroupID.Code)
}

func TestJoinGroupSessionTimeoutTooSmallOrTooLarge(t *testing.T) {
	h := newHarness(t)
	for name, ms := range map[string]int32{"too small": 5999, "too large": 1800001} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, "join", h.join(joinReq("", withSession(ms))).ErrorCode, kerr.InvalidSessionTimeout.Code)
		})
	}
}

func TestJoinGroupUnknownConsumerNewGroup(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "join", h.join(joinReq("memberId")).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestValidJoinGroup(t *testing.T) {
	h := newHarness(t)
	r := h.join(joinReq(""))
	wantCode(t, "join", r.ErrorCode, 0)
	if r.Generation != 1 || r.LeaderID != r.MemberID || *r.Protocol != "range" || len(r.Members) != 1 {
		t.Fatalf("join answer: %+v", r)
	}
	if s := h.state(testGroup); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
}

func TestJoinGroupInconsistentProtocolType(t *testing.T) {
	h := newHarness(t)
	h.stableGroup()
	wantCode(t, "join", h.join(joinReq("", withProtocolType("connect"))).ErrorCode, kerr.InconsistentGroupProtocol.Code)
}

func TestJoinGroupWithEmptyProtocolTypeOrProtocols(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "empty type", h.join(joinReq("", withProtocolType(""))).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	wantCode(t, "no protocols", h.join(joinReq("", withProtocols())).ErrorCode, kerr.InconsistentGroupProtocol.Code)
}

func TestJoinGroupInconsistentGroupProtocol(t *testing.T) {
	h := newHarness(t)
	h.stableGroup()
	wantCode(t, "join", h.join(joinReq("", withProtocols(protocols("roundrobin")...))).ErrorCode, kerr.InconsistentGroupProtocol.Code)
}

func TestJoinGroupShouldReceiveErrorIfGroupOverMaxSize(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxSize = 2; c.InitialRebalanceDelay = 3 * time.Second })
	a, b := h.joinAsync(joinReq("")), h.joinAsync(joinReq(""))
	h.flush()
	notAnswered(t, h, a, "first join")
	wantCode(t, "third join", h.join(joinReq("")).ErrorCode, kerr.GroupMaxSizeReached.Code)
	h.advance(6 * time.Second) // the initial delay, extended once because the second member came during it
	ra, rb := await1(t, a), await1(t, b)
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 1 {
		t.Fatalf("joins: %s %s gen %d", errName(ra.ErrorCode), errName(rb.ErrorCode), ra.Generation)
	}
}

func TestInitialRebalanceDelayIsExtendedByNewMembers(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	a := h.joinAsync(joinReq(""))
	h.advance(2900 * time.Millisecond)
	notAnswered(t, h, a, "join during the initial delay")
	b := h.joinAsync(joinReq(""))
	h.advance(100 * time.Millisecond)
	notAnswered(t, h, a, "join after the first delay with a new member")
	h.advance(3 * time.Second)
	ra, rb := await1(t, a), await1(t, b)
	if ra.Generation != 1 || rb.Generation != 1 || len(ra.Members)+len(rb.Members) != 2 {
		t.Fatalf("generations %d %d, members %d+%d", ra.Generation, rb.Generation, len(ra.Members), len(rb.Members))
	}
}

func TestRequireKnownMemberId(t *testing.T) {
	h := newHarness(t)
	ch := h.joinNewAsync()
	h.advance(0)
	r := await1(t, ch)
	wantCode(t, "second join", r.ErrorCode, 0)
	if r.Generation != 1 || r.MemberID == "" || r.LeaderID != r.MemberID {
		t.Fatalf("join answer: %+v", r)
	}
}

func TestPendingMemberShouldLeaveGroupAfterSessionTimeout(t *testing.T) {
	h := newHarness(t)
	leader, _ := h.stableGroup()
	first := h.c.JoinGroup(h.ctx, joinReq("", withVersion(5)), Client{})
	wantCode(t, "new member", first.ErrorCode, kerr.MemberIDRequired.Code)
	a := h.joinAsync(joinReq(leader))
	notAnswered(t, h, a, "leader's rejoin while a member id is pending")
	h.advance(session * time.Millisecond)
	r := await1(t, a)
	if r.ErrorCode != 0 || r.Generation != 2 || len(r.Members) != 1 {
		t.Fatalf("leader rejoin: %s gen %d members %d", errName(r.ErrorCode), r.Generation, len(r.Members))
	}
	wantCode(t, "late rejoin of the pending id", h.join(joinReq(first.MemberID, withVersion(5))).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestHeartbeatUnknownGroupAndUnknownConsumer(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "unknown group", h.heartbeat("member", 1, nil), kerr.UnknownMemberID.Code)
	_, gen := h.stableGroup()
	wantCode(t, "unknown member", h.heartbeat("member", gen, nil), kerr.UnknownMemberID.Code)
}

func TestHeartbeatIllegalGeneration(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	wantCode(t, "heartbeat", h.heartbeat(m, gen+1, nil), kerr.IllegalGeneration.Code)
}

func TestValidHeartbeatKeepsTheMemberAlive(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	for range 5 {
		h.advance(session / 2 * time.Millisecond)
		wantCode(t, "heartbeat", h.heartbeat(m, gen, nil), 0)
	}
	if s := h.state(testGroup); s != "Stable" {
		t.Fatalf("state %s", s)
	}
}

func TestSessionTimeout(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	h.advance(session * time.Millisecond)
	if s := h.state(testGroup); s != "Empty" {
		t.Fatalf("state %s after the session timeout, want Empty", s)
	}
	wantCode(t, "heartbeat", h.heartbeat(m, gen, nil), kerr.UnknownMemberID.Code)
}

func TestHeartbeatDuringRebalanceCausesRebalanceInProgress(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	a := h.joinAsync(joinReq(leader))
	notAnswered(t, h, a, "leader's rejoin")
	wantCode(t, "follower heartbeat", h.heartbeat(follower, gen, nil), kerr.RebalanceInProgress.Code)
	wantCode(t, "follower sync", await1(t, h.syncAsync(syncReq(gen, follower, nil))).ErrorCode, kerr.RebalanceInProgress.Code)
	b := await1(t, h.joinAsync(joinReq(follower)))
	if r := await1(t, a); r.Generation != gen+1 || b.Generation != gen+1 {
		t.Fatalf("generations %d %d", r.Generation, b.Generation)
	}
}

func TestRebalanceTimeoutRemovesMembersThatDidNotRejoin(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	a := h.joinAsync(joinReq(leader))
	for range 4 { // the follower keeps heartbeating but never rejoins
		h.advance(8 * time.Second)
		if code := h.heartbeat(follower, gen, nil); code != kerr.RebalanceInProgress.Code && code != kerr.UnknownMemberID.Code {
			t.Fatalf("heartbeat: %s", errName(code))
		}
	}
	r := await1(t, a)
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("leader: %s gen %d members %d", errName(r.ErrorCode), r.Generation, len(r.Members))
	}
	wantCode(t, "removed follower", h.heartbeat(follower, gen+1, nil), kerr.UnknownMemberID.Code)
}

func TestJoinGroupFromUnchangedFollowerDoesNotRebalance(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	r := await1(t, h.joinAsync(joinReq(follower)))
	if r.ErrorCode != 0 || r.Generation != gen || r.LeaderID != leader || len(r.Members) != 0 {
		t.Fatalf("follower rejoin: %+v", r)
	}
	if s := h.state(testGroup); s != "Stable" {
		t.Fatalf("state %s", s)
	}
}

func TestSyncGroupErrors(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "unknown group", await1(t, h.syncAsync(syncReq(1, "m", nil))).ErrorCode, kerr.UnknownMemberID.Code)
	m, gen := h.stableGroup()
	wantCode(t, "unknown member", await1(t, h.syncAsync(syncReq(gen, "m", nil))).ErrorCode, kerr.UnknownMemberID.Code)
	wantCode(t, "illegal generation", await1(t, h.syncAsync(syncReq(gen+1, m, nil))).ErrorCode, kerr.IllegalGeneration.Code)
	r := syncReq(gen, m, nil)
	r.Version = 5
	wantCode(t, "v5 without protocol", await1(t, h.syncAsync(r)).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	other := "other"
	r.ProtocolType, r.Protocol = &other, &other
	wantCode(t, "v5 wrong protocol", await1(t, h.syncAsync(r)).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	pt, pn := protoType, "range"
	r.ProtocolType, r.Protocol = &pt, &pn
	s := await1(t, h.syncAsync(r))
	if s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment" || *s.Protocol != "range" {
		t.Fatalf("stable sync: %+v", s)
	}
}

func TestLeaderFailureInSyncGroup(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	// A new rebalance where the leader never sends its assignment.
	a, b := h.joinAsync(joinReq(leader)), h.joinAsync(joinReq(follower))
	await1(t, a)
	await1(t, b)
	fs := h.syncAsync(syncReq(gen+1, follower, nil))
	notAnswered(t, h, fs, "follower's sync")
	h.advance(session * time.Millisecond) // the leader's session expires; the parked follower stays alive
	wantCode(t, "follower's sync", await1(t, fs).ErrorCode, kerr.RebalanceInProgress.Code)
	if s := h.state(testGroup); s != "PreparingRebalance" {
		t.Fatalf("state %s", s)
	}
}

func TestSyncGroupLeaderStoreFailure(t *testing.T) {
	h := newHarness(t)
	r := h.join(joinReq(""))
	h.parts.mu.Lock()
	h.parts.fail = func(int32, int16) error { return kerr.NotEnoughReplicas }
	h.parts.mu.Unlock()
	s := await1(t, h.syncAsync(syncReq(r.Generation, r.MemberID, map[string]string{r.MemberID: "x"})))
	wantCode(t, "sync", s.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if st := h.state(testGroup); st != "PreparingRebalance" {
		t.Fatalf("state %s", st)
	}
}

func TestCommitOffsetInCompletingRebalance(t *testing.T) {
	h := newHarness(t)
	r := h.join(joinReq(""))
	wantCodes(t, "commit", h.commit(testGroup, r.MemberID, r.Generation, map[TopicPartition]int64{tp("t", 0): 1}),
		kerr.RebalanceInProgress.Code)
}

func TestStaticMemberReJoinWithExplicitUnknownMemberId(t *testing.T) {
	h := newHarness(t)
	oldID, gen := h.stableGroup(withVersion(5), withInstance("i1"))
	appends := h.parts.appends
	r := await1(t, h.joinAsync(joinReq("", withVersion(5), withInstance("i1"))))
	if r.ErrorCode != 0 || r.MemberID == oldID || r.Generation != gen || r.LeaderID != oldID || len(r.Members) != 0 {
		t.Fatalf("static rejoin: %+v (old id %s)", r, oldID)
	}
	if s := h.state(testGroup); s != "Stable" {
		t.Fatalf("state %s: a static rejoin must not rebalance", s)
	}
	if h.parts.appends != appends+1 {
		t.Fatalf("%d appends, want the new member id persisted once", h.parts.appends-appends)
	}
	inst := "i1"
	wantCode(t, "old id heartbeat", h.heartbeat(oldID, gen, &inst), kerr.FencedInstanceID.Code)
	wantCode(t, "new id heartbeat", h.heartbeat(r.MemberID, gen, &inst), 0)
	s := syncReq(gen, r.MemberID, nil)
	s.InstanceID = &inst
	if a := await1(t, h.syncAsync(s)); a.ErrorCode != 0 || string(a.MemberAssignment) != "assignment" {
		t.Fatalf("sync after the static rejoin: %s %q", errName(a.ErrorCode), a.MemberAssignment)
	}
	wantCodes(t, "commit with the old id", h.c.CommitOffsets(h.ctx, testGroup, oldID, &inst, gen,
		commitParts(map[TopicPartition]int64{tp("t", 0): 1})), kerr.FencedInstanceID.Code)
}

func TestStaticMemberRejoinWithChangedProtocolRebalances(t *testing.T) {
	h := newHarness(t)
	_, gen := h.stableGroup(withVersion(5), withInstance("i1"))
	r := await1(t, h.joinAsync(joinReq("", withVersion(5), withInstance("i1"), withProtocols(protocols("roundrobin", "range")...))))
	if r.ErrorCode != 0 || r.Generation != gen+1 || *r.Protocol != "roundrobin" {
		t.Fatalf("rejoin: %s gen %d protocol %v", errName(r.ErrorCode), r.Generation, r.Protocol)
	}
}

func TestStaticMemberNotRemovedWhenItMissesTheRebalance(t *testing.T) {
	h := newHarness(t)
	opts := []joinOpt{withVersion(5), withSession(30000), withRebalance(10000)}
	leader, _ := h.stableGroup(append(opts, withInstance("a"))...)
	b := h.joinAsync(joinReq("", append(opts, withInstance("b"))...))
	a := h.joinAsync(joinReq(leader, append(opts, withInstance("a"))...))
	rb := await1(t, b)
	await1(t, a)
	// The leader rejoins; b does not, and the rebalance times out after 10 s.
	a = h.joinAsync(joinReq(leader, append(opts, withInstance("a"))...))
	h.advance(10 * time.Second)
	r := await1(t, a)
	if r.ErrorCode != 0 || len(r.Members) != 2 {
		t.Fatalf("leader: %s with %d members, want the static member kept", errName(r.ErrorCode), len(r.Members))
	}
	inst := "b"
	wantCode(t, "b's heartbeat", h.heartbeat(rb.MemberID, r.Generation, &inst), 0)
}

func TestStaticMemberLeaveByInstanceId(t *testing.T) {
	h := newHarness(t)
	h.stableGroup(withVersion(5), withInstance("i1"))
	inst := "i1"
	resp := h.leave(LeaveMember{InstanceID: &inst})
	wantCode(t, "leave", resp.ErrorCode, 0)
	wantCode(t, "member", resp.Members[0].ErrorCode, 0)
	if s := h.state(testGroup); s != "Empty" {
		t.Fatalf("state %s", s)
	}
}

func TestLeaveGroup(t *testing.T) {
	h := newHarness(t)
	t.Run("unknown group", func(t *testing.T) {
		resp := h.leave(LeaveMember{MemberID: "m"})
		wantCode(t, "top", resp.ErrorCode, 0)
		wantCode(t, "member", resp.Members[0].ErrorCode, kerr.UnknownMemberID.Code)
	})
	m, _ := h.stableGroup()
	t.Run("unknown member of an existing group", func(t *testing.T) {
		wantCode(t, "member", h.leave(LeaveMember{MemberID: "other"}).Members[0].ErrorCode, kerr.UnknownMemberID.Code)
	})
	t.Run("v0 answers the member's error at the top", func(t *testing.T) {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.Group, r.MemberID = testGroup, "other"
		wantCode(t, "v0", h.c.LeaveGroup(h.ctx, r).ErrorCode, kerr.UnknownMemberID.Code)
	})
	t.Run("pending member in a batch", func(t *testing.T) {
		first := h.c.JoinGroup(h.ctx, joinReq("", withVersion(5)), Client{})
		resp := h.leave(LeaveMember{MemberID: first.MemberID}, LeaveMember{MemberID: "nobody"})
		wantCode(t, "pending", resp.Members[0].ErrorCode, 0)
		wantCode(t, "unknown", resp.Members[1].ErrorCode, kerr.UnknownMemberID.Code)
	})
	t.Run("valid", func(t *testing.T) {
		wantCode(t, "member", h.leave(LeaveMember{MemberID: m}).Members[0].ErrorCode, 0)
		if s := h.state(testGroup); s != "Empty" {
			t.Fatalf("state %s", s)
		}
	})
}

func TestGroupSurvivesBadInput(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	wantCode(t, "unknown member heartbeat", h.heartbeat("nobody", gen, nil), kerr.UnknownMemberID.Code)
	wantCode(t, "old generation heartbeat", h.heartbeat(follower, gen-1, nil), kerr.IllegalGeneration.Code)
	wantCode(t, "wrong protocol type", h.join(joinReq("", withProtocolType("connect"))).ErrorCode, kerr.InconsistentGroupProtocol.Code)
	wantCodes(t, "commit of an old generation", h.commit(testGroup, leader, gen-1, map[TopicPartition]int64{tp("t", 0): 1}),
		kerr.IllegalGeneration.Code)
	wantCode(t, "leader heartbeat", h.heartbeat(leader, gen, nil), 0)
	wantCode(t, "follower heartbeat", h.heartbeat(follower, gen, nil), 0)
	if s := h.state(testGroup); s != "Stable" {
		t.Fatalf("state %s", s)
	}
}

func TestStaticMemberRejoinPersistFailureRevertsTheNewMemberId(t *testing.T) {
	h := newHarness(t)
	oldID, gen := h.stableGroup(withVersion(5), withInstance("i1"))
	h.parts.mu.Lock()
	h.parts.fail = func(int32, int16) error { return kerr.NotEnoughReplicas }
	h.parts.mu.Unlock()
	r := await1(t, h.joinAsync(joinReq("", withVersion(5), withInstance("i1"))))
	if r.ErrorCode != kerr.CoordinatorNotAvailable.Code || r.MemberID != "" || r.LeaderID != oldID {
		t.Fatalf("rejoin with a failing write: %s member %q leader %q", errName(r.ErrorCode), r.MemberID, r.LeaderID)
	}
	inst := "i1"
	wantCode(t, "old id heartbeat after the revert", h.heartbeat(oldID, gen, &inst), 0)
}

func TestJoinRetriedOnAnotherConnectionAnswersTheParkedOne(t *testing.T) {
	h := newHarness(t)
	leader, follower, _ := h.twoMembers()
	first := h.joinAsync(joinReq(leader))
	second := h.joinAsync(joinReq(leader))
	wantCode(t, "superseded join", await1(t, first).ErrorCode, kerr.RebalanceInProgress.Code)
	await1(t, h.joinAsync(joinReq(follower)))
	if r := await1(t, second); r.ErrorCode != 0 || len(r.Members) != 2 {
		t.Fatalf("retried join: %s with %d members", errName(r.ErrorCode), len(r.Members))
	}
}

func TestNewMemberJoinTimeoutRemovesANewMemberThatNeverRejoins(t *testing.T) {
	h := newHarness(t)
	leader, _ := h.stableGroup(withRebalance(600000)) // a rebalance timeout beyond the new-member timeout
	b := h.joinAsync(joinReq("", withRebalance(600000)))
	// The leader keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins; b waits parked.
	for range 34 { // 306 s: past NewMemberJoinTimeout (300 s), within the rebalance timeout
		h.advance(9 * time.Second)
		wantCode(t, "leader heartbeat", h.heartbeat(leader, 1, nil), kerr.RebalanceInProgress.Code)
	}
	wantCode(t, "new member's join", await1(t, b).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestLeaderIsReplacedWhenItDoesNotRejoin(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	b := h.joinAsync(joinReq(follower, withProtocols(protocols("range", "roundrobin")...))) // changed metadata
	for range 4 {                                                                           // the leader heartbeats but never rejoins: the rebalance times out after 30 s
		h.advance(8 * time.Second)
		h.heartbeat(leader, gen, nil)
	}
	r := await1(t, b)
	if r.ErrorCode != 0 || r.LeaderID != follower || len(r.Members) != 1 || r.Generation != gen+1 {
		t.Fatalf("follower: %s leader %s members %d gen %d", errName(r.ErrorCode), r.LeaderID, len(r.Members), r.Generation)
	}
}

func TestJoinGroupInCompletingRebalanceWithSameMetadataReturnsCurrentGeneration(t *testing.T) {
	h := newHarness(t)
	first := h.join(joinReq(""))
	again := await1(t, h.joinAsync(joinReq(first.MemberID))) // the client missed the first answer
	if again.ErrorCode != 0 || again.Generation != first.Generation || len(again.Members) != 1 || again.LeaderID != first.MemberID {
		t.Fatalf("rejoin while completing: %+v", again)
	}
	if s := h.state(testGroup); s != "CompletingRebalance" {
		t.Fatalf("state %s", s)
	}
}
