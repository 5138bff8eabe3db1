package quota

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock (Kafka's MockTime).
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ms.Store(1_700_000_000_000)
	return c
}

func (c *fakeClock) now() time.Time        { return time.UnixMilli(c.ms.Load()) }
func (c *fakeClock) sleep(d time.Duration) { c.ms.Add(d.Milliseconds()) }
func newTestManager(c *fakeClock) *Manager { return NewManager(DefaultConfig(), c.now) }
func user(u string) Entity                 { return Entity{User: Named(u)} }
func client(c string) Entity               { return Entity{ClientID: Named(c)} }
func userClient(u, c Name) Entity          { return Entity{User: u, ClientID: c} }
func rate(key string, v float64) map[string]string {
	return map[string]string{key: strconv.FormatFloat(v, 'f', -1, 64)}
}

func mustUpdate(t *testing.T, m *Manager, e Entity, cfg map[string]string) {
	t.Helper()
	if err := m.Update(e, cfg); err != nil {
		t.Fatal(err)
	}
}

func ms(d time.Duration) int64 { return d.Milliseconds() }

// TestQuotaViolation is ClientQuotaManagerTest.testQuotaViolation: 11 samples of 1 s, a 500 B/s quota;
// ten seconds at 400 B/s are fine, then a spike of 2300 bytes half a window later gives
// (400*10 + 2300) / 10.5 s = 600 B/s, so (600-500)/500 * 10500 ms = 2100 ms of throttle, and the
// throttling lasts until the bursty sample has rolled out of the window.
func TestQuotaViolation(t *testing.T) {
	c := newFakeClock()
	m := newTestManager(c)
	mustUpdate(t, m, Entity{ClientID: Default}, rate(ProducerByteRate, 500))
	for range 10 {
		if got := m.Record(Produce, "ANONYMOUS", "unknown", 400); got != 0 {
			t.Fatalf("under quota: throttle %v", got)
		}
		c.sleep(time.Second)
	}
	c.sleep(500 * time.Millisecond)
	if got := ms(m.Record(Produce, "ANONYMOUS", "unknown", 2300)); got != 2100 {
		t.Fatalf("spike throttle = %d ms, want 2100", got)
	}
	c.sleep(2100 * time.Millisecond)
	for range 10 {
		m.Record(Produce, "ANONYMOUS", "unknown", 400)
		c.sleep(time.Second)
	}
	if got := m.Record(Produce, "ANONYMOUS", "unknown", 0); got != 0 {
		t.Fatalf("bursty sample rolled over: throttle %v, want 0", got)
	}
}

// TestQuotaConfigPrecedence is ClientQuotaManagerTest.testQuotaConfigPrecedence: KIP-55's eight levels,
// shared and exclusive sensors, and changing tags when a level is removed. The clock stands still, so the
// rate is the recorded total over the minimum window of 10 s; each check records value*11.
func TestQuotaConfigPrecedence(t *testing.T) {
	c := newFakeClock()
	m := newTestManager(c)
	set := func(e Entity, v float64) { mustUpdate(t, m, e, rate(ProducerByteRate, v)) }
	unset := func(e Entity) { mustUpdate(t, m, e, nil) }
	check := func(u, cl string, bound float64, value float64, throttled bool) {
		t.Helper()
		if got := m.Bound(Produce, u, cl); got != bound {
			t.Fatalf("bound(%s, %s) = %v, want %v", u, cl, got, bound)
		}
		got := m.Record(Produce, u, cl, value*11)
		if (got > 0) != throttled {
			t.Fatalf("record(%s, %s, %v): throttle %v, want throttled=%v", u, cl, value*11, got, throttled)
		}
	}
	set(Entity{User: Default}, 1000)
	set(Entity{ClientID: Default}, 2000)
	set(userClient(Default, Default), 3000)
	set(user("userA"), 4000)
	set(userClient(Named("userA"), Named("client1")), 5000)
	set(user("userB"), 6000)
	set(userClient(Named("userB"), Named("client1")), 7000)
	set(userClient(Named("userB"), Default), 8000)
	set(user("userC"), 10000)
	set(client("client1"), 9000)

	check("userA", "client1", 5000, 4500, false) // <user, client> over <user>
	check("userA", "client2", 4000, 4500, true)  // <user> over <client> and defaults
	check("userA", "client3", 4000, 0, true)     // <user> shared by the user's clients
	check("userA", "client1", 5000, 0, false)    // <user, client> is exclusive
	check("userB", "client1", 7000, 8000, true)
	check("userB", "client2", 8000, 7000, false) // <user, default>: one sensor per client
	check("userB", "client3", 8000, 7000, false)
	check("userD", "client1", 3000, 3500, true) // <default, default>
	check("userD", "client2", 3000, 2500, false)
	check("userE", "client1", 3000, 2500, false)

	unset(userClient(Default, Default))       // back to <default> user
	check("userD", "client1", 1000, 0, false) // tags changed: a fresh sensor
	check("userE", "client4", 1000, 1500, true)
	check("userF", "client4", 1000, 800, false) // <default> user shared by the user's clients
	check("userF", "client5", 1000, 800, true)

	unset(Entity{User: Default}) // back to <default> client id
	check("userF", "client4", 2000, 0, false)
	check("userF", "client5", 2000, 0, false)
	check("userF", "client5", 2000, 2500, true)
	check("userG", "client5", 2000, 0, true) // client-id quotas are shared by all users

	set(user("userA"), 8000)
	set(userClient(Named("userA"), Named("client1")), 10000)
	check("userA", "client2", 8000, 0, false)
	check("userA", "client2", 8000, 4500, true) // the sensor kept its history across the change
	check("userA", "client1", 10000, 0, false)
	check("userA", "client1", 10000, 6000, true)
	unset(userClient(Named("userA"), Named("client1")))
	check("userA", "client6", 8000, 0, true) // shared user quota
	set(userClient(Named("userA"), Named("client6")), 11000)
	check("userA", "client6", 11000, 8500, false)
	set(userClient(Named("userA"), Default), 12000)
	unset(userClient(Named("userA"), Named("client6")))
	check("userA", "client6", 12000, 4000, true) // same tags, so history adds up
}

