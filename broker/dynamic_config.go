package broker

// Dynamic configuration, Kafka 2.8's way (ZkConfigManager and its ConfigHandlers): a ConfigWatcher on
// /config/changes reports every entity whose config may have changed — each existing one at startup, then
// one per notification — and configChanged re-reads it and applies it:
//
//	topics/<t>               the topic's effective config (broker config + overrides) is recomputed and set
//	                         on every local log and partition of the topic (retention, roll, segment size,
//	                         min.insync.replicas, compaction settings) — no restart needed
//	brokers/<default>, <id>  the dynamic broker layers are re-read and swapped in (config.Dynamic); if the
//	                         effective topic defaults changed, every hosted topic is recomputed as above
//	users/..., clients/...   handed to quotaEntityChanged (broker/quotas.go)
//
// The broker's static b.cfg never changes; currentConfig is the effective one. What a broker-level change
// does depends on the key (config.dynamicBrokerKeys): topic defaults, message.max.bytes and
// min.insync.replicas apply to every hosted log at once; log.cleaner.* restart the cleaner threads with
// the new settings (storage.Manager.ReconfigureCleaner); unclean.leader.election.enable also goes to the
// controller, which, when it is active and the setting turns on, elects leaders for offline partitions at
// once (as does a topic override turned on); num.replica.fetchers rebuilds the replica fetchers. The
// remaining thread counts and connection caps are accepted and advisory, as their static values are.

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/zkregistry"
)

// dynamicState is the broker's view of /config/brokers and the watcher feeding it.
type dynamicState struct {
	cur     atomic.Pointer[config.Dynamic]
	applyMu sync.Mutex // serialises re-reading and applying (watcher vs. startup)
	watcher *zkregistry.ConfigWatcher
}

// dynamicConfig is the configuration in force with its layers (static only before Start reads ZooKeeper).
func (b *Broker) dynamicConfig() *config.Dynamic {
	if d := b.dyn.cur.Load(); d != nil {
		return d
	}
	return config.StaticOnly(b.cfg)
}

// currentConfig is the effective broker configuration: static overridden by the dynamic layers.
func (b *Broker) currentConfig() *config.Config { return b.dynamicConfig().Effective() }

// loadDynamicBrokerConfig reads /config/brokers/<default> and /config/brokers/<id> and installs the
// result; called in Start once the broker id is known, before anything reads the config.
func (b *Broker) loadDynamicBrokerConfig() error {
	b.dyn.applyMu.Lock()
	defer b.dyn.applyMu.Unlock()
	d, err := b.readDynamicBrokerConfig()
	if err != nil {
		return err
	}
	b.dyn.cur.Store(d)
	return nil
}

func (b *Broker) readDynamicBrokerConfig() (*config.Dynamic, error) {
	def, err := b.zk.GetEntityConfig(zkregistry.ConfigBrokers, zkregistry.DefaultEntity)
	if err != nil {
		return nil, err
	}
	per, err := b.zk.GetEntityConfig(zkregistry.ConfigBrokers, strconv.Itoa(int(b.id)))
	if err != nil {
		return nil, err
	}
	d, ignored := config.NewDynamic(b.cfg, def, per)
	if ignored != nil {
		b.log.WithError(ignored).Warn("ignoring invalid dynamic broker configs")
	}
	return d, nil
}

// startConfigWatcher starts processing /config/changes; called in Start once logs, replicas and the
// metadata cache exist.
func (b *Broker) startConfigWatcher() {
	b.dyn.watcher = b.zk.WatchConfigChanges(b.configChanged,
		zkregistry.ConfigWatchOptions{Log: b.log.WithField("component", "config_watcher")})
}

func (b *Broker) stopConfigWatcher() {
	if b.dyn.watcher != nil {
		b.dyn.watcher.Stop()
	}
}

// configChanged dispatches one entity path from the watcher (its only caller, one at a time).
func (b *Broker) configChanged(entityPath string) {
	typ, name, _ := strings.Cut(entityPath, "/")
	switch typ {
	case zkregistry.ConfigTopics:
		b.topicConfigChanged(name)
	case zkregistry.ConfigBrokers:
		if name == zkregistry.DefaultEntity || name == strconv.Itoa(int(b.id)) {
			b.brokerConfigChanged()
		}
	case zkregistry.ConfigUsers, zkregistry.ConfigClients:
		b.quotaEntityChanged(entityPath)
	}
}

// topicConfigChanged re-reads a hosted topic's overrides and applies the result to its logs (Kafka's
// TopicConfigHandler: only topics with local logs matter).
func (b *Broker) topicConfigChanged(topic string) {
	b.maybeEnableTopicUnclean(topic)
	if !b.hostsTopicLog(topic) {
		return
	}
	if err := b.applyTopicConfig(topic); err != nil {
		b.log.WithError(err).WithField("topic", topic).Error("applying topic config change")
	}
}

