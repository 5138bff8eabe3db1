package group

// JoinGroup and the rebalance (GroupCoordinator.handleJoinGroup, prepareRebalance, onCompleteJoin), run on
// the group's goroutine. Reference 05 §5 and §8.

import (
	"sort"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// joinRequest is a JoinGroup after the coordinator's checks, with its byte fields copied.
type joinRequest struct {
	memberID           string
	instanceID         *string
	requireKnownMember bool // v4+ without group instance id (KIP-394)
	clientID           string
	clientHost         string
	rebalanceTimeoutMs int32
	sessionTimeoutMs   int32
	protocolType       string
	protocols          []protocol
}

// JoinMember is one member in the leader's JoinGroup answer.
type JoinMember struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// joinResult is Kafka's JoinGroupResult.
type joinResult struct {
	members      []JoinMember
	memberID     string
	generation   int32
	protocolType *string
	protocolName *string
	leaderID     string
	err          int16
}

func joinError(memberID string, code int16) joinResult {
	return joinResult{memberID: memberID, generation: -1, err: code}
}

// handleJoin is the part of handleJoinGroup that runs with the group: the size cap, then unknown or known
// member, then an attempt to complete the rebalance.
func (g *group) handleJoin(r joinRequest, reply func(joinResult)) {
	w := &waiter[joinResult]{reply: reply}
	switch {
	case !g.acceptJoiningMember(r.memberID):
		if m, ok := g.members[r.memberID]; ok {
			g.remove(m.id, kerr.GroupMaxSizeReached.Code)
		}
		reply(joinError("", kerr.GroupMaxSizeReached.Code))
	case r.memberID == "":
		g.doUnknownJoin(r, w)
	default:
		g.doJoin(r, w)
	}
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	}
}

// acceptJoiningMember is GroupCoordinator.acceptJoiningMember (group.max.size): while preparing, members
// already parked and new ones up to the cap by parked count (so the last rejoiners of an oversized group
// are the ones refused); later, known members and new ones up to the cap by size.
func (g *group) acceptJoiningMember(memberID string) bool {
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		m, ok := g.members[memberID]
		return (ok && m.awaitingJoin != nil) || g.numAwaiting < g.c.cfg.MaxSize
	}
	return g.has(memberID) || len(g.members) < g.c.cfg.MaxSize
}

func (g *group) doUnknownJoin(r joinRequest, w *waiter[joinResult]) {
	switch {
	case g.state == stateDead:
		// Removed meanwhile (unloaded, deleted): the client finds the coordinator again and rejoins.
		w.reply(joinError("", kerr.CoordinatorNotAvailable.Code))
	case !g.supportsProtocols(r.protocolType, r.protocols):
		w.reply(joinError("", kerr.InconsistentGroupProtocol.Code))
	default:
		newID := generateMemberID(r.clientID, r.instanceID)
		switch {
		case g.hasStatic(r.instanceID):
			g.updateStaticMemberAndRebalance(newID, r, w)
		case r.requireKnownMember:
			// KIP-394: the member must come back with this id, so a client whose JoinGroup times out does
			// not leave an orphan member behind.
			g.addPending(newID, time.Duration(r.sessionTimeoutMs)*time.Millisecond)
			w.reply(joinError(newID, kerr.MemberIDRequired.Code))
		default:
			g.addMemberAndRebalance(newID, r, w)
		}
	}
}

