package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Dynamic broker configs (Kafka 2.8's DynamicBrokerConfig): /config/brokers/<id> (per broker) and
// /config/brokers/<default> (cluster-wide) override the static file, per-broker first:
//
//	per-broker dynamic > cluster default dynamic > static (file, --override) > Kafka default
//
// Kafka 2.8's updatable set (DynamicBrokerConfig.AllDynamicConfigs) is the union of
//
//   - LogCleaner.ReconfigurableConfigs: log.cleaner.threads, .dedupe.buffer.size, .io.buffer.load.factor,
//     .io.buffer.size, .io.max.bytes.per.second, .backoff.ms;
//   - DynamicLogConfig.ReconfigurableConfigs: the broker synonym of every topic config
//     (LogConfig.TopicConfigSynonyms values) except log.message.format.version — so log.retention.ms and
//     log.roll.ms are dynamic but log.retention.hours/minutes and log.roll.hours are not;
//   - DynamicThreadPool: num.io.threads, num.network.threads, num.replica.fetchers,
//     num.recovery.threads.per.data.dir, background.threads;
//   - DynamicListenerConfig (per-broker only): listeners, advertised.listeners, listener.security.protocol.map,
//     plus SSL/SASL keys Samsa does not have;
//   - SocketServer: max.connections, max.connections.per.ip, max.connections.per.ip.overrides,
//     max.connection.creation.rate; metric.reporters; SSL keystore/truststore keys;
//   - DynamicConfig.Broker's own: leader/follower.replication.throttled.rate,
//     replica.alter.log.dirs.io.max.bytes.per.second.
//
// Keys of that set that Samsa does not define (SSL, SASL, metric.reporters, the throttle rates,
// max.connection.creation.rate, max.connections.per.ip.overrides) pass through as custom keys, as
// Kafka's DynamicConfig.Broker.validate allows for names it does not know: stored, not interpreted here.

// dynamicBrokerKeys are the keys of Samsa's schema that Kafka 2.8 lets AlterConfigs change, with how
// Samsa treats a change.
var dynamicBrokerKeys = map[string]dynamicUse{
	// Topic defaults: every log without its own override takes the new value at once.
	"log.cleanup.policy":                      liveApplied,
	"compression.type":                        liveApplied,
	"log.cleaner.delete.retention.ms":         liveApplied,
	"log.segment.delete.delay.ms":             liveApplied,
	"log.flush.interval.messages":             liveApplied,
	"log.flush.interval.ms":                   liveApplied,
	"log.index.interval.bytes":                liveApplied,
	"log.cleaner.max.compaction.lag.ms":       liveApplied,
	"message.max.bytes":                       liveApplied,
	"log.message.downconversion.enable":       liveApplied,
	"log.message.timestamp.difference.max.ms": liveApplied,
	"log.message.timestamp.type":              liveApplied,
	"log.cleaner.min.cleanable.ratio":         liveApplied,
	"log.cleaner.min.compaction.lag.ms":       liveApplied,
	"min.insync.replicas":                     liveApplied,
	"log.preallocate":                         liveApplied,
	"log.retention.bytes":                     liveApplied,
	"log.retention.ms":                        liveApplied,
	"log.segment.bytes":                       liveApplied,
	"log.index.size.max.bytes":                liveApplied,
	"log.roll.jitter.ms":                      liveApplied,
	"log.roll.ms":                             liveApplied,
	// Feeds the topic configs like the keys above, and the controller's broker-wide default: turned on,
	// the active controller elects an unclean leader for every offline partition at once (Kafka's
	// enableDefaultUncleanLeaderElection).
	"unclean.leader.election.enable": liveApplied,

	// The log cleaner restarts its threads with the new settings (storage.Manager.ReconfigureCleaner, as
	// Kafka's LogCleaner.reconfigure); a cleaning in progress is aborted and redone.
	"log.cleaner.threads":               liveApplied,
	"log.cleaner.dedupe.buffer.size":    liveApplied,
	"log.cleaner.io.buffer.load.factor": liveApplied,
	"log.cleaner.io.buffer.size":        liveApplied,
	"log.cleaner.backoff.ms":            liveApplied,
	// The replica fetchers are rebuilt with the new count (AbstractFetcherManager.resizeThreadPool).
	"num.replica.fetchers": liveApplied,

	// Samsa runs goroutines, not thread pools, and does not cap connections: accepted, validated,
	// described, and otherwise advisory (as their static values are).
	"num.io.threads":                    advisory,
	"num.network.threads":               advisory,
	"num.recovery.threads.per.data.dir": advisory,
	"background.threads":                advisory,
	"max.connections":                   advisory,
	"max.connections.per.ip":            advisory,
	// Samsa's cleaner does not throttle its I/O at all (static or dynamic).
	"log.cleaner.io.max.bytes.per.second": advisory,
}

// perBrokerOnlyKeys can be changed for one broker but not as a cluster default (Kafka's PerBrokerConfigs:
// the listener configs). Samsa refuses them altogether (see refusedDynamicKeys); the set documents
// Kafka's rule and keeps its message for a cluster-level attempt.
var perBrokerOnlyKeys = map[string]bool{
	"listeners": true, "advertised.listeners": true, "listener.security.protocol.map": true,
}

// refusedDynamicKeys are dynamic in Kafka but refused by Samsa, which cannot rebind listeners or
// re-register new endpoints while running: accepting them would store a value that never takes effect.
var refusedDynamicKeys = perBrokerOnlyKeys

type dynamicUse int

const (
	liveApplied dynamicUse = iota + 1 // applied to running logs and partitions when the change arrives
	advisory                          // validated and described only
)

// IsDynamicBrokerKey reports whether AlterConfigs may change key for a broker (Samsa's schema only).
func IsDynamicBrokerKey(key string) bool { return dynamicBrokerKeys[key] != 0 }

// Dynamic is a broker's configuration with the two dynamic layers of /config/brokers on top of the
// static one. It is immutable: a change builds a new Dynamic (the broker swaps it atomically).
type Dynamic struct {
	static         *Config
	effective      *Config
	clusterDefault map[string]string // /config/brokers/<default>: the valid dynamic entries applied
	perBroker      map[string]string // /config/brokers/<id>
}

// StaticOnly wraps a static config without dynamic layers.
func StaticOnly(static *Config) *Dynamic {
	return &Dynamic{static: static, effective: static, clusterDefault: map[string]string{}, perBroker: map[string]string{}}
}

// NewDynamic layers clusterDefault and perBroker (the stored content of /config/brokers/<default> and
// /config/brokers/<id>) over static. Like Kafka's DynamicBrokerConfig.removeInvalidConfigs, entries that
// are not dynamic or do not parse are left out; keys Samsa does not know are kept aside as custom keys.
// If the layers together break a cross-key rule, both layers are ignored (Kafka keeps its previous
// config when a reconfiguration fails). The returned error describes whatever was ignored; the
// Dynamic is always usable.
func NewDynamic(static *Config, clusterDefault, perBroker map[string]string) (*Dynamic, error) {
	var ignored []error
	def, errDef := usableLayer(clusterDefault, false)
	per, errPer := usableLayer(perBroker, true)
	ignored = append(ignored, errDef, errPer)
	eff := layer(static, def, per)
	if err := eff.Validate(); err != nil {
		ignored = append(ignored, fmt.Errorf("dynamic broker configs ignored: %w", err))
		return StaticOnly(static), errors.Join(ignored...)
	}
	return &Dynamic{static: static, effective: eff, clusterDefault: def, perBroker: per}, errors.Join(ignored...)
}

// usableLayer keeps the entries of a stored layer that parse and may be set dynamically at that level.
func usableLayer(props map[string]string, perBroker bool) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, k := range sortedKeys(props) {
		v := props[k]
		if _, known := brokerSchema.lookup(k); !known {
			continue // a custom key: stored in ZooKeeper, not part of the effective config
		}
		if err := checkDynamicKey(k, perBroker); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := brokerSchema.set(Default(), k, v); err != nil {
			errs = append(errs, invalid(k, v, "%v", err))
			continue
		}
		out[k] = v
	}
	return out, errors.Join(errs...)
}

