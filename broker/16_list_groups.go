package broker

// ListGroups, v0–v4 (Kafka 2.8's range). Lists the groups this broker coordinates (clients ask every
// broker), filtered by state names in v4. COORDINATOR_LOAD_IN_PROGRESS while an offsets partition loads,
// with the groups known so far.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	code, groups := b.groups.ListGroups(req.StatesFilter)
	resp.ErrorCode = code
	for _, g := range groups {
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState = g.GroupID, g.ProtocolType, g.State
		resp.Groups = append(resp.Groups, lg)
	}
	return Response{Msg: resp}, nil
}