func (g *group) doJoin(r joinRequest, w *waiter[joinResult]) {
	switch {
	case g.state == stateDead:
		w.reply(joinError(r.memberID, kerr.CoordinatorNotAvailable.Code))
		return
	case !g.supportsProtocols(r.protocolType, r.protocols):
		w.reply(joinError(r.memberID, kerr.InconsistentGroupProtocol.Code))
		return
	}
	if _, ok := g.pending[r.memberID]; ok {
		if r.instanceID != nil {
			// Pending ids are only handed to dynamic members; a static one presenting it is confused.
			w.reply(joinError(r.memberID, kerr.UnknownMemberID.Code))
			return
		}
		g.addMemberAndRebalance(r.memberID, r, w)
		return
	}
	switch {
	case g.isStaticMemberFenced(r.memberID, r.instanceID):
		w.reply(joinError(r.memberID, kerr.FencedInstanceID.Code))
		return
	case !g.has(r.memberID) || (r.instanceID != nil && !g.hasStatic(r.instanceID)):
		w.reply(joinError(r.memberID, kerr.UnknownMemberID.Code))
		return
	}
	m := g.members[r.memberID]
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(m, r.protocols, w, "member rejoined during the rebalance")
	case stateCompletingRebalance:
		if m.matches(r.protocols) {
			// The member missed the JoinGroup answer: answer again with the current generation.
			w.reply(g.currentJoinResult(m.id, g.isLeader(m.id)))
		} else {
			g.updateMemberAndRebalance(m, r.protocols, w, "member changed its metadata")
		}
	case stateStable:
		if g.isLeader(m.id) || !m.matches(r.protocols) {
			// A leader's join rebalances even unchanged: it is how a consumer leader reacts to metadata
			// changes (new partitions, topics matching a pattern) that members' subscriptions do not show.
			g.updateMemberAndRebalance(m, r.protocols, w, "leader rejoined or member changed its metadata")
		} else {
			w.reply(g.currentJoinResult(m.id, false))
		}
	default: // Empty: a member id without members
		w.reply(joinError(r.memberID, kerr.UnknownMemberID.Code))
	}
}

// currentJoinResult answers with the current generation; withMembers for the leader.
func (g *group) currentJoinResult(memberID string, withMembers bool) joinResult {
	r := joinResult{memberID: memberID, generation: g.generation, protocolType: g.protocolType,
		protocolName: g.protocolName, leaderID: g.leaderOrEmpty()}
	if withMembers {
		r.members = g.currentMemberMetadata()
	}
	return r
}

// currentMemberMetadata is every member with its metadata for the selected protocol.
func (g *group) currentMemberMetadata() []JoinMember {
	out := make([]JoinMember, 0, len(g.order))
	for _, id := range g.order {
		m := g.members[id]
		out = append(out, JoinMember{MemberID: id, InstanceID: m.instanceID, Metadata: m.metadataFor(derefOr(g.protocolName, ""))})
	}
	return out
}

func derefOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

// addMemberAndRebalance adds a new member (isNew: its parked join times out after NewMemberJoinTimeout,
// not its session timeout, since it cannot heartbeat while parked) and rebalances.
func (g *group) addMemberAndRebalance(memberID string, r joinRequest, w *waiter[joinResult]) {
	m := &member{id: memberID, instanceID: r.instanceID, clientID: r.clientID, clientHost: r.clientHost,
		rebalanceTimeoutMs: r.rebalanceTimeoutMs, sessionTimeoutMs: r.sessionTimeoutMs,
		protocolType: r.protocolType, protocols: r.protocols, isNew: true}
	if g.state == statePreparingRebalance && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, w)
	g.scheduleHeartbeat(m, NewMemberJoinTimeout)
	if m.instanceID != nil {
		g.static[*m.instanceID] = memberID
	} else {
		g.removePending(memberID)
	}
	g.maybePrepareRebalance("adding new member " + memberID)
}

func (g *group) updateMemberAndRebalance(m *member, ps []protocol, w *waiter[joinResult], reason string) {
	g.updateMember(m, ps, w)
	g.maybePrepareRebalance(reason + ": " + m.id)
}

