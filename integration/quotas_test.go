//go:build integration

package integration

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestClientQuotas: DescribeClientQuotas / AlterClientQuotas through Sarama's ClusterAdmin exactly as
// Sarama's TestFuncAdminQuotas drives them, then producer_byte_rate enforcement (KIP-13/KIP-219): a
// throttled client id is held to Kafka's bound and sees throttle times, another client id is not, and a
// quota written through one broker is enforced by another.
func TestClientQuotas(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 2})
	admin := c.Admin()

	t.Run("SaramaFuncAdminQuotas", func(t *testing.T) {
		quotas, err := admin.DescribeClientQuotas(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(quotas) != 0 {
			t.Fatalf("quotas at start: %+v", quotas)
		}

		defaultUser := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchDefault}}
		produceOp := sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 1024000}
		if err := admin.AlterClientQuotas(defaultUser, produceOp, false); err != nil {
			t.Fatal(err)
		}
		quotas, err = admin.DescribeClientQuotas(nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(quotas) != 1 || quotas[0].Values["producer_byte_rate"] != 1024000 {
			t.Fatalf("after setting the default user quota: %+v", quotas)
		}

		userClient := []sarama.QuotaEntityComponent{
			{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Name: "sarama"},
			{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "sarama-consumer"},
		}
		consumeOp := sarama.ClientQuotasOp{Key: "consumer_byte_rate", Value: 2048000}
		if err := admin.AlterClientQuotas(userClient, consumeOp, false); err != nil {
			t.Fatal(err)
		}
		filter := []sarama.QuotaFilterComponent{
			{EntityType: sarama.QuotaEntityUser, MatchType: sarama.QuotaMatchExact, Match: "sarama"},
			{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Match: "sarama-consumer"},
		}
		quotas, err = admin.DescribeClientQuotas(filter, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(quotas) != 1 || quotas[0].Values[consumeOp.Key] != consumeOp.Value {
			t.Fatalf("exact user+client-id filter: %+v", quotas)
		}

		// The write reached ZooKeeper in Kafka's layout (sanitized names, the <default> entity).
		zkc := c.ZK()
		for _, p := range []string{"/config/users/<default>", "/config/users/sarama/clients/sarama-consumer"} {
			if ok, err := zkc.Exists(p); err != nil || !ok {
				t.Fatalf("%s: exists %v, %v", p, ok, err)
			}
		}

		if err := admin.AlterClientQuotas(userClient, sarama.ClientQuotasOp{Key: consumeOp.Key, Remove: true}, false); err != nil {
			t.Fatal(err)
		}
		quotas, err = admin.DescribeClientQuotas(filter, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(quotas) != 0 {
			t.Fatalf("after removing: %+v", quotas)
		}
		if err := admin.AlterClientQuotas(defaultUser, sarama.ClientQuotasOp{Key: produceOp.Key, Remove: true}, false); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("AlterValidation", func(t *testing.T) {
		entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "v"}}
		for _, op := range []sarama.ClientQuotasOp{
			{Key: "producer_byte_rate", Value: 1.5},
			{Key: "no_such_quota", Value: 1},
		} {
			if err := admin.AlterClientQuotas(entity, op, false); err == nil {
				t.Errorf("%s=%v accepted", op.Key, op.Value)
			}
		}
		if err := admin.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: 10}, true); err != nil {
			t.Fatal(err)
		}
		quotas, err := admin.DescribeClientQuotas(nil, false)
		if err != nil || len(quotas) != 0 {
			t.Fatalf("validate_only wrote: %+v, %v", quotas, err)
		}
	})

	// Enforcement. Partition 0 is led by the broker the admin client writes through (the controller),
	// partition 1 by the other one.
	ctrl, err := admin.Controller()
	if err != nil {
		t.Fatal(err)
	}
	local, remote := ctrl.ID(), int32(3)-ctrl.ID()
	const topic = "quota-produce"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
		ReplicaAssignment: map[int32][]int32{0: {local}, 1: {remote}}})
	const quotaRate = 64 << 10 // bytes/s
	for _, id := range []string{"throttled-local", "throttled-remote"} {
		entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: id}}
		if err := admin.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "producer_byte_rate", Value: quotaRate}, false); err != nil {
			t.Fatal(err)
		}
	}

	// Kafka measures over quota.window.num (11) windows of 1 s and counts at least 10 whole windows, so a
	// fresh client may send about 10 s worth before its first throttle: within d it sends at most
	// quotaRate*(d+10s), plus the request that crossed the line.
	bound := func(d time.Duration) int64 { return int64(quotaRate*(d.Seconds()+10)) + 2*produceMessageSize }
	const runFor = 3 * time.Second

	t.Run("UnthrottledClientID", func(t *testing.T) {
		sent, throttles := produceFor(t, c, "unthrottled", topic, 0, local, time.Second)
		t.Logf("sent %d bytes in 1s", sent)
		if throttles != 0 {
			t.Fatalf("unthrottled client saw %d throttled responses", throttles)
		}
		if sent <= bound(runFor) {
			t.Fatalf("unthrottled client sent only %d bytes in 1s, under the throttled bound for %v (%d): the test cannot tell them apart", sent, runFor, bound(runFor))
		}
	})
	t.Run("ThrottledClientID", func(t *testing.T) {
		sent, throttles := produceFor(t, c, "throttled-local", topic, 0, local, runFor)
		t.Logf("sent %d bytes in %v (bound %d), %d throttled responses", sent, runFor, bound(runFor), throttles)
		if throttles == 0 || sent > bound(runFor) || sent < quotaRate*int64(runFor/time.Second) {
			t.Fatalf("throttled client: %d bytes (bound %d), %d throttled responses", sent, bound(runFor), throttles)
		}
	})
	t.Run("EnforcedOnOtherBroker", func(t *testing.T) {
		sent, throttles := produceFor(t, c, "throttled-remote", topic, 1, remote, runFor)
		t.Logf("sent %d bytes in %v (bound %d), %d throttled responses", sent, runFor, bound(runFor), throttles)
		if throttles == 0 || sent > bound(runFor) || sent < quotaRate*int64(runFor/time.Second) {
			t.Fatalf("quota set through broker %d not enforced by broker %d: %d bytes (bound %d), %d throttled responses",
				local, remote, sent, bound(runFor), throttles)
		}
	})
}

const produceMessageSize = 16 << 10

// produceFor sends produceMessageSize messages to one partition with a SyncProducer using clientID for d
// and returns the bytes acknowledged and how many responses carried a throttle time (Sarama's
// throttle-time-in-ms histogram of the leader).
func produceFor(t *testing.T, c *Cluster, clientID, topic string, partition, leader int32, d time.Duration) (int64, int64) {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.ClientID = clientID
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	p, err := sarama.NewSyncProducer(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	value := make([]byte, produceMessageSize)
	var sent int64
	start := time.Now()
	for time.Since(start) < d {
		_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: partition, Value: sarama.ByteEncoder(value)})
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		sent += produceMessageSize
	}
	return sent, throttledResponses(t, cfg, leader)
}

func throttledResponses(t *testing.T, cfg *sarama.Config, broker int32) int64 {
	t.Helper()
	name := fmt.Sprintf("throttle-time-in-ms-for-broker-%d", broker)
	h, ok := cfg.MetricRegistry.Get(name).(interface{ Count() int64 })
	if !ok {
		if cfg.MetricRegistry.Get(name) == nil {
			return 0
		}
		t.Fatal(errors.New("sarama metric " + name + " is not a histogram"))
	}
	return h.Count()
}
