package controller

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Config is what the controller needs from the broker's configuration.
type Config struct {
	BrokerID int32
	// InterBrokerListener is inter.broker.listener.name (or the listener of security.inter.broker.protocol):
	// the controller connects to every broker's endpoint of this listener and names it in LiveLeaders.
	// Default PLAINTEXT.
	InterBrokerListener string
	// UncleanLeaderElection is the broker default of unclean.leader.election.enable (false); a topic's own
	// unclean.leader.election.enable in /config/topics/<topic> overrides it.
	UncleanLeaderElection bool
	// DisableTopicDeletion is delete.topic.enable=false: deletion markers are removed and ignored.
	DisableTopicDeletion bool
	// RequestTimeout bounds connecting to a broker and each request to it (controller.socket.timeout.ms and
	// request.timeout.ms, both 30 s in Kafka). A timed-out request is retried on a new connection.
	RequestTimeout time.Duration
	// RetryBackoff is the pause before reconnecting and resending after a failure (Kafka: 100 ms).
	RetryBackoff time.Duration
	// AutoLeaderRebalance is auto.leader.rebalance.enable (Kafka's default true; the zero Config leaves it
	// off): every LeaderImbalanceCheckInterval the controller moves leadership back to preferred replicas
	// for brokers whose share of partitions led by another replica exceeds
	// LeaderImbalancePerBrokerPercentage (reference 02 §11).
	AutoLeaderRebalance bool
	// LeaderImbalanceCheckInterval is leader.imbalance.check.interval.seconds (300 s).
	LeaderImbalanceCheckInterval time.Duration
	// LeaderImbalancePerBrokerPercentage is leader.imbalance.per.broker.percentage (Kafka's default 10; 0
	// rebalances on any imbalance).
	LeaderImbalancePerBrokerPercentage int
	// FirstRebalanceDelay is the wait before the first imbalance check of a term (Kafka: 5 s, fixed).
	FirstRebalanceDelay time.Duration
	// Dial opens a connection to a broker; nil uses protocol.Dial with client id "<BrokerID>". Tests
	// substitute it.
	Dial func(ctx context.Context, addr string) (BrokerConn, error)
}

// BrokerConn is one connection to a broker; *protocol.Client implements it. Request is called by one
// goroutine at a time.
type BrokerConn interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Close() error
}

func (cfg Config) withDefaults() Config {
	if cfg.InterBrokerListener == "" {
		cfg.InterBrokerListener = "PLAINTEXT" // security.inter.broker.protocol's default
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.LeaderImbalanceCheckInterval <= 0 {
		cfg.LeaderImbalanceCheckInterval = 300 * time.Second
	}
	if cfg.FirstRebalanceDelay <= 0 {
		cfg.FirstRebalanceDelay = 5 * time.Second
	}
	return cfg
}

// electionRetryDelay spaces election attempts that failed on ZooKeeper errors (not on losing the race: the
// /controller watch reports the winner).
const electionRetryDelay = time.Second

// Controller is the controller component every broker runs; at most one in the cluster is active.
type Controller struct {
	cfg      Config
	zk       *zkregistry.Client
	log      *logrus.Entry
	stateLog *logrus.Entry // component=state_change (Kafka's state-change.log)

	events  chan event
	loopCtx context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the loop and every sender goroutine
	started atomic.Bool

	active   atomic.Bool
	epoch    atomic.Int32
	activeID atomic.Int32 // broker named by /controller, -1 when none

	// Owned by the event loop.
	term            uint64                // incremented at every election and resignation
	cc              *controllerContext    // nil unless active
	watches         []*zkregistry.Watcher // controller-only child watches of this term
	brokerWatches   map[int32]*zkregistry.Watcher
	channels        *channelManager
	controllerWatch *zkregistry.Watcher
	retryTimer      *time.Timer
	rebalanceTimer  *time.Timer // auto leader rebalance of this term, nil when disabled
}

// New returns a controller for the broker cfg.BrokerID, using the broker's ZooKeeper session.
func New(cfg Config, zk *zkregistry.Client, lg *logrus.Entry) *Controller {
	ctx, cancel := context.WithCancel(context.Background())
	lg = lg.WithField("broker_id", cfg.BrokerID)
	c := &Controller{
		cfg:      cfg.withDefaults(),
		zk:       zk,
		log:      lg.WithField("component", "controller"),
		stateLog: lg.WithField("component", "state_change"),
		events:   make(chan event, 1024),
		loopCtx:  ctx,
		cancel:   cancel,
	}
	c.activeID.Store(-1)
	return c
}

// Start runs the controller until Stop or until ctx ends: it watches /controller and takes part in every
// election (right away, and whenever /controller disappears). The broker calls it after registering
// /brokers/ids/<id> (Kafka's KafkaServer.startup order, reference 02 §15).
func (c *Controller) Start(ctx context.Context) {
	if !c.started.CompareAndSwap(false, true) {
		return
	}
	stop := context.AfterFunc(ctx, c.cancel)
	c.goroutine(func() {
		defer stop()
		c.run()
	})
}

// Stop ends the controller and waits for its goroutines. An active controller first deletes /controller
// (fenced by its epoch, if ZooKeeper is connected) so another broker takes over at once, then resigns:
// watches removed, connections to brokers closed, state dropped. The broker calls it before closing its
// ZooKeeper session. Safe to call more than once, and before Start.
func (c *Controller) Stop() {
	c.cancel()
	c.wg.Wait()
}

// IsActive reports whether this broker is the active controller.
func (c *Controller) IsActive() bool { return c.active.Load() }

// Epoch returns the controller epoch while active, 0 otherwise.
func (c *Controller) Epoch() int32 { return c.epoch.Load() }

// ActiveControllerID returns the broker named by /controller as last seen, -1 when there is none.
func (c *Controller) ActiveControllerID() int32 { return c.activeID.Load() }

// HandleSessionEvent takes the broker's ZooKeeper session events (zkregistry.Client.Events has a single
// reader: the broker). An expiry makes an active controller resign at once, before anything else runs (Kafka's
// Expire event); after a new session the broker re-registers /brokers/ids/<id> first and then forwards the
// SessionConnected event, on which the controller runs an election if /controller is free.
func (c *Controller) HandleSessionEvent(ev zkregistry.SessionEvent) {
	c.post(c.loopCtx, sessionEvent{ev: ev})
}

// errStopped: the controller's loop has ended.
var errStopped = errors.New("controller: stopped")

// call runs fn on the event loop, between events, and waits for it. This is how requests that need the
// controller's state enter the loop (the AlterISR, ControlledShutdown and ElectLeaders handlers, and the
// tests' state inspection).
func (c *Controller) call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case c.events <- callEvent{fn: func() { fn(); close(done) }}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.loopCtx.Done():
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.loopCtx.Done():
		return errStopped
	}
}

