package quota

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Type is a kind of client quota, each measured and configured on its own (one ClientQuotaManager each).
type Type int

// Quota types.
const (
	Produce Type = iota // producer_byte_rate: request bytes per second
	Fetch               // consumer_byte_rate: response bytes per second
	Request             // request_percentage: percent of one thread's time per second
	// ControllerMutation is controller_mutation_rate (KIP-599): partitions created, added or deleted per
	// second, measured by a token bucket; use NewMutationQuota, not Record.
	ControllerMutation
	numTypes
)

// Client quota config keys (QuotaConfigs).
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate"
)

// configKey is the entity config key of each type.
var configKey = [numTypes]string{Produce: ProducerByteRate, Fetch: ConsumerByteRate, Request: RequestPercentage,
	ControllerMutation: ControllerMutationRate}

// IsClientOrUserQuotaConfig reports whether key is a user/client-id quota config
// (QuotaConfigs.isClientOrUserQuotaConfig): other keys of a user entity (SCRAM credentials) are not quotas.
func IsClientOrUserQuotaConfig(key string) bool {
	switch key {
	case ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate:
		return true
	}
	return false
}

// Config is the quota sampling (quota.window.num, quota.window.size.seconds).
type Config struct {
	Samples int
	Window  time.Duration
}

// DefaultConfig is Kafka 2.8's: 11 samples of 1 s.
func DefaultConfig() Config { return Config{Samples: 11, Window: time.Second} }

// Name is one component of a quota entity: absent (the zero Name), a specific name, or the default.
type Name struct {
	kind  uint8
	value string
}

const (
	kindAbsent uint8 = iota
	kindNamed
	kindDefault
)

// Named is the component for a specific (desanitized) user principal name or client id.
func Named(name string) Name { return Name{kind: kindNamed, value: name} }

// Default is the <default> component.
var Default = Name{kind: kindDefault}

// IsSet reports whether the component is present.
func (n Name) IsSet() bool { return n.kind != kindAbsent }

// IsDefault reports whether the component is <default>.
func (n Name) IsDefault() bool { return n.kind == kindDefault }

// Value is the specific name ("" for the default or an absent component).
func (n Name) Value() string { return n.value }

func (n Name) String() string {
	switch n.kind {
	case kindDefault:
		return "<default>"
	case kindNamed:
		return strconv.Quote(n.value)
	}
	return "-"
}

// Entity is a quota config entity: a user, a client id, or a user's client id.
type Entity struct {
	User     Name
	ClientID Name
}

func (e Entity) String() string { return fmt.Sprintf("user=%s client-id=%s", e.User, e.ClientID) }

// tags are Kafka's quota metric tags: the sensor a request is measured by. "" is an empty tag.
type tags struct{ user, clientID string }

// clientKey is who sent a request: user principal name and client id.
type clientKey struct{ user, clientID string }

// resolution caches where a client's requests of one type go, valid while gen is the manager's.
type resolution struct {
	gen    uint64
	sensor *sensor
	bound  float64 // +Inf: no quota applies
}

// inactiveSensorExpiry drops sensors unused this long (ClientQuotaManager.InactiveSensorExpirationTimeSeconds).
const inactiveSensorExpiry = time.Hour

// Manager holds one broker's quota configs and sensors for every Type. It is safe for concurrent use.
type Manager struct {
	cfg      Config
	windowMs int64
	now      func() time.Time

	enabled   atomic.Bool // some entity was ever configured (Kafka's quotasEnabled)
	mutations atomic.Bool // some entity has a controller_mutation_rate now

	mu        sync.RWMutex
	gen       uint64                              // guarded by mu; bumped by every Update
	overrides [numTypes]map[Entity]float64        // guarded by mu
	sensors   [numTypes]map[tags]*sensor          // guarded by mu
	cache     [numTypes]map[clientKey]*resolution // guarded by mu
	lastSweep int64                               // guarded by mu; ms of the last inactive-sensor sweep
}

// NewManager returns a manager with no quotas. now is the clock (time.Now outside tests).
func NewManager(cfg Config, now func() time.Time) *Manager {
	if cfg.Samples < 1 {
		cfg.Samples = DefaultConfig().Samples
	}
	if cfg.Window < time.Millisecond {
		cfg.Window = DefaultConfig().Window
	}
	m := &Manager{cfg: cfg, windowMs: cfg.Window.Milliseconds(), now: now}
	for t := range numTypes {
		m.overrides[t] = make(map[Entity]float64)
		m.sensors[t] = make(map[tags]*sensor)
		m.cache[t] = make(map[clientKey]*resolution)
	}
	return m
}

// Enabled reports whether any quota entity was ever configured; until then Record always returns 0 and
// callers may skip it (one atomic load on the request path).
func (m *Manager) Enabled() bool { return m.enabled.Load() }

