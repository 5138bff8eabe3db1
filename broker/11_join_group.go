package broker

// JoinGroup, v0–v7 (Kafka 2.8's range). Served by the group coordinator (broker/group, reference 05 §5):
// v4+ dynamic members get MEMBER_ID_REQUIRED first (KIP-394), v5+ may be static (group.instance.id,
// KIP-345), v7 answers the protocol type. The request is parked until the rebalance completes, which
// holds this connection (Kafka mutes it likewise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleJoinGroup(b *Broker, ctx context.Context, r *Request) (Response, error) {
	return Response{Msg: b.groups.JoinGroup(ctx, r.Msg.(*kmsg.JoinGroupRequest), groupClient(r))}, nil
}
