package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
)

// Conn is one client connection. A single goroutine reads a request, runs its handler and writes the
// response before reading the next one: requests are handled one at a time and answered in order, which is
// what Kafka gets by muting a connection while a request is in flight, and it bounds what a pipelining
// client can make us buffer to one frame.
type Conn struct {
	b        *Broker
	nc       net.Conn
	listener string
	log      *logrus.Entry

	readBuf  []byte // frame buffer, reused between requests
	writeBuf []byte // response header/body buffer, reused
}

// ClientAddr is the remote address of the connection.
func (c *Conn) ClientAddr() net.Addr { return c.nc.RemoteAddr() }

// Listener is the name of the listener the connection arrived on (PLAINTEXT, ...).
func (c *Conn) Listener() string { return c.listener }

// maxRetainedBuffer: buffers grown past this by one large request are dropped afterwards, so an idle
// connection does not pin a 100 MiB frame's memory.
const maxRetainedBuffer = 1 << 20

func (c *Conn) serve(ctx context.Context) {
	defer c.nc.Close()
	for {
		if ctx.Err() != nil {
			return
		}
		if idle := c.b.cfg.ConnectionsMaxIdleMs; idle > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(time.Duration(idle) * time.Millisecond))
		}
		frame, err := protocol.ReadFrame(c.nc, c.b.cfg.SocketRequestMaxBytes, c.readBuf)
		if err != nil {
			c.logClose("read frame", err)
			return
		}
		_ = c.nc.SetReadDeadline(time.Time{})
		if err := c.handle(ctx, frame); err != nil {
			c.logClose("request", err)
			return
		}
		c.readBuf = frame[:0]
		if cap(c.readBuf) > maxRetainedBuffer {
			c.readBuf = nil
		}
		if cap(c.writeBuf) > maxRetainedBuffer {
			c.writeBuf = nil
		}
	}
}

func (c *Conn) logClose(what string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		c.log.WithError(err).Debug("connection closed")
		return
	}
	c.log.WithError(err).Info("closing connection: " + what)
}

// handle parses and serves one frame. An error closes the connection.
func (c *Conn) handle(ctx context.Context, frame []byte) error {
	hdr, msg, err := protocol.ParseRequest(frame, c.b.apis.supported)
	if err != nil {
		if errors.Is(err, protocol.ErrUnsupportedVersion) && hdr.APIKey == apiVersionsKey {
			// KIP-511: answer in the v0 layout so the client can retry with a version we know.
			c.writeBuf = protocol.AppendUnsupportedVersionAPIVersions(c.writeBuf[:0], hdr, c.b.apis.apiVersionsOnly)
			_, werr := c.nc.Write(c.writeBuf)
			return werr
		}
		return err
	}
	entry := c.b.apis.lookup(hdr.APIKey)
	req := &Request{Header: hdr, Msg: msg, Conn: c, Size: len(frame)}
	if c.log.Logger.IsLevelEnabled(logrus.DebugLevel) {
		c.log.WithFields(logrus.Fields{"api_key": hdr.APIKey, "api_version": hdr.APIVersion,
			"correlation_id": hdr.CorrelationID}).Debug("request")
	}
	resp, err := entry.handle(c.b, ctx, req)
	if err != nil {
		resp.release()
		return fmt.Errorf("api %d v%d: %w", hdr.APIKey, hdr.APIVersion, err)
	}
	if resp.Throttle <= 0 {
		return c.write(hdr, resp)
	}
	// Quota throttling mutes the connection: one request at a time, so not reading is muting.
	if resp.ClientThrottles {
		if err := c.write(hdr, resp); err != nil {
			return err
		}
		return waitThrottle(ctx, resp.Throttle)
	}
	if err := waitThrottle(ctx, resp.Throttle); err != nil {
		resp.release()
		return err
	}
	return c.write(hdr, resp)
}

// waitThrottle waits out a quota throttle, or until the broker stops.
func waitThrottle(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write sends one response frame: header and bytes with writev, file ranges with sendfile.
func (c *Conn) write(hdr protocol.RequestHeader, resp Response) error {
	defer resp.release()
	switch {
	case resp.None:
		return nil
	case resp.Msg != nil:
		c.writeBuf = protocol.AppendResponse(c.writeBuf[:0], hdr, resp.Msg)
		_, err := c.nc.Write(c.writeBuf)
		return err
	}
	c.writeBuf = protocol.BeginResponse(c.writeBuf[:0], hdr)
	var extra int64
	for _, ch := range resp.Chunks {
		extra += ch.size()
	}
	protocol.SetSize(c.writeBuf, extra)
	pending := net.Buffers{c.writeBuf}
	for _, ch := range resp.Chunks {
		if ch.Bytes != nil {
			pending = append(pending, ch.Bytes)
			continue
		}
		if ch.File.Length == 0 {
			continue
		}
		if _, err := pending.WriteTo(c.nc); err != nil {
			return err
		}
		pending = pending[:0]
		if err := sendFile(c.nc, ch.File); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		_, err := pending.WriteTo(c.nc)
		return err
	}
	return nil
}

// sendfileDisabled turns zero-copy off (SAMSA_FETCH_SENDFILE=0), so `make bench` can measure what
// sendfile buys. It is a benchmark switch, not a Kafka property.
var sendfileDisabled = os.Getenv("SAMSA_FETCH_SENDFILE") == "0"

// sendFile copies a log file range to the socket: sendfile(2) with an explicit offset (storage's
// FileRange.WriteTo), so record bytes never enter user space and concurrent readers of one segment never
// share a file position.
func sendFile(nc net.Conn, fr storage.FileRange) error {
	if sendfileDisabled {
		// struct{io.Writer} hides TCPConn.ReadFrom, which would use sendfile behind io.Copy's back.
		_, err := io.Copy(struct{ io.Writer }{nc}, io.NewSectionReader(fr.File, fr.Position, fr.Length))
		return err
	}
	_, err := fr.WriteTo(nc)
	return err
}

// connTracker remembers open connections so shutdown can close them.
type connTracker struct {
	mu    sync.Mutex
	conns map[*Conn]struct{}
}

func (t *connTracker) add(c *Conn) {
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[*Conn]struct{})
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *connTracker) remove(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *connTracker) closeAll() {
	t.mu.Lock()
	for c := range t.conns {
		_ = c.nc.Close()
	}
	t.mu.Unlock()
}