func checkDynamicKey(k string, perBroker bool) error {
	switch {
	case refusedDynamicKeys[k]:
		return &Error{Key: k, kind: ErrInvalidValue, Reason: "Samsa cannot update listener configs dynamically"}
	case !IsDynamicBrokerKey(k):
		return &Error{Key: k, kind: ErrInvalidValue, Reason: "cannot be updated dynamically"}
	case !perBroker && perBrokerOnlyKeys[k]:
		return &Error{Key: k, kind: ErrInvalidValue, Reason: "cannot be updated at default cluster level"}
	}
	return nil
}

// layer returns static with def and then per applied (both already parsed successfully once). The
// layers do not mark keys as set: IsSet and STATIC_BROKER_CONFIG stay about the static file.
func layer(static *Config, def, per map[string]string) *Config {
	if len(def) == 0 && len(per) == 0 {
		return static
	}
	eff := static.Clone()
	for _, m := range []map[string]string{def, per} {
		for _, k := range sortedKeys(m) {
			_ = brokerSchema.set(eff, k, m[k]) // checked by usableLayer
		}
	}
	return eff
}

// ValidateUpdate checks the complete new content of a dynamic layer — /config/brokers/<id> when perBroker,
// else /config/brokers/<default> — as Kafka's DynamicBrokerConfig.validate does: no non-dynamic key
// (Kafka's message "Cannot update these configs dynamically: Set(...)"), no per-broker-only key at
// cluster level, every value parses, and the resulting configuration passes Validate with the other
// layer and the static config. Keys Samsa does not know are accepted unchecked (custom keys).
func (d *Dynamic) ValidateUpdate(props map[string]string, perBroker bool) error {
	var nonDynamic, refused, perBrokerOnly []string
	for _, k := range sortedKeys(props) {
		if _, known := brokerSchema.lookup(k); !known {
			continue
		}
		switch {
		case refusedDynamicKeys[k] && perBroker:
			refused = append(refused, k)
		case !IsDynamicBrokerKey(k) && !perBrokerOnlyKeys[k]:
			nonDynamic = append(nonDynamic, k)
		case !perBroker && perBrokerOnlyKeys[k]:
			perBrokerOnly = append(perBrokerOnly, k)
		}
	}
	switch {
	case len(nonDynamic) > 0:
		return &Error{Key: nonDynamic[0], kind: ErrInvalidValue,
			Reason: "Cannot update these configs dynamically: " + scalaSet(nonDynamic)}
	case len(perBrokerOnly) > 0:
		return &Error{Key: perBrokerOnly[0], kind: ErrInvalidValue,
			Reason: "Cannot update these configs at default cluster level, broker id must be specified: " + scalaSet(perBrokerOnly)}
	case len(refused) > 0:
		return &Error{Key: refused[0], kind: ErrInvalidValue,
			Reason: "Samsa cannot update listener configs dynamically: " + scalaSet(refused)}
	}
	var errs []error
	known := map[string]string{}
	for _, k := range sortedKeys(props) {
		if _, ok := brokerSchema.lookup(k); !ok {
			continue
		}
		if err := brokerSchema.set(Default(), k, props[k]); err != nil {
			errs = append(errs, invalid(k, props[k], "%v", err))
			continue
		}
		known[k] = props[k]
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	def, per := d.clusterDefault, d.perBroker
	if perBroker {
		per = known
	} else {
		def = known
	}
	return layer(d.static, def, per).Validate()
}

// scalaSet renders names the way Kafka's messages print a Scala Set: "Set(a, b)".
func scalaSet(names []string) string { return "Set(" + strings.Join(names, ", ") + ")" }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Static is the configuration from the file and overrides alone.
func (d *Dynamic) Static() *Config { return d.static }

// Effective is the configuration in force: static with the dynamic layers applied. Callers must not
// modify it.
func (d *Dynamic) Effective() *Config { return d.effective }

// ClusterDefault returns a copy of the applied /config/brokers/<default> entries.
func (d *Dynamic) ClusterDefault() map[string]string { return maps.Clone(d.clusterDefault) }

// PerBroker returns a copy of the applied /config/brokers/<id> entries.
func (d *Dynamic) PerBroker() map[string]string { return maps.Clone(d.perBroker) }

// Changed lists the effective broker keys whose value differs between d and next, sorted.
func (d *Dynamic) Changed(next *Dynamic) []string {
	var out []string
	for _, k := range brokerSchema.keys {
		a, b := brokerSchema.format(d.effective, k), brokerSchema.format(next.effective, k)
		if (a == nil) != (b == nil) || (a != nil && *a != *b) {
			out = append(out, k)
		}
	}
	return slices.Clip(out)
}

// KeyInfo says what IncrementalAlterConfigs needs to know about a key: whether the schema has it, whether
// its Kafka type is LIST (APPEND and SUBTRACT apply only to those) and Kafka's default value, which
// APPEND and SUBTRACT start from when the entity does not set the key.
type KeyInfo struct {
	Known        bool
	List         bool
	KafkaDefault *string
}

// TopicKeyInfo describes a topic config key (LogConfig.configKeys).
func TopicKeyInfo(name string) KeyInfo {
	if _, ok := topicSchema.lookup(name); !ok {
		return KeyInfo{}
	}
	d := Default().TopicDefaults()
	return KeyInfo{Known: true, List: topicSchema.configType(name) == kmsg.ConfigTypeList, KafkaDefault: topicSchema.format(&d, name)}
}

// BrokerKeyInfo describes a broker config key (KafkaConfig.configKeys).
func BrokerKeyInfo(name string) KeyInfo {
	if _, ok := brokerSchema.lookup(name); !ok {
		return KeyInfo{}
	}
	return KeyInfo{Known: true, List: brokerSchema.configType(name) == kmsg.ConfigTypeList,
		KafkaDefault: brokerSchema.format(kafkaDefaults, name)}
}

// TopicDefaultKey reports whether broker key supplies a topic config's default (directly, like
// log.retention.ms, or as a lower-precedence synonym, like log.retention.hours).
func TopicDefaultKey(key string) bool {
	for _, b := range topicSynonyms {
		if b != "" && slices.Contains(brokerSynonyms(b), key) {
			return true
		}
	}
	return false
}
