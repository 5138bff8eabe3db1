package group

// The coordinator's request API, called by the broker's handlers (one per API key). Each validates the
// group's status (GroupCoordinator.validateGroupStatus), then runs the request on the group's goroutine and
// waits for its answer; parked JoinGroup and SyncGroup requests wait until the rebalance answers them (or
// ctx ends: broker shutdown).

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client identifies the connection a request came on.
type Client struct {
	ID   string // request header client id
	Host string // Kafka's InetAddress.toString form, "/10.0.0.5"
}

func cloneBytes(b []byte) []byte { return append([]byte{}, b...) }

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

// JoinGroup serves JoinGroup v0-v7 (reference 05 §5).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, cl Client) *kmsg.JoinGroupResponse {
	res := c.joinGroup(ctx, req, cl)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode, resp.Generation, resp.LeaderID, resp.MemberID = res.err, res.generation, res.leaderID, res.memberID
	resp.ProtocolType, resp.Protocol = res.protocolType, res.protocolName
	if req.Version < 7 && resp.Protocol == nil {
		empty := "" // not nullable before v7
		resp.Protocol = &empty
	}
	for _, m := range res.members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, cl Client) joinResult {
	if req.InstanceID != nil && !c.cfg.StaticMembership {
		return joinError("", kerr.UnsupportedVersion.Code)
	}
	if code := c.validate(req.Group, false); code != 0 {
		return joinError(req.MemberID, code)
	}
	session := req.SessionTimeoutMillis
	if int64(session) < c.cfg.MinSessionTimeout.Milliseconds() || int64(session) > c.cfg.MaxSessionTimeout.Milliseconds() {
		return joinError(req.MemberID, kerr.InvalidSessionTimeout.Code)
	}
	rebalance := req.RebalanceTimeoutMillis
	if req.Version == 0 {
		rebalance = session // v0 has no rebalance timeout: the session timeout bounds the rebalance
	}
	jr := joinRequest{memberID: req.MemberID, instanceID: cloneString(req.InstanceID),
		requireKnownMember: req.Version >= 4 && req.InstanceID == nil,
		clientID:           cl.ID, clientHost: cl.Host, rebalanceTimeoutMs: rebalance, sessionTimeoutMs: session,
		protocolType: req.ProtocolType}
	for _, p := range req.Protocols {
		// Request byte fields alias the connection's buffer; members keep theirs for the group's life.
		jr.protocols = append(jr.protocols, protocol{name: p.Name, metadata: cloneBytes(p.Metadata)})
	}
	return onGroup(ctx, c, req.Group, req.MemberID == "",
		func(code int16) joinResult { return joinError(req.MemberID, code) },
		func() joinResult { return joinError(req.MemberID, kerr.UnknownMemberID.Code) },
		func(g *group, reply func(joinResult)) { g.handleJoin(jr, reply) })
}

// SyncGroup serves SyncGroup v0-v5 (reference 05 §6).
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	res := c.syncGroup(ctx, req)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode, resp.ProtocolType, resp.Protocol = res.err, res.protocolType, res.protocolName
	resp.MemberAssignment = res.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}

func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) syncResult {
	switch {
	case req.InstanceID != nil && !c.cfg.StaticMembership:
		return syncResult{err: kerr.UnsupportedVersion.Code}
	case req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil):
		return syncResult{err: kerr.InconsistentGroupProtocol.Code} // mandatory from v5
	}
	failed := func(code int16) syncResult {
		if code == kerr.CoordinatorLoadInProgress.Code {
			// The rebalance state was lost with the old coordinator: rejoin, without rediscovery (older
			// clients do not expect COORDINATOR_LOAD_IN_PROGRESS here).
			code = kerr.RebalanceInProgress.Code
		}
		return syncResult{err: code}
	}
	if code := c.validate(req.Group, false); code != 0 {
		return failed(code)
	}
	sr := syncRequest{generation: req.Generation, memberID: req.MemberID, instanceID: cloneString(req.InstanceID),
		protocolType: cloneString(req.ProtocolType), protocolName: cloneString(req.Protocol),
		assignments: make(map[string][]byte, len(req.GroupAssignment))}
	for _, a := range req.GroupAssignment {
		sr.assignments[a.MemberID] = cloneBytes(a.MemberAssignment)
	}
	return onGroup(ctx, c, req.Group, false, failed,
		func() syncResult { return syncResult{err: kerr.UnknownMemberID.Code} },
		func(g *group, reply func(syncResult)) { g.handleSync(sr, reply) })
}

