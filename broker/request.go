package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
)

// Request is one parsed request on a connection. Byte slices inside Msg (Produce records) alias the
// connection's frame buffer and are valid only until the handler returns.
type Request struct {
	Header protocol.RequestHeader
	Msg    kmsg.Request
	Conn   *Conn
	Size   int // bytes of the request after the size prefix (Kafka's request.sizeInBytes, for quotas)
}

// ClientID is the request header's client id, "" when null (Kafka treats them alike).
func (r *Request) ClientID() string {
	if r.Header.ClientID == nil {
		return ""
	}
	return *r.Header.ClientID
}

// Response is what a handler answers. Exactly one of the forms is used:
//   - Msg: a kmsg response, encoded by the connection at the request's version;
//   - Chunks: a pre-encoded body (after the response header) of byte slices and log file ranges, which the
//     connection sends in order, the file ranges with sendfile (zero-copy Fetch);
//   - None: nothing is sent (acks=0 Produce).
type Response struct {
	Msg    kmsg.Response
	Chunks []Chunk
	None   bool
	// Throttle (quotas.go) keeps the connection from reading the client's next request for this long:
	// after sending the response when ClientThrottles (KIP-219 versions, the client waits too), else
	// before sending it (older versions, which only the broker throttles).
	Throttle        time.Duration
	ClientThrottles bool
}

// Chunk is a piece of a pre-encoded response body: Bytes, or when Bytes is nil, File.
type Chunk struct {
	Bytes []byte
	File  storage.FileRange
}

func (c Chunk) size() int64 {
	if c.Bytes != nil {
		return int64(len(c.Bytes))
	}
	return c.File.Length
}

// release frees every file range of a response that will not be (or was) sent.
func (r Response) release() {
	for _, c := range r.Chunks {
		if c.Bytes == nil && c.File.Release != nil {
			c.File.Release()
		}
	}
}

// handlerFunc serves one API. A returned error closes the connection (Kafka closes on requests it cannot
// make sense of); per-partition and per-request failures go in the response's error codes instead.
type handlerFunc func(b *Broker, ctx context.Context, r *Request) (Response, error)
