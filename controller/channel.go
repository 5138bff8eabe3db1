package controller

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/zkregistry"
)

// The channel manager (Kafka's ControllerChannelManager, reference 02 §1): per live broker an unbounded FIFO
// queue and one sender goroutine with its own connection to the broker's inter-broker endpoint. A request is
// retried, reconnecting after RetryBackoff, until the broker answers or is removed; so requests to one broker
// arrive in order, exactly once per connection that answers. Answers are posted to the event loop.
//
// The manager itself belongs to the event loop; only the queues are shared with the senders.

type channelManager struct {
	c       *Controller
	term    uint64
	senders map[int32]*brokerSender
}

func newChannelManager(c *Controller, term uint64) *channelManager {
	return &channelManager{c: c, term: term, senders: make(map[int32]*brokerSender)}
}

// add starts a sender for the broker's inter-broker endpoint (replacing any previous one).
func (m *channelManager) add(info zkregistry.BrokerInfo) {
	m.remove(info.ID)
	ep, ok := info.Endpoint(m.c.cfg.InterBrokerListener)
	if !ok {
		m.c.log.WithFields(logrus.Fields{"target_broker": info.ID, "listener": m.c.cfg.InterBrokerListener}).
			Error("broker has no endpoint for the inter-broker listener; requests to it are dropped")
		return
	}
	ctx, cancel := context.WithCancel(m.c.loopCtx)
	s := &brokerSender{
		c: m.c, id: info.ID, addr: net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), term: m.term,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		log: m.c.log.WithField("target_broker", info.ID),
	}
	m.senders[info.ID] = s
	m.c.goroutine(s.run)
}

// remove stops the broker's sender, dropping what is queued; an exchange in flight is aborted.
func (m *channelManager) remove(id int32) {
	s := m.senders[id]
	if s == nil {
		return
	}
	delete(m.senders, id)
	s.cancel()
	<-s.done
}

func (m *channelManager) stopAll() {
	for _, s := range m.senders {
		s.cancel()
	}
	for id, s := range m.senders {
		<-s.done
		delete(m.senders, id)
	}
}

// send queues req for broker id; without a sender (no endpoint) it is dropped.
func (m *channelManager) send(id int32, req kmsg.Request) {
	s := m.senders[id]
	if s == nil {
		m.c.log.WithFields(logrus.Fields{"target_broker": id, "api_key": req.Key()}).Debug("no channel, request dropped")
		return
	}
	s.enqueue(req)
}

type brokerSender struct {
	c      *Controller
	id     int32
	addr   string
	term   uint64
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	log    *logrus.Entry

	mu    sync.Mutex
	queue []kmsg.Request // guarded by mu
	wake  chan struct{}  // capacity 1: "the queue may be non-empty"
}

func (s *brokerSender) enqueue(req kmsg.Request) {
	s.mu.Lock()
	s.queue = append(s.queue, req)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next waits for the oldest queued request; false when the sender is stopped.
func (s *brokerSender) next() (kmsg.Request, bool) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			req := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return req, true
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.ctx.Done():
			return nil, false
		}
	}
}

func (s *brokerSender) run() {
	defer close(s.done)
	var conn BrokerConn
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	failures := 0
	for {
		req, ok := s.next()
		if !ok {
			return
		}
		var resp kmsg.Response
		for {
			var err error
			if conn == nil {
				conn, err = s.c.dial(s.ctx, s.addr)
			}
			if err == nil {
				if resp, err = conn.Request(s.ctx, req); err == nil {
					break
				}
				_ = conn.Close()
				conn = nil
			}
			if s.ctx.Err() != nil {
				return
			}
			failures++
			entry := s.log.WithFields(logrus.Fields{"addr": s.addr, "api_key": req.Key(), "attempt": failures, "error": err})
			if failures == 1 {
				entry.Warn("request to broker failed, retrying")
			} else {
				entry.Debug("request to broker failed, retrying")
			}
			if !s.sleep(s.c.cfg.RetryBackoff) {
				return
			}
		}
		if failures > 0 {
			s.log.WithFields(logrus.Fields{"addr": s.addr, "failed_attempts": failures}).Info("broker reachable again")
			failures = 0
		}
		s.c.post(s.ctx, brokerResponse{termed: termed{s.term}, broker: s.id, req: req, resp: resp})
	}
}

func (s *brokerSender) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// dial connects to a broker with the configured hook or protocol.Dial. Kafka's controller uses its broker
// id as the client id.
func (c *Controller) dial(ctx context.Context, addr string) (BrokerConn, error) {
	if c.cfg.Dial != nil {
		return c.cfg.Dial(ctx, addr)
	}
	conn, err := protocol.Dial(ctx, addr, strconv.Itoa(int(c.cfg.BrokerID)), c.cfg.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return conn, nil
}
