package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// state is a group's state (Kafka's GroupState). Each state's answers and exits:
//   - Empty: no members (also groups that only store offsets). A join from a new member ⇒ PreparingRebalance.
//     Sync, heartbeat and commits with a generation ⇒ UNKNOWN_MEMBER_ID. ⇒ Dead when no offsets remain
//     (expiration) or on DeleteGroups.
//   - PreparingRebalance: collecting JoinGroups (parked until all known members rejoined or the rebalance
//     timeout). Heartbeats ⇒ REBALANCE_IN_PROGRESS, SyncGroup ⇒ REBALANCE_IN_PROGRESS, commits from the
//     current generation stored. ⇒ CompletingRebalance (members left) or Empty (none left) when the join
//     completes.
//   - CompletingRebalance: waiting for the leader's SyncGroup; followers' syncs parked, heartbeats NONE,
//     commits REBALANCE_IN_PROGRESS. ⇒ Stable once the leader's assignment is written, ⇒ PreparingRebalance
//     on membership change.
//   - Stable: normal operation. ⇒ PreparingRebalance on membership or metadata change.
//   - Dead: removed (unloaded, deleted, expired); every request ⇒ COORDINATOR_NOT_AVAILABLE (clients find the
//     coordinator again) or UNKNOWN_MEMBER_ID. Terminal.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String is the name DescribeGroups and ListGroups report.
func (s state) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	}
	return "Dead"
}

// validPrevious is Kafka's GroupState.validPreviousStates; a transition outside it is a broken invariant.
var validPrevious = map[state][]state{
	stateEmpty:               {statePreparingRebalance},
	statePreparingRebalance:  {stateStable, stateCompletingRebalance, stateEmpty},
	stateCompletingRebalance: {statePreparingRebalance},
	stateStable:              {stateCompletingRebalance},
	stateDead:                {stateStable, statePreparingRebalance, stateCompletingRebalance, stateEmpty, stateDead},
}

// protocol is one (name, metadata) pair a member supports, in its preference order.
type protocol struct {
	name     string
	metadata []byte
}

// waiter is a parked request's answer function, compared by identity to know whether it is still the one
// parked.
type waiter[T any] struct{ reply func(T) }

// member is Kafka's MemberMetadata.
type member struct {
	id                 string
	instanceID         *string // static membership (KIP-345)
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []protocol
	assignment         []byte

	awaitingJoin *waiter[joinResult] // parked JoinGroup
	awaitingSync *waiter[syncResult] // parked SyncGroup
	isNew        bool                // joined in the current rebalance: the 5-minute join timer applies

	hbToken uint64      // identifies the armed expiry timer; a timer firing with another token is stale
	hbStop  func() bool // stops the armed expiry timer
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

// matches is MemberMetadata.matches: the same protocols, in the same order, with the same metadata.
func (m *member) matches(ps []protocol) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocol) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

// vote is the member's most preferred protocol among candidates.
func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

// commitRecord is a committed offset and the log offset of the batch that wrote it (Kafka's
// CommitRecordMetadataAndOffset): a commit replaces the cached one only if written later in the log.
type commitRecord struct {
	offset     OffsetValue
	appendedAt int64 // base offset of the commit's batch; -1 unknown
}

// overview is what ListGroups reads without going through the group's goroutine.
type overview struct {
	state        state
	protocolType string
}

// group is Kafka's GroupMetadata. Everything below box is owned by the run goroutine (the STYLE rule "one
// goroutine per group owns state and timers"): requests, timer expiries and append completions all arrive
// as closures through box and run one at a time.
type group struct {
	c         *Coordinator
	id        string
	partition int32
	log       *logrus.Entry
	box       mailbox
	view      atomic.Pointer[overview]

	state          state
	stateTimestamp int64 // ms of the last transition; -1 unknown (loaded from an old record version)
	generation     int32
	protocolType   *string // nil: none (offset-only groups)
	protocolName   *string // selected protocol; nil when Empty
	leaderID       *string
	members        map[string]*member
	order          []string          // member ids in join order: deterministic leader choice and listings
	static         map[string]string // group instance id → member id
	pending        map[string]uint64 // member ids handed out with MEMBER_ID_REQUIRED → expiry timer token
	pendingStop    map[string]func() bool
	protoCount     map[string]int // protocol name → number of members supporting it
	numAwaiting    int            // members with a parked JoinGroup
	newMemberAdded bool           // a member joined during the initial delay: extend it
	join           *delayedJoin   // the rebalance timer while PreparingRebalance
	subscribed     map[string]bool
	subscribedOK   bool // subscribed is known (consumer protocol, parsable metadata)

	offsets        map[TopicPartition]commitRecord
	pendingCommits map[TopicPartition]int                    // in-flight commit appends per partition
	pendingTxn     map[int64]map[TopicPartition]commitRecord // loaded transactional commits awaiting a marker

	tokens    uint64      // timer token source
	inflight  int         // appends queued or running; the goroutine outlives them
	appendQ   []appendJob // writes waiting for the one running
	appending bool        // a write is running
}

