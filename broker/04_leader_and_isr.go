package broker

// LeaderAndIsr, v0–v5 (Kafka 2.8's range; a 2.8 controller sends v5). Inter-broker: controller → broker.
//
// A request carrying an older broker epoch than ours (KIP-380: it was meant for a previous incarnation of
// this broker id) is refused whole with STALE_BROKER_EPOCH; -1 means "not checked". Each named topic's
// config is read from /config/topics first, as Kafka does when it creates logs, and the replica manager
// applies the per-partition rules (stale controller epoch, leader epoch must grow, must be a replica).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func handleLeaderAndIsr(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.LeaderAndISRRequest)
	if b.brokerEpochStale(req.BrokerEpoch) {
		resp := req.ResponseKind().(*kmsg.LeaderAndISRResponse)
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return Response{Msg: resp}, nil
	}
	configs := map[string]storage.Config{}
	for _, topic := range leaderAndIsrTopics(req) {
		tc, err := b.loadTopicConfig(topic)
		if err != nil {
			b.log.WithError(err).WithField("topic", topic).Warn("reading topic config; using broker defaults")
			tc = b.currentConfig().TopicDefaults()
		}
		configs[topic] = storage.Config(tc.Log())
	}
	resp := b.replicas.BecomeLeaderOrFollower(req, func(topic string) storage.Config {
		if c, ok := configs[topic]; ok {
			return c
		}
		return storage.Config(b.currentConfig().TopicDefaults().Log())
	})
	b.groupsOnLeaderAndIsr(req) // offsets partitions led now are loaded, those lost are unloaded
	b.txnOnLeaderAndIsr(req)    // the same for transaction state partitions
	return Response{Msg: resp}, nil
}

// leaderAndIsrTopics lists the topics a request names, whatever its version's layout.
func leaderAndIsrTopics(req *kmsg.LeaderAndISRRequest) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, p := range req.PartitionStates { // v0-v1
		add(p.Topic)
	}
	for _, t := range req.TopicStates { // v2+
		add(t.Topic)
	}
	return out
}

// brokerEpochStale is Kafka's isBrokerEpochStale: -1 is not checked; otherwise an epoch older than our
// registration's czxid means the request was meant for an earlier incarnation of this broker.
func (b *Broker) brokerEpochStale(epoch int64) bool {
	return epoch != -1 && epoch < b.epoch
}
