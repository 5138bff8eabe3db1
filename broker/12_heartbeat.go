package broker

// Heartbeat, v0–v4 (Kafka 2.8's range). Served by the group coordinator (reference 05 §7); while the
// group's partition loads, the answer is NONE, as Kafka's.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleHeartbeat(b *Broker, ctx context.Context, r *Request) (Response, error) {
	return Response{Msg: b.groups.Heartbeat(ctx, r.Msg.(*kmsg.HeartbeatRequest))}, nil
}
