package broker

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/broker/quota"
)

func mutationRate(v string) map[string]string {
	return map[string]string{quota.ControllerMutationRate: v}
}

// TestMutationQuota_UnboundedWithoutControllerMutationRate: with no controller_mutation_rate anywhere the
// handlers get the nil (unbounded) quota, as Kafka's UnboundedControllerMutationQuota, even when other
// client quotas exist.
func TestMutationQuota_UnboundedWithoutControllerMutationRate(t *testing.T) {
	db := newDataBroker(t, nil)
	r := &Request{Msg: kmsg.NewPtrCreateTopicsRequest()}
	if q := db.mutationQuota(r, true); q != nil {
		t.Fatal("quota without a quota manager")
	}
	withQuotas(t, db, quota.Entity{ClientID: quota.Default}, map[string]string{quota.ProducerByteRate: "100"})
	if q := db.mutationQuota(r, true); q != nil {
		t.Fatal("quota with only producer_byte_rate configured")
	}
}

// TestMutationResponse_ThrottlePerKIP219 is sendResponseMaybeThrottleWithControllerQuota: the throttle goes
// in ThrottleMillis and mutes the connection, after the response for KIP-219 versions (CreateTopics v3+,
// DeleteTopics v2+, CreatePartitions v1+), before it for older ones; no throttle leaves the response alone.
func TestMutationResponse_ThrottlePerKIP219(t *testing.T) {
	db := newDataBroker(t, nil)
	withQuotas(t, db, quota.Entity{ClientID: quota.Named("c")}, mutationRate("1"))
	inDebt := func() *quota.MutationQuota {
		q := db.quotaManager().NewMutationQuota(anonymousUser, "c", false)
		if err := q.Record(100); err != nil { // bucket of 11: 89 in debt
			t.Fatal(err)
		}
		return q
	}
	cases := []struct {
		msg             throttledResponse
		clientThrottles bool
	}{
		{&kmsg.CreateTopicsResponse{Version: 2}, false}, {&kmsg.CreateTopicsResponse{Version: 3}, true},
		{&kmsg.DeleteTopicsResponse{Version: 1}, false}, {&kmsg.DeleteTopicsResponse{Version: 2}, true},
		{&kmsg.CreatePartitionsResponse{Version: 0}, false}, {&kmsg.CreatePartitionsResponse{Version: 3}, true},
	}
	for _, tc := range cases {
		resp := mutationResponse(tc.msg, inDebt())
		ms, _ := tc.msg.Throttle()
		if resp.Throttle < 88*time.Second || int64(ms) != resp.Throttle.Milliseconds() || resp.ClientThrottles != tc.clientThrottles {
			t.Fatalf("%T v%d: throttle %v ThrottleMillis %d ClientThrottles %v", tc.msg, tc.msg.GetVersion(),
				resp.Throttle, ms, resp.ClientThrottles)
		}
	}
	msg := &kmsg.CreateTopicsResponse{Version: 7}
	if resp := mutationResponse(msg, nil); resp.Throttle != 0 || msg.ThrottleMillis != 0 || resp.Msg != msg {
		t.Fatalf("unbounded quota throttled: %+v", resp)
	}
}

// TestThrottlingQuotaExceeded_KafkaMessage: a refused topic answers THROTTLING_QUOTA_EXCEEDED with
// Errors.THROTTLING_QUOTA_EXCEEDED's message, as StrictControllerMutationQuota throws it.
func TestThrottlingQuotaExceeded_KafkaMessage(t *testing.T) {
	db := newDataBroker(t, nil)
	if code := errorCode(db.log, errThrottlingQuotaExceeded); code != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("code %d", code)
	}
	if msg := topicErrorMessage(errThrottlingQuotaExceeded); *msg != "The throttling quota has been exceeded." {
		t.Fatalf("message %q", *msg)
	}
}

// TestMutationQuota_RefusedRequestsChargeNothing: only mutations that are about to be written count
// (ZkAdminManager records just before writing): requests refused earlier, here NOT_CONTROLLER, leave the
// bucket full and earn no throttle (validateOnly: integration TestMutationQuota).
func TestMutationQuota_RefusedRequestsChargeNothing(t *testing.T) {
	db := newDataBroker(t, nil)
	db.meta = metadata.NewCache(1)
	withQuotas(t, db, quota.Entity{ClientID: quota.Named("c")}, mutationRate("1"))
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 7
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "t", 100, 1
	ct.Topics = append(ct.Topics, ctt)
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.Version = 3
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = "t", 200
	cp.Topics = append(cp.Topics, cpt)
	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 5
	dt.TopicNames = []string{"t"}
	for _, tc := range []struct {
		h   handlerFunc
		req kmsg.Request
	}{{handleCreateTopics, ct}, {handleCreatePartitions, cp}, {handleDeleteTopics, dt}} {
		resp, err := callSized(db, tc.h, tc.req, "c")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Throttle != 0 {
			t.Fatalf("%T: throttle %v", tc.req, resp.Throttle)
		}
	}
	if tokens := db.quotaManager().Tokens(anonymousUser, "c"); math.Abs(tokens-11) > 0.1 {
		t.Fatalf("tokens %v, want the full bucket of 11", tokens)
	}
}
