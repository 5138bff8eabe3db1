package broker

// LeaveGroup, v0–v4 (Kafka 2.8's range). Served by the group coordinator (reference 05 §7): v3+ carry a
// batch of members (static ones may leave by instance id); before v3 the member's error is the top-level one.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleLeaveGroup(b *Broker, ctx context.Context, r *Request) (Response, error) {
	return Response{Msg: b.groups.LeaveGroup(ctx, r.Msg.(*kmsg.LeaveGroupRequest))}, nil
}
