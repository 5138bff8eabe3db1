package group

// SyncGroup, Heartbeat and LeaveGroup on the group's goroutine (reference 05 §6, §7).

import (
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// syncRequest is a SyncGroup after the coordinator's checks, assignments copied.
type syncRequest struct {
	generation   int32
	memberID     string
	instanceID   *string
	protocolType *string // v5+
	protocolName *string // v5+
	assignments  map[string][]byte
}

// syncResult is Kafka's SyncGroupResult.
type syncResult struct {
	protocolType *string
	protocolName *string
	assignment   []byte
	err          int16
}

func (g *group) handleSync(r syncRequest, reply func(syncResult)) {
	fail := func(code int16) { reply(syncResult{err: code}) }
	switch {
	case g.state == stateDead:
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	case g.isStaticMemberFenced(r.memberID, r.instanceID):
		fail(kerr.FencedInstanceID.Code)
		return
	case !g.has(r.memberID):
		fail(kerr.UnknownMemberID.Code)
		return
	case r.generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case r.protocolType != nil && (g.protocolType == nil || *g.protocolType != *r.protocolType),
		r.protocolName != nil && (g.protocolName == nil || *g.protocolName != *r.protocolName):
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	m := g.members[r.memberID]
	switch g.state {
	case stateEmpty:
		fail(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		reply(syncResult{protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment})
		g.completeAndScheduleNextHeartbeat(m)
	case stateCompletingRebalance:
		if m.awaitingSync != nil {
			m.awaitingSync.reply(syncResult{err: kerr.RebalanceInProgress.Code}) // superseded by a retry
		}
		m.awaitingSync = &waiter[syncResult]{reply: reply}
		if !g.isLeader(m.id) {
			return
		}
		g.log.WithField("generation", g.generation).Info("assignment received from the leader")
		assignment := make(map[string][]byte, len(g.members))
		for id := range g.members {
			assignment[id] = r.assignments[id] // missing members get an empty assignment
		}
		gen := g.generation
		g.storeGroup(assignment, func(code int16) {
			// Another member may have joined meanwhile: act only if this rebalance is still the current one.
			if g.state != stateCompletingRebalance || g.generation != gen {
				return
			}
			if code != 0 {
				g.resetAndPropagateAssignmentError(code)
				g.maybePrepareRebalance("error storing the group assignment")
				return
			}
			g.setAndPropagateAssignment(assignment)
			g.transition(stateStable)
		})
	}
}

func (g *group) setAndPropagateAssignment(assignment map[string][]byte) {
	for id, m := range g.members {
		m.assignment = assignment[id]
	}
	g.propagateAssignment(0)
}

func (g *group) resetAndPropagateAssignmentError(code int16) {
	for _, m := range g.members {
		m.assignment = nil
	}
	g.propagateAssignment(code)
}

// propagateAssignment answers every parked sync and re-arms its member's expiry (a member whose session
// ran out while it waited for the leader was kept alive by the wait).
func (g *group) propagateAssignment(code int16) {
	for _, id := range g.order {
		m := g.members[id]
		r := syncResult{protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment, err: code}
		if code != 0 {
			r = syncResult{err: code}
		}
		if g.invokeSync(m, r) {
			g.completeAndScheduleNextHeartbeat(m)
		}
	}
}

// heartbeatRequest is a Heartbeat after the coordinator's checks.
type heartbeatRequest struct {
	generation int32
	memberID   string
	instanceID *string
}

func (g *group) handleHeartbeat(r heartbeatRequest) int16 {
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.isStaticMemberFenced(r.memberID, r.instanceID):
		return kerr.FencedInstanceID.Code
	case !g.has(r.memberID):
		return kerr.UnknownMemberID.Code
	case r.generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	m := g.members[r.memberID]
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		g.completeAndScheduleNextHeartbeat(m)
		return kerr.RebalanceInProgress.Code
	default: // CompletingRebalance: clients heartbeat right after the join answer; Stable
		g.completeAndScheduleNextHeartbeat(m)
		return 0
	}
}

// LeaveMember is one member of a LeaveGroup (v3+ batches; older versions send one member id).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// leaveResult is the top-level error and one error per member.
type leaveResult struct {
	err     int16
	members []int16
}

func (g *group) handleLeave(members []LeaveMember) leaveResult {
	if g.state == stateDead {
		return leaveResult{err: kerr.CoordinatorNotAvailable.Code}
	}
	out := leaveResult{members: make([]int16, len(members))}
	for i, lm := range members {
		out.members[i] = g.leaveOne(lm)
	}
	return out
}

func (g *group) leaveOne(lm LeaveMember) int16 {
	if lm.MemberID != "" && g.isStaticMemberFenced(lm.MemberID, lm.InstanceID) {
		return kerr.FencedInstanceID.Code
	}
	if _, ok := g.pending[lm.MemberID]; ok && lm.MemberID != "" {
		if lm.InstanceID != nil {
			return kerr.UnknownMemberID.Code // pending ids are never static
		}
		g.log.WithField("member_id", lm.MemberID).Info("pending member left the group")
		g.removePendingAndUpdateGroup(lm.MemberID)
		return 0
	}
	id := lm.MemberID
	if g.hasStatic(lm.InstanceID) {
		id = g.static[*lm.InstanceID] // static members may leave by instance id alone
	}
	m, ok := g.members[id]
	if !ok {
		return kerr.UnknownMemberID.Code
	}
	g.log.WithFields(logrus.Fields{"member_id": m.id, "instance_id": derefOr(m.instanceID, "")}).Info("member left the group")
	g.removeMemberAndUpdateGroup(m, "member left the group: "+m.id)
	return 0
}
