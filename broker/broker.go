package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/broker/txn"
	"github.com/samsa-broker/samsa/controller"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/zkregistry"
)

// Broker is the composition root: it owns the log manager, the ZooKeeper session, the metadata cache, the
// replica manager, the controller (active only while elected) and the listeners.
type Broker struct {
	cfg *config.Config
	log *logrus.Entry

	id        int32
	epoch     int64 // czxid of our /brokers/ids znode (KIP-380)
	regSess   int64 // the ZooKeeper session that holds our registration (touched by Start, then watchSession)
	clusterID string

	apis     *apis
	zk       *zkregistry.Client
	logs     *storage.Manager
	meta     *metadata.Cache
	replicas *replica.Manager
	alterISR *alterISRClient // AlterIsr channel to the controller, used by replicas
	ctrl     *controller.Controller
	topics   topicConfigs
	dyn      dynamicState                  // dynamic broker configs and the /config/changes watcher (dynamic_config.go)
	quotas   atomic.Pointer[quota.Manager] // client quotas, nil until a quota entity is seen (quotas.go)

	groups *group.Coordinator // consumer groups and committed offsets (broker/group)

	txn         *txn.Coordinator   // transaction coordinator (broker/txn)
	txnOffsets  txn.GroupOffsets   // transactional offset commits in the group coordinator
	markerConns *markerTransport   // WriteTxnMarkers connections to partition leaders
	producerIDs *producerIDManager // blocks of /latest_producer_id_block (broker/producerid.go)

	listeners []*listener
	conns     connTracker
	wg        sync.WaitGroup
	cancel    context.CancelFunc
	stopOnce  sync.Once
	started   atomic.Bool // Start completed: a controlled shutdown is worth asking for
}

// New checks the configuration and builds a broker; Start brings it up.
func New(cfg *config.Config, lg *logrus.Entry) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a, err := compileAPIs(apiTable)
	if err != nil {
		return nil, err
	}
	return &Broker{cfg: cfg, log: lg, apis: a, id: cfg.BrokerID}, nil
}

// ID is the broker id (known after Start).
func (b *Broker) ID() int32 { return b.id }

