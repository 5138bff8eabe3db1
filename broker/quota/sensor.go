package quota

import (
	"math"
	"sync"
)

// sensor is Kafka's quota Sensor with one Rate over a SampledTotal: a ring of samples, each a window
// of windowMs starting at start (Sample.lastWindowMs).
type sensor struct {
	mu       sync.Mutex
	samples  []sample // guarded by mu; grows to Config.Samples
	current  int      // guarded by mu; index of the sample being filled
	lastUsed int64    // guarded by mu; ms of the last record

	// The token bucket of a ControllerMutation sensor (mutation.go), used instead of samples.
	tokens   float64 // guarded by mu; may be negative: the bucket is in debt
	filledAt int64   // guarded by mu; ms of the last refill
	started  bool    // guarded by mu; a new bucket starts full
}

type sample struct {
	start int64 // ms
	total float64
}

// record adds value at now (ms) and checks the rate against bound (SampledStat.record, then
// Sensor.checkQuotas): the throttle in ms when the rate, this value included, exceeds bound.
func (s *sensor) record(value float64, now int64, bound float64, n int, windowMs int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastUsed = now
	if len(s.samples) == 0 {
		s.samples = append(s.samples, sample{start: now})
	}
	if now-s.samples[s.current].start >= windowMs { // current sample complete: advance
		s.current = (s.current + 1) % n
		if s.current >= len(s.samples) {
			s.samples = append(s.samples, sample{start: now})
		} else {
			s.samples[s.current] = sample{start: now}
		}
	}
	s.samples[s.current].total += value
	if math.IsInf(bound, 1) {
		return 0
	}
	rate, window := s.rateLocked(now, n, windowMs)
	if rate <= bound { // Quota.acceptable for an upper bound
		return 0
	}
	// QuotaUtils.throttleTime: the delay X that brings rate O to bound T over window W, O*W/(W+X) = T.
	return int64(math.Round((rate - bound) / bound * float64(window)))
}

// rateLocked is Rate.measure: the retained total per second over Rate.windowSize, which counts at least
// n-1 whole windows so that a young sensor does not see a huge rate.
func (s *sensor) rateLocked(now int64, n int, windowMs int64) (rate float64, windowSize int64) {
	expireAge := int64(n) * windowMs
	total := 0.0
	oldest := now
	for i := range s.samples {
		sm := &s.samples[i]
		if now-sm.start >= expireAge { // SampledStat.purgeObsoleteSamples
			*sm = sample{start: now}
		}
		total += sm.total
		oldest = min(oldest, sm.start)
	}
	elapsed := now - oldest
	if full, minFull := elapsed/windowMs, int64(n-1); full < minFull {
		elapsed += (minFull - full) * windowMs
	}
	elapsed = max(elapsed, 1) // one sample of one window: never divide by zero
	return total / (float64(elapsed) / 1000), elapsed
}

// idleSince is how long (ms) the sensor has gone without a record.
func (s *sensor) idleSince(now int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now - s.lastUsed
}
