//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// TestMutationQuota is KIP-599's controller_mutation_rate: 2 partitions/s with Kafka's default sampling
// (11 × 1 s) gives each quota'd client id a bucket of 22. Strict versions (Sarama at V2_8_0_0 sends
// CreateTopics v7, CreatePartitions v3, DeleteTopics v6) accept while the bucket is not in debt and then
// answer THROTTLING_QUOTA_EXCEEDED with a throttle time; older versions (Sarama at V2_4_0_0: CreateTopics
// v5) are always served and throttled. validateOnly costs nothing and a client id without a quota is
// unaffected.
func TestMutationQuota(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	admin := c.Admin()
	for _, id := range []string{"mutator-strict", "mutator-permissive"} {
		entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: id}}
		if err := admin.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "controller_mutation_rate", Value: 2}, false); err != nil {
			t.Fatal(err)
		}
	}
	adminAs := func(clientID string, v sarama.KafkaVersion) sarama.ClusterAdmin {
		cfg := c.SaramaConfig()
		cfg.ClientID, cfg.Version = clientID, v
		a, err := sarama.NewClusterAdmin(c.Bootstrap(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		return a
	}
	// raw sends one request on a fresh connection: a throttled connection is muted for the throttle.
	raw := func(clientID string, req kmsg.Request) kmsg.Response {
		t.Helper()
		cl, err := protocol.Dial(context.Background(), c.Bootstrap()[0], clientID, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := cl.Request(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	createTopics := func(clientID string, version int16, validateOnly bool, topic string, partitions int32) kmsg.CreateTopicsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis, req.ValidateOnly = version, 20000, validateOnly
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		resp := raw(clientID, req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics %s: %d topics in response", topic, len(resp.Topics))
		}
		res := resp.Topics[0]
		if err := kerr.ErrorForCode(res.ErrorCode); (err == nil) == (resp.ThrottleMillis > 0 && version >= 6) {
			t.Fatalf("CreateTopics v%d %s: error %v with ThrottleMillis %d", version, topic, err, resp.ThrottleMillis)
		}
		return res
	}

	t.Run("Strict", func(t *testing.T) {
		strict := adminAs("mutator-strict", sarama.V2_8_0_0)
		start := time.Now()
		// Bucket 22: 20 fit, 10 more are still accepted (the bucket was not in debt), leaving it at -8.
		for _, tc := range []struct {
			name string
			n    int32
		}{{"mq-strict-a", 20}, {"mq-strict-b", 10}} {
			if err := strict.CreateTopic(tc.name, &sarama.TopicDetail{NumPartitions: tc.n, ReplicationFactor: 1}, false); err != nil {
				t.Fatalf("create %s: %v", tc.name, err)
			}
		}
		err := strict.CreateTopic("mq-strict-c", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
		if !errors.Is(err, sarama.ErrThrottlingQuotaExceeded) {
			t.Fatalf("create in debt through Sarama: %v, want THROTTLING_QUOTA_EXCEEDED", err)
		}

		res := createTopics("mutator-strict", 6, false, "mq-strict-c", 1)
		if res.ErrorCode != kerr.ThrottlingQuotaExceeded.Code || res.ErrorMessage == nil ||
			*res.ErrorMessage != "The throttling quota has been exceeded." || res.NumPartitions != -1 {
			t.Fatalf("CreateTopics v6 in debt: code %d message %v partitions %d", res.ErrorCode, res.ErrorMessage, res.NumPartitions)
		}

		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.Version, cp.TimeoutMillis = 3, 20000
		cpt := kmsg.NewCreatePartitionsRequestTopic()
		cpt.Topic, cpt.Count = "mq-strict-a", 21
		cp.Topics = append(cp.Topics, cpt)
		cpr := raw("mutator-strict", cp).(*kmsg.CreatePartitionsResponse)
		if cpr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || cpr.ThrottleMillis <= 0 || cpr.ThrottleMillis > 4000 {
			t.Fatalf("CreatePartitions v3 in debt: code %d throttle %d", cpr.Topics[0].ErrorCode, cpr.ThrottleMillis)
		}

		dt := kmsg.NewPtrDeleteTopicsRequest()
		dt.Version, dt.TimeoutMillis = 5, 20000
		dt.TopicNames = []string{"mq-strict-b"}
		dtr := raw("mutator-strict", dt).(*kmsg.DeleteTopicsResponse)
		if dtr.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code || dtr.ThrottleMillis <= 0 || dtr.ThrottleMillis > 4000 {
			t.Fatalf("DeleteTopics v5 in debt: code %d throttle %d", dtr.Topics[0].ErrorCode, dtr.ThrottleMillis)
		}

		// validateOnly is not counted, so it passes while the bucket is in debt.
		if res := createTopics("mutator-strict", 6, true, "mq-strict-v", 10); res.ErrorCode != 0 {
			t.Fatalf("validateOnly in debt: code %d", res.ErrorCode)
		}

		// The debt of 8 is repaid at 2/s: the refused topic is then accepted.
		eventually(t, 10*time.Second, func() error {
			if err := strict.CreateTopic("mq-strict-c", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
				return err
			}
			return nil
		})
		if took := time.Since(start); took < 3*time.Second {
			t.Fatalf("debt of 8 at 2/s repaid after %v", took)
		}
	})

	t.Run("OtherClientUnaffected", func(t *testing.T) {
		other := adminAs("mutator-free", sarama.V2_8_0_0)
		if err := other.CreateTopic("mq-free", &sarama.TopicDetail{NumPartitions: 30, ReplicationFactor: 1}, false); err != nil {
			t.Fatal(err)
		}
		if err := other.DeleteTopic("mq-free"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Permissive", func(t *testing.T) {
		// CreateTopics v5: 25 partitions from a bucket of 22 are accepted, with a throttle of 3/2 s.
		res := createTopics("mutator-permissive", 5, false, "mq-perm-a", 25)
		if res.ErrorCode != 0 {
			t.Fatalf("permissive create: code %d", res.ErrorCode)
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Version, req.TimeoutMillis = 5, 20000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "mq-perm-b", 2, 1
		req.Topics = append(req.Topics, rt)
		resp := raw("mutator-permissive", req).(*kmsg.CreateTopicsResponse)
		if resp.Topics[0].ErrorCode != 0 || resp.ThrottleMillis <= 1000 || resp.ThrottleMillis > 2500 {
			t.Fatalf("permissive create in debt: code %d throttle %d, want accepted with ~2.5 s", resp.Topics[0].ErrorCode, resp.ThrottleMillis)
		}
		// Through Sarama at V2_4_0_0 (CreateTopics v5) the permissive path accepts while in debt.
		old := adminAs("mutator-permissive", sarama.V2_4_0_0)
		if err := old.CreateTopic("mq-perm-c", &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("Sarama V2_4_0_0 create in debt: %v", err)
		}
		// CreatePartitions v2 and DeleteTopics v4 are permissive too: served in debt, with a throttle.
		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.Version, cp.TimeoutMillis = 2, 20000
		cpt := kmsg.NewCreatePartitionsRequestTopic()
		cpt.Topic, cpt.Count = "mq-perm-a", 26
		cp.Topics = append(cp.Topics, cpt)
		cpr := raw("mutator-permissive", cp).(*kmsg.CreatePartitionsResponse)
		if cpr.Topics[0].ErrorCode != 0 || cpr.ThrottleMillis <= 0 {
			t.Fatalf("CreatePartitions v2 in debt: code %d throttle %d", cpr.Topics[0].ErrorCode, cpr.ThrottleMillis)
		}
		dt := kmsg.NewPtrDeleteTopicsRequest()
		dt.Version, dt.TimeoutMillis = 4, 20000
		dt.TopicNames = []string{"mq-perm-b"}
		dtr := raw("mutator-permissive", dt).(*kmsg.DeleteTopicsResponse)
		if dtr.Topics[0].ErrorCode != 0 || dtr.ThrottleMillis <= 0 {
			t.Fatalf("DeleteTopics v4 in debt: code %d throttle %d", dtr.Topics[0].ErrorCode, dtr.ThrottleMillis)
		}
	})

	// Removing the quota lifts it.
	entity := []sarama.QuotaEntityComponent{{EntityType: sarama.QuotaEntityClientID, MatchType: sarama.QuotaMatchExact, Name: "mutator-strict"}}
	if err := admin.AlterClientQuotas(entity, sarama.ClientQuotasOp{Key: "controller_mutation_rate", Remove: true}, false); err != nil {
		t.Fatal(err)
	}
	if res := createTopics("mutator-strict", 6, false, "mq-strict-big", 40); res.ErrorCode != 0 {
		t.Fatalf("after removing the quota: %s", fmt.Sprint(kerr.ErrorForCode(res.ErrorCode)))
	}
}
