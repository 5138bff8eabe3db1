package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The client side of the wire, for inter-broker requests (the controller's LeaderAndIsr, UpdateMetadata and
// StopReplica; later ControlledShutdown and AlterIsr). Like the connections of Kafka's
// ControllerChannelManager it sends one request at a time and waits for its answer: no pipelining, so a
// response always belongs to the request just sent and a broken exchange simply closes the connection.

var (
	// ErrClientClosed: Request on a Client after Close, or after an earlier failure broke the connection.
	ErrClientClosed = errors.New("protocol: client connection closed")
	// ErrBadResponse: the response frame is too short, carries another correlation id, or its body does not
	// decode at the request's version.
	ErrBadResponse = errors.New("protocol: malformed response")
)

// DefaultMaxResponseSize bounds a response frame read by Client. Inter-broker responses are small (per-partition
// error codes); the bound only stops a confused peer from making us allocate gigabytes.
const DefaultMaxResponseSize = 100 << 20

// minResponseSize is the smallest response frame: a correlation id. (A v0 response with an empty body cannot
// exist, but UpdateMetadata v0-v5 answers are just 4+2 bytes, below ReadFrame's request minimum.)
const minResponseSize = 4

// Client is one connection to a Kafka broker. It is safe for concurrent use, but requests are serialised:
// one request at a time, each waiting for its response. Any error breaks the connection (its stream position
// is unknown): later requests return ErrClientClosed and the caller dials again.
type Client struct {
	clientID string
	addr     string
	timeout  time.Duration

	reqMu  sync.Mutex // serialises requests; held across the exchange
	corrID int32      // guarded by reqMu; correlation id of the next request
	wbuf   []byte     // guarded by reqMu; reused request buffer

	connMu sync.Mutex // never held across I/O, so Close interrupts a request in flight
	conn   net.Conn   // guarded by connMu; nil once closed or broken
}

// Dial connects to addr. timeout bounds the connection attempt and, later, each request when ctx has no
// earlier deadline (Kafka's controller.socket.timeout.ms and request.timeout.ms, both 30 s by default).
func Dial(ctx context.Context, addr string, clientID string, timeout time.Duration) (*Client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // small request/response exchanges
	}
	return &Client{clientID: clientID, addr: addr, timeout: timeout, conn: conn}, nil
}

// Addr returns the address given to Dial.
func (c *Client) Addr() string { return c.addr }

// Close closes the connection; a Request in flight fails with ErrClientClosed. Safe to call more than once.
func (c *Client) Close() error {
	c.connMu.Lock()
	conn := c.conn
	c.conn = nil
	c.connMu.Unlock()
	if conn == nil {
		return nil
	}
	return conn.Close()
}

// current returns the open connection, nil when closed or broken.
func (c *Client) current() net.Conn {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	return c.conn
}

// breakConn closes conn after a failure and reports whether Close had already taken it away.
func (c *Client) breakConn(conn net.Conn) (closedByClose bool) {
	c.connMu.Lock()
	closedByClose = c.conn != conn
	if !closedByClose {
		c.conn = nil
	}
	c.connMu.Unlock()
	_ = conn.Close()
	return closedByClose
}

// Request sends req at req.GetVersion() and returns the decoded response, of req.ResponseKind() at the same
// version. The request header version follows the request's flexibility (v2 flexible, v1 otherwise, v0 for
// ControlledShutdown v0); the response header is v1 (tagged fields) exactly when the response is flexible,
// except ApiVersions, whose response header is always v0. An ApiVersions answer in the v0 layout (KIP-511:
// the broker does not support the version asked) is decoded as v0, as Kafka's ApiVersionsResponse.parse does.
//
// ctx cancellation or deadline, or the client's timeout, aborts the exchange and breaks the connection.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	conn := c.current()
	if conn == nil {
		return nil, ErrClientClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	corr := c.corrID
	c.corrID++
	if c.corrID < 0 {
		c.corrID = 0 // correlation ids are non-negative int32s that wrap
	}
	hdr := RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: corr, ClientID: &c.clientID}
	c.wbuf = AppendRequest(c.wbuf[:0], hdr, req)

	body, err := c.exchange(ctx, conn, c.wbuf)
	if err == nil {
		var resp kmsg.Response
		if resp, err = decodeResponse(req, corr, body); err == nil {
			return resp, nil
		}
	}
	if c.breakConn(conn) {
		err = fmt.Errorf("%w: %v", ErrClientClosed, err)
	}
	return nil, fmt.Errorf("%s v%d with %s: %w", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, c.addr, err)
}

