package broker

// SyncGroup, v0–v5 (Kafka 2.8's range). Served by the group coordinator (reference 05 §6): followers are
// parked until the leader's assignment is written to __consumer_offsets; the broker only relays the
// assignments (eager and cooperative clients alike). v5 requires protocol type and name.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSyncGroup(b *Broker, ctx context.Context, r *Request) (Response, error) {
	return Response{Msg: b.groups.SyncGroup(ctx, r.Msg.(*kmsg.SyncGroupRequest))}, nil
}
