package quota

import (
	"errors"
	"math"
	"time"
)

// ErrThrottlingQuotaExceeded is a strict MutationQuota's refusal: the client's token bucket is in debt.
var ErrThrottlingQuotaExceeded = errors.New("quota: controller mutation quota exceeded")

// MutationQuota is the controller_mutation_rate quota of one request (Kafka's ControllerMutationQuota):
// it lives while the request is handled. The nil *MutationQuota is Kafka's UnboundedControllerMutationQuota:
// Record accepts everything and Throttle is 0.
type MutationQuota struct {
	m      *Manager
	r      *resolution
	strict bool

	throttleMs int64 // throttle of the last violation
	violatedAt int64 // ms of the last violation
}

// MutationsEnabled reports whether any entity has a controller_mutation_rate; until then NewMutationQuota
// returns nil and handlers keep their cost (one atomic load).
func (m *Manager) MutationsEnabled() bool { return m.mutations.Load() }

// NewMutationQuota returns the quota of a CreateTopics, CreatePartitions or DeleteTopics request from
// (user, clientID) (ControllerMutationQuotaManager.newQuotaFor): strict for the versions that may answer
// THROTTLING_QUOTA_EXCEEDED, permissive for older ones; nil when no controller_mutation_rate is configured.
func (m *Manager) NewMutationQuota(user, clientID string, strict bool) *MutationQuota {
	if m == nil || !m.mutations.Load() {
		return nil
	}
	return &MutationQuota{m: m, r: m.resolve(ControllerMutation, clientKey{user, clientID}, m.now().UnixMilli()), strict: strict}
}

// Record charges n mutations (partitions created, added or deleted) to the client's token bucket.
//
// Strict (StrictControllerMutationQuota): when the bucket is already in debt the mutations are refused
// with ErrThrottlingQuotaExceeded and nothing is charged; otherwise they are charged in full, even when
// that puts the bucket in debt, and no throttle is earned. Permissive (PermissiveControllerMutationQuota):
// always charged; a bucket left in debt earns a throttle.
func (q *MutationQuota) Record(n float64) error {
	if q == nil || math.IsInf(q.r.bound, 1) {
		return nil // no quota: Kafka's TokenBucket ignores records without a quota
	}
	now := q.m.now().UnixMilli()
	s := q.r.sensor
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUsed = now
	s.refillLocked(now, q.r.bound, q.m.burst(q.r.bound))
	if q.strict && s.tokens < 0 {
		q.violatedLocked(s, now)
		return ErrThrottlingQuotaExceeded
	}
	s.tokens = min(q.m.burst(q.r.bound), s.tokens-n)
	if !q.strict && s.tokens < 0 {
		q.violatedLocked(s, now)
	}
	return nil
}

// violatedLocked is ControllerMutationQuotaManager.throttleTimeMs: the time the bucket takes to refill
// to zero at the quota's rate.
func (q *MutationQuota) violatedLocked(s *sensor, now int64) {
	q.throttleMs = int64(math.Round(-s.tokens / q.r.bound * 1000))
	q.violatedAt = now
}

// Throttle is the throttle the request earned, less the time since it was earned (the request may have
// waited for leaders since): AbstractControllerMutationQuota.throttleTime.
func (q *MutationQuota) Throttle() time.Duration {
	if q == nil || q.throttleMs == 0 {
		return 0
	}
	left := q.throttleMs - (q.m.now().UnixMilli() - q.violatedAt)
	return time.Duration(max(left, 0)) * time.Millisecond
}

// Tokens is the client's bucket after refilling (Kafka's "tokens" metric), +Inf when no quota applies.
func (m *Manager) Tokens(user, clientID string) float64 {
	now := m.now().UnixMilli()
	r := m.resolve(ControllerMutation, clientKey{user, clientID}, now)
	if math.IsInf(r.bound, 1) {
		return math.Inf(1)
	}
	r.sensor.mu.Lock()
	defer r.sensor.mu.Unlock()
	r.sensor.refillLocked(now, r.bound, m.burst(r.bound))
	return r.sensor.tokens
}

// burst is the bucket's capacity: quota × samples × window (TokenBucket.burst).
func (m *Manager) burst(bound float64) float64 {
	return bound * float64(m.cfg.Samples) * float64(m.windowMs) / 1000
}

// refillLocked adds rate tokens per second since the last refill, up to burst (TokenBucket.refill). A
// changed quota applies to the tokens already there, as in Kafka.
func (s *sensor) refillLocked(now int64, rate, burst float64) {
	if !s.started {
		s.started, s.tokens, s.filledAt = true, burst, now
		return
	}
	s.tokens = min(burst, s.tokens+rate*float64(now-s.filledAt)/1000)
	s.filledAt = now
}