// exchange writes frame and reads the response frame, under the request deadline; a cancelled ctx poisons
// the deadline so that blocked I/O returns at once.
func (c *Client) exchange(ctx context.Context, conn net.Conn, frame []byte) ([]byte, error) {
	deadline, fromCtx := time.Now().Add(c.timeout), false
	if d, ok := ctx.Deadline(); ok && (c.timeout <= 0 || d.Before(deadline)) {
		deadline, fromCtx = d, true
	} else if c.timeout <= 0 {
		deadline = time.Time{} // no limit
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })

	_, err := conn.Write(frame)
	var body []byte
	if err == nil {
		// A fresh buffer per response: decoded byte fields (a Fetch response's records) alias it.
		body, err = readResponseFrame(conn, DefaultMaxResponseSize, nil)
	}
	if !stop() {
		// ctx ended: its callback may still be poisoning the deadline, so the connection is unusable
		// even if the exchange itself completed.
		return nil, ctx.Err()
	}
	if err != nil {
		var ne net.Error
		if fromCtx && errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %v", context.DeadlineExceeded, err) // the I/O deadline was ctx's
		}
		return nil, err
	}
	return body, nil
}

// decodeResponse checks the response header and decodes the body into req's response kind.
func decodeResponse(req kmsg.Request, corr int32, frame []byte) (kmsg.Response, error) {
	got := int32(binary.BigEndian.Uint32(frame))
	if got != corr {
		return nil, fmt.Errorf("%w: correlation id %d, want %d", ErrBadResponse, got, corr)
	}
	body := frame[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if req.Key() != apiVersionsKey && resp.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	if req.Key() == apiVersionsKey {
		return decodeAPIVersions(resp, body)
	}
	if err := readFrom(resp, body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	return resp, nil
}

// decodeAPIVersions follows Kafka's ApiVersionsResponse.parse: a broker that does not support the version
// asked answers UNSUPPORTED_VERSION in the v0 layout, so an error code 35, or a body that does not decode at
// the requested version, is read again as v0.
func decodeAPIVersions(resp kmsg.Response, body []byte) (kmsg.Response, error) {
	v := resp.GetVersion()
	if v > 0 && (len(body) < 2 || int16(binary.BigEndian.Uint16(body)) != unsupportedVersion) {
		if err := readFrom(resp, body); err == nil {
			return resp, nil
		}
	}
	v0 := new(kmsg.ApiVersionsResponse)
	if err := readFrom(v0, body); err != nil {
		return nil, fmt.Errorf("%w: ApiVersions: %v", ErrBadResponse, err)
	}
	return v0, nil
}

// readFrom decodes with kmsg, turning a decoder panic into an error.
func readFrom(resp kmsg.Response, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panic: %v", p)
		}
	}()
	return resp.ReadFrom(body)
}

// skipTags skips response header v1's tagged fields (none are defined; unknown ones are ignored).
func skipTags(b []byte) ([]byte, error) {
	count, b, ok := uvarint(b)
	if !ok {
		return nil, fmt.Errorf("%w: bad response header tag count", ErrBadResponse)
	}
	for i := uint32(0); i < count; i++ {
		var size uint32
		if _, b, ok = uvarint(b); ok {
			size, b, ok = uvarint(b)
		}
		if !ok || uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: bad response header tag %d of %d", ErrBadResponse, i, count)
		}
		b = b[size:]
	}
	return b, nil
}

// readResponseFrame is ReadFrame for responses: the smallest frame is a correlation id (4 bytes) rather than a
// request header, and a frame over maxSize is refused before its body is read.
func readResponseFrame(r io.Reader, maxSize int32, buf []byte) ([]byte, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	switch {
	case size < minResponseSize:
		return nil, fmt.Errorf("%w: response size %d", ErrInvalidFrame, size)
	case size > maxSize:
		return nil, fmt.Errorf("%w: response size %d > limit %d", ErrFrameTooLarge, size, maxSize)
	}
	n := int(size)
	if cap(buf) >= n || n <= chunkSize {
		body := buf[:0]
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, bodyErr(err)
		}
		return body, nil
	}
	return readChunked(r, n)
}
