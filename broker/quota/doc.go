// Package quota is Kafka's client quota manager (KIP-13, KIP-55, KIP-124, KIP-219) for one broker: the
// quota configs of users and client ids, a rate sensor per quota entity and the throttle time a client
// earns by exceeding its quota.
//
// Data flow: the broker feeds Update with every users/... and clients/... config entity it reads from
// ZooKeeper (/config/users/<user>, /config/users/<user>/clients/<client-id>, /config/clients/<client-id>,
// each possibly <default>); produce and fetch handlers call Record with the bytes of each request or
// response and answer the returned throttle time, then mute the connection for it (KIP-219).
//
// Resolution (ClientQuotaManager.DefaultQuotaCallback): a request of (user, client id) is measured by the
// sensor of the most specific configured level of KIP-55's order
//
//	1 /config/users/<user>/clients/<client-id>    5 /config/users/<default>/clients/<default>
//	2 /config/users/<user>/clients/<default>      6 /config/users/<default>
//	3 /config/users/<user>                        7 /config/clients/<client-id>
//	4 /config/users/<default>/clients/<client-id> 8 /config/clients/<default>
//
// and sensors are shared by everything that resolves to the same metric tags: levels 1, 2, 4, 5 tag
// (user, client id), 3 and 6 tag (user, ""), 7 and 8 (or nothing configured) tag ("", client id). So a
// user quota is shared by all of the user's client ids while a default quota applies to each user or
// client id on its own. Each quota type (producer_byte_rate, consumer_byte_rate, request_percentage,
// controller_mutation_rate) resolves on its own: an entity setting only consumer_byte_rate does not affect produce.
//
// Rate (org.apache.kafka.common.metrics.stats.Rate over a SampledTotal): Config.Samples windows of
// Config.Window; the rate is the sum of the retained samples over the time since the oldest one, counted
// as at least Samples-1 whole windows. A violation (rate > bound, checked after recording the value)
// costs throttle = (rate - bound) / bound * windowSize, rounded to milliseconds (QuotaUtils.throttleTime);
// request_percentage throttles are capped at one window (ClientRequestQuotaManager).
//
// Invariants and locks: Manager.mu guards the overrides, the sensors and the per-client resolution cache;
// each sensor has its own mutex, taken after (never while acquiring) Manager.mu. A generation number
// bumped by every Update invalidates cached resolutions, so the per-request path is a read lock, a map
// lookup and the sensor's mutex. Until anything was configured, Enabled is false and callers skip the
// manager entirely (Kafka's quotasEnabled).
//
// Controller mutations (KIP-599, mutation.go): controller_mutation_rate resolves like the byte rates but
// is measured by a token bucket (org.apache.kafka.common.metrics.stats.TokenBucket) kept in the sensor: it
// refills at the quota per second up to a burst of quota × Samples × Window, starts full, and each
// partition created, added or deleted takes one token. A request gets a MutationQuota
// (ControllerMutationQuota): strict ones refuse mutations while the bucket is in debt (tokens < 0) and
// otherwise charge them in full, earning no throttle; permissive ones always charge and earn
// -tokens / quota seconds when they leave the bucket in debt. The throttle shrinks by the time elapsed since
// it was earned. Until some entity sets controller_mutation_rate NewMutationQuota returns nil, the unbounded
// quota, after one atomic load.
//
// Not done here: the broker records Produce, Fetch and controller mutations. Request (request_percentage,
// KIP-124) is implemented here but not fed: Kafka charges request-handler and network thread time, while a
// Samsa handler's wall time includes purgatory waits (long-poll fetches, acks=all) and Go offers no
// per-goroutine CPU time. The deprecated static quota.producer.default / quota.consumer.default are not
// supported.
package quota