// updateStaticMemberAndRebalance is a known static instance rejoining with an unknown member id (a
// restart, KIP-345): it takes over the old member's place under a new id, fencing whatever the old id
// had parked. In Stable with an unchanged protocol choice there is no rebalance: the new id is persisted
// and the member gets the current generation with the old leader id (so it does not believe it leads).
func (g *group) updateStaticMemberAndRebalance(newID string, r joinRequest, w *waiter[joinResult]) {
	oldID := g.static[*r.instanceID]
	currentLeader := g.leaderOrEmpty()
	g.log.WithFields(logrus.Fields{"instance_id": *r.instanceID, "member_id": newID, "old_member_id": oldID}).
		Info("static member rejoined with an unknown member id; replacing the old member id")
	m := g.replaceGroupInstance(oldID, newID, *r.instanceID)
	oldProtocols := m.protocols
	g.completeAndScheduleNextHeartbeat(m)
	g.updateMember(m, r.protocols, w)
	switch g.state {
	case stateStable:
		if g.protocolName != nil && g.selectProtocol() == *g.protocolName {
			gen := g.generation
			g.storeGroup(g.assignments(), func(code int16) {
				cur, ok := g.members[newID]
				if !ok || cur.awaitingJoin != w {
					return // a rebalance took the join over (and answers it) or the member went
				}
				if code == 0 {
					g.invokeJoin(cur, joinResult{memberID: newID, generation: g.generation,
						protocolType: g.protocolType, protocolName: g.protocolName, leaderID: currentLeader})
					return
				}
				g.log.WithField("error", kerr.ErrorForCode(code)).Warn("persisting the static member's new id failed; reverting")
				if g.state == stateStable && g.generation == gen {
					g.updateMember(cur, oldProtocols, nil)
					old := g.replaceGroupInstance(newID, oldID, *r.instanceID)
					g.completeAndScheduleNextHeartbeat(old)
				} else {
					g.updateMember(cur, cur.protocols, nil)
				}
				w.reply(joinResult{memberID: "", generation: g.generation, protocolType: g.protocolType,
					protocolName: g.protocolName, leaderID: currentLeader, err: code})
			})
		} else {
			g.maybePrepareRebalance("static member " + newID + " rejoined with a change of protocol")
		}
	case stateCompletingRebalance:
		// The old id may already be in the leader's assignment: only a new rebalance assigns the new one.
		g.prepareRebalance("static member " + newID + " rejoined while the group awaited the assignment")
	case statePreparingRebalance:
		// parked: the rebalance answers it
	default:
		g.invokeJoin(m, joinError("", kerr.UnknownMemberID.Code))
	}
}

// replaceGroupInstance moves a static member to a new member id, fencing the old id's parked requests.
func (g *group) replaceGroupInstance(oldID, newID, instanceID string) *member {
	m := g.members[oldID]
	g.invokeJoin(m, joinError(oldID, kerr.FencedInstanceID.Code))
	g.invokeSync(m, syncResult{err: kerr.FencedInstanceID.Code})
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	for i, id := range g.order {
		if id == oldID {
			g.order[i] = newID
		}
	}
	if g.isLeader(oldID) {
		g.leaderID = &newID
	}
	g.static[instanceID] = newID
	return m
}

// assignments is every member's current assignment.
func (g *group) assignments() map[string][]byte {
	out := make(map[string][]byte, len(g.members))
	for id, m := range g.members {
		out[id] = m.assignment
	}
	return out
}

func (g *group) maybePrepareRebalance(reason string) {
	if g.canRebalance() {
		g.prepareRebalance(reason)
	}
}

// delayedJoin is the rebalance timer (Kafka's DelayedJoin / InitialDelayedJoin in the join purgatory).
type delayedJoin struct {
	initial   bool  // InitialDelayedJoin: never completes early, may be extended by new members
	delay     int64 // ms, initial only
	remaining int64 // ms of rebalance timeout left to extend into, initial only
	token     uint64
	stop      func() bool
}

// prepareRebalance answers parked syncs REBALANCE_IN_PROGRESS (from CompletingRebalance) and starts the
// join phase: from Empty with group.initial.rebalance.delay.ms (extended while new members keep coming,
// up to the rebalance timeout), otherwise with the rebalance timeout, completing early once everyone joined.
func (g *group) prepareRebalance(reason string) {
	if g.state == stateCompletingRebalance {
		g.resetAndPropagateAssignmentError(kerr.RebalanceInProgress.Code)
	}
	var dj *delayedJoin
	if g.state == stateEmpty {
		delay := g.c.cfg.InitialRebalanceDelay.Milliseconds()
		dj = &delayedJoin{initial: true, delay: delay, remaining: max(g.rebalanceTimeoutMs()-delay, 0)}
	} else {
		dj = &delayedJoin{delay: g.rebalanceTimeoutMs()}
	}
	g.transition(statePreparingRebalance)
	g.log.WithFields(logrus.Fields{"generation": g.generation, "reason": reason}).Info("preparing to rebalance group")
	g.scheduleJoin(dj)
	if !dj.initial {
		g.tryCompleteJoin()
	}
}

func (g *group) scheduleJoin(dj *delayedJoin) {
	g.cancelJoin()
	dj.token = g.nextToken()
	token := dj.token
	dj.stop = g.after(time.Duration(dj.delay)*time.Millisecond, func() { g.onJoinTimer(token) })
	g.join = dj
}

func (g *group) cancelJoin() {
	if g.join != nil {
		g.join.stop()
		g.join = nil
	}
}

