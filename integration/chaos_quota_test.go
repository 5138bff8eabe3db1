//go:build integration

package integration

import (
	"math"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Reference 10 §8's quota test (Kafka's quota_test.py shape): a client id with producer_byte_rate 1 MiB/s that
// tries to produce as fast as it can is held near that rate over 30 s, once its initial allowance (Kafka
// counts at least ten 1 s windows, so a fresh client may send ~10 s worth at once) is spent, and its
// responses carry throttle times. Kafka's quota_test.py asserts the broker's own measured rate within 5 % and
// the client-measured rate within 100 %; Samsa exposes no broker metric, so this checks the client-measured
// rate, with Kafka's 100 % bound, and logs how far off it is (Sarama's SyncProducer measures about -27 %,
// a raw produce loop about +32 %: Kafka's throttle-time rule is approximate). Long form only
// (SAMSA_CHAOS=1, ~60 s); the short form in make test is TestClientQuotas.
func TestChaosClientQuotaHoldsProducerToItsRate(t *testing.T) {
	if !chaos() {
		t.Skip("long form: SAMSA_CHAOS=1 (make chaos); make test runs TestClientQuotas")
	}
	c := StartCluster(t, Options{Brokers: 1})
	admin := c.Admin()
	const rate = 1 << 20 // 1 MiB/s
	entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "quota-steady"}}
	if err := admin.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: rate}, false); err != nil {
		t.Fatal(err)
	}
	c.CreateTopic("quota-steady", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})
	// The warm-up spends the initial allowance and sits out the one long throttle that follows it (about
	// (rate/quota - 1) x 10 s once ~10 s worth went out at once), so the measurement sees the steady state.
	const warmup = 25 * time.Second
	warm, _ := produceFor(t, c, "quota-steady", "quota-steady", 0, 1, warmup)
	const window = 30 * time.Second
	start := time.Now()
	sent, throttles := produceFor(t, c, "quota-steady", "quota-steady", 0, 1, window)
	measured := float64(sent) / time.Since(start).Seconds()
	dev := (measured - rate) / rate
	t.Logf("warm-up: %d bytes in %v; then %.0f bytes/s over %v against a quota of %d (%+.1f%%), %d throttled responses",
		warm, warmup, measured, window, rate, 100*dev, throttles)
	if math.Abs(dev) > 1 || throttles == 0 {
		t.Fatalf("producer rate %.0f bytes/s is %+.1f%% off the %d bytes/s quota (bound 100%%, Kafka's client-side check), %d throttled responses",
			measured, 100*dev, rate, throttles)
	}
}