// TestQuotaTypesResolveIndependently: each type has its own overrides, as Kafka has one manager per type
// fed only its own key, so a consumer_byte_rate entity does not change how produce resolves.
func TestQuotaTypesResolveIndependently(t *testing.T) {
	m := newTestManager(newFakeClock())
	mustUpdate(t, m, user("alice"), rate(ConsumerByteRate, 100))
	mustUpdate(t, m, Entity{ClientID: Default}, rate(ProducerByteRate, 200))
	if got := m.Bound(Produce, "alice", "app"); got != 200 {
		t.Fatalf("produce bound = %v, want the client default 200", got)
	}
	if got := m.Bound(Fetch, "alice", "app"); got != 100 {
		t.Fatalf("fetch bound = %v, want alice's 100", got)
	}
	if got := m.Bound(Request, "alice", "app"); !math.IsInf(got, 1) {
		t.Fatalf("request bound = %v, want none", got)
	}
}

// TestNoQuotaNeverThrottles: without any configured entity nothing is recorded (quotasEnabled false), and
// a client no level applies to is unlimited (quotaLimit null: Long.MaxValue).
func TestNoQuotaNeverThrottles(t *testing.T) {
	m := newTestManager(newFakeClock())
	if m.Enabled() || m.Record(Produce, "ANONYMOUS", "c", 1e12) != 0 {
		t.Fatal("a manager without quotas recorded or throttled")
	}
	mustUpdate(t, m, client("other"), rate(ProducerByteRate, 1))
	if !m.Enabled() {
		t.Fatal("not enabled after an update")
	}
	if got := m.Record(Produce, "ANONYMOUS", "c", 1e12); got != 0 {
		t.Fatalf("unquota'd client throttled %v", got)
	}
	if got := m.Record(Produce, "ANONYMOUS", "", 1e12); got != 0 { // ("", "") tags: no quota, like Kafka
		t.Fatalf("empty client id throttled %v", got)
	}
}

// TestQuotaRemovalStopsThrottling is testQuotaParsing's cases 2 and 4: raising or removing a quota applies
// to the existing sensor at once.
func TestQuotaRemovalStopsThrottling(t *testing.T) {
	m := newTestManager(newFakeClock())
	mustUpdate(t, m, client("p1"), rate(ProducerByteRate, 2000))
	if m.Record(Produce, "ANONYMOUS", "p1", 2500*11) == 0 {
		t.Fatal("not throttled at 2500 B/s with a 2000 B/s quota")
	}
	mustUpdate(t, m, client("p1"), rate(ProducerByteRate, 3000))
	if got := m.Record(Produce, "ANONYMOUS", "p1", 0); got != 0 {
		t.Fatalf("throttled %v after raising the quota", got)
	}
	mustUpdate(t, m, client("p1"), rate(ProducerByteRate, 2000))
	if m.Record(Produce, "ANONYMOUS", "p1", 0) == 0 {
		t.Fatal("not throttled after lowering the quota again")
	}
	mustUpdate(t, m, client("p1"), map[string]string{"SCRAM-SHA-256": "x"}) // quota key gone
	if got := m.Record(Produce, "ANONYMOUS", "p1", 0); got != 0 {
		t.Fatalf("throttled %v after removing the quota", got)
	}
}