// onJoinTimer: an initial delay is extended while members keep arriving (InitialDelayedJoin.onComplete);
// otherwise the join completes with whoever joined.
func (g *group) onJoinTimer(token uint64) {
	dj := g.join
	if dj == nil || dj.token != token {
		return
	}
	g.join = nil
	if dj.initial && g.newMemberAdded && dj.remaining != 0 {
		g.newMemberAdded = false
		delay := min(g.c.cfg.InitialRebalanceDelay.Milliseconds(), dj.remaining)
		g.scheduleJoin(&delayedJoin{initial: true, delay: delay, remaining: max(dj.remaining-dj.delay, 0)})
		return
	}
	g.onCompleteJoin()
}

// tryCompleteJoin completes a (non-initial) join once all members have rejoined.
func (g *group) tryCompleteJoin() {
	if g.join != nil && !g.join.initial && g.hasAllMembersJoined() {
		g.cancelJoin()
		g.onCompleteJoin()
	}
}

// onCompleteJoin is GroupCoordinator.onCompleteJoin: dynamic members that did not rejoin are removed
// (static ones stay), a leader that did not rejoin is replaced by one that did, the next generation starts
// and every parked join is answered (members' metadata to the leader only).
func (g *group) onCompleteJoin() {
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if m.awaitingJoin == nil && m.instanceID == nil {
			g.log.WithField("member_id", id).Info("member did not rejoin before the rebalance timeout; removing it")
			g.remove(id, kerr.UnknownMemberID.Code)
		}
	}
	if g.state == stateDead {
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait for their session expiry to remove them.
		g.log.Error("could not complete the rebalance because no members rejoined")
		g.scheduleJoin(&delayedJoin{delay: g.rebalanceTimeoutMs()})
		return
	}
	g.initNextGeneration()
	if g.state == stateEmpty {
		g.log.WithField("generation", g.generation).Info("group is now empty")
		g.storeGroup(nil, func(code int16) {
			if code != 0 {
				// Harmless: an empty generation has no members to confuse; the next rebalance writes again.
				g.log.WithField("error", kerr.ErrorForCode(code)).Warn("failed to write the empty group metadata")
			}
		})
		return
	}
	g.log.WithFields(logrus.Fields{"generation": g.generation, "protocol": derefOr(g.protocolName, ""),
		"members": len(g.members)}).Info("stabilized group")
	for _, id := range g.order {
		m := g.members[id]
		g.invokeJoin(m, g.currentJoinResult(id, g.isLeader(id)))
		g.completeAndScheduleNextHeartbeat(m)
		m.isNew = false
	}
}

// maybeElectNewJoinedLeader keeps a leader that rejoined, else picks a member that did; false if none did.
func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leaderID == nil {
		return false
	}
	if m, ok := g.members[*g.leaderID]; ok && m.awaitingJoin != nil {
		return true
	}
	for _, id := range g.order {
		if g.members[id].awaitingJoin != nil {
			id := id
			g.leaderID = &id
			return true
		}
	}
	return false
}

// initNextGeneration bumps the generation and picks the protocol (CompletingRebalance), or goes Empty
// without members.
func (g *group) initNextGeneration() {
	g.generation++
	if len(g.members) > 0 {
		p := g.selectProtocol()
		g.protocolName = &p
		g.computeSubscribed()
		g.transition(stateCompletingRebalance)
		return
	}
	g.protocolName = nil
	g.computeSubscribed()
	g.transition(stateEmpty)
}

// selectProtocol is GroupMetadata.selectProtocol: among the protocols every member supports, each member
// votes for its most preferred; the most votes win. Kafka breaks ties arbitrarily; we take the name that
// sorts first, so the choice is deterministic.
func (g *group) selectProtocol() string {
	candidates := map[string]bool{}
	for name, n := range g.protoCount {
		if n == len(g.members) && n > 0 {
			candidates[name] = true
		}
	}
	votes := map[string]int{}
	for _, m := range g.members {
		if v := m.vote(candidates); v != "" {
			votes[v]++
		}
	}
	names := make([]string, 0, len(votes))
	for n := range votes {
		names = append(names, n)
	}
	sort.Strings(names)
	best := ""
	for _, n := range names {
		if best == "" || votes[n] > votes[best] {
			best = n
		}
	}
	return best
}
