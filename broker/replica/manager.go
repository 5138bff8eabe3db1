package replica

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/broker/purgatory"
	"github.com/samsa-broker/samsa/storage"
)

// Manager hosts this broker's partitions (Kafka's ReplicaManager).
type Manager struct {
	brokerID int32
	logs     *storage.Manager
	cfg      Config
	log      *logrus.Entry
	now      func() int64 // wall clock in ms; tests replace it

	// stateMu serialises LeaderAndIsr and StopReplica (Kafka's replicaStateChangeLock).
	stateMu         sync.Mutex
	controllerEpoch atomic.Int32 // written under stateMu

	// parts is copy-on-write: replaced under stateMu, read without locks on every produce and fetch.
	parts atomic.Pointer[map[storage.TopicPartition]*Partition]

	produce       *purgatory.Purgatory[storage.TopicPartition]
	fetch         *purgatory.Purgatory[storage.TopicPartition]
	deleteRecords *purgatory.Purgatory[storage.TopicPartition]

	// hwCheckpointing is set by the first LeaderAndIsr: only then does the checkpoint task (and Stop) write
	// replication-offset-checkpoint, so a broker stopped before learning its partitions keeps the old file.
	hwCheckpointing atomic.Bool

	fetchers    *fetcherManager  // replica fetchers of the partitions this broker follows
	alterISR    *alterISRManager // nil without Config.AlterISR: no ISR changes are proposed
	brokerEpoch atomic.Int64     // the broker epoch the controller last named in a LeaderAndIsr

	lifeMu  sync.Mutex
	cancel  context.CancelFunc // guarded by lifeMu
	stopped bool               // guarded by lifeMu
	wg      sync.WaitGroup
}

// NewManager returns a manager for broker brokerID over logs. Nothing runs until Start; until then delayed
// operations only complete by events (tests drive them).
func NewManager(brokerID int32, logs *storage.Manager, cfg Config, lg *logrus.Entry) *Manager {
	if lg == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		lg = logrus.NewEntry(l)
	}
	cfg = cfg.withDefaults()
	m := &Manager{brokerID: brokerID, logs: logs, cfg: cfg, log: lg, now: func() int64 { return time.Now().UnixMilli() }}
	m.controllerEpoch.Store(-1) // KafkaController.InitialControllerEpoch - 1
	empty := map[storage.TopicPartition]*Partition{}
	m.parts.Store(&empty)
	var err error
	m.produce, err = purgatory.New[storage.TopicPartition](purgatory.Config{Name: "Produce", PurgeInterval: cfg.ProducePurgeIntervalRequests}, lg)
	if err != nil {
		panic(fmt.Sprintf("replica: produce purgatory: %v", err)) // only for invalid settings, excluded by withDefaults
	}
	m.fetch, err = purgatory.New[storage.TopicPartition](purgatory.Config{Name: "Fetch", PurgeInterval: cfg.FetchPurgeIntervalRequests}, lg)
	if err != nil {
		panic(fmt.Sprintf("replica: fetch purgatory: %v", err))
	}
	// delete.records.purgatory.purge.interval.requests is 1 in Kafka: DeleteRecords is rare.
	m.deleteRecords, err = purgatory.New[storage.TopicPartition](purgatory.Config{Name: "DeleteRecords", PurgeInterval: 1}, lg)
	if err != nil {
		panic(fmt.Sprintf("replica: delete records purgatory: %v", err))
	}
	m.brokerEpoch.Store(-1)
	m.fetchers = newFetcherManager(m)
	if cfg.AlterISR != nil {
		epoch := cfg.BrokerEpoch
		if epoch == nil {
			epoch = m.brokerEpoch.Load
		}
		m.alterISR = newAlterISRManager(brokerID, epoch, cfg.AlterISR, lg)
	}
	return m
}

// dialLeader connects a replica fetcher to addr.
func (m *Manager) dialLeader(ctx context.Context, addr, clientID string, timeout time.Duration) (LeaderConn, error) {
	if m.cfg.DialLeader != nil {
		return m.cfg.DialLeader(ctx, addr)
	}
	return defaultDialLeader(ctx, addr, clientID, timeout)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Start runs the purgatories' timers, the HW checkpoint task, the isr-expiration task and the AlterIsr sender
// until ctx ends or Stop. Replica fetchers run from the first LeaderAndIsr that makes this broker a follower
// until Stop.
func (m *Manager) Start(ctx context.Context) {
	m.lifeMu.Lock()
	defer m.lifeMu.Unlock()
	if m.cancel != nil || m.stopped {
		return
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.produce.Start(ctx)
	m.fetch.Start(ctx)
	m.deleteRecords.Start(ctx)
	m.wg.Add(2)
	go m.checkpointLoop(ctx)
	go m.isrExpirationLoop(ctx)
	if m.alterISR != nil {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.alterISR.run(ctx)
		}()
	}
}

// Stop stops the replica fetchers, answers every waiting produce, fetch and DeleteRecords from the current state
// (purgatory shutdown), stops the periodic tasks and writes a last HW checkpoint (ReplicaManager.shutdown).
// Call it before closing the storage.Manager. Idempotent.
func (m *Manager) Stop() {
	m.lifeMu.Lock()
	if m.stopped {
		m.lifeMu.Unlock()
		return
	}
	m.stopped = true
	if m.cancel != nil {
		m.cancel()
	}
	m.lifeMu.Unlock()
	m.fetchers.shutdown()
	m.wg.Wait()
	m.fetch.Shutdown()
	m.produce.Shutdown()
	m.deleteRecords.Shutdown()
	if m.hwCheckpointing.Load() {
		if err := m.CheckpointHighWatermarks(); err != nil {
			m.log.WithError(err).Error("final high watermark checkpoint failed")
		}
	}
}

func (m *Manager) checkpointLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(time.Duration(m.cfg.HighWatermarkCheckpointIntervalMs) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !m.hwCheckpointing.Load() {
			continue
		}
		if err := m.CheckpointHighWatermarks(); err != nil {
			m.log.WithError(err).Error("high watermark checkpoint failed")
		}
	}
}