// callActive runs fn on the event loop if this broker is the active controller, for the admin requests only
// the controller serves. The error is kerr.NotController when it is not (or the loop has stopped), ctx's
// error, or kerr.NotController after fn's own error (a ZooKeeper failure), which ends the term (afterError).
func (c *Controller) callActive(ctx context.Context, fn func() error) error {
	var rerr error
	err := c.call(ctx, func() {
		if !c.active.Load() {
			rerr = kerr.NotController
			return
		}
		if ferr := fn(); ferr != nil {
			c.afterError(ferr)
			rerr = kerr.NotController
		}
	})
	if errors.Is(err, errStopped) {
		return kerr.NotController
	}
	if err != nil {
		return err
	}
	return rerr
}

// goroutine starts fn tracked by the controller's WaitGroup.
func (c *Controller) goroutine(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// run is the event loop: the only goroutine that touches the controller context.
func (c *Controller) run() {
	c.controllerWatch = c.zk.WatchData(zkregistry.ControllerPath, func(ctx context.Context, _ []byte, _ *zkregistry.Stat) {
		c.post(ctx, controllerChange{})
	})
	defer c.shutdown()
	for {
		select {
		case <-c.loopCtx.Done():
			return
		case ev := <-c.events:
			c.handle(ev)
		}
	}
}

func (c *Controller) shutdown() {
	c.controllerWatch.Stop()
	if c.retryTimer != nil {
		c.retryTimer.Stop()
	}
	if c.active.Load() {
		// Only when connected: shutdown must not wait for ZooKeeper to come back. Otherwise /controller
		// goes with the session when the broker closes it.
		if c.zk.Connected() {
			if err := c.zk.ResignController(c.cc.epochZkVersion); err != nil && !errors.Is(err, zkregistry.ErrClosed) {
				c.log.WithError(err).Warn("could not delete /controller on shutdown")
			}
		}
		c.resign("controller shutting down")
	}
}

func (c *Controller) handle(ev event) {
	switch e := ev.(type) {
	case controllerChange, electionRetry:
		c.onControllerChange()
	case sessionEvent:
		c.onSessionEvent(e.ev)
	case callEvent:
		e.fn()
	default:
		te, ok := ev.(termedEvent)
		if !ok || !c.active.Load() || te.eventTerm() != c.term {
			return // an event of an earlier term, or for an active controller only
		}
		c.afterError(c.handleActive(ev))
	}
}

// handleActive runs the active controller's handlers.
func (c *Controller) handleActive(ev event) error {
	switch e := ev.(type) {
	case brokerChange:
		return c.onBrokerChange()
	case topicChange:
		return c.onTopicChange(e.children)
	case partitionModification:
		return c.onPartitionModification(e)
	case topicDeletionChange:
		return c.onTopicDeletionChange(e.children)
	case brokerResponse:
		return c.onBrokerResponse(e)
	case autoRebalance:
		return c.onAutoRebalance()
	case preferredElectionZnode:
		return c.onPreferredElectionZnode(e)
	case reassignmentZnode:
		return c.onReassignmentZnode(e)
	}
	return nil
}

// afterError ends the term when a handler failed. ErrControllerMoved: another controller was elected, so
// resign (Kafka's maybeResign). Anything else (ZooKeeper unreachable beyond the connection timeout) leaves
// the context possibly out of step with ZooKeeper, so the controller resigns and deletes /controller: the
// next election, perhaps this broker's, reloads everything (Kafka resigns the same way when a failover or a
// request batch fails).
func (c *Controller) afterError(err error) {
	if err == nil || !c.active.Load() {
		return
	}
	if errors.Is(err, zkregistry.ErrControllerMoved) {
		c.log.WithError(err).Warn("controller epoch moved on, resigning")
		c.resign("controller moved")
		c.onControllerChange()
		return
	}
	c.log.WithError(err).Error("controller event failed, resigning to force a new election")
	if rerr := c.zk.ResignController(c.cc.epochZkVersion); rerr != nil {
		c.log.WithError(rerr).Warn("could not delete /controller")
	}
	c.resign("controller event failed")
}

// onControllerChange is Kafka's maybeResign + elect. The watch only triggers it: /controller is read again
// here, so a delivery queued before this broker's own election cannot make it resign.
func (c *Controller) onControllerChange() {
	data, stat, err := c.zk.Get(zkregistry.ControllerPath)
	if err != nil && !errors.Is(err, zkregistry.ErrNoNode) {
		if !errors.Is(err, zkregistry.ErrClosed) {
			c.log.WithError(err).Warn("could not read /controller, retrying")
			c.scheduleElectionRetry()
		}
		return
	}
	exists, id := err == nil, int32(-1)
	if exists {
		if info, derr := zkregistry.DecodeController(data); derr == nil {
			id = info.BrokerID
		}
	}
	c.activeID.Store(id)
	if c.active.Load() && id != c.cfg.BrokerID {
		c.resign("another broker is controller")
	}
	if !c.active.Load() && exists && id == c.cfg.BrokerID && stat.EphemeralOwner == c.zk.SessionID() {
		// Our own session holds /controller but this broker is not acting as controller (a failed resignation
		// or a manual edit of the epoch): delete it so that a new election restores a consistent epoch
		// instead of leaving the cluster without an active controller.
		c.log.Warn("deleting stale /controller held by this broker")
		if err := c.zk.Delete(zkregistry.ControllerPath, stat.Version); err != nil {
			c.log.WithError(err).Warn("could not delete stale /controller")
		}
		return // the watch reports the deletion
	}
	if !exists {
		c.maybeElect()
	}
}

func (c *Controller) onSessionEvent(ev zkregistry.SessionEvent) {
	switch {
	case ev.State == zkregistry.SessionExpired:
		// Our /controller and watches are gone with the session; another broker may be electing already.
		c.resign("zookeeper session expired")
	case ev.State == zkregistry.SessionConnected && ev.NewSession:
		c.onControllerChange()
	}
}

// maybeElect is Kafka's elect(): one attempt through zkregistry.TryElectController, then failover.
func (c *Controller) maybeElect() {
	if c.active.Load() || c.loopCtx.Err() != nil {
		return
	}
	epoch, epochZkVersion, err := c.zk.TryElectController(c.cfg.BrokerID)
	switch {
	case err == nil:
		c.onControllerFailover(epoch, epochZkVersion)
	case errors.Is(err, zkregistry.ErrNotElected):
		c.log.WithError(err).Debug("not elected")
	case errors.Is(err, zkregistry.ErrClosed):
	default:
		c.log.WithError(err).Warn("controller election failed, retrying")
		c.scheduleElectionRetry()
	}
}

func (c *Controller) scheduleElectionRetry() {
	if c.retryTimer != nil {
		c.retryTimer.Stop()
	}
	c.retryTimer = time.AfterFunc(electionRetryDelay, func() { c.post(c.loopCtx, electionRetry{}) })
}

// onControllerFailover starts a term: Kafka's onControllerFailover (reference 02 §3).
func (c *Controller) onControllerFailover(epoch, epochZkVersion int32) {
	c.term++
	c.cc = newControllerContext(epoch, epochZkVersion)
	c.brokerWatches = make(map[int32]*zkregistry.Watcher)
	c.channels = newChannelManager(c, c.term)
	c.active.Store(true)
	c.epoch.Store(epoch)
	c.activeID.Store(c.cfg.BrokerID)
	c.log.WithFields(logrus.Fields{"controller_epoch": epoch, "epoch_zk_version": epochZkVersion}).Info("became controller")
	c.afterError(c.failover())
}

// resign ends the term: Kafka's onControllerResignation (reference 02 §2.3). No ZooKeeper writes.
func (c *Controller) resign(reason string) {
	if !c.active.Load() {
		return
	}
	for _, w := range c.watches {
		w.Stop()
	}
	c.watches = nil
	for id, w := range c.brokerWatches {
		w.Stop()
		delete(c.brokerWatches, id)
	}
	for _, t := range c.cc.topics {
		if t.watch != nil {
			t.watch.Stop()
		}
	}
	c.channels.stopAll()
	c.channels = nil
	if c.rebalanceTimer != nil {
		c.rebalanceTimer.Stop()
		c.rebalanceTimer = nil
	}
	c.log.WithFields(logrus.Fields{"controller_epoch": c.cc.epoch, "reason": reason}).Info("resigned as controller")
	c.cc = nil
	c.term++
	c.active.Store(false)
	c.epoch.Store(0)
}
