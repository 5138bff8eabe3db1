package broker

// ApiVersions, v0–v3 (Kafka 2.8's range).
//
// Answers the API table's ranges, so what is advertised is exactly what dispatch serves. An unsupported
// request version never reaches this handler: the connection answers it in the v0 layout with
// UNSUPPORTED_VERSION and ApiVersions' own range (KIP-511). v3 requests carry the client's software name and
// version; like Kafka we answer INVALID_REQUEST when they do not match Kafka's pattern. No feature flags are
// advertised (a ZooKeeper-mode 2.8 broker has none finalized).

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// softwareNamePattern is Kafka's ApiVersionsRequest.isValid pattern for client software name and version.
var softwareNamePattern = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleAPIVersions(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!softwareNamePattern.MatchString(req.ClientSoftwareName) ||
		!softwareNamePattern.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code // Kafka's error response carries no api keys
		return Response{Msg: resp}, nil
	}
	resp.ApiKeys = b.apis.versionsKeys
	return Response{Msg: resp}, nil
}