// TestRequestQuotaThrottleBoundedByWindow is ClientRequestQuotaManager's boundedThrottleTime: a request
// quota never throttles longer than one quota window, byte-rate quotas are not capped.
func TestRequestQuotaThrottleBoundedByWindow(t *testing.T) {
	m := newTestManager(newFakeClock())
	mustUpdate(t, m, Entity{User: Default}, map[string]string{RequestPercentage: "1", ProducerByteRate: "1"})
	if got := m.Record(Request, "ANONYMOUS", "c", 1000); got != time.Second {
		t.Fatalf("request throttle = %v, want capped at the 1 s window", got)
	}
	if got := m.Record(Produce, "ANONYMOUS", "c", 1000); got <= time.Second {
		t.Fatalf("produce throttle = %v, want uncapped", got)
	}
}

// TestUnrecordQuotaSensor: a throttled fetch takes its bytes back out (unrecordQuotaSensor).
func TestUnrecordQuotaSensor(t *testing.T) {
	m := newTestManager(newFakeClock())
	mustUpdate(t, m, client("c"), rate(ConsumerByteRate, 100))
	if m.Record(Fetch, "ANONYMOUS", "c", 5000) == 0 {
		t.Fatal("not throttled")
	}
	m.Unrecord(Fetch, "ANONYMOUS", "c", 5000)
	if got := m.Record(Fetch, "ANONYMOUS", "c", 900); got != 0 {
		t.Fatalf("throttled %v after unrecord", got)
	}
}

// TestObsoleteSamplesArePurged is SampledStat.purgeObsoleteSamples: after Samples windows of silence the
// old total no longer counts.
func TestObsoleteSamplesArePurged(t *testing.T) {
	c := newFakeClock()
	m := newTestManager(c)
	mustUpdate(t, m, client("c"), rate(ProducerByteRate, 100))
	if m.Record(Produce, "ANONYMOUS", "c", 100000) == 0 {
		t.Fatal("not throttled")
	}
	c.sleep(11 * time.Second)
	if got := m.Record(Produce, "ANONYMOUS", "c", 10); got != 0 {
		t.Fatalf("throttled %v by expired samples", got)
	}
}

// TestInactiveSensorsExpire: sensors unused for an hour are dropped (InactiveSensorExpirationTimeSeconds).
func TestInactiveSensorsExpire(t *testing.T) {
	c := newFakeClock()
	m := newTestManager(c)
	mustUpdate(t, m, Entity{ClientID: Default}, rate(ProducerByteRate, 100))
	for i := range 100 {
		m.Record(Produce, "ANONYMOUS", "c"+strconv.Itoa(i), 1)
	}
	c.sleep(2 * time.Hour)
	m.Record(Produce, "ANONYMOUS", "fresh", 1)
	m.mu.RLock()
	n, k := len(m.sensors[Produce]), len(m.cache[Produce])
	m.mu.RUnlock()
	if n != 1 || k != 1 {
		t.Fatalf("after expiry: %d sensors, %d cached clients, want 1 and 1", n, k)
	}
}

// TestUpdateRejectsBadValues: a non-numeric value is reported and leaves the other keys applied.
func TestUpdateRejectsBadValues(t *testing.T) {
	m := newTestManager(newFakeClock())
	err := m.Update(client("c"), map[string]string{ProducerByteRate: "fast", ConsumerByteRate: "10"})
	if err == nil {
		t.Fatal("no error for a non-numeric value")
	}
	if _, ok := m.Quota(Produce, client("c")); ok {
		t.Fatal("bad value stored")
	}
	if v, _ := m.Quota(Fetch, client("c")); v != 10 {
		t.Fatalf("consumer_byte_rate = %v, want 10", v)
	}
	if m.Update(Entity{}, nil) == nil {
		t.Fatal("no error for an empty entity")
	}
}

// TestConcurrentRecordAndUpdate exercises the locks under -race.
func TestConcurrentRecordAndUpdate(t *testing.T) {
	c := newFakeClock()
	m := newTestManager(c)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				m.Record(Type(i%3), "u", "c"+strconv.Itoa(g), 10)
				c.sleep(time.Millisecond)
			}
		}()
	}
	for i := range 200 {
		mustUpdate(t, m, Entity{ClientID: Default}, rate(ProducerByteRate, float64(1000+i)))
	}
	wg.Wait()
}
