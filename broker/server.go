package broker

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/broker/config"
)

// listener accepts connections for one `listeners` entry.
type listener struct {
	name string
	ln   net.Listener
	cfg  config.Listener
}

// bindListeners opens every configured listener before the broker registers, so port 0 resolves to a real
// port that can be advertised.
func bindListeners(ls []config.Listener) ([]*listener, error) {
	var out []*listener
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			for _, o := range out {
				_ = o.ln.Close()
			}
			return nil, err
		}
		out = append(out, &listener{name: l.Name, ln: ln, cfg: l})
	}
	return out, nil
}

// serve accepts connections until the listener is closed. Each connection runs on its own goroutine, so
// requests from different connections are handled in parallel.
func (b *Broker) serve(ctx context.Context, l *listener, wg *sync.WaitGroup) {
	defer wg.Done()
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			// Kafka keeps accepting after transient errors (EMFILE, ECONNABORTED): back off briefly.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			b.log.WithError(err).Warn("accept failed")
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
			if n := b.cfg.SocketSendBufferBytes; n > 0 {
				_ = tc.SetWriteBuffer(int(n))
			}
			if n := b.cfg.SocketReceiveBufferBytes; n > 0 {
				_ = tc.SetReadBuffer(int(n))
			}
		}
		c := &Conn{b: b, nc: nc, listener: l.name,
			log: b.log.WithFields(logrus.Fields{"listener": l.name, "client": nc.RemoteAddr().String()})}
		b.conns.add(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer b.conns.remove(c)
			c.serve(ctx)
		}()
	}
}