// Addrs are the bound listener addresses, in configuration order.
func (b *Broker) Addrs() []net.Addr {
	out := make([]net.Addr, len(b.listeners))
	for i, l := range b.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// Start follows Kafka's KafkaServer.startup order: ZooKeeper and the cluster id, the broker id (config,
// meta.properties or /brokers/seqid), log recovery, listeners bound, replica manager, registration in
// /brokers/ids (which makes the broker visible to the controller), meta.properties, the controller, and
// finally request processing.
func (b *Broker) Start(ctx context.Context) (err error) {
	// The broker's own context is detached from ctx: when ctx ends (SIGTERM in cmd) Shutdown runs, and it
	// must find the broker still serving, so that the controlled shutdown can move leadership first.
	parent := ctx
	ctx, b.cancel = context.WithCancel(context.WithoutCancel(parent))
	defer func() {
		if err != nil {
			b.Shutdown()
		}
	}()
	if err := b.connectZooKeeper(); err != nil {
		return err
	}
	if err := b.resolveBrokerID(); err != nil {
		return err
	}
	b.log = b.log.WithField("broker_id", b.id)
	if err := b.loadDynamicBrokerConfig(); err != nil {
		return fmt.Errorf("read dynamic broker configs: %w", err)
	}
	lm := b.currentConfig().LogManager()
	b.logs, err = storage.NewManager(storage.ManagerConfig{
		Dirs: lm.Dirs, Default: storage.Config(lm.Default),
		RetentionCheckIntervalMs: lm.RetentionCheckIntervalMs, FlushSchedulerIntervalMs: lm.FlushSchedulerIntervalMs,
		FlushOffsetCheckpointIntervalMs: lm.FlushOffsetCheckpointIntervalMs, FlushStartOffsetCheckpointIntervalMs: lm.FlushStartOffsetCheckpointIntervalMs,
		FileDeleteDelayMs:      lm.FileDeleteDelayMs,
		TopicConfig:            b.storedTopicConfig,
		Cleaner:                b.cleanerConfig(),
		TopicCompaction:        b.topicCompaction,
		ProducerIDExpirationMs: int64(b.cfg.TransactionalIDExpirationMs),
	}, b.log.WithField("component", "log_manager"))
	if err != nil {
		return fmt.Errorf("load logs: %w", err)
	}
	b.logs.Start(ctx)
	endpoints, err := b.cfg.Endpoints()
	if err != nil {
		return err
	}
	if b.listeners, err = bindListeners(endpoints); err != nil {
		return fmt.Errorf("bind listeners: %w", err)
	}
	b.meta = metadata.NewCache(b.id)
	b.replicas = replica.NewManager(b.id, b.logs, b.replicaConfig(), b.log.WithField("component", "replica_manager"))
	b.replicas.Start(ctx)
	if err := b.startGroupCoordinator(ctx); err != nil {
		return err
	}
	b.producerIDs = newProducerIDManager(b.id, b.zk.AllocateProducerIDBlock, b.log.WithField("component", "producer_ids"))
	if err := b.producerIDs.start(); err != nil {
		return err
	}
	if err := b.startTxnCoordinator(ctx); err != nil {
		return err
	}
	if err := b.register(); err != nil {
		return err
	}
	if err := b.writeMetaProperties(); err != nil {
		return err
	}
	b.ctrl = controller.New(b.controllerConfig(), b.zk, b.log.WithField("component", "controller"))
	b.ctrl.Start(context.WithoutCancel(ctx)) // stopped by Shutdown, after the replica manager
	b.startConfigWatcher()
	for _, l := range b.listeners {
		b.wg.Add(1)
		go b.serve(ctx, l, &b.wg)
	}
	b.wg.Add(1)
	go b.watchSession(ctx)
	b.log.WithFields(logrus.Fields{"cluster_id": b.clusterID, "broker_epoch": b.epoch, "listeners": b.addrStrings()}).Info("started")
	b.started.Store(true)
	context.AfterFunc(parent, b.Shutdown)
	return nil
}

func (b *Broker) addrStrings() []string {
	var out []string
	for _, l := range b.listeners {
		out = append(out, l.name+"://"+l.ln.Addr().String())
	}
	return out
}

func (b *Broker) connectZooKeeper() error {
	var err error
	b.zk, err = zkregistry.Dial(zkregistry.Config{
		Connect:           b.cfg.ZookeeperConnect,
		SessionTimeout:    time.Duration(b.cfg.ZookeeperSessionTimeoutMs) * time.Millisecond,
		ConnectionTimeout: time.Duration(b.cfg.ZookeeperConnectionTimeout()) * time.Millisecond,
		Log:               b.log.WithField("component", "zookeeper"),
	})
	if err != nil {
		return fmt.Errorf("connect to zookeeper %s: %w", b.cfg.ZookeeperConnect, err)
	}
	if err := b.zk.EnsurePersistentPaths(); err != nil {
		return fmt.Errorf("create persistent znodes: %w", err)
	}
	if b.clusterID, err = b.zk.GetOrCreateClusterID(); err != nil {
		return fmt.Errorf("cluster id: %w", err)
	}
	return nil
}

// resolveBrokerID applies Kafka's rules: every log dir's meta.properties must agree; a configured id must
// match the stored one; with broker.id=-1 the stored id is used, else one is generated (/brokers/seqid).
// A stored cluster id must match ZooKeeper's.
func (b *Broker) resolveBrokerID() error {
	var stored *storage.BrokerMetadata
	for _, dir := range b.cfg.DataDirs() {
		m, err := storage.ReadMetaProperties(filepath.Join(dir, storage.MetaPropertiesFile))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if stored != nil && *stored != m {
			return fmt.Errorf("log dirs have inconsistent meta.properties (%+v vs %+v)", *stored, m)
		}
		stored = &m
	}
	if stored != nil {
		if stored.ClusterID != "" && stored.ClusterID != b.clusterID {
			return fmt.Errorf("the cluster id %s in ZooKeeper does not match the stored cluster id %s in meta.properties: "+
				"these log dirs belong to another cluster", b.clusterID, stored.ClusterID)
		}
		if b.id >= 0 && stored.BrokerID != b.id {
			return fmt.Errorf("configured broker.id %d does not match the stored broker.id %d in meta.properties", b.id, stored.BrokerID)
		}
		b.id = stored.BrokerID
		return nil
	}
	if b.id >= 0 {
		return nil
	}
	if !b.cfg.BrokerIDGenerationEnable {
		return errors.New("broker.id is -1, no meta.properties holds one, and broker.id.generation.enable is false")
	}
	id, err := b.zk.GenerateBrokerID(b.cfg.ReservedBrokerMaxID)
	if err != nil {
		return fmt.Errorf("generate broker id: %w", err)
	}
	b.id = id
	return nil
}

func (b *Broker) writeMetaProperties() error {
	m := storage.BrokerMetadata{BrokerID: b.id, ClusterID: b.clusterID}
	for _, dir := range b.cfg.DataDirs() {
		if err := storage.WriteMetaProperties(filepath.Join(dir, storage.MetaPropertiesFile), m); err != nil {
			return err
		}
	}
	return nil
}

// brokerInfo is our /brokers/ids registration: advertised listeners with the bound ports filled in.
func (b *Broker) brokerInfo() (zkregistry.BrokerInfo, error) {
	adv, err := b.cfg.AdvertisedEndpoints()
	if err != nil {
		return zkregistry.BrokerInfo{}, err
	}
	info := zkregistry.BrokerInfo{ID: b.id, Rack: b.cfg.BrokerRack, JMXPort: -1, Timestamp: time.Now().UnixMilli()}
	for _, a := range adv {
		ep := zkregistry.Endpoint{Listener: a.Name, SecurityProtocol: a.SecurityProtocol, Host: a.Host, Port: a.Port}
		for _, l := range b.listeners {
			if l.name == a.Name && ep.Port == 0 {
				ep.Port = int32(l.ln.Addr().(*net.TCPAddr).Port)
			}
		}
		if ep.Host == "" { // Kafka advertises the canonical host name for an unspecified host
			if h, err := os.Hostname(); err == nil {
				ep.Host = h
			}
		}
		info.Endpoints = append(info.Endpoints, ep)
	}
	return info, nil
}

func (b *Broker) register() error {
	info, err := b.brokerInfo()
	if err != nil {
		return err
	}
	// After a SIGKILL and a quick restart our previous session's znode lives until ZooKeeper expires that
	// session. Kafka 2.8 fails to start then; we wait out the session timeout (plus slack) instead, so a
	// fast restart works and the controller sees a bounce (new czxid).
	deadline := time.Now().Add(time.Duration(b.cfg.ZookeeperSessionTimeoutMs)*time.Millisecond + 5*time.Second)
	for {
		b.epoch, err = b.zk.RegisterBroker(info)
		if !errors.Is(err, zkregistry.ErrBrokerIDInUse) || time.Now().After(deadline) {
			break
		}
		b.log.Info("broker id still registered by a previous session; waiting for it to expire")
		b.awaitZnodeGone(zkregistry.BrokerPath(b.id), time.Until(deadline))
	}
	if err != nil {
		return fmt.Errorf("register broker %d: %w", b.id, err)
	}
	b.regSess = b.zk.SessionID()
	b.log.WithFields(logrus.Fields{"broker_epoch": b.epoch, "endpoints": len(info.Endpoints)}).Info("registered in zookeeper")
	return nil
}

// awaitZnodeGone waits, with a ZooKeeper watch, until path does not exist or timeout passes.
func (b *Broker) awaitZnodeGone(path string, timeout time.Duration) {
	gone := make(chan struct{})
	var once sync.Once
	w := b.zk.WatchData(path, func(_ context.Context, _ []byte, st *zkregistry.Stat) {
		if st == nil {
			once.Do(func() { close(gone) })
		}
	})
	defer w.Stop()
	select {
	case <-gone:
	case <-time.After(timeout):
	}
}

// watchSession is the one reader of the ZooKeeper session events. It re-registers after a ZooKeeper session expiry (the ephemeral znode went with the session),
// which gives the broker a new epoch, as Kafka's KafkaZkClient re-registration does. Data is untouched.
func (b *Broker) watchSession(ctx context.Context) {
	defer b.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-b.zk.Events():
			if !ok {
				return
			}
			if ev.State == zkregistry.SessionConnected && ev.NewSession && ev.SessionID != b.regSess {
				if err := b.register(); err != nil {
					b.log.WithError(err).Error("re-registration after session expiry failed")
				}
			}
			b.ctrl.HandleSessionEvent(ev) // after re-registering: a new controller must see us alive
		}
	}
}

