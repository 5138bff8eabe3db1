package replica

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/storage"
)

// fetcherKey names a fetcher: source broker and fetcher id (Kafka's BrokerIdAndFetcherId).
type fetcherKey struct {
	broker int32
	id     int
}

// initialFetch is where a partition that became follower starts fetching (Kafka's InitialFetchState).
type initialFetch struct {
	leader      int32
	addr        string // the leader's inter-broker endpoint, host:port
	leaderEpoch int32
	offset      int64 // the HW: the offset to fall back to when the leader cannot place our epoch
}

// fetcherManager is Kafka's ReplicaFetcherManager: it owns the fetchers, num.replica.fetchers per source
// broker, and assigns each partition to one of its leader's fetchers. Its methods are called under the
// replica manager's stateMu (LeaderAndIsr, StopReplica) or from Stop.
type fetcherManager struct {
	m *Manager

	mu       sync.Mutex
	ctx      context.Context         // fetchers run under it; cancelled by shutdown
	cancel   context.CancelFunc      //
	fetchers map[fetcherKey]*fetcher // guarded by mu
	stopped  bool                    // guarded by mu
}

func newFetcherManager(m *Manager) *fetcherManager {
	ctx, cancel := context.WithCancel(context.Background())
	return &fetcherManager{m: m, ctx: ctx, cancel: cancel, fetchers: map[fetcherKey]*fetcher{}}
}

// fetcherID is AbstractFetcherManager.getFetcherId: Utils.abs(31 * topic.hashCode + partition) % n, with
// Java's String.hashCode and int overflow.
func fetcherID(tp storage.TopicPartition, n int) int {
	var h int32
	for _, c := range []rune(tp.Topic) {
		// String.hashCode iterates UTF-16 code units; topic names are ASCII (legal characters only).
		h = 31*h + int32(c)
	}
	v := 31*h + tp.Partition
	if v == -1<<31 {
		v = 0 // Utils.abs(Integer.MIN_VALUE) is 0
	} else if v < 0 {
		v = -v
	}
	return int(v) % n
}

// addFetcherForPartitions starts fetching the partitions from their leaders (AbstractFetcherManager.
// addFetcherForPartitions). A fetcher whose source broker moved to another endpoint is replaced, keeping
// its other partitions.
func (fm *fetcherManager) addFetcherForPartitions(parts map[storage.TopicPartition]initialFetch) {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.stopped {
		return
	}
	byFetcher := map[fetcherKey]map[storage.TopicPartition]*fetchState{}
	addrs := map[fetcherKey]string{}
	for tp, in := range parts {
		key := fetcherKey{broker: in.leader, id: fetcherID(tp, fm.m.cfg.NumReplicaFetchers)}
		if byFetcher[key] == nil {
			byFetcher[key] = map[storage.TopicPartition]*fetchState{}
		}
		byFetcher[key][tp] = &fetchState{offset: in.offset, leaderEpoch: in.leaderEpoch, lastFetchedEpoch: -1, truncating: true}
		addrs[key] = in.addr
	}
	for key, states := range byFetcher {
		f := fm.fetchers[key]
		if f != nil && f.addr != addrs[key] {
			f.log.WithField("new_address", addrs[key]).Info("leader moved to another endpoint: replacing its fetcher")
			f.shutdown()
			f.mu.Lock()
			for tp, st := range f.parts {
				if _, ok := states[tp]; !ok {
					states[tp] = st
				}
			}
			f.mu.Unlock()
			delete(fm.fetchers, key)
			f = nil
		}
		if f == nil {
			f = fm.startFetcherLocked(key, addrs[key])
		}
		for tp, st := range states {
			f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "leader_epoch": st.leaderEpoch,
				"initial_offset": st.offset}).Info("adding partition to replica fetcher")
		}
		f.addPartitions(states) // the fetcher owns the states from here on
	}
}

func (fm *fetcherManager) startFetcherLocked(key fetcherKey, addr string) *fetcher {
	ctx, cancel := context.WithCancel(fm.ctx)
	f := &fetcher{
		m: fm.m, source: key.broker, id: key.id, addr: addr, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1), parts: map[storage.TopicPartition]*fetchState{},
		log: fm.m.log.WithFields(logrus.Fields{"component": "replica_fetcher", "leader": key.broker, "fetcher_id": key.id, "leader_address": addr}),
	}
	fm.fetchers[key] = f
	go f.run(ctx)
	return f
}