func newGroup(c *Coordinator, id string, partition int32) *group {
	g := &group{c: c, id: id, partition: partition,
		log:            c.log.WithFields(logrus.Fields{"group": id, "partition": partition}),
		state:          stateEmpty,
		stateTimestamp: c.nowMs(),
		members:        map[string]*member{}, static: map[string]string{},
		pending: map[string]uint64{}, pendingStop: map[string]func() bool{},
		protoCount: map[string]int{}, offsets: map[TopicPartition]commitRecord{},
		pendingCommits: map[TopicPartition]int{}, pendingTxn: map[int64]map[TopicPartition]commitRecord{},
	}
	g.box.init()
	g.publish()
	return g
}

// mailbox is an unbounded FIFO of closures for the group's goroutine. Posting never blocks (timers and
// append completions post from other goroutines), and order is kept, so a test that advances a fake
// clock and then sends a request sees the expiry handled first.
type mailbox struct {
	mu     sync.Mutex
	q      []func() // guarded by mu
	closed bool     // guarded by mu
	signal chan struct{}
}

func (b *mailbox) init() { b.signal = make(chan struct{}, 1) }

// post queues f; false when the goroutine has exited.
func (b *mailbox) post(f func()) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.q = append(b.q, f)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	return true
}

func (b *mailbox) take() []func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.q
	b.q = nil
	return q
}

// close refuses further posts and returns what was queued.
func (b *mailbox) close() []func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	q := b.q
	b.q = nil
	return q
}

// run is the group's goroutine. It exits once the group is Dead with no append in flight (the rest of the
// queue runs against the Dead state), or when the coordinator stops.
func (g *group) run(ctx context.Context) {
	for {
		select {
		case <-g.box.signal:
		case <-ctx.Done():
			g.unload(kerr.NotCoordinator.Code)
			for _, f := range g.box.close() {
				f()
			}
			return
		}
		for _, f := range g.box.take() {
			f()
		}
		if g.state == stateDead && g.inflight == 0 {
			for _, f := range g.box.close() {
				f()
			}
			g.stopTimers()
			return
		}
	}
}

// after arms a timer whose expiry runs f on the group's goroutine.
func (g *group) after(d time.Duration, f func()) func() bool {
	return g.c.clock.AfterFunc(d, func() { g.box.post(f) })
}

func (g *group) nextToken() uint64 {
	g.tokens++
	return g.tokens
}

func (g *group) stopTimers() {
	for _, m := range g.members {
		if m.hbStop != nil {
			m.hbStop()
		}
	}
	for _, stop := range g.pendingStop {
		stop()
	}
	g.cancelJoin()
}

// publish refreshes the ListGroups view.
func (g *group) publish() {
	pt := ""
	if g.protocolType != nil {
		pt = *g.protocolType
	}
	g.view.Store(&overview{state: g.state, protocolType: pt})
}

func (g *group) transition(to state) {
	if !slices.Contains(validPrevious[to], g.state) {
		panic(fmt.Sprintf("group %s: illegal transition from %s to %s", g.id, g.state, to))
	}
	g.state = to
	g.stateTimestamp = g.c.nowMs()
	g.publish()
}

func (g *group) has(memberID string) bool { _, ok := g.members[memberID]; return ok }

func (g *group) isLeader(memberID string) bool { return g.leaderID != nil && *g.leaderID == memberID }

func (g *group) leaderOrEmpty() string {
	if g.leaderID == nil {
		return ""
	}
	return *g.leaderID
}

func (g *group) hasStatic(instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	_, ok := g.static[*instanceID]
	return ok
}