// CheckpointHighWatermarks writes every hosted partition's HW to replication-offset-checkpoint in its log
// dir (ReplicaManager.checkpointHighWatermarks).
func (m *Manager) CheckpointHighWatermarks() error {
	parts := *m.parts.Load()
	hws := make(map[storage.TopicPartition]int64, len(parts))
	for tp, p := range parts {
		if l := p.Log(); l != nil {
			hws[tp] = l.HighWatermark()
		}
	}
	if err := m.logs.CheckpointHighWatermarks(hws); err != nil {
		return fmt.Errorf("checkpoint high watermarks: %w", err)
	}
	return nil
}

// Delayed returns the number of produce and fetch requests waiting in the purgatories (Kafka's
// NumDelayedOperations metrics).
func (m *Manager) Delayed() (produce, fetch int) { return m.produce.Delayed(), m.fetch.Delayed() }

// DelayedDeleteRecords is the number of DeleteRecords requests waiting for their low watermark.
func (m *Manager) DelayedDeleteRecords() int { return m.deleteRecords.Delayed() }

// ControllerEpoch is the highest controller epoch accepted from LeaderAndIsr or StopReplica.
func (m *Manager) ControllerEpoch() int32 { return m.controllerEpoch.Load() }

// Partition returns a hosted partition.
func (m *Manager) Partition(tp storage.TopicPartition) (*Partition, bool) {
	p, ok := (*m.parts.Load())[tp]
	return p, ok
}

// Partitions returns every hosted partition, in no particular order.
func (m *Manager) Partitions() []*Partition {
	parts := *m.parts.Load()
	out := make([]*Partition, 0, len(parts))
	for _, p := range parts {
		out = append(out, p)
	}
	return out
}

// KnownPartition reports whether tp exists as far as this broker knows: hosted here or in the metadata
// cache (Kafka's metadataCache.contains, asked before produce and fetch).
func (m *Manager) KnownPartition(tp storage.TopicPartition) bool {
	if _, ok := m.Partition(tp); ok {
		return true
	}
	return m.cfg.MetadataContains != nil && m.cfg.MetadataContains(tp)
}

// partitionOrError is ReplicaManager.getPartitionOrError.
func (m *Manager) partitionOrError(tp storage.TopicPartition) (*Partition, error) {
	if p, ok := m.Partition(tp); ok {
		return p, nil
	}
	if m.cfg.MetadataContains != nil && m.cfg.MetadataContains(tp) {
		return nil, fmt.Errorf("%w: %s is not hosted by broker %d", kerr.NotLeaderForPartition, tp, m.brokerID)
	}
	return nil, fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, tp)
}

// setPartitionsLocked replaces the partition map; the caller holds stateMu.
func (m *Manager) setPartitionsLocked(f func(next map[storage.TopicPartition]*Partition)) {
	cur := *m.parts.Load()
	next := make(map[storage.TopicPartition]*Partition, len(cur)+1)
	for tp, p := range cur {
		next[tp] = p
	}
	f(next)
	m.parts.Store(&next)
}

// SetNumReplicaFetchers applies a dynamic num.replica.fetchers: the fetchers are rebuilt with the
// followed partitions spread over n per source broker.
func (m *Manager) SetNumReplicaFetchers(n int) { m.fetchers.resize(n) }

// UpdateTopicConfig applies a topic configuration change to the hosted partitions of topic: the log
// settings and min.insync.replicas.
func (m *Manager) UpdateTopicConfig(topic string, logCfg storage.Config, minInsyncReplicas int) {
	for tp, p := range *m.parts.Load() {
		if tp.Topic != topic {
			continue
		}
		p.SetMinInsyncReplicas(minInsyncReplicas)
		if l := p.Log(); l != nil {
			l.SetConfig(logCfg)
		}
	}
}

// tryCompleteDelayed re-checks the operations waiting on tp (ReplicaManager.tryCompleteDelayedRequests).
// Call it with no partition lock held. Produces wait for the HW; fetches for the HW (consumers) or the LEO
// (followers), so an append that did not move the HW only pokes the fetch purgatory. DeleteRecords waits
// for the low watermark, which only follower fetches move (see updateFollowerFetchState); it is checked
// with the HW events as Kafka's checkAndCompleteAll does, which also covers role changes and StopReplica
// (called here with hwMoved): a waiting DeleteRecords then answers NOT_LEADER_OR_FOLLOWER at once.
func (m *Manager) tryCompleteDelayed(tp storage.TopicPartition, hwMoved bool) {
	if hwMoved {
		m.produce.CheckAndComplete(tp)
		m.deleteRecords.CheckAndComplete(tp)
	}
	m.fetch.CheckAndComplete(tp)
}
