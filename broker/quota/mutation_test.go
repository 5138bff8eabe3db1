package quota

import (
	"errors"
	"math"
	"testing"
	"time"
)

// newMutationManager has Kafka's test sampling (10 windows of 1 s) and a controller_mutation_rate of
// bound for client id "client".
func newMutationManager(t *testing.T, c *fakeClock, bound float64) *Manager {
	t.Helper()
	m := NewManager(Config{Samples: 10, Window: time.Second}, c.now)
	mustUpdate(t, m, client("client"), rate(ControllerMutationRate, bound))
	return m
}

func wantTokens(t *testing.T, m *Manager, clientID string, want float64) {
	t.Helper()
	if got := m.Tokens("ANONYMOUS", clientID); math.Abs(got-want) > 0.1 {
		t.Fatalf("tokens of %q = %v, want %v", clientID, got, want)
	}
}

// TestTokenBucketRecord is TokenBucketTest.testRecord: rate 2/s, burst 2 × 10 × 1 s = 20; the bucket
// starts full, records take tokens, time refills them up to the burst.
func TestTokenBucketRecord(t *testing.T) {
	c := newFakeClock()
	m := newMutationManager(t, c, 2)
	q := m.NewMutationQuota("ANONYMOUS", "client", false)
	wantTokens(t, m, "client", 20)
	steps := []struct {
		sleep  time.Duration
		record float64
		want   float64
	}{{0, 7, 13}, {2 * time.Second, 5, 12}, {2 * time.Second, 15, 1}, {10 * time.Second, 0, 20}}
	for _, s := range steps {
		c.sleep(s.sleep)
		if err := q.Record(s.record); err != nil {
			t.Fatal(err)
		}
		wantTokens(t, m, "client", s.want)
	}
}

// TestTokenBucketNeverAboveBurst: idle time does not bank more than quota × samples × window.
func TestTokenBucketNeverAboveBurst(t *testing.T) {
	c := newFakeClock()
	m := newMutationManager(t, c, 5)
	wantTokens(t, m, "client", 50)
	c.sleep(time.Hour)
	wantTokens(t, m, "client", 50)
}

// TestStrictControllerMutationQuota is ControllerMutationQuotaManagerTest.testStrictControllerMutationQuota:
// quota 10/s, burst 100. Mutations are accepted while the bucket is not in debt, however many; once it is,
// everything is refused with a throttle of the time to refill to zero, which shrinks as time passes.
func TestStrictControllerMutationQuota(t *testing.T) {
	c := newFakeClock()
	m := newMutationManager(t, c, 10)
	q := m.NewMutationQuota("ANONYMOUS", "client", true)
	for i, want := range []float64{10, -80} {
		if err := q.Record(90); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if q.Throttle() != 0 {
			t.Fatalf("record %d: throttle %v, want 0 (strict accepts without throttling)", i, q.Throttle())
		}
		wantTokens(t, m, "client", want)
	}
	if err := q.Record(90); !errors.Is(err, ErrThrottlingQuotaExceeded) {
		t.Fatalf("third record: %v, want ErrThrottlingQuotaExceeded", err)
	}
	wantTokens(t, m, "client", -80) // a refused request charges nothing
	if got := q.Throttle(); got != 8*time.Second {
		t.Fatalf("throttle %v, want 8s", got)
	}
	c.sleep(5 * time.Second)
	if got := q.Throttle(); got != 3*time.Second {
		t.Fatalf("throttle after 5s %v, want 3s", got)
	}
	c.sleep(4 * time.Second) // bucket back to +10
	if err := m.NewMutationQuota("ANONYMOUS", "client", true).Record(90); err != nil {
		t.Fatalf("record after refill: %v", err)
	}
}

// TestPermissiveControllerMutationQuota is ControllerMutationQuotaManagerTest.testPermissiveControllerMutationQuota:
// everything is accepted; a bucket in debt earns the time to refill it to zero.
func TestPermissiveControllerMutationQuota(t *testing.T) {
	c := newFakeClock()
	m := newMutationManager(t, c, 10)
	q := m.NewMutationQuota("ANONYMOUS", "client", false)
	for i, want := range []time.Duration{0, 8 * time.Second, 17 * time.Second} {
		if err := q.Record(90); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if got := q.Throttle(); got != want {
			t.Fatalf("record %d: throttle %v, want %v", i, got, want)
		}
	}
	c.sleep(5 * time.Second)
	if got := q.Throttle(); got != 12*time.Second {
		t.Fatalf("throttle after 5s %v, want 12s", got)
	}
}

// TestControllerMutationQuotaResolution: the quota resolves through KIP-55's levels like the byte rates,
// a client without one is unbounded, and a default quota gives each client id its own bucket.
func TestControllerMutationQuotaResolution(t *testing.T) {
	c := newFakeClock()
	m := NewManager(Config{Samples: 10, Window: time.Second}, c.now)
	if m.NewMutationQuota("ANONYMOUS", "a", true) != nil {
		t.Fatal("quota without any controller_mutation_rate")
	}
	mustUpdate(t, m, client("a"), rate(ProducerByteRate, 100))
	if m.MutationsEnabled() {
		t.Fatal("a producer_byte_rate enabled mutation quotas")
	}
	mustUpdate(t, m, Entity{ClientID: Default}, rate(ControllerMutationRate, 1))
	mustUpdate(t, m, client("vip"), rate(ControllerMutationRate, 100))
	wantTokens(t, m, "a", 10)
	wantTokens(t, m, "b", 10)
	wantTokens(t, m, "vip", 1000)
	if err := m.NewMutationQuota("ANONYMOUS", "a", false).Record(30); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, m, "a", -20)
	wantTokens(t, m, "b", 10) // <default> is per client id
	// A user-level quota wins over client ones and is shared by all the user's clients.
	mustUpdate(t, m, user("ANONYMOUS"), rate(ControllerMutationRate, 2))
	wantTokens(t, m, "a", 20)
	if err := m.NewMutationQuota("ANONYMOUS", "a", true).Record(25); err != nil {
		t.Fatal(err)
	}
	if err := m.NewMutationQuota("ANONYMOUS", "b", true).Record(1); !errors.Is(err, ErrThrottlingQuotaExceeded) {
		t.Fatalf("b under the shared user bucket: %v", err)
	}
	mustUpdate(t, m, user("ANONYMOUS"), nil)
	mustUpdate(t, m, Entity{ClientID: Default}, nil)
	mustUpdate(t, m, client("vip"), nil)
	if m.NewMutationQuota("ANONYMOUS", "a", true) != nil {
		t.Fatal("quota after every controller_mutation_rate was removed")
	}
}

// TestControllerMutationQuotaUnbounded: the nil quota (UnboundedControllerMutationQuota) and a client
// without a quota accept everything.
func TestControllerMutationQuotaUnbounded(t *testing.T) {
	var q *MutationQuota
	if err := q.Record(1e9); err != nil || q.Throttle() != 0 {
		t.Fatalf("nil quota: %v %v", err, q.Throttle())
	}
	c := newFakeClock()
	m := newMutationManager(t, c, 1)
	other := m.NewMutationQuota("ANONYMOUS", "other", true)
	for range 3 {
		if err := other.Record(1e9); err != nil {
			t.Fatal(err)
		}
	}
	if other.Throttle() != 0 {
		t.Fatal("unbounded client throttled")
	}
}