// Heartbeat serves Heartbeat v0-v4 (reference 05 §7).
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(ctx, req)
	return resp
}

func (c *Coordinator) heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) int16 {
	if req.InstanceID != nil && !c.cfg.StaticMembership {
		return kerr.UnsupportedVersion.Code
	}
	failed := func(code int16) int16 {
		if code == kerr.CoordinatorLoadInProgress.Code {
			return 0 // the group is loading: answer blindly, as Kafka does
		}
		return code
	}
	if code := c.validate(req.Group, false); code != 0 {
		return failed(code)
	}
	hr := heartbeatRequest{generation: req.Generation, memberID: req.MemberID, instanceID: cloneString(req.InstanceID)}
	return onGroup(ctx, c, req.Group, false, failed,
		func() int16 { return kerr.UnknownMemberID.Code },
		func(g *group, reply func(int16)) { reply(g.handleHeartbeat(hr)) })
}

// LeaveGroup serves LeaveGroup v0-v4: v3+ carry a batch of members; before v3 the single member's error is
// the top-level one (reference 05 §7).
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	var members []LeaveMember
	if req.Version >= 3 {
		for _, m := range req.Members {
			members = append(members, LeaveMember{MemberID: m.MemberID, InstanceID: cloneString(m.InstanceID)})
		}
	} else {
		members = []LeaveMember{{MemberID: req.MemberID}}
	}
	res := c.leaveGroup(ctx, req.Group, members)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	resp.ErrorCode = res.err
	if req.Version < 3 {
		for _, code := range res.members {
			if resp.ErrorCode == 0 {
				resp.ErrorCode = code
			}
		}
		return resp
	}
	for i, code := range res.members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = members[i].MemberID, members[i].InstanceID, code
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

func (c *Coordinator) leaveGroup(ctx context.Context, groupID string, members []LeaveMember) leaveResult {
	for _, m := range members {
		if m.InstanceID != nil && !c.cfg.StaticMembership {
			return leaveResult{err: kerr.UnsupportedVersion.Code}
		}
	}
	if code := c.validate(groupID, false); code != 0 {
		return leaveResult{err: code}
	}
	return onGroup(ctx, c, groupID, false,
		func(code int16) leaveResult { return leaveResult{err: code} },
		func() leaveResult {
			out := leaveResult{members: make([]int16, len(members))}
			for i := range out.members {
				out.members[i] = kerr.UnknownMemberID.Code
			}
			return out
		},
		func(g *group, reply func(leaveResult)) { reply(g.handleLeave(members)) })
}

// CommitOffsets stores committed offsets (OffsetCommit v1+; the handler has already answered unknown
// partitions and computed timestamps). It returns one error code per partition, in order.
func (c *Coordinator) CommitOffsets(ctx context.Context, groupID, memberID string, instanceID *string, generation int32,
	parts []CommitPartition) []int16 {
	if instanceID != nil && !c.cfg.StaticMembership {
		return fillCodes(len(parts), kerr.UnsupportedVersion.Code)
	}
	if code := c.validate(groupID, true); code != 0 {
		return fillCodes(len(parts), code)
	}
	parts = slices.Clone(parts)
	cr := commitRequest{generation: generation, memberID: memberID, instanceID: cloneString(instanceID), partitions: parts}
	// A group that does not exist is created only for commits outside group management (generation < 0).
	return onGroup(ctx, c, groupID, generation < 0,
		func(code int16) commitResult { return fillCodes(len(parts), code) },
		func() commitResult { return fillCodes(len(parts), kerr.IllegalGeneration.Code) },
		func(g *group, reply func(commitResult)) { g.handleCommit(cr, reply) })
}

// FetchOffsets returns committed offsets (OffsetFetch v1+): the requested partitions, or every committed
// one when tps is nil; -1 for partitions without a commit, whatever the group's state (or existence).
func (c *Coordinator) FetchOffsets(ctx context.Context, groupID string, tps []TopicPartition, requireStable bool) (int16, []FetchedOffset) {
	type result struct {
		code    int16
		offsets []FetchedOffset
	}
	if code := c.validate(groupID, true); code != 0 {
		return code, nil
	}
	r := onGroup(ctx, c, groupID, false,
		func(code int16) result { return result{code: code} },
		func() result { return result{offsets: unknownOffsets(tps)} },
		func(g *group, reply func(result)) { reply(result{offsets: g.fetchOffsets(tps, requireStable)}) })
	return r.code, r.offsets
}