// isStaticMemberFenced: a known instance id with a different member id is a zombie instance (KIP-345).
func (g *group) isStaticMemberFenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	id, ok := g.static[*instanceID]
	if ok && id != memberID {
		g.log.WithFields(logrus.Fields{"instance_id": *instanceID, "member_id": memberID, "current_member_id": id}).
			Info("fenced a static member with a stale member id")
		return true
	}
	return false
}

// canRebalance: Stable, CompletingRebalance or Empty.
func (g *group) canRebalance() bool {
	return g.state == stateStable || g.state == stateCompletingRebalance || g.state == stateEmpty
}

// rebalanceTimeoutMs is the largest member rebalance timeout.
func (g *group) rebalanceTimeoutMs() int64 {
	var t int32
	for _, m := range g.members {
		t = max(t, m.rebalanceTimeoutMs)
	}
	return int64(t)
}

// supportsProtocols is GroupMetadata.supportsProtocols: an Empty group takes any non-empty protocol type
// with at least one protocol; otherwise the type must match and one protocol must be supported by every
// current member.
func (g *group) supportsProtocols(protocolType string, ps []protocol) bool {
	if g.state == stateEmpty {
		return protocolType != "" && len(ps) > 0
	}
	if g.protocolType == nil || *g.protocolType != protocolType {
		return false
	}
	for _, p := range ps {
		if g.protoCount[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// add is GroupMetadata.add: the first member fixes the protocol type and becomes leader.
func (g *group) add(m *member, w *waiter[joinResult]) {
	if len(g.members) == 0 {
		pt := m.protocolType
		g.protocolType = &pt
		g.publish()
	}
	if g.leaderID == nil {
		id := m.id
		g.leaderID = &id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	for _, p := range m.protocols {
		g.protoCount[p.name]++
	}
	m.awaitingJoin = w
	if w != nil {
		g.numAwaiting++
	}
}

// remove is GroupMetadata.remove: drops the member and its static id; a removed leader passes leadership to
// the first remaining member. Parked requests of the member are answered with code (nobody else will).
func (g *group) remove(memberID string, code int16) {
	m, ok := g.members[memberID]
	if !ok {
		return
	}
	if m.awaitingJoin != nil {
		g.numAwaiting--
		m.awaitingJoin.reply(joinError("", code))
		m.awaitingJoin = nil
	}
	if m.awaitingSync != nil {
		m.awaitingSync.reply(syncResult{err: code})
		m.awaitingSync = nil
	}
	if m.hbStop != nil {
		m.hbStop()
	}
	for _, p := range m.protocols {
		g.protoCount[p.name]--
	}
	if m.instanceID != nil && g.static[*m.instanceID] == memberID {
		delete(g.static, *m.instanceID)
	}
	delete(g.members, memberID)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == memberID })
	if g.isLeader(memberID) {
		g.leaderID = nil
		if len(g.order) > 0 {
			id := g.order[0]
			g.leaderID = &id
		}
	}
}

// updateMember is GroupMetadata.updateMember: new protocols and the parked join (nil: none). A join that
// replaces a parked one (the client retried on another connection) answers the old one, whose connection
// would otherwise wait forever.
func (g *group) updateMember(m *member, ps []protocol, w *waiter[joinResult]) {
	for _, p := range m.protocols {
		g.protoCount[p.name]--
	}
	for _, p := range ps {
		g.protoCount[p.name]++
	}
	m.protocols = ps
	switch {
	case w != nil && m.awaitingJoin == nil:
		g.numAwaiting++
	case w == nil && m.awaitingJoin != nil:
		g.numAwaiting--
	case w != nil && m.awaitingJoin != nil:
		m.awaitingJoin.reply(joinError(m.id, kerr.RebalanceInProgress.Code))
	}
	m.awaitingJoin = w
}

// invokeJoin answers a member's parked join (GroupMetadata.maybeInvokeJoinCallback).
func (g *group) invokeJoin(m *member, r joinResult) bool {
	if m.awaitingJoin == nil {
		return false
	}
	m.awaitingJoin.reply(r)
	m.awaitingJoin = nil
	g.numAwaiting--
	return true
}

// invokeSync answers a member's parked sync (GroupMetadata.maybeInvokeSyncCallback).
func (g *group) invokeSync(m *member, r syncResult) bool {
	if m.awaitingSync == nil {
		return false
	}
	m.awaitingSync.reply(r)
	m.awaitingSync = nil
	return true
}

// hasAllMembersJoined: every member's join is parked and no MEMBER_ID_REQUIRED id is outstanding.
func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaiting && len(g.pending) == 0
}

// scheduleHeartbeat arms the member's expiry after timeout (Kafka's completeAndScheduleNextExpiration).
func (g *group) scheduleHeartbeat(m *member, timeout time.Duration) {
	if m.hbStop != nil {
		m.hbStop()
	}
	m.hbToken = g.nextToken()
	id, token := m.id, m.hbToken
	m.hbStop = g.after(timeout, func() { g.onHeartbeatExpired(id, token) })
}

func (g *group) completeAndScheduleNextHeartbeat(m *member) {
	g.scheduleHeartbeat(m, time.Duration(m.sessionTimeoutMs)*time.Millisecond)
}

// onHeartbeatExpired is DelayedHeartbeat.onExpiration: a member parked in a join (unless new) or a sync
// counts as alive — it is re-armed when the rebalance answers it; otherwise it is removed.
func (g *group) onHeartbeatExpired(memberID string, token uint64) {
	m, ok := g.members[memberID]
	if !ok || m.hbToken != token || g.state == stateDead {
		return
	}
	if !m.isNew && (m.awaitingJoin != nil || m.awaitingSync != nil) {
		return
	}
	g.log.WithField("member_id", memberID).Info("member failed to heartbeat within its session timeout; removing it")
	g.removeMemberAndUpdateGroup(m, "heartbeat expiration")
}

// addPending records a member id handed out with MEMBER_ID_REQUIRED; it is dropped unless the member
// joins with it within timeout.
func (g *group) addPending(memberID string, timeout time.Duration) {
	token := g.nextToken()
	g.pending[memberID] = token
	g.pendingStop[memberID] = g.after(timeout, func() {
		if g.pending[memberID] == token {
			g.log.WithField("member_id", memberID).Info("pending member did not rejoin within its session timeout")
			g.removePendingAndUpdateGroup(memberID)
		}
	})
}

func (g *group) removePending(memberID string) {
	if stop, ok := g.pendingStop[memberID]; ok {
		stop()
	}
	delete(g.pending, memberID)
	delete(g.pendingStop, memberID)
}

func (g *group) removePendingAndUpdateGroup(memberID string) {
	g.removePending(memberID)
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	}
}

