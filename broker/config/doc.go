// Package config holds the broker's configuration in Kafka 2.8's own property names, with Kafka's defaults,
// precedence rules and validation, and the per-topic configs derived from it.
//
// # Data flow
//
//	Default()  or  RunDefaults() (no --config: zookeeper.connect=127.0.0.1:2181, log.dirs=./data)
//	   -> YAML file: a flat mapping "log.dirs: /x" (walked as yaml.Node, see decodeYAML)
//	   -> --override key=value, in order (the same parser: Set)
//	   -> Validate: ranges and cross-key rules
//	   => *Config, or errors.Join of every *Error found on the way, so all problems show before anything starts.
//
// Values are Kafka property strings whatever their YAML type: 5, "5" and '5' are the same; a list key (listeners,
// advertised.listeners, log.dirs, listener.security.protocol.map, log.cleanup.policy) takes a YAML sequence or a
// comma-separated string; YAML null (~, or an empty value) unsets a key whose Kafka default is null.
//
// # Precedence (Kafka's), resolved by methods rather than stored
//
//   - DataDirs: log.dirs, else log.dir (default /tmp/kafka-logs; RunDefaults uses ./data).
//   - RetentionMs: log.retention.ms > log.retention.minutes > log.retention.hours; negative means -1, unlimited.
//   - RollMs, RollJitterMs: log.roll{,.jitter}.ms > log.roll{,.jitter}.hours.
//   - FlushIntervalMs: log.flush.interval.ms, else log.flush.scheduler.interval.ms.
//   - ZookeeperConnectionTimeout: zookeeper.connection.timeout.ms, else the session timeout.
//   - Endpoints: listeners, else PLAINTEXT://host.name:port. AdvertisedEndpoints: advertised.listeners, else the
//     legacy advertised.host.name/advertised.port, else listeners. InterBrokerListener:
//     inter.broker.listener.name, else security.inter.broker.protocol.
//
// zookeeper.connect has no default in Kafka, and none here when a config file is given; only RunDefaults (no
// --config at all) supplies 127.0.0.1:2181. broker.id -1 means "from meta.properties, else generated through
// /brokers/seqid"; whether that is allowed (broker.id.generation.enable) is decided at startup, where
// meta.properties is known.
//
// # Topic configs
//
// TopicDefaults maps the broker's log defaults onto Kafka's topic keys (segment.ms <- log.roll.ms/hours, ...);
// TopicConfig overlays a topic's overrides from /config/topics/<topic>; ValidateTopicConfigs checks overrides
// for CreateTopics/AlterConfigs (INVALID_CONFIG); TopicConfig.Log gives the storage subset, which has exactly
// storage.Config's fields so the broker converts it with storage.Config(...). DescribeTopic and DescribeBroker
// give DescribeConfigs entries with Kafka's sources and synonyms.
//
// # Dynamic broker configs
//
// Dynamic layers /config/brokers/<default> and /config/brokers/<id> over the static Config (per-broker >
// cluster default > static > default) without touching it; Effective is the result, which the broker swaps
// atomically. Only Kafka 2.8's dynamically updatable keys apply (dynamicBrokerKeys, with what Samsa does
// with each: applied at once, or advisory); ValidateUpdate gives Kafka's AlterConfigs
// errors. DescribeBroker/DescribeClusterDefault/DescribeTopic on a Dynamic give DYNAMIC_BROKER_CONFIG and
// DYNAMIC_DEFAULT_BROKER_CONFIG sources and synonyms, ReadOnly false for dynamic keys, and one-line
// documentation per key (docs.go).
//
// # Accepted but not acted on
//
// Samsa runs goroutines, not fixed thread pools: num.network.threads, num.io.threads, background.threads and
// num.recovery.threads.per.data.dir are validated and advisory (num.replica.fetchers and log.cleaner.threads
// do size the replica fetchers and the log cleaner). zookeeper.sync.time.ms is legacy in Kafka too.
//
// # Refused
//
// Keys outside this set (SSL, SASL, authorizer, the deprecated quota.producer.default/quota.consumer.default,
// ...) are unknown-key errors; a listener mapped to a
// security protocol other than PLAINTEXT and zookeeper.set.acl=true are errors saying Samsa does not implement
// them; versions before 0.11.0 (message format v0/v1) are refused; inter.broker.protocol.version must be 2.0
// or later.
//
// # Deviations from Kafka 2.8
//
//   - Unknown keys are errors (Kafka logs a warning), so typos cannot pass silently.
//   - A few minimums Kafka lacks, marked "samsa" in brokerMinimums; log.index.size.max.bytes and
//     segment.index.bytes must be at least 12 so each index holds one entry.
//   - An empty cleanup.policy is refused.
package config