// hostsTopicLog reports whether topic has a cached config or a local log (a replica or not).
func (b *Broker) hostsTopicLog(topic string) bool {
	if _, ok := b.topics.get(topic); ok {
		return true
	}
	for tp := range b.logs.Logs() {
		if tp.Topic == topic {
			return true
		}
	}
	return false
}

// applyTopicConfig recomputes topic's effective config from ZooKeeper and sets it on its partitions (log
// settings, min.insync.replicas) and on any local log without a partition yet.
func (b *Broker) applyTopicConfig(topic string) error {
	tc, err := b.loadTopicConfig(topic)
	if err != nil {
		return err
	}
	lc := storage.Config(tc.Log())
	b.replicas.UpdateTopicConfig(topic, lc, int(tc.MinInsyncReplicas))
	for tp, l := range b.logs.Logs() {
		if tp.Topic == topic {
			l.SetConfig(lc)
		}
	}
	b.log.WithFields(logrus.Fields{"topic": topic, "retention_ms": tc.RetentionMs, "segment_bytes": tc.SegmentBytes,
		"segment_ms": tc.SegmentMs}).Info("topic config applied")
	return nil
}

// brokerConfigChanged re-reads both dynamic broker layers (Kafka's BrokerConfigHandler), swaps them in
// and, when the topic defaults changed, re-applies every hosted topic's config.
func (b *Broker) brokerConfigChanged() {
	b.dyn.applyMu.Lock()
	next, err := b.readDynamicBrokerConfig()
	if err != nil {
		b.dyn.applyMu.Unlock()
		b.log.WithError(err).Error("reading dynamic broker config")
		return
	}
	prev := b.dynamicConfig()
	b.dyn.cur.Store(next)
	b.dyn.applyMu.Unlock()

	changed := prev.Changed(next)
	if len(changed) == 0 {
		return
	}
	topicDefaults := false
	for _, k := range changed {
		if config.TopicDefaultKey(k) {
			topicDefaults = true
		}
	}
	b.log.WithFields(logrus.Fields{"changed": changed}).Info("dynamic broker config updated")
	if slices.ContainsFunc(changed, isCleanerKey) {
		if err := b.logs.ReconfigureCleaner(*b.cleanerConfig()); err != nil {
			b.log.WithError(err).Error("reconfiguring the log cleaner")
		}
	}
	if slices.Contains(changed, "num.replica.fetchers") {
		b.replicas.SetNumReplicaFetchers(int(next.Effective().NumReplicaFetchers))
	}
	if slices.Contains(changed, uncleanKey) {
		ctx, cancel := context.WithTimeout(context.Background(), controllerCallTimeout)
		err := b.ctrl.SetUncleanLeaderElection(ctx, next.Effective().UncleanLeaderElectionEnable)
		cancel()
		if err != nil {
			b.log.WithError(err).Warn("passing unclean.leader.election.enable to the controller")
		}
	}
	if !topicDefaults {
		return
	}
	var errs []error
	for _, topic := range b.hostedTopics() {
		errs = append(errs, b.applyTopicConfig(topic))
	}
	if err := errors.Join(errs...); err != nil {
		b.log.WithError(err).Error("re-applying topic configs after a broker config change")
	}
}

// uncleanKey is the broker default of unclean leader election, also a topic key.
const uncleanKey = "unclean.leader.election.enable"

// controllerCallTimeout bounds how long the config watcher waits for the controller's event loop.
const controllerCallTimeout = 30 * time.Second

// isCleanerKey reports whether key is one of the log cleaner's own settings (not a topic default such as
// log.cleaner.delete.retention.ms, which reaches the logs through their topic configs).
func isCleanerKey(key string) bool {
	switch key {
	case "log.cleaner.enable", "log.cleaner.threads", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
		"log.cleaner.io.buffer.size", "log.cleaner.backoff.ms":
		return true
	}
	return false
}

// maybeEnableTopicUnclean tells the active controller that a topic now allows unclean elections (Kafka's
// TopicConfigHandler → enableTopicUncleanLeaderElection), so its offline partitions are elected at once.
func (b *Broker) maybeEnableTopicUnclean(topic string) {
	if !b.isController() {
		return
	}
	overrides, err := b.zk.GetTopicConfig(topic)
	if err != nil || overrides[uncleanKey] != "true" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), controllerCallTimeout)
	defer cancel()
	if err := b.ctrl.TopicUncleanLeaderElectionEnabled(ctx, topic); err != nil {
		b.log.WithError(err).WithField("topic", topic).Warn("passing a topic's unclean.leader.election.enable to the controller")
	}
}

// hostedTopics lists the topics with a local log or a cached config.
func (b *Broker) hostedTopics() []string {
	seen := map[string]bool{}
	var out []string
	for tp := range b.logs.Logs() {
		if !seen[tp.Topic] {
			seen[tp.Topic] = true
			out = append(out, tp.Topic)
		}
	}
	b.topics.mu.RLock()
	for t := range b.topics.m {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	b.topics.mu.RUnlock()
	return out
}
