package broker

// AlterConfigs, v0–v2 (Kafka 2.8's range). Each resource's entries replace the entity's whole config
// (keys not given are removed), written with a /config/changes notification that every broker applies
// (dynamic_config.go). ValidateOnly checks without writing.
//
// Topics (Kafka's ZkAdminManager.alterTopicConfigs): a topic not in the metadata cache is
// UNKNOWN_TOPIC_OR_PARTITION; an unknown key is INVALID_CONFIG ("Unknown topic config name: x"); a value
// that does not parse or is out of range is INVALID_REQUEST ("Invalid config value for resource ..."),
// because Kafka's ConfigDef throws a ConfigException, which AlterConfigs answers that way; a rule across
// keys (min.compaction.lag.ms above max.compaction.lag.ms) is INVALID_CONFIG, as LogConfig.validateValues.
//
// Brokers: the name is this broker's id (/config/brokers/<id>) or empty (the cluster default,
// /config/brokers/<default>); another id is INVALID_REQUEST ("Unexpected broker id ..."), Kafka's answer
// when a broker resource reaches the wrong broker. Non-dynamic keys are INVALID_REQUEST ("Cannot update
// these configs dynamically: Set(...)"), as are bad values (config.Dynamic.ValidateUpdate). Keys Samsa does
// not know are stored unchecked, as Kafka stores names it does not know. A change for this broker is also
// applied before answering, so a DescribeConfigs that follows sees it.
//
// A null value is INVALID_REQUEST for its resource. A BROKER_LOGGER resource (or any other type) fails the
// whole request with INVALID_REQUEST, as Kafka's KafkaApis throws for it before looking at any resource.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/zkregistry"
)

func handleAlterConfigs(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	var requestErr error
	for _, res := range req.Resources {
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker:
		case kmsg.ConfigResourceTypeBrokerLogger:
			requestErr = kafkaError(kerr.InvalidRequest, "AlterConfigs is deprecated and does not support the resource type BROKER_LOGGER")
		default:
			requestErr = kafkaError(kerr.InvalidRequest, "Unexpected resource type %v", res.ResourceType)
		}
	}
	for _, res := range req.Resources {
		err := requestErr
		if err == nil {
			err = b.alterConfigsResource(res, req.ValidateOnly)
		}
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		rr.ErrorCode = errorCode(b.log, err)
		rr.ErrorMessage = topicErrorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return Response{Msg: resp}, nil
}

func (b *Broker) alterConfigsResource(res kmsg.AlterConfigsRequestResource, validateOnly bool) error {
	props := make(map[string]string, len(res.Configs))
	var nulls []string
	for _, c := range res.Configs {
		if c.Value == nil {
			nulls = append(nulls, c.Name)
			continue
		}
		props[c.Name] = *c.Value
	}
	if len(nulls) > 0 {
		return kafkaError(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ","))
	}
	if res.ResourceType == kmsg.ConfigResourceTypeTopic {
		return b.alterTopicConfig(res.ResourceName, props, validateOnly)
	}
	entity, err := b.brokerConfigEntity(res.ResourceName)
	if err != nil {
		return err
	}
	return b.alterBrokerConfig(res.ResourceName, entity, props, validateOnly)
}

// alterTopicConfig validates a topic's complete new overrides and, unless validateOnly, writes them.
func (b *Broker) alterTopicConfig(topic string, props map[string]string, validateOnly bool) error {
	if _, ok := b.meta.Snapshot().Topics[topic]; !ok {
		return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", topic)
	}
	if err := config.ValidateTopicConfigs(props); err != nil {
		return topicConfigError(topic, err)
	}
	if validateOnly {
		return nil
	}
	if err := b.zk.ChangeEntityConfig(zkregistry.ConfigTopics, topic, props); err != nil {
		return fmt.Errorf("write config of topic %s: %w", topic, err)
	}
	b.log.WithFields(logrus.Fields{"topic": topic, "config": props}).Info("topic config changed")
	return nil
}

// topicConfigError answers a topic validation failure as Kafka 2.8 does: unknown names first
// (LogConfig.validateNames runs before parsing), then unparsable or out-of-range values, then rules across
// keys.
func topicConfigError(topic string, err error) error {
	var unknown, values, rules []string
	for _, e := range flatten(err) {
		var ce *config.Error
		switch {
		case !errors.As(e, &ce):
			values = append(values, e.Error())
		case errors.Is(e, config.ErrUnknownKey):
			unknown = append(unknown, ce.Key)
		case ce.Value == "": // a problem without a single bad value: a rule across keys
			rules = append(rules, e.Error())
		default:
			values = append(values, e.Error())
		}
	}
	switch {
	case len(unknown) > 0:
		return kafkaError(kerr.InvalidConfig, "Unknown topic config name: %s", unknown[0])
	case len(values) > 0:
		return kafkaError(kerr.InvalidRequest, "Invalid config value for resource ConfigResource(type=TOPIC, name='%s'): %s",
			topic, strings.Join(values, "; "))
	}
	return kafkaError(kerr.InvalidConfig, "%s", strings.Join(rules, "; "))
}

// flatten lists the errors joined in err (errors.Join), or err itself.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// brokerConfigEntity maps a broker resource name to its /config/brokers entity: "" is the cluster
// default, this broker's id is itself, anything else is the wrong broker (Kafka's getBrokerId).
func (b *Broker) brokerConfigEntity(name string) (string, error) {
	if name == "" {
		return zkregistry.DefaultEntity, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return "", kafkaError(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.id {
		return "", kafkaError(kerr.InvalidRequest, "Unexpected broker id, expected %d, but received %s", b.id, name)
	}
	return strconv.Itoa(int(b.id)), nil
}

// alterBrokerConfig validates a dynamic broker layer's complete new content and, unless validateOnly,
// writes it and applies it here.
func (b *Broker) alterBrokerConfig(name, entity string, props map[string]string, validateOnly bool) error {
	perBroker := entity != zkregistry.DefaultEntity
	if err := b.dynamicConfig().ValidateUpdate(props, perBroker); err != nil {
		return kafkaError(kerr.InvalidRequest, "Invalid config value for resource ConfigResource(type=BROKER, name='%s'): %s",
			name, oneLine(err))
	}
	if validateOnly {
		return nil
	}
	if err := b.zk.ChangeEntityConfig(zkregistry.ConfigBrokers, entity, props); err != nil {
		return fmt.Errorf("write config of broker %s: %w", entity, err)
	}
	b.log.WithFields(logrus.Fields{"entity": entity, "config": sortedPairs(props)}).Info("dynamic broker config changed")
	b.brokerConfigChanged() // the watcher will see it too; applying now makes the change visible at once
	return nil
}

func oneLine(err error) string {
	var parts []string
	for _, e := range flatten(err) {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