// Update replaces the quotas of entity with those in config (its whole ZooKeeper config; keys that are
// absent remove that type's quota, other keys are ignored). Like Kafka's config handlers it enables
// recording even when config is empty. A value that is not a number is an error and leaves that type
// unchanged; the others still apply.
func (m *Manager) Update(entity Entity, config map[string]string) error {
	if !entity.User.IsSet() && !entity.ClientID.IsSet() {
		return fmt.Errorf("quota: empty entity")
	}
	var errs []error
	m.mu.Lock()
	defer m.mu.Unlock()
	for t := range numTypes {
		v, ok := config[configKey[t]]
		if !ok {
			delete(m.overrides[t], entity)
			continue
		}
		bound, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(bound) {
			errs = append(errs, fmt.Errorf("quota: %s of %s: bad value %q", configKey[t], entity, v))
			continue
		}
		m.overrides[t][entity] = bound
	}
	m.gen++
	m.enabled.Store(true)
	m.mutations.Store(len(m.overrides[ControllerMutation]) > 0)
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// Quota returns the bound configured for exactly entity (no resolution), for tests and introspection.
func (m *Manager) Quota(t Type, entity Entity) (float64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	v, ok := m.overrides[t][entity]
	return v, ok
}

// Bound is the quota that applies to requests of type t from (user, clientID): +Inf when none does
// (ClientQuotaManager.quota).
func (m *Manager) Bound(t Type, user, clientID string) float64 {
	return m.resolve(t, clientKey{user, clientID}, m.now().UnixMilli()).bound
}

// Record adds value (bytes, or percent of a thread-second for Request; not for ControllerMutation) to the sensor of (user, clientID)
// and returns the throttle time the request earned: 0 within quota or when no quota applies.
func (m *Manager) Record(t Type, user, clientID string, value float64) time.Duration {
	if !m.enabled.Load() {
		return 0
	}
	now := m.now().UnixMilli()
	r := m.resolve(t, clientKey{user, clientID}, now)
	ms := r.sensor.record(value, now, r.bound, m.cfg.Samples, m.windowMs)
	if t == Request && ms > m.windowMs {
		ms = m.windowMs // ClientRequestQuotaManager's boundedThrottleTime
	}
	return time.Duration(ms) * time.Millisecond
}

// Unrecord takes value back out of the sensor (ClientQuotaManager.unrecordQuotaSensor): a throttled fetch
// answers no data, so its bytes must not count.
func (m *Manager) Unrecord(t Type, user, clientID string, value float64) {
	if !m.enabled.Load() {
		return
	}
	now := m.now().UnixMilli()
	r := m.resolve(t, clientKey{user, clientID}, now)
	r.sensor.record(-value, now, math.Inf(1), m.cfg.Samples, m.windowMs)
}

// resolve returns the cached resolution of k, recomputing it after an Update.
func (m *Manager) resolve(t Type, k clientKey, now int64) *resolution {
	m.mu.RLock()
	r := m.cache[t][k]
	ok := r != nil && r.gen == m.gen
	m.mu.RUnlock()
	if ok {
		return r
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	tg := m.tagsLocked(t, k)
	s := m.sensors[t][tg]
	if s == nil {
		s = &sensor{}
		m.sensors[t][tg] = s
	}
	r = &resolution{gen: m.gen, sensor: s, bound: m.limitLocked(t, tg)}
	m.cache[t][k] = r
	return r
}

// tagsLocked is DefaultQuotaCallback.quotaMetricTags: the tags of the most specific configured level.
func (m *Manager) tagsLocked(t Type, k clientKey) tags {
	o := m.overrides[t]
	has := func(u, c Name) bool { _, ok := o[Entity{u, c}]; return ok }
	user, client := Named(k.user), Named(k.clientID)
	switch {
	case has(user, client), has(user, Default):
		return tags{k.user, k.clientID}
	case has(user, Name{}):
		return tags{k.user, ""}
	case has(Default, client), has(Default, Default):
		return tags{k.user, k.clientID}
	case has(Default, Name{}):
		return tags{k.user, ""}
	}
	return tags{"", k.clientID}
}

// limitLocked is DefaultQuotaCallback.quotaLimit: the bound of a sensor's tags, +Inf when none applies.
func (m *Manager) limitLocked(t Type, tg tags) float64 {
	o := m.overrides[t]
	var order []Entity
	user, client := Named(tg.user), Named(tg.clientID)
	switch {
	case tg.user != "" && tg.clientID != "":
		order = []Entity{{user, client}, {user, Default}, {Default, client}, {Default, Default}}
	case tg.user != "":
		order = []Entity{{User: user}, {User: Default}}
	case tg.clientID != "":
		order = []Entity{{ClientID: client}, {ClientID: Default}}
	}
	for _, e := range order {
		if v, ok := o[e]; ok {
			return v
		}
	}
	return math.Inf(1)
}

// sweepLocked drops sensors idle for inactiveSensorExpiry, at most once a minute, so a stream of
// one-off client ids does not grow the maps forever.
func (m *Manager) sweepLocked(now int64) {
	if now-m.lastSweep < time.Minute.Milliseconds() {
		return
	}
	m.lastSweep = now
	expiry := inactiveSensorExpiry.Milliseconds()
	for t := range numTypes {
		for tg, s := range m.sensors[t] {
			if s.idleSince(now) >= expiry {
				delete(m.sensors[t], tg)
			}
		}
		for k, r := range m.cache[t] {
			if r.sensor.idleSince(now) >= expiry {
				delete(m.cache[t], k)
			}
		}
	}
}
