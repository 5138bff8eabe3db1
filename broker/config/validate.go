package config

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks every key's range and the rules that tie keys together (KafkaConfig.validateValues and the
// ConfigDef validators of Kafka 2.8), and returns all problems joined, each an *Error naming its key.
func (c *Config) Validate() error {
	ps := c.problems()
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Minimum values of Kafka's ConfigDef validators (atLeast), plus a few where Kafka has none but a smaller value
// cannot work (marked "samsa").
var brokerMinimums = map[string]int64{
	"reserved.broker.max.id":                    0,
	"zookeeper.session.timeout.ms":              1, // samsa
	"zookeeper.max.in.flight.requests":          1,
	"port":                                      0,
	"num.network.threads":                       1,
	"num.io.threads":                            1,
	"background.threads":                        1,
	"queued.max.requests":                       1,
	"socket.request.max.bytes":                  1,
	"max.connections.per.ip":                    0,
	"max.connections":                           0,
	"request.timeout.ms":                        0,
	"message.max.bytes":                         0,
	"fetch.max.bytes":                           1024,
	"max.incremental.fetch.session.cache.slots": 0,

	"num.partitions":                                1,
	"log.segment.bytes":                             14, // LegacyRecord.RECORD_OVERHEAD_V0
	"log.roll.hours":                                1,
	"log.roll.jitter.hours":                         0,
	"log.retention.check.interval.ms":               1,
	"log.index.size.max.bytes":                      12, // samsa (Kafka: 4): one entry of each index, see topicMinimums
	"log.index.interval.bytes":                      0,
	"log.flush.interval.messages":                   1,
	"log.flush.offset.checkpoint.interval.ms":       0,
	"log.flush.start.offset.checkpoint.interval.ms": 0,
	"log.segment.delete.delay.ms":                   0,
	"log.message.timestamp.difference.max.ms":       0,
	"min.insync.replicas":                           1,
	"num.recovery.threads.per.data.dir":             1,

	"log.cleaner.threads":               0,
	"log.cleaner.io.buffer.size":        0,
	"log.cleaner.backoff.ms":            0,
	"log.cleaner.delete.retention.ms":   0, // samsa: topic delete.retention.ms atLeast(0)
	"log.cleaner.min.compaction.lag.ms": 0, // samsa: topic min.compaction.lag.ms atLeast(0)
	"log.cleaner.max.compaction.lag.ms": 1,

	"default.replication.factor":                    1, // samsa
	"replica.lag.time.max.ms":                       1, // samsa
	"replica.fetch.max.bytes":                       0,
	"replica.fetch.response.max.bytes":              0,
	"replica.fetch.wait.max.ms":                     0, // samsa
	"replica.fetch.backoff.ms":                      0,
	"num.replica.fetchers":                          1, // samsa
	"quota.window.num":                              1,
	"quota.window.size.seconds":                     1,
	"replica.socket.timeout.ms":                     1, // samsa
	"replica.high.watermark.checkpoint.interval.ms": 1, // samsa
	"controller.socket.timeout.ms":                  1, // samsa
	"leader.imbalance.per.broker.percentage":        0, // samsa
	"leader.imbalance.check.interval.seconds":       1, // samsa
	"controlled.shutdown.max.retries":               0, // samsa
	"controlled.shutdown.retry.backoff.ms":          0, // samsa

	"group.min.session.timeout.ms":        0, // samsa
	"group.initial.rebalance.delay.ms":    0, // samsa
	"group.max.size":                      1,
	"offsets.topic.num.partitions":        1,
	"offsets.topic.replication.factor":    1,
	"offsets.topic.segment.bytes":         1,
	"offsets.load.buffer.size":            1,
	"offsets.retention.minutes":           1,
	"offsets.retention.check.interval.ms": 1,
	"offsets.commit.timeout.ms":           1,
	"offset.metadata.max.bytes":           0, // samsa

	"transactional.id.expiration.ms":                              1,
	"transaction.max.timeout.ms":                                  1,
	"transaction.state.log.num.partitions":                        1,
	"transaction.state.log.replication.factor":                    1,
	"transaction.state.log.min.isr":                               1,
	"transaction.state.log.segment.bytes":                         1,
	"transaction.state.log.load.buffer.size":                      1,
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": 1,
	"transaction.remove.expired.transaction.cleanup.interval.ms":  1,
}

var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
var timestampTypes = []string{"CreateTime", "LogAppendTime"}
var cleanupPolicies = []string{"compact", "delete"}

func (c *Config) problems() []*Error {
	var ps []*Error
	add := func(e *Error) {
		if e != nil {
			ps = append(ps, e)
		}
	}
	for _, key := range brokerSchema.keys {
		min, ok := brokerMinimums[key]
		if !ok {
			continue
		}
		if v := brokerSchema.format(c, key); v != nil {
			if n, err := strconv.ParseInt(*v, 10, 64); err == nil && n < min {
				add(invalid(key, *v, "must be at least %d", min))
			}
		}
	}
	c.identityProblems(add)
	c.listenerProblems(add)
	c.logProblems(add)
	c.replicationProblems(add)
	for _, p := range ps {
		if p.Source == "" {
			p.Source = c.origin[p.Key]
		}
	}
	return ps
}

func (c *Config) identityProblems(add func(*Error)) {
	if c.BrokerID < -1 || c.BrokerID > c.ReservedBrokerMaxID {
		add(invalid("broker.id", itoa(c.BrokerID),
			"must be -1 (generate) or between 0 and reserved.broker.max.id (%d)", c.ReservedBrokerMaxID))
	}
	if strings.TrimSpace(c.ZookeeperConnect) == "" {
		add(problem("zookeeper.connect", "required: host:port[,host:port...][/chroot]"))
	} else if _, _, err := ParseZookeeperConnect(c.ZookeeperConnect); err != nil {
		add(invalid("zookeeper.connect", c.ZookeeperConnect, "%v", err))
	}
	if c.ZookeeperConnectionTimeoutMs != nil && *c.ZookeeperConnectionTimeoutMs < 1 {
		add(invalid("zookeeper.connection.timeout.ms", itoa(*c.ZookeeperConnectionTimeoutMs), "must be at least 1"))
	}
	if c.ZookeeperSetACL {
		add(invalid("zookeeper.set.acl", "true", "secure ZooKeeper ACLs are not implemented in Samsa"))
	}
	if v, err := ParseProtocolVersion(c.InterBrokerProtocolVersion); err != nil {
		add(invalid("inter.broker.protocol.version", c.InterBrokerProtocolVersion, "%v", err))
	} else if v < V2_0_IV0 {
		add(invalid("inter.broker.protocol.version", c.InterBrokerProtocolVersion,
			"Samsa supports %s to %s", V2_0_IV0, latestVersion))
	}
	if _, err := ParseProtocolVersion(c.LogMessageFormatVersion); err != nil {
		add(invalid("log.message.format.version", c.LogMessageFormatVersion, "%v", err))
	}
}

func (c *Config) logProblems(add func(*Error)) {
	dirs := c.DataDirs()
	dirKey, dirVal := "log.dir", c.LogDir
	if c.LogDirs != nil {
		dirKey, dirVal = "log.dirs", strings.Join(c.LogDirs, ",")
	}
	if len(dirs) == 0 {
		add(invalid(dirKey, dirVal, "at least one log directory is required"))
	} else if d := duplicate(dirs); d != "" {
		add(invalid(dirKey, dirVal, "directory %s listed twice", d))
	}
	if c.LogRollMs != nil && *c.LogRollMs < 1 {
		add(invalid("log.roll.ms", i64(*c.LogRollMs), "must be at least 1"))
	}
	if c.LogRollJitterMs != nil && *c.LogRollJitterMs < 0 {
		add(invalid("log.roll.jitter.ms", i64(*c.LogRollJitterMs), "must be at least 0"))
	}
	if ms := c.RetentionMs(); ms == 0 {
		key, val := c.retentionSource()
		add(invalid(key, val, "retention must be at least 1 ms, or -1 for unlimited"))
	}
	if c.LogFlushIntervalMs != nil && *c.LogFlushIntervalMs < 0 {
		add(invalid("log.flush.interval.ms", i64(*c.LogFlushIntervalMs), "must be at least 0"))
	}
	if c.LogFlushSchedulerIntervalMs < 1 {
		add(invalid("log.flush.scheduler.interval.ms", i64(c.LogFlushSchedulerIntervalMs), "must be at least 1"))
	}
	if err := checkCleanupPolicy(c.LogCleanupPolicy); err != "" {
		add(invalid("log.cleanup.policy", strings.Join(c.LogCleanupPolicy, ","), "%s", err))
	}
	if !slices.Contains(timestampTypes, c.LogMessageTimestampType) {
		add(invalid("log.message.timestamp.type", c.LogMessageTimestampType, "must be one of %s", strings.Join(timestampTypes, ", ")))
	}
	if !slices.Contains(compressionTypes, c.CompressionType) {
		add(invalid("compression.type", c.CompressionType, "must be one of %s", strings.Join(compressionTypes, ", ")))
	}
	if r := c.LogCleanerMinCleanableRatio; r < 0 || r > 1 {
		add(invalid("log.cleaner.min.cleanable.ratio", javaDouble(r), "must be between 0 and 1"))
	}
	if f := c.LogCleanerIOBufferLoadFactor; f <= 0 || f > 1 {
		add(invalid("log.cleaner.io.buffer.load.factor", javaDouble(f), "must be in (0, 1]"))
	}
	if c.LogCleanerIOMaxBytesPerSecond <= 0 {
		add(invalid("log.cleaner.io.max.bytes.per.second", javaDouble(c.LogCleanerIOMaxBytesPerSecond), "must be positive"))
	}
	if c.LogCleanerMinCompactionLagMs > c.LogCleanerMaxCompactionLagMs {
		add(problem("log.cleaner.min.compaction.lag.ms", "%d is greater than log.cleaner.max.compaction.lag.ms (%d)",
			c.LogCleanerMinCompactionLagMs, c.LogCleanerMaxCompactionLagMs))
	}
	// KafkaConfig.validateValues: each cleaner thread needs a dedupe buffer of more than 1 MiB.
	if c.LogCleanerThreads > 0 && c.LogCleanerDedupeBufferSize/int64(c.LogCleanerThreads) <= 1024*1024 {
		add(invalid("log.cleaner.dedupe.buffer.size", i64(c.LogCleanerDedupeBufferSize),
			"must be more than 1 MiB per cleaner thread (log.cleaner.threads=%d)", c.LogCleanerThreads))
	}
}

// retentionSource names the key that decided RetentionMs, for messages.
func (c *Config) retentionSource() (string, string) {
	switch {
	case c.LogRetentionMs != nil:
		return "log.retention.ms", i64(*c.LogRetentionMs)
	case c.LogRetentionMinutes != nil:
		return "log.retention.minutes", itoa(*c.LogRetentionMinutes)
	}
	return "log.retention.hours", itoa(c.LogRetentionHours)
}

func (c *Config) replicationProblems(add func(*Error)) {
	// KafkaConfig.validateValues: a follower waiting longer than these would be dropped from the ISR or time out.
	if int64(c.ReplicaFetchWaitMaxMs) > int64(c.ReplicaSocketTimeoutMs) {
		add(problem("replica.fetch.wait.max.ms", "%d must not exceed replica.socket.timeout.ms (%d)",
			c.ReplicaFetchWaitMaxMs, c.ReplicaSocketTimeoutMs))
	}
	if int64(c.ReplicaFetchWaitMaxMs) > c.ReplicaLagTimeMaxMs {
		add(problem("replica.fetch.wait.max.ms", "%d must not exceed replica.lag.time.max.ms (%d), or followers leave the ISR",
			c.ReplicaFetchWaitMaxMs, c.ReplicaLagTimeMaxMs))
	}
	if c.OffsetsCommitRequiredAcks < -1 || c.OffsetsCommitRequiredAcks > c.OffsetsTopicReplicationFactor {
		add(invalid("offsets.commit.required.acks", itoa(c.OffsetsCommitRequiredAcks),
			"must be -1 or between 0 and offsets.topic.replication.factor (%d)", c.OffsetsTopicReplicationFactor))
	}
	if c.OffsetsTopicCompressionCodec < 0 || c.OffsetsTopicCompressionCodec > 4 {
		add(invalid("offsets.topic.compression.codec", itoa(c.OffsetsTopicCompressionCodec),
			"must be a codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd"))
	}
	if c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs {
		add(problem("group.min.session.timeout.ms", "%d is greater than group.max.session.timeout.ms (%d)",
			c.GroupMinSessionTimeoutMs, c.GroupMaxSessionTimeoutMs))
	}
}

func (c *Config) listenerProblems(add func(*Error)) {
	protoMap, err := parseProtocolMap(c.ListenerSecurityProtocolMap)
	if err != nil {
		add(invalid("listener.security.protocol.map", strings.Join(c.ListenerSecurityProtocolMap, ","), "%v", err))
		return // every listener check below needs the map
	}
	key, list := "listeners", c.listenerList()
	if c.Listeners == nil {
		key = "port" // the derived PLAINTEXT://host.name:port
	}
	listeners, err := parseListenerList(list, true)
	if err != nil {
		add(invalid(key, strings.Join(list, ","), "%v", err))
		return
	}
	names := make([]string, len(listeners))
	for i, l := range listeners {
		names[i] = l.Name
		proto, ok := protoMap[l.Name]
		switch {
		case !ok:
			add(invalid(key, l.String(), "no security protocol for listener %s in listener.security.protocol.map", l.Name))
		case proto != "PLAINTEXT":
			add(invalid(key, l.String(), "listener %s uses security protocol %s; only PLAINTEXT is implemented in Samsa", l.Name, proto))
		}
	}
	akey, alist := c.advertisedList()
	advertised, err := parseListenerList(alist, false)
	if err != nil {
		add(invalid(akey, strings.Join(alist, ","), "%v", err))
		return
	}
	for _, a := range advertised {
		if !slices.Contains(names, a.Name) {
			add(invalid(akey, a.String(), "listener name %s is not in listeners (%s)", a.Name, strings.Join(names, ", ")))
		}
		if a.Host == "0.0.0.0" || a.Host == "::" {
			add(invalid(akey, a.String(), "cannot advertise the non-routable meta-address %s; use a routable address", a.Host))
		}
	}
	if c.InterBrokerListenerName != "" && c.IsSet("security.inter.broker.protocol") {
		add(problem("inter.broker.listener.name", "set only one of inter.broker.listener.name and security.inter.broker.protocol"))
	}
	ibl := c.InterBrokerListener()
	found := false
	for _, a := range advertised {
		found = found || a.Name == ibl
	}
	if !found {
		k := "inter.broker.listener.name"
		if c.InterBrokerListenerName == "" {
			k = "security.inter.broker.protocol"
		}
		add(invalid(k, ibl, "the inter-broker listener must be one of the advertised listeners (%s)",
			strings.Join(listenerNames(advertised), ", ")))
	}
}

func checkCleanupPolicy(p []string) string {
	if len(p) == 0 {
		return "must contain delete and/or compact"
	}
	for _, v := range p {
		if !slices.Contains(cleanupPolicies, v) {
			return fmt.Sprintf("unknown policy %q (want delete and/or compact)", v)
		}
	}
	return ""
}

func duplicate(xs []string) string {
	for i, x := range xs {
		if slices.Contains(xs[:i], x) {
			return x
		}
	}
	return ""
}

func itoa[T int16 | int32](v T) string { return strconv.FormatInt(int64(v), 10) }
func i64(v int64) string               { return strconv.FormatInt(v, 10) }

// Millis converts a Kafka millisecond setting to a time.Duration without overflowing: Long.MaxValue ("never")
// and anything beyond ~292 years saturate.
func Millis(ms int64) time.Duration {
	const limit = math.MaxInt64 / int64(time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}
