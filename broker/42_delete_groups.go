package broker

// DeleteGroups, v0–v2 (Kafka 2.8's range). Only Empty groups are deleted (NON_EMPTY_GROUP otherwise,
// GROUP_ID_NOT_FOUND for unknown ones), with all their offsets; tombstones go to __consumer_offsets.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteGroups(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	codes := b.groups.DeleteGroups(ctx, req.Groups)
	for i, id := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group, g.ErrorCode = id, codes[i]
		resp.Groups = append(resp.Groups, g)
	}
	return Response{Msg: resp}, nil
}
