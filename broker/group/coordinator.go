package group

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage"
)

// Partitions is what the coordinator needs from the replica layer for the __consumer_offsets partitions
// this broker leads. The broker implements it over replica.Manager.
type Partitions interface {
	// Append writes one batch to the partition as leader with acks (-1, 0, 1), waiting up to timeout for
	// acks=-1. It returns the batch's base offset, or an error carrying a *kerr.Error (NOT_LEADER_OR_FOLLOWER,
	// NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT, ...).
	Append(ctx context.Context, partition int32, acks int16, timeout time.Duration, batch []byte) (baseOffset int64, err error)
	// Log returns the local log of the partition while this broker leads it.
	Log(partition int32) (Log, bool)
}

// Log is the part of storage.Log that loading reads.
type Log interface {
	LogStartOffset() int64
	LogEndOffset() int64
	Read(offset int64, maxBytes int, maxOffset int64, minOneMessage bool) (storage.ReadResult, error)
}

// TopicPartition names a partition whose committed offsets are tracked.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Coordinator is Kafka's GroupCoordinator with its GroupMetadataManager: it owns the groups of the
// __consumer_offsets partitions this broker leads. Each group has its own goroutine (group.go); the
// coordinator only keeps the partition ownership table and the group index.
type Coordinator struct {
	cfg   Config
	parts Partitions
	clock Clock
	log   *logrus.Entry

	mu      sync.Mutex
	active  bool                      // guarded by mu; between Start and Stop
	owned   map[int32]*ownership      // guarded by mu; offsets partitions led here (loading or loaded)
	groups  map[string]*group         // guarded by mu; groups of owned partitions, Dead ones removed
	openTxn map[int64]map[string]bool // guarded by mu; producer id → groups holding its pending offsets
	loadSeq uint64                    // guarded by mu
	expiry  func() bool               // guarded by mu; stops the pending retention check
	ctx     context.Context           // set by Start
	cancel  context.CancelFunc        // guarded by mu
	wg      sync.WaitGroup            // group goroutines, loaders, appenders

	handled atomic.Int64 // requests run on group goroutines (tests wait on it for a request to be parked)
}

// ownership is one offsets partition led here.
type ownership struct {
	epoch   int32  // leader epoch of the election (Kafka's coordinator epoch)
	loading bool   // COORDINATOR_LOAD_IN_PROGRESS until the load finishes
	load    uint64 // identifies the load in progress, so a stale one does not install its groups
}

// New returns a coordinator; nothing is served until Start.
func New(cfg Config, parts Partitions, clock Clock, lg *logrus.Entry) *Coordinator {
	if clock == nil {
		clock = SystemClock{}
	}
	if lg == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		lg = logrus.NewEntry(l)
	}
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = 1
	}
	return &Coordinator{cfg: cfg, parts: parts, clock: clock, log: lg,
		owned: map[int32]*ownership{}, groups: map[string]*group{}, openTxn: map[int64]map[string]bool{},
		ctx: context.Background()}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Start makes the coordinator answer and starts the periodic offset expiration.
func (c *Coordinator) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.active {
		return
	}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.active = true
	c.scheduleExpiryLocked()
	c.log.WithField("offsets_partitions", c.cfg.NumPartitions).Info("group coordinator started")
}

// Stop answers every parked request NOT_COORDINATOR, stops all group goroutines, loads and timers, and
// waits for them.
func (c *Coordinator) Stop() {
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		return
	}
	c.active = false
	if c.expiry != nil {
		c.expiry()
	}
	c.cancel()
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	c.groups = map[string]*group{}
	c.owned = map[int32]*ownership{}
	c.mu.Unlock()
	c.log.Info("group coordinator stopped")
}

// PartitionFor is the __consumer_offsets partition of groupID.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return PartitionFor(groupID, c.cfg.NumPartitions)
}

// spawn runs f on a tracked goroutine with the coordinator's context.
func (c *Coordinator) spawn(f func(ctx context.Context)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f(c.ctx)
	}()
}

// validate is GroupCoordinator.validateGroupStatus: INVALID_GROUP_ID for an empty id (unless the API allows
// it: OffsetCommit, OffsetFetch, DescribeGroups, DeleteGroups), COORDINATOR_NOT_AVAILABLE when not started,
// COORDINATOR_LOAD_IN_PROGRESS while the group's partition loads, NOT_COORDINATOR when not led here.
func (c *Coordinator) validate(groupID string, allowEmpty bool) int16 {
	if groupID == "" && !allowEmpty {
		return kerr.InvalidGroupID.Code
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked(groupID)
}

func (c *Coordinator) statusLocked(groupID string) int16 {
	if !c.active {
		return kerr.CoordinatorNotAvailable.Code
	}
	o := c.owned[c.PartitionFor(groupID)]
	switch {
	case o == nil:
		return kerr.NotCoordinator.Code
	case o.loading:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// lookup returns the group (creating an Empty one when create is set), or nil when there is none, after
// the status checks of validate (group id emptiness excluded).
func (c *Coordinator) lookup(groupID string, create bool) (*group, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if code := c.statusLocked(groupID); code != 0 {
		return nil, code
	}
	g := c.groups[groupID]
	if g == nil && create {
		g = newGroup(c, groupID, c.PartitionFor(groupID))
		c.startGroupLocked(g)
	}
	return g, 0
}

func (c *Coordinator) startGroupLocked(g *group) {
	c.groups[g.id] = g
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		g.run(c.ctx)
	}()
}

// forget removes g from the index (it went Dead); a later request for its id creates a new group.
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
}

// errGone: the group's goroutine exited between the lookup and the post; look it up again.
var errGone = errors.New("group: group is gone")

// await runs f on g's goroutine and waits until f (or a later event) calls reply. It fails with errGone
// when g's goroutine has exited, or ctx's error.
func await[T any](ctx context.Context, g *group, f func(reply func(T))) (T, error) {
	ch := make(chan T, 1)
	reply := func(v T) {
		select {
		case ch <- v:
		default: // answered already; a second answer would be a bug, and must not block the group
		}
	}
	var zero T
	if !g.box.post(func() { f(reply); g.c.handled.Add(1) }) {
		return zero, errGone
	}
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// maxLookups bounds the retries when a group dies between lookup and post (each retry finds the index
// without it).
const maxLookups = 3

// onGroup looks the group up (creating it when create) and runs f on its goroutine, retrying when the
// group died meanwhile. missing answers when there is no group; failed when validation fails (code) or the
// wait ends with ctx.
func onGroup[T any](ctx context.Context, c *Coordinator, groupID string, create bool, failed func(code int16) T,
	missing func() T, f func(g *group, reply func(T))) T {
	for range maxLookups {
		g, code := c.lookup(groupID, create)
		if code != 0 {
			return failed(code)
		}
		if g == nil {
			return missing()
		}
		v, err := await(ctx, g, func(reply func(T)) { f(g, reply) })
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return failed(kerr.CoordinatorNotAvailable.Code)
		}
		return v
	}
	return failed(kerr.CoordinatorNotAvailable.Code)
}

// nowMs is the clock in milliseconds.
func (c *Coordinator) nowMs() int64 { return c.clock.Now().UnixMilli() }