// removeMemberAndUpdateGroup is GroupCoordinator.removeMemberAndUpdateGroup: a parked join is answered
// UNKNOWN_MEMBER_ID (the client rejoins if it is still alive), then the group rebalances or re-checks the
// rebalance in progress.
func (g *group) removeMemberAndUpdateGroup(m *member, reason string) {
	g.remove(m.id, kerr.UnknownMemberID.Code)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.maybePrepareRebalance(reason)
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

// unload is onGroupUnloaded: the group goes Dead, every parked join (PreparingRebalance) and sync
// (CompletingRebalance) is answered with code (NOT_COORDINATOR: the client finds the new coordinator), and
// the timers stop.
func (g *group) unload(code int16) {
	if g.state == stateDead {
		return
	}
	g.transition(stateDead)
	for _, id := range g.order {
		m := g.members[id]
		g.invokeJoin(m, joinError(m.id, code))
		g.invokeSync(m, syncResult{err: code})
	}
	g.stopTimers()
}

// generateMemberID is GroupMetadata.generateMemberId: "<client id or group instance id>-<UUID>".
func generateMemberID(clientID string, instanceID *string) string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// computeSubscribed is GroupMetadata.computeSubscribedTopics: the topics of a consumer group's members
// (parsed from their subscriptions); unknown for other protocol types or unparsable metadata.
func (g *group) computeSubscribed() {
	g.subscribed, g.subscribedOK = nil, false
	if g.protocolType == nil || *g.protocolType != "consumer" {
		return
	}
	if len(g.members) == 0 {
		g.subscribed, g.subscribedOK = map[string]bool{}, true
		return
	}
	if g.protocolName == nil {
		return
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		ts, err := SubscribedTopics(m.metadataFor(*g.protocolName))
		if err != nil {
			g.log.WithError(err).Warn("cannot parse a member's consumer subscription; offsets expire as for a non-consumer group")
			return
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	g.subscribed, g.subscribedOK = topics, true
}

// isSubscribedTo: unknown subscriptions count as subscribed (OffsetDelete then refuses, the safe side).
func (g *group) isSubscribedTo(topic string) bool {
	if !g.subscribedOK {
		return true
	}
	return g.subscribed[topic]
}
