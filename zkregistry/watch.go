package zkregistry

import (
	"context"
	"errors"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// ZooKeeper watches fire once. Kafka re-registers them on every read; a
// Watcher does the same in a loop: read with a watch, deliver, wait for the
// watch to fire, repeat. After a connection loss go-zookeeper re-sets the
// watches itself; after a session expiry they are dropped (EventNotWatching)
// and the loop re-reads — re-arming — as soon as the new session is up, so a
// consumer always ends up with the current state. Deliveries may coalesce
// several changes and may repeat an unchanged state; they never skip the
// final state.

// Watcher is a re-arming watch. Stop it when done.
type Watcher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Stop ends the watch and waits for its goroutine to exit. The callback's
// ctx is cancelled first, so a callback blocked on `select { case q <- ev:
// case <-ctx.Done(): }` returns and Stop cannot deadlock.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

// ChildrenFunc receives the children of the watched path; stat is nil when
// the path does not exist (the watch then waits for its creation).
type ChildrenFunc func(ctx context.Context, children []string, stat *Stat)

// DataFunc receives the data of the watched znode; stat is nil when it does
// not exist (an exists-watch then waits for its creation).
type DataFunc func(ctx context.Context, data []byte, stat *Stat)

// WatchChildren calls fn with path's children now and after every change,
// from one goroutine, until Stop or Close.
func (c *Client) WatchChildren(path string, fn ChildrenFunc) *Watcher {
	return c.watch(path, func(ctx context.Context) (<-chan zk.Event, error) {
		children, stat, ch, err := c.conn.ChildrenW(c.abs(path))
		if errors.Is(err, zk.ErrNoNode) {
			return c.armMissing(path, func() { fn(ctx, nil, nil) })
		}
		if err != nil {
			return nil, err
		}
		fn(ctx, children, stat)
		return ch, nil
	})
}

// WatchData calls fn with path's data now and after every change (creation,
// data change, deletion), from one goroutine, until Stop or Close. It serves
// both Kafka's data watches and exists-watches.
func (c *Client) WatchData(path string, fn DataFunc) *Watcher {
	return c.watch(path, func(ctx context.Context) (<-chan zk.Event, error) {
		data, stat, ch, err := c.conn.GetW(c.abs(path))
		if errors.Is(err, zk.ErrNoNode) {
			return c.armMissing(path, func() { fn(ctx, nil, nil) })
		}
		if err != nil {
			return nil, err
		}
		fn(ctx, data, stat)
		return ch, nil
	})
}

// fired is an already-fired watch: the loop re-reads at once.
var fired = func() <-chan zk.Event {
	ch := make(chan zk.Event)
	close(ch)
	return ch
}()

// armMissing sets an exists-watch on a path just found missing and reports
// the absence; if the node was created in between, it re-reads at once
// instead of waiting for a further change.
func (c *Client) armMissing(path string, absent func()) (<-chan zk.Event, error) {
	ok, _, ch, err := c.conn.ExistsW(c.abs(path))
	if err != nil {
		return nil, err
	}
	if ok {
		return fired, nil
	}
	absent()
	return ch, nil
}

// watch runs arm in a loop: arm reads with a watch and delivers, returning
// the channel on which the watch fires.
func (c *Client) watch(path string, arm func(ctx context.Context) (<-chan zk.Event, error)) *Watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cancel: cancel, done: make(chan struct{})}
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.isClosed() {
		cancel()
		close(w.done)
		return w
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(w.done)
		defer cancel()
		for ctx.Err() == nil && !c.isClosed() {
			ev, err := arm(ctx)
			if err != nil {
				c.watchBackoff(ctx, path, err)
				continue
			}
			select {
			case <-ev:
			case <-ctx.Done():
			case <-c.closed:
			}
		}
	}()
	return w
}

// watchBackoff waits before re-arming after a failed read: until a session
// is connected for connection errors, else one second (unexpected errors
// such as NOAUTH are logged).
func (c *Client) watchBackoff(ctx context.Context, path string, err error) {
	wait := time.Second
	if retriable(err) || errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrClosing) {
		if c.sess.waitConnected(ctx.Done(), c.cfg.ConnectionTimeout) == nil {
			return
		}
	} else {
		c.log.WithFields(logrus.Fields{"path": path, "error": err}).Warn("watch read failed")
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-c.closed:
	}
}
