package broker

// DescribeGroups, v0–v5 (Kafka 2.8's range). Each group is described by this broker's coordinator (clients
// send each group to its coordinator): state, protocol type, the protocol and members' metadata and
// assignments only when Stable. An unknown group is Dead with no error. Authorized operations (v3+), when
// asked for, are every group operation (READ, DELETE, DESCRIBE): there is no authorizer.

import (
	"context"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allGroupOperations is Kafka's bit field of the group ACL operations READ (3), DELETE (6), DESCRIBE (8).
const allGroupOperations = 1<<3 | 1<<6 | 1<<8

func handleDescribeGroups(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		s := b.groups.DescribeGroup(ctx, id)
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group, g.ErrorCode, g.State, g.ProtocolType, g.Protocol = id, s.Err, s.State, s.ProtocolType, s.Protocol
		g.AuthorizedOperations = math.MinInt32 // "not requested"
		if req.IncludeAuthorizedOperations {
			g.AuthorizedOperations = allGroupOperations
		}
		for _, m := range s.Members {
			gm := kmsg.NewDescribeGroupsResponseGroupMember()
			gm.MemberID, gm.InstanceID, gm.ClientID, gm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			gm.ProtocolMetadata, gm.MemberAssignment = m.Metadata, m.Assignment
			g.Members = append(g.Members, gm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return Response{Msg: resp}, nil
}
