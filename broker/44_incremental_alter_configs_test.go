package broker

import (
	"errors"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
)

func op(name string, o kmsg.IncrementalAlterConfigOp, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, o, kmsg.StringPtr(value)
	return c
}

// ZkAdminManager.prepareIncrementalConfigs: SET and DELETE on any key; APPEND and SUBTRACT on LIST keys
// only, starting from Kafka's default when the entity does not set the key.
func TestPrepareIncrementalConfigsKafkaRules(t *testing.T) {
	cases := []struct {
		name    string
		current map[string]string
		ops     []kmsg.IncrementalAlterConfigsRequestResourceConfig
		want    map[string]string
		code    *kerr.Error
	}{
		{"set keeps other keys", map[string]string{"segment.bytes": "1024"},
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpSet, "5")},
			map[string]string{"segment.bytes": "1024", "retention.ms": "5"}, nil},
		{"delete", map[string]string{"segment.bytes": "1024", "retention.ms": "5"},
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpDelete, "")},
			map[string]string{"segment.bytes": "1024"}, nil},
		{"append starts from the Kafka default", nil,
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, "compact")},
			map[string]string{"cleanup.policy": "delete,compact"}, nil},
		{"subtract", map[string]string{"cleanup.policy": "compact,delete"},
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("cleanup.policy", kmsg.IncrementalAlterConfigOpSubtract, "delete")},
			map[string]string{"cleanup.policy": "compact"}, nil},
		{"append to a non-list key", nil,
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("retention.ms", kmsg.IncrementalAlterConfigOpAppend, "1")},
			nil, kerr.InvalidRequest},
		{"append to an unknown key", nil,
			[]kmsg.IncrementalAlterConfigsRequestResourceConfig{op("nope", kmsg.IncrementalAlterConfigOpAppend, "1")},
			nil, kerr.InvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyConfigOps(tc.current, tc.ops, config.TopicKeyInfo)
			if tc.code != nil {
				if !errors.Is(err, tc.code) {
					t.Fatalf("error %v, want %v", err, tc.code)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("got %v %v, want %v", got, err, tc.want)
			}
			if tc.current != nil && maps.Equal(tc.current, got) {
				t.Fatal("current modified or unchanged")
			}
		})
	}
}

// ZkAdminManager.alterTopicConfigs: unknown names are INVALID_CONFIG (InvalidConfigurationException), bad
// values INVALID_REQUEST (ConfigException), rules across keys INVALID_CONFIG.
func TestAlterTopicConfigErrorCodesFollowKafka(t *testing.T) {
	cases := []struct {
		props map[string]string
		code  *kerr.Error
	}{
		{map[string]string{"no.such.key": "1", "retention.ms": "x"}, kerr.InvalidConfig},
		{map[string]string{"retention.ms": "soon"}, kerr.InvalidRequest},
		{map[string]string{"segment.bytes": "1"}, kerr.InvalidRequest},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, kerr.InvalidConfig},
	}
	for _, tc := range cases {
		err := config.ValidateTopicConfigs(tc.props)
		if err == nil {
			t.Fatalf("%v accepted", tc.props)
		}
		if got := topicConfigError("t", err); !errors.Is(got, tc.code) {
			t.Errorf("%v: %v, want %v", tc.props, got, tc.code)
		}
	}
}

func TestLog4jLevelsMapToLogrus(t *testing.T) {
	for _, l := range []string{"OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE", "ALL", "debug"} {
		if _, ok := logrusLevel(l); !ok {
			t.Errorf("%s refused", l)
		}
	}
	if _, ok := logrusLevel("VERBOSE"); ok {
		t.Error("VERBOSE accepted")
	}
	if lv, _ := logrusLevel("WARN"); log4jLevel(lv) != "WARN" {
		t.Error("round trip")
	}
}
