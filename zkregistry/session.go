package zkregistry

import (
	"fmt"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// SessionState is a change of the client's ZooKeeper session.
type SessionState int

const (
	// SessionConnected: a session is established — the first one, the same
	// one after a reconnect, or (NewSession) a fresh one after an expiry.
	SessionConnected SessionState = iota + 1
	// SessionDisconnected: the connection is lost; the session may still be
	// alive on the server (ephemerals kept) until the session timeout.
	SessionDisconnected
	// SessionExpired: the server ended the session: its ephemeral znodes
	// (broker registration, /controller) and watches are gone. go-zookeeper
	// then creates a new session by itself, reported as SessionConnected
	// with NewSession set: re-register and re-elect then (Kafka's
	// ZooKeeperClient reinitialize + KafkaController's session handlers).
	SessionExpired
)

func (s SessionState) String() string {
	switch s {
	case SessionConnected:
		return "connected"
	case SessionDisconnected:
		return "disconnected"
	case SessionExpired:
		return "expired"
	}
	return fmt.Sprintf("SessionState(%d)", int(s))
}

// SessionEvent is delivered on Client.Events.
type SessionEvent struct {
	State      SessionState
	SessionID  int64 // for SessionConnected: the session now in use
	NewSession bool  // SessionConnected only: not the session seen before
}

// sessionTracker turns go-zookeeper's connection-state callbacks (which must
// not block) into a "connected" latch for retries and an unbounded, ordered
// event stream, so an expiry is never dropped even if nobody reads.
type sessionTracker struct {
	log *logrus.Entry
	out chan SessionEvent

	mu          sync.Mutex
	hasSession  bool           // guarded by mu
	connected   chan struct{}  // guarded by mu; closed while hasSession
	raw         []zk.State     // guarded by mu; states not yet processed by pump
	wake        chan struct{}  // cap 1
	lastID      int64          // pump only: session id of the last Connected event
	expired     bool           // pump only: an expiry since the last Connected event
	lastEmitted SessionState   // pump only
	sessions    map[int64]bool // guarded by mu: every session id this client has had
}

func newSessionTracker(lg *logrus.Entry) *sessionTracker {
	return &sessionTracker{
		log:       lg,
		out:       make(chan SessionEvent),
		connected: make(chan struct{}),
		wake:      make(chan struct{}, 1),
		sessions:  make(map[int64]bool),
	}
}

// onEvent is go-zookeeper's event callback: it runs on the connection's
// goroutine, so it only records and signals.
func (t *sessionTracker) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	t.mu.Lock()
	switch ev.State {
	case zk.StateHasSession:
		if !t.hasSession {
			t.hasSession = true
			close(t.connected)
		}
	case zk.StateDisconnected, zk.StateExpired, zk.StateConnecting, zk.StateAuthFailed:
		if t.hasSession {
			t.hasSession = false
			t.connected = make(chan struct{})
		}
	}
	t.raw = append(t.raw, ev.State)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// waitConnected blocks until a session is established, the client closes,
// or timeout passes.
func (t *sessionTracker) waitConnected(closed <-chan struct{}, timeout time.Duration) error {
	t.mu.Lock()
	ch := t.connected
	t.mu.Unlock()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ch:
		return nil
	case <-closed:
		return ErrClosed
	case <-timer.C:
		return fmt.Errorf("zookeeper not connected after %v", timeout)
	}
}

func (t *sessionTracker) ownedSession(id int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessions[id]
}

// start runs the pump that translates raw states into SessionEvents and
// delivers them in order without ever blocking onEvent.
func (t *sessionTracker) start(conn *zk.Conn, wg *sync.WaitGroup, closed <-chan struct{}) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(t.out)
		var pending []SessionEvent
		for {
			var out chan SessionEvent
			var next SessionEvent
			if len(pending) > 0 {
				out, next = t.out, pending[0]
			}
			select {
			case <-closed:
				return
			case out <- next:
				pending = pending[1:]
			case <-t.wake:
				pending = append(pending, t.translate(conn)...)
			}
		}
	}()
}

func (t *sessionTracker) translate(conn *zk.Conn) []SessionEvent {
	t.mu.Lock()
	raw := t.raw
	t.raw = nil
	t.mu.Unlock()
	var evs []SessionEvent
	for _, st := range raw {
		if ev, ok := t.translateOne(st, conn); ok {
			evs = append(evs, ev)
			t.lastEmitted = ev.State
		}
	}
	return evs
}

func (t *sessionTracker) translateOne(st zk.State, conn *zk.Conn) (SessionEvent, bool) {
	switch st {
	case zk.StateHasSession:
		// Read now, not at callback time: conn may not have been returned
		// to us yet when the first callback ran.
		id := conn.SessionID()
		ev := SessionEvent{State: SessionConnected, SessionID: id, NewSession: id != t.lastID || t.expired}
		t.lastID, t.expired = id, false
		t.mu.Lock()
		t.sessions[id] = true
		t.mu.Unlock()
		t.log.WithFields(logrus.Fields{"session_id": fmt.Sprintf("0x%x", id),
			"new_session": ev.NewSession}).Info("zookeeper session established")
		return ev, true
	case zk.StateDisconnected:
		if t.lastEmitted != SessionConnected {
			return SessionEvent{}, false // repeated failed reconnect attempts
		}
		t.log.Warn("zookeeper disconnected")
		return SessionEvent{State: SessionDisconnected}, true
	case zk.StateExpired:
		t.expired = true
		t.log.WithField("session_id", fmt.Sprintf("0x%x", t.lastID)).Warn("zookeeper session expired")
		return SessionEvent{State: SessionExpired, SessionID: t.lastID}, true
	}
	return SessionEvent{}, false
}

// Events returns the session event stream. It has one consumer; events are
// queued (never dropped) until read, and the channel closes on Close.
func (c *Client) Events() <-chan SessionEvent { return c.sess.out }

// Connected reports whether a session is currently established.
func (c *Client) Connected() bool {
	c.sess.mu.Lock()
	defer c.sess.mu.Unlock()
	return c.sess.hasSession
}
