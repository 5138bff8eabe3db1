package broker

// IncrementalAlterConfigs, v0–v1 (Kafka 2.8's range). Each resource's operations apply to the entity's
// stored config (Kafka's ZkAdminManager.prepareIncrementalConfigs): SET a value, DELETE a key, APPEND to
// or SUBTRACT from a LIST-typed key (starting from Kafka's default when the entity does not set it; other
// keys are INVALID_REQUEST "Config value append is not allowed for config key: x"). The result is then
// validated and written exactly as AlterConfigs does (33_alter_configs.go), ValidateOnly included.
//
// Per resource: a key named twice is INVALID_REQUEST ("Error due to duplicate config keys"); a null value
// for anything but DELETE is INVALID_REQUEST; APPEND or SUBTRACT of a key that does not exist is
// INVALID_CONFIG. Broker resources follow AlterConfigs' naming rules.
//
// BROKER_LOGGER (KIP-412): Samsa has one logger, "root" — the broker's logrus level. SET takes a log4j
// level (OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL; mapped to the nearest logrus level); DELETE of
// the root logger is INVALID_REQUEST, as in Kafka; other names are INVALID_CONFIG ("Logger x does not
// exist!"); APPEND and SUBTRACT are INVALID_REQUEST. The change is not persisted (Kafka's neither).
// Any other resource type fails the whole request with INVALID_REQUEST, as in Kafka's KafkaApis.

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/zkregistry"
)

func handleIncrementalAlterConfigs(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	var requestErr error
	for _, res := range req.Resources {
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		default:
			requestErr = kafkaError(kerr.InvalidRequest, "Unexpected resource type %v", res.ResourceType)
		}
	}
	for _, res := range req.Resources {
		err := requestErr
		if err == nil {
			err = b.incrementalAlterResource(res, req.ValidateOnly)
		}
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		rr.ErrorCode = errorCode(b.log, err)
		rr.ErrorMessage = topicErrorMessage(err)
		resp.Resources = append(resp.Resources, rr)
	}
	return Response{Msg: resp}, nil
}

func (b *Broker) incrementalAlterResource(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	seen, dups := map[string]bool{}, map[string]bool{}
	var nulls []string
	for _, c := range res.Configs {
		if seen[c.Name] {
			dups[c.Name] = true
		}
		seen[c.Name] = true
		if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
			nulls = append(nulls, c.Op.String()+":"+c.Name)
		}
	}
	if len(dups) > 0 {
		return kafkaError(kerr.InvalidRequest, "Error due to duplicate config keys : %s", strings.Join(slices.Sorted(maps.Keys(dups)), ","))
	}
	if len(nulls) > 0 {
		return kafkaError(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ","))
	}
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if _, ok := b.meta.Snapshot().Topics[res.ResourceName]; !ok {
			return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", res.ResourceName)
		}
		current, err := b.zk.GetTopicConfig(res.ResourceName)
		if err != nil {
			return err
		}
		props, err := applyConfigOps(current, res.Configs, config.TopicKeyInfo)
		if err != nil {
			return err
		}
		return b.alterTopicConfig(res.ResourceName, props, validateOnly)
	case kmsg.ConfigResourceTypeBroker:
		entity, err := b.brokerConfigEntity(res.ResourceName)
		if err != nil {
			return err
		}
		current, err := b.zk.GetEntityConfig(zkregistry.ConfigBrokers, entity)
		if err != nil {
			return err
		}
		props, err := applyConfigOps(current, res.Configs, config.BrokerKeyInfo)
		if err != nil {
			return err
		}
		return b.alterBrokerConfig(res.ResourceName, entity, props, validateOnly)
	}
	return b.alterLoggers(res, validateOnly)
}

