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
	// Documentation is a one-line description (v3+ when asked for).
	Documentation string
}

// ConfigSynonym is one source a config value could come from.
type ConfigSynonym struct {
	Name   string
	Value  *string
	Source kmsg.ConfigSource
}

// kafkaDefaults renders Kafka's own defaults: the DEFAULT_CONFIG synonyms.
var kafkaDefaults = Default()

// DescribeTopic answers DescribeConfigs for a topic from the static config alone (no dynamic layers).
func (c *Config) DescribeTopic(overrides map[string]string) ([]ConfigEntry, error) {
	return StaticOnly(c).DescribeTopic(overrides)
}

// DescribeBroker answers DescribeConfigs for this broker from the static config alone.
func (c *Config) DescribeBroker() []ConfigEntry { return StaticOnly(c).DescribeBroker() }

// DescribeTopic answers DescribeConfigs for a topic whose overrides (from /config/topics/<topic>) are given,
// entries sorted by name. Source and synonyms follow Kafka 2.8's createTopicConfigEntry: an override is
// DYNAMIC_TOPIC_CONFIG; otherwise the broker synonyms: per-broker dynamic, cluster-default dynamic, set in
// the config file (STATIC_BROKER_CONFIG), then Kafka's defaults (DEFAULT_CONFIG). Kafka keeps only the
// synonyms from the topic's primary broker key on (e.g. log.retention.ms for retention.ms), so a file that
// sets only log.retention.hours reports retention.ms as DEFAULT_CONFIG with the right value; this is
// reproduced, not fixed.
func (d *Dynamic) DescribeTopic(overrides map[string]string) ([]ConfigEntry, error) {
	t, err := d.effective.TopicConfig(overrides)
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
			syns = append(syns, d.synonyms(b, true)...)
		}
		e := entry(name, value, topicSchema.configType(name), false, syns)
		e.Documentation = topicDocs[name]
		out = append(out, e)
	}
	return out, nil
}

// DescribeBroker answers DescribeConfigs for this broker (resource name = its id): every key with its value
// in force. ReadOnly is false exactly for the keys AlterConfigs accepts (IsDynamicBrokerKey).
func (d *Dynamic) DescribeBroker() []ConfigEntry {
	out := make([]ConfigEntry, 0, len(brokerSchema.keys))
	for _, name := range brokerSchema.keys {
		value := brokerSchema.format(d.effective, name)
		syns := d.synonyms(name, true)
		if raw, ok := d.static.raw[name]; ok && value != nil && brokerSchema.configType(name) == kmsg.ConfigTypeString &&
			len(syns) > 0 && syns[0].Source == kmsg.ConfigSourceStaticBrokerConfig {
			value = &raw // Kafka shows a string as configured
		}
		e := entry(name, value, brokerSchema.configType(name), !IsDynamicBrokerKey(name), syns)
		e.Documentation = brokerDocs[name]
		out = append(out, e)
	}
	return out
}

// DescribeClusterDefault answers DescribeConfigs for the cluster-default broker resource (empty name): only
// the keys set in /config/brokers/<default>, as Kafka 2.8 answers from currentDynamicDefaultConfigs, with
// synonyms that leave out per-broker values.
func (d *Dynamic) DescribeClusterDefault() []ConfigEntry {
	out := []ConfigEntry{}
	for _, name := range sortedKeys(d.clusterDefault) {
		v := d.clusterDefault[name]
		e := entry(name, &v, brokerSchema.configType(name), !IsDynamicBrokerKey(name), d.synonyms(name, false))
		e.Documentation = brokerDocs[name]
		out = append(out, e)
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

// synonyms lists the broker keys that could supply name's value, in Kafka's order (ConfigHelper.configSynonyms):
// per-broker dynamic (only when perBroker), cluster-default dynamic, static, Kafka default; each source in
// brokerSynonyms order; dropping those before name itself.
func (d *Dynamic) synonyms(name string, perBroker bool) []ConfigSynonym {
	var all []ConfigSynonym
	group := brokerSynonyms(name)
	add := func(m map[string]string, src kmsg.ConfigSource) {
		for _, k := range group {
			if raw, ok := m[k]; ok {
				all = append(all, ConfigSynonym{Name: k, Value: &raw, Source: src})
			}
		}
	}
	if perBroker {
		add(d.perBroker, kmsg.ConfigSourceDynamicBrokerConfig)
	}
	add(d.clusterDefault, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	add(d.static.raw, kmsg.ConfigSourceStaticBrokerConfig)
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