// resize changes num.replica.fetchers while running (AbstractFetcherManager.resizeThreadPool, for the
// dynamic broker config): every fetcher stops, and its partitions, with their fetch positions and truncation
// state, are spread over the new number of fetchers per source broker by fetcherID. A partition is never
// fetched by two fetchers: the old one has exited before the new one gets it.
func (fm *fetcherManager) resize(n int) {
	if n <= 0 {
		n = 1
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.stopped || n == fm.m.cfg.NumReplicaFetchers {
		return
	}
	byFetcher := map[fetcherKey]map[storage.TopicPartition]*fetchState{}
	addrs := map[fetcherKey]string{}
	for key, f := range fm.fetchers {
		f.shutdown()
		f.mu.Lock()
		for tp, st := range f.parts {
			nk := fetcherKey{broker: key.broker, id: fetcherID(tp, n)}
			if byFetcher[nk] == nil {
				byFetcher[nk] = map[storage.TopicPartition]*fetchState{}
			}
			byFetcher[nk][tp] = st
			addrs[nk] = f.addr
		}
		f.parts = map[storage.TopicPartition]*fetchState{}
		f.mu.Unlock()
		delete(fm.fetchers, key)
	}
	fm.m.log.WithFields(logrus.Fields{"from": fm.m.cfg.NumReplicaFetchers, "to": n}).Info("resizing replica fetchers")
	fm.m.cfg.NumReplicaFetchers = n
	for key, states := range byFetcher {
		fm.startFetcherLocked(key, addrs[key]).addPartitions(states)
	}
}

// removeFetcherForPartitions stops fetching tps (AbstractFetcherManager.removeFetcherForPartitions). When it
// returns, no fetcher writes any of them.
func (fm *fetcherManager) removeFetcherForPartitions(tps []storage.TopicPartition) {
	if len(tps) == 0 {
		return
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	for _, f := range fm.fetchers {
		for tp := range f.removePartitions(tps) {
			f.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Info("removed partition from replica fetcher")
		}
	}
}

// shutdownIdleFetchers stops fetchers left without partitions (AbstractFetcherManager.shutdownIdleFetcherThreads).
func (fm *fetcherManager) shutdownIdleFetchers() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	for key, f := range fm.fetchers {
		if f.size() == 0 {
			f.shutdown()
			delete(fm.fetchers, key)
		}
	}
}

// shutdown stops every fetcher and refuses new ones.
func (fm *fetcherManager) shutdown() {
	fm.mu.Lock()
	defer fm.mu.Unlock()
	fm.stopped = true
	fm.cancel()
	for key, f := range fm.fetchers {
		f.shutdown()
		delete(fm.fetchers, key)
	}
}

// FetcherState is a partition's replication state on a follower, for tests and describe tools.
type FetcherState struct {
	Leader           int32
	FetchOffset      int64
	LeaderEpoch      int32
	LastFetchedEpoch int32
	Truncating       bool
	Delayed          bool
}

// FetcherState reports how tp is being fetched; ok is false when no fetcher has it.
func (m *Manager) FetcherState(tp storage.TopicPartition) (FetcherState, bool) {
	fm := m.fetchers
	fm.mu.Lock()
	defer fm.mu.Unlock()
	for key, f := range fm.fetchers {
		f.mu.Lock()
		st, ok := f.parts[tp]
		var out FetcherState
		if ok {
			out = FetcherState{Leader: key.broker, FetchOffset: st.offset, LeaderEpoch: st.leaderEpoch,
				LastFetchedEpoch: st.lastFetchedEpoch, Truncating: st.truncating, Delayed: time.Now().Before(st.delayUntil)}
		}
		f.mu.Unlock()
		if ok {
			return out, true
		}
	}
	return FetcherState{}, false
}

// NumFetchers is the number of running replica fetchers.
func (m *Manager) NumFetchers() int {
	m.fetchers.mu.Lock()
	defer m.fetchers.mu.Unlock()
	return len(m.fetchers.fetchers)
}