// applyConfigOps applies SET/DELETE/APPEND/SUBTRACT to a copy of current (prepareIncrementalConfigs).
func applyConfigOps(current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig,
	info func(string) config.KeyInfo) (map[string]string, error) {
	props := maps.Clone(current)
	if props == nil {
		props = map[string]string{}
	}
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			props[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(props, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			ki := info(op.Name)
			verb := "append"
			if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
				verb = "subtract"
			}
			if !ki.Known {
				return nil, kafkaError(kerr.InvalidConfig, "Unknown config name: %s", op.Name)
			}
			if !ki.List {
				return nil, kafkaError(kerr.InvalidRequest, "Config value %s is not allowed for config key: %s", verb, op.Name)
			}
			old, ok := props[op.Name]
			if !ok && ki.KafkaDefault != nil {
				old = *ki.KafkaDefault
			}
			list := splitCSV(old)
			if op.Op == kmsg.IncrementalAlterConfigOpAppend {
				list = append(list, splitCSV(*op.Value)...)
			} else {
				drop := splitCSV(*op.Value)
				list = slices.DeleteFunc(list, func(v string) bool { return slices.Contains(drop, v) })
			}
			props[op.Name] = strings.Join(list, ",")
		default:
			return nil, kafkaError(kerr.InvalidRequest, "Unknown config operation %d for config key: %s", op.Op, op.Name)
		}
	}
	return props, nil
}

func splitCSV(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// rootLogger is the one logger Samsa exposes as a BROKER_LOGGER config (Log4jController.ROOT_LOGGER).
const rootLogger = "root"

// checkLoggerResource: a logger resource names this broker (DescribeConfigs requires the id).
func (b *Broker) checkLoggerResource(name string) error {
	if name == "" {
		return kafkaError(kerr.InvalidRequest, "Broker id must not be empty")
	}
	if name != strconv.Itoa(int(b.id)) {
		return kafkaError(kerr.InvalidRequest, "Unexpected broker id, expected %d but received %s", b.id, name)
	}
	return nil
}

func (b *Broker) describeLoggers() []config.ConfigEntry {
	level := log4jLevel(b.log.Logger.GetLevel())
	return []config.ConfigEntry{{Name: rootLogger, Value: &level, Source: kmsg.ConfigSourceDynamicBrokerLoggerConfig,
		Type: kmsg.ConfigTypeString, Documentation: "Log level of the broker's logger."}}
}

func (b *Broker) alterLoggers(res kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if res.ResourceName != "" {
		if err := b.checkLoggerResource(res.ResourceName); err != nil {
			return err
		}
	}
	var level logrus.Level
	set := false
	for _, op := range res.Configs {
		if op.Name != rootLogger {
			return kafkaError(kerr.InvalidConfig, "Logger %s does not exist!", op.Name)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			l, ok := logrusLevel(*op.Value)
			if !ok {
				return kafkaError(kerr.InvalidConfig, "Cannot set the log level of %s to %s as it is not a supported log level. "+
					"Valid log4j levels are OFF, FATAL, ERROR, WARN, INFO, DEBUG, TRACE, ALL", op.Name, *op.Value)
			}
			level, set = l, true
		case kmsg.IncrementalAlterConfigOpDelete:
			return kafkaError(kerr.InvalidRequest, "Removing the log level of the %s logger is not allowed", rootLogger)
		default:
			return kafkaError(kerr.InvalidRequest, "%v operation is not allowed for the BROKER_LOGGER resource", op.Op)
		}
	}
	if set && !validateOnly {
		b.log.Logger.SetLevel(level)
		b.log.WithField("level", level.String()).Info("log level changed")
	}
	return nil
}

func log4jLevel(l logrus.Level) string {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return "FATAL"
	case logrus.ErrorLevel:
		return "ERROR"
	case logrus.WarnLevel:
		return "WARN"
	case logrus.InfoLevel:
		return "INFO"
	case logrus.DebugLevel:
		return "DEBUG"
	}
	return "TRACE"
}

// logrusLevel maps a log4j level to the nearest logrus one; OFF becomes panic-only, ALL trace.
func logrusLevel(s string) (logrus.Level, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "OFF":
		return logrus.PanicLevel, true
	case "FATAL":
		return logrus.FatalLevel, true
	case "ERROR":
		return logrus.ErrorLevel, true
	case "WARN":
		return logrus.WarnLevel, true
	case "INFO":
		return logrus.InfoLevel, true
	case "DEBUG":
		return logrus.DebugLevel, true
	case "TRACE", "ALL":
		return logrus.TraceLevel, true
	}
	return 0, false
}
