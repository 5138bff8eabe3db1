//go:build integration

package integration

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards TCP connections to one upstream address. The ZooKeeper-cut test (reference 10 §6.2,
// "broker cut from ZooKeeper only") puts one in front of ZooKeeper for each broker through
// Options.ZooKeeperVia, so one broker can lose ZooKeeper while clients and peers still reach it.
//
// Cut silences the link the way a network partition does, without resets: bytes stop flowing both ways,
// connections stay open, and new connections are accepted but get nothing through. Heal closes every
// connection that lived through the cut (by then their peers have given up on them, as TCP peers would
// after a long partition) and forwards again.
type tcpProxy struct {
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	gate  chan struct{} // closed while the link forwards
	pairs map[*proxyPair]bool
	done  bool
	wg    sync.WaitGroup
}

type proxyPair struct {
	client, server net.Conn
	cut            bool // lived through a cut; guarded by tcpProxy.mu
	closed         chan struct{}
	once           sync.Once
}

func (p *proxyPair) close() {
	p.once.Do(func() {
		close(p.closed)
		_ = p.client.Close()
		_ = p.server.Close()
	})
}

// startTCPProxy listens on a free loopback port and forwards to upstream until the test ends.
func startTCPProxy(t testing.TB, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	open := make(chan struct{})
	close(open)
	p := &tcpProxy{ln: ln, upstream: upstream, gate: open, pairs: map[*proxyPair]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address to dial instead of upstream.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.DialTimeout("tcp", p.upstream, 2*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		pair := &proxyPair{client: client, server: server, closed: make(chan struct{})}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			pair.close()
			return
		}
		select {
		case <-p.gate:
		default:
			pair.cut = true
		}
		p.pairs[pair] = true
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pump(pair, client, server)
		go p.pump(pair, server, client)
	}
}

// pump copies src to dst, holding what it read while the link is cut.
func (p *tcpProxy) pump(pair *proxyPair, src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		pair.close()
		p.mu.Lock()
		delete(p.pairs, pair)
		p.mu.Unlock()
	}()
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			select {
			case <-gate:
			case <-pair.closed:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut silences the link (idempotent).
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
		// already cut
	}
	for pair := range p.pairs {
		pair.cut = true
	}
}

// Heal closes the connections that lived through the cut and forwards again (idempotent).
func (p *tcpProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pair := range p.pairs {
		if pair.cut {
			pair.close()
		}
	}
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// Close stops listening, closes every connection and waits for the pumps.
func (p *tcpProxy) Close() {
	p.mu.Lock()
	p.done = true
	_ = p.ln.Close()
	for pair := range p.pairs {
		pair.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// The proxy must forward, silence without closing, and after healing drop the old connections and forward new
// ones: the ZooKeeper-cut test's conclusions rest on it.
func TestTCPProxyForwardsSilencesAndHeals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // echo server
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	p := startTCPProxy(t, ln.Addr().String())
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	echo := func(c net.Conn, msg string, within time.Duration) error {
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(within))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != msg {
			t.Fatalf("echo %q, got %q", msg, buf)
		}
		return nil
	}
	old := dial()
	if err := echo(old, "before", 5*time.Second); err != nil {
		t.Fatalf("forwarding: %v", err)
	}
	p.Cut()
	// A bounded observation window: silence is the absence of an answer.
	var ne net.Error
	if err := echo(old, "during", 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("cut link answered or closed: %v", err)
	}
	during := dial() // accepted, but nothing goes through
	if err := echo(during, "new-during", 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("connection opened during the cut answered or closed: %v", err)
	}
	p.Heal()
	_ = old.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := old.Read(make([]byte, 64)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a connection that lived through the cut survived the heal: %v", err)
	}
	if err := echo(dial(), "after", 5*time.Second); err != nil {
		t.Fatalf("forwarding after heal: %v", err)
	}
}
