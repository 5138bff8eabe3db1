package config

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigEntry is one DescribeConfigs result entry, ready to copy into kmsg.DescribeConfigsResponseResourceConfig.
type ConfigEntry struct {
	Name      string
	Value     *string // nil: null (an unset key without default)
	Source    kmsg.ConfigSource
	IsDefault bool // v0's is_default: Source == DEFAULT_CONFIG
	ReadOnly  bool
	Sensitive bool // always false: Samsa has no password configs
	Type      kmsg.ConfigType
	Synonyms  []ConfigSynonym // v1+: where the value comes from, highest precedence first
}

// ConfigSynonym is one source a config value could come from.
type ConfigSynonym struct {
	Name   string
	Value  *string
	Source kmsg.ConfigSource
}

// kafkaDefaults renders Kafka's own defaults: the DEFAULT_CONFIG synonyms.
var kafkaDefaults = Default()

// DescribeTopic answers DescribeConfigs for a topic whose overrides (from /config/topics/<topic>) are given,
// entries sorted by name. Source and synonyms follow Kafka 2.8's createTopicConfigEntry: an override is
// DYNAMIC_TOPIC_CONFIG; otherwise the broker synonyms set in the config file (STATIC_BROKER_CONFIG), then
// Kafka's defaults (DEFAULT_CONFIG). Kafka keeps only the synonyms from the topic's primary broker key on
// (e.g. log.retention.ms for retention.ms), so a file that sets only log.retention.hours reports retention.ms
// as DEFAULT_CONFIG with the right value; this is reproduced, not fixed.
func (c *Config) DescribeTopic(overrides map[string]string) ([]ConfigEntry, error) {
	t, err := c.TopicConfig(overrides)
	if err != nil {
		return nil, err
	}
	out := make([]ConfigEntry, 0, len(topicSchema.keys))
	for _, name := range topicSchema.keys {
		value := topicSchema.format(&t, name)
		var syns []ConfigSynonym
		if _, ok := overrides[name]; ok {
			syns = append(syns, ConfigSynonym{Name: name, Value: value, Source: kmsg.ConfigSourceDynamicTopicConfig})
		}
		if b := topicSynonyms[name]; b != "" {
			syns = append(syns, c.synonyms(b)...)
		}
		out = append(out, entry(name, value, topicSchema.configType(name), false, syns))
	}
	return out, nil
}

// DescribeBroker answers DescribeConfigs for this broker: every key with its value, STATIC_BROKER_CONFIG when
// set explicitly, else DEFAULT_CONFIG. All entries are read-only: Samsa has no dynamic broker configs yet.
func (c *Config) DescribeBroker() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(brokerSchema.keys))
	for _, name := range brokerSchema.keys {
		value := brokerSchema.format(c, name)
		if raw, ok := c.raw[name]; ok && value != nil && brokerSchema.configType(name) == kmsg.ConfigTypeString {
			value = &raw // Kafka shows a string as configured
		}
		out = append(out, entry(name, value, brokerSchema.configType(name), true, c.synonyms(name)))
	}
	return out
}

func entry(name string, value *string, typ kmsg.ConfigType, readOnly bool, syns []ConfigSynonym) ConfigEntry {
	src := kmsg.ConfigSourceDefaultConfig
	if len(syns) > 0 {
		src = syns[0].Source
	}
	return ConfigEntry{Name: name, Value: value, Source: src, IsDefault: src == kmsg.ConfigSourceDefaultConfig,
		ReadOnly: readOnly, Type: typ, Synonyms: syns}
}

// synonyms lists the broker keys that could supply name's value: explicitly set ones first, then Kafka defaults,
// each in brokerSynonyms order, dropping those before name itself (ConfigHelper.configSynonyms).
func (c *Config) synonyms(name string) []ConfigSynonym {
	var all []ConfigSynonym
	group := brokerSynonyms(name)
	for _, k := range group {
		if raw, ok := c.raw[k]; ok {
			all = append(all, ConfigSynonym{Name: k, Value: &raw, Source: kmsg.ConfigSourceStaticBrokerConfig})
		}
	}
	for _, k := range group {
		if v := brokerSchema.format(kafkaDefaults, k); v != nil {
			all = append(all, ConfigSynonym{Name: k, Value: v, Source: kmsg.ConfigSourceDefaultConfig})
		}
	}
	for len(all) > 0 && all[0].Name != name {
		all = all[1:]
	}
	return all
}