// DeleteOffsets serves OffsetDelete v0 (KIP-496): the group error, and per-partition errors in order.
func (c *Coordinator) DeleteOffsets(ctx context.Context, groupID string, tps []TopicPartition) (int16, []int16) {
	type result struct {
		code  int16
		codes []int16
	}
	if code := c.validate(groupID, false); code != 0 {
		return code, nil
	}
	r := onGroup(ctx, c, groupID, false,
		func(code int16) result { return result{code: code} },
		func() result { return result{code: kerr.GroupIDNotFound.Code} },
		func(g *group, reply func(result)) {
			g.deleteOffsets(tps, func(code int16, codes []int16) { reply(result{code, codes}) })
		})
	return r.code, r.codes
}

// MemberSummary describes one member (DescribeGroups).
type MemberSummary struct {
	MemberID   string
	InstanceID *string
	ClientID   string
	ClientHost string
	Metadata   []byte // only when Stable
	Assignment []byte // only when Stable
}

// GroupSummary is DescribeGroups' answer for one group.
type GroupSummary struct {
	Err          int16
	State        string
	ProtocolType string
	Protocol     string // only when Stable
	Members      []MemberSummary
}

// DescribeGroup summarizes a group; an unknown group is reported Dead with no error.
func (c *Coordinator) DescribeGroup(ctx context.Context, groupID string) GroupSummary {
	if code := c.validate(groupID, true); code != 0 {
		return GroupSummary{Err: code}
	}
	return onGroup(ctx, c, groupID, false,
		func(code int16) GroupSummary { return GroupSummary{Err: code} },
		func() GroupSummary { return GroupSummary{State: stateDead.String()} },
		func(g *group, reply func(GroupSummary)) { reply(g.summary()) })
}

func (g *group) summary() GroupSummary {
	s := GroupSummary{State: g.state.String(), ProtocolType: derefOr(g.protocolType, "")}
	stable := g.state == stateStable
	if stable {
		s.Protocol = derefOr(g.protocolName, "")
	}
	for _, id := range g.order {
		m := g.members[id]
		ms := MemberSummary{MemberID: id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			Metadata: []byte{}, Assignment: []byte{}}
		if stable {
			ms.Metadata, ms.Assignment = m.metadataFor(s.Protocol), m.assignment
			if ms.Assignment == nil {
				ms.Assignment = []byte{}
			}
		}
		s.Members = append(s.Members, ms)
	}
	return s
}

// GroupOverview is one group in ListGroups.
type GroupOverview struct {
	GroupID      string
	ProtocolType string
	State        string
}

// ListGroups lists the groups this broker coordinates, filtered by state names when states is not empty;
// the error is COORDINATOR_LOAD_IN_PROGRESS while any offsets partition loads (the list is still given).
func (c *Coordinator) ListGroups(states []string) (int16, []GroupOverview) {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return kerr.CoordinatorNotAvailable.Code, nil
	}
	var code int16
	for _, o := range c.owned {
		if o.loading {
			code = kerr.CoordinatorLoadInProgress.Code
		}
	}
	var out []GroupOverview
	for id, g := range c.groups {
		v := g.view.Load()
		if v.state == stateDead {
			continue
		}
		if len(states) > 0 && !slices.ContainsFunc(states, func(s string) bool { return strings.EqualFold(s, v.state.String()) }) {
			continue
		}
		out = append(out, GroupOverview{GroupID: id, ProtocolType: v.protocolType, State: v.state.String()})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b GroupOverview) int { return strings.Compare(a.GroupID, b.GroupID) })
	return code, out
}

// DeleteGroups deletes Empty groups with their offsets (tombstones written); one code per group.
func (c *Coordinator) DeleteGroups(ctx context.Context, groupIDs []string) []int16 {
	out := make([]int16, len(groupIDs))
	for i, id := range groupIDs {
		if code := c.validate(id, true); code != 0 {
			out[i] = code
			continue
		}
		out[i] = onGroup(ctx, c, id, false,
			func(code int16) int16 { return code },
			func() int16 { return kerr.GroupIDNotFound.Code },
			func(g *group, reply func(int16)) { g.deleteGroup(reply) })
	}
	return out
}