// Shutdown is the SIGTERM path: a controlled shutdown first (the controller moves leadership away while we
// still serve requests: LeaderAndIsr, StopReplica, follower fetches), then stop accepting, close
// connections after their in-flight request, stop the controller and replica manager (HW checkpoint), close
// the logs (flush, checkpoints, clean-shutdown marker) and close the ZooKeeper session, which removes
// /brokers/ids/<id>.
func (b *Broker) Shutdown() {
	b.stopOnce.Do(func() {
		b.log.Info("shutting down")
		b.controlledShutdown()
		for _, l := range b.listeners {
			_ = l.ln.Close()
		}
		if b.cancel != nil {
			b.cancel()
		}
		b.conns.closeAll()
		b.wg.Wait()
		b.stopConfigWatcher()  // before the logs close: it applies configs to them
		b.stopTxnCoordinator() // before the replica manager: its appends go through it
		if b.groups != nil {
			b.groups.Stop() // before the replica manager: its appends go through it
		}
		if b.replicas != nil {
			b.replicas.Stop()
		}
		if b.alterISR != nil {
			b.alterISR.close()
		}
		// The controller resigns once this broker no longer fetches (Kafka stops it after the replica and log
		// managers): a successor elected earlier would take this broker's followers back into ISRs as they
		// catch up, not knowing it is shutting down.
		if b.ctrl != nil {
			b.ctrl.Stop()
		}
		if b.logs != nil {
			if err := b.logs.Close(); err != nil {
				b.log.WithError(err).Error("closing logs")
			}
		}
		if b.zk != nil {
			b.zk.Close()
		}
		b.log.Info("shut down")
	})
}
