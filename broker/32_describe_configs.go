package broker

// DescribeConfigs, v0–v4 (Kafka 2.8's range).
//
// Topics: the effective config of an existing topic (broker config in force plus /config/topics overrides)
// with Kafka 2.8's sources and synonyms (UNKNOWN_TOPIC_OR_PARTITION for a topic not in the metadata cache).
// Brokers: this broker's id gives every key with its value in force and its source (DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG or DEFAULT_CONFIG), ReadOnly false for the
// dynamically updatable keys; the empty name (the cluster default resource) gives only the keys set in
// /config/brokers/<default>, as Kafka 2.8 does; another broker's id is INVALID_REQUEST, as Kafka answers
// when the request reaches the wrong broker. Broker loggers (KIP-412): Samsa has one logger, "root" (the
// broker's logrus level), described as DYNAMIC_BROKER_LOGGER_CONFIG; the name must be this broker's id.
// ConfigNames filters; synonyms only when asked (v1+); ConfigType always and Documentation when asked (v3+).

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
)

func handleDescribeConfigs(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		entries, err := b.describeResource(res)
		rr.ErrorCode = errorCode(b.log, err)
		rr.ErrorMessage = topicErrorMessage(err)
		if err == nil {
			rr.Configs = configEntries(entries, res.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return Response{Msg: resp}, nil
}

func (b *Broker) describeResource(res kmsg.DescribeConfigsRequestResource) ([]config.ConfigEntry, error) {
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validateTopicName(res.ResourceName); err != nil {
			return nil, err
		}
		if _, ok := b.meta.Snapshot().Topics[res.ResourceName]; !ok {
			return nil, kafkaError(kerr.UnknownTopicOrPartition, "topic %q does not exist", res.ResourceName)
		}
		overrides, err := b.zk.GetTopicConfig(res.ResourceName)
		if err != nil {
			return nil, err
		}
		return b.dynamicConfig().DescribeTopic(overrides)
	case kmsg.ConfigResourceTypeBroker:
		if res.ResourceName == "" {
			return b.dynamicConfig().DescribeClusterDefault(), nil
		}
		if res.ResourceName != strconv.Itoa(int(b.id)) {
			return nil, kafkaError(kerr.InvalidRequest, "unexpected broker id, expected %d or empty string, but received %s",
				b.id, res.ResourceName)
		}
		return b.dynamicConfig().DescribeBroker(), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := b.checkLoggerResource(res.ResourceName); err != nil {
			return nil, err
		}
		return b.describeLoggers(), nil
	}
	return nil, kafkaError(kerr.InvalidRequest, "resource type %v is not supported", res.ResourceType)
}

func configEntries(entries []config.ConfigEntry, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
	for _, e := range entries {
		if names != nil && !want[e.Name] {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Value, c.ReadOnly, c.IsDefault = e.Name, e.Value, e.ReadOnly, e.IsDefault
		c.Source, c.IsSensitive, c.ConfigType = e.Source, e.Sensitive, e.Type
		if docs && e.Documentation != "" {
			c.Documentation = kmsg.StringPtr(e.Documentation)
		}
		if synonyms {
			for _, s := range e.Synonyms {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Value, cs.Source = s.Name, s.Value, s.Source
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		out = append(out, c)
	}
	return out
}
