package zkregistry

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func mustUUID(t testing.TB, s string) UUID {
	t.Helper()
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestCodecsMatchKafkaReference encodes the values of reference 01's
// examples and compares byte for byte, then decodes the example and
// re-encodes it (decode∘encode is the identity on Kafka's bytes).
func TestCodecsMatchKafkaReference(t *testing.T) {
	topicID := mustUUID(t, "x3Qb0kyzR6eEmM9S2Nf1Cw")
	cases := []struct {
		name   string
		encode func() []byte
		want   string
		// roundTrip decodes want and re-encodes it.
		roundTrip func([]byte) ([]byte, error)
	}{{
		name:   "controller §3.1",
		encode: ControllerInfo{BrokerID: 3, Timestamp: 1626848389123}.Encode,
		want:   `{"version":1,"brokerid":3,"timestamp":"1626848389123"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeController(b)
			return v.Encode(), err
		},
	}, {
		name: "controller_epoch",
		encode: func() []byte {
			return EncodeControllerEpoch(7)
		},
		want: `7`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeControllerEpoch(b)
			return EncodeControllerEpoch(v), err
		},
	}, {
		name: "broker registration v5 §3.2",
		encode: BrokerInfo{ID: 1, Rack: "rack-a", JMXPort: -1, Timestamp: 1626848389000,
			Endpoints: []Endpoint{
				{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "host1", Port: 9092},
				{Listener: "SSL", SecurityProtocol: "SSL", Host: "host1", Port: 9093},
			}}.Encode,
		want: `{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},` +
			`"endpoints":["PLAINTEXT://host1:9092","SSL://host1:9093"],"jmx_port":-1,"port":9092,` +
			`"host":"host1","version":5,"timestamp":"1626848389000","rack":"rack-a"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeBrokerInfo(1, b)
			return v.Encode(), err
		},
	}, {
		name:   "topic assignment v3 §3.3",
		encode: TopicAssignment{Partitions: map[int32][]int32{0: {1, 2, 3}, 1: {2, 3, 1}}, TopicID: topicID}.Encode,
		want: `{"version":3,"partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{},` +
			`"removing_replicas":{},"topic_id":"x3Qb0kyzR6eEmM9S2Nf1Cw"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeTopicAssignment(b)
			return v.Encode(), err
		},
	}, {
		name:   "partition state §3.4",
		encode: PartitionState{ControllerEpoch: 1, Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 3, 1}}.Encode,
		want:   `{"controller_epoch":1,"leader":2,"version":1,"leader_epoch":0,"isr":[2,3,1]}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodePartitionState(b, 0)
			return v.Encode(), err
		},
	}, {
		// The reference prints retention.ms first, but Kafka writes a
		// java.util.Properties, whose iteration order for these two keys
		// (checked with Java 17) is cleanup.policy, retention.ms — the
		// sorted order we write.
		name: "config entity §3.5",
		encode: func() []byte {
			return EncodeConfig(map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"})
		},
		want: `{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"86400000"}}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeConfig(b)
			return EncodeConfig(v), err
		},
	}, {
		name:   "config change v2 §3.6",
		encode: ConfigChange{EntityPath: "topics/my-topic"}.Encode,
		want:   `{"version":2,"entity_path":"topics/my-topic"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeConfigChange(b)
			return v.Encode(), err
		},
	}, {
		name: "reassign partitions §3.7",
		encode: func() []byte {
			return EncodeReassignment([]ReassignPartition{{Topic: "foo", Partition: 0, Replicas: []int32{4, 5, 6}}})
		},
		want: `{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[4,5,6]}]}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeReassignment(b)
			return EncodeReassignment(v), err
		},
	}, {
		name: "preferred replica election §3.8",
		encode: func() []byte {
			return EncodePreferredReplicaElection([]TopicPartition{{"foo", 0}, {"bar", 3}})
		},
		want: `{"version":1,"partitions":[{"topic":"foo","partition":0},{"topic":"bar","partition":3}]}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodePreferredReplicaElection(b)
			return EncodePreferredReplicaElection(v), err
		},
	}, {
		name:   "isr change notification §3.9",
		encode: func() []byte { return EncodeIsrChange([]TopicPartition{{"foo", 0}}) },
		want:   `{"version":1,"partitions":[{"topic":"foo","partition":0}]}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeIsrChange(b)
			return EncodeIsrChange(v), err
		},
	}, {
		name:   "log dir event §3.10",
		encode: LogDirEvent{BrokerID: 2, Event: LogDirFailureEvent}.Encode,
		want:   `{"version":1,"broker":2,"event":1}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeLogDirEvent(b)
			return v.Encode(), err
		},
	}, {
		name:   "producer id block §3.11",
		encode: ProducerIDBlock{BrokerID: 0, Start: 3000, End: 3999}.Encode,
		want:   `{"version":1,"broker":0,"block_start":"3000","block_end":"3999"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeProducerIDBlock(b)
			return v.Encode(), err
		},
	}, {
		name:   "cluster id §3.12",
		encode: func() []byte { return EncodeClusterID("7rbKWmT9SjGqfNLf0ZkA4Q") },
		want:   `{"version":"1","id":"7rbKWmT9SjGqfNLf0ZkA4Q"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeClusterID(b)
			return EncodeClusterID(v), err
		},
	}, {
		name:   "feature §3.13",
		encode: FeatureZNode{Status: FeatureEnabled}.Encode,
		want:   `{"version":1,"status":1,"features":{}}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeFeatureZNode(b)
			return v.Encode(), err
		},
	}, {
		name: "acls §3.14",
		encode: func() []byte {
			return EncodeACLs([]ACL{{Principal: "User:alice", PermissionType: "Allow", Operation: "Read", Host: "*"}})
		},
		want: `{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeACLs(b)
			return EncodeACLs(v), err
		},
	}, {
		name:   "acl change",
		encode: func() []byte { return EncodeACLChange("TOPIC", "orders") },
		want:   `TOPIC:orders`,
		roundTrip: func(b []byte) ([]byte, error) {
			rt, n, err := DecodeACLChange(b)
			return EncodeACLChange(rt, n), err
		},
	}, {
		name:   "extended acl change",
		encode: ExtendedACLChange{ResourceType: "TOPIC", Name: "x", PatternType: "PREFIXED"}.Encode,
		want:   `{"version":1,"resourceType":"TOPIC","name":"x","patternType":"PREFIXED"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeExtendedACLChange(b)
			return v.Encode(), err
		},
	}, {
		name: "delegation token",
		encode: DelegationToken{Owner: "User%3Ax", Renewers: []string{"User%3Ay"}, IssueTimestamp: 1,
			MaxTimestamp: 3, ExpiryTimestamp: 2, TokenID: "tok"}.Encode,
		want: `{"version":1,"owner":"User%3Ax","renewers":["User%3Ay"],"issueTimestamp":1,` +
			`"maxTimestamp":3,"expiryTimestamp":2,"tokenId":"tok"}`,
		roundTrip: func(b []byte) ([]byte, error) {
			v, err := DecodeDelegationToken(b)
			return v.Encode(), err
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(tc.encode()); got != tc.want {
				t.Errorf("encode:\n got %s\nwant %s", got, tc.want)
			}
			got, err := tc.roundTrip([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("decode+encode:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestBrokerRegistrationLegacyFields(t *testing.T) {
	t.Run("no PLAINTEXT endpoint: host null, port -1, no rack key", func(t *testing.T) {
		b := BrokerInfo{JMXPort: 9999, Timestamp: 5, Endpoints: []Endpoint{
			{Listener: "INTERNAL", SecurityProtocol: "SASL_SSL", Host: "::1", Port: 9094}}}
		want := `{"features":{},"listener_security_protocol_map":{"INTERNAL":"SASL_SSL"},` +
			`"endpoints":["INTERNAL://[::1]:9094"],"jmx_port":9999,"port":-1,"host":null,"version":5,"timestamp":"5"}`
		if got := string(b.Encode()); got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
		back, err := DecodeBrokerInfo(0, []byte(want))
		if err != nil || back.Endpoints[0].Host != "::1" || back.Endpoints[0].SecurityProtocol != "SASL_SSL" {
			t.Fatalf("decode: %+v, %v", back, err)
		}
	})
	t.Run("features written as min_version/max_version", func(t *testing.T) {
		b := BrokerInfo{Features: map[string]VersionRange{"b": {1, 2}, "a": {0, 3}}}
		if got := string(b.Encode()); !strings.HasPrefix(got,
			`{"features":{"a":{"min_version":0,"max_version":3},"b":{"min_version":1,"max_version":2}},`) {
			t.Fatal(got)
		}
	})
	t.Run("no HTML escaping, control characters escaped like Jackson", func(t *testing.T) {
		got := string(EncodeConfig(map[string]string{"k": "<a&b>\"\\\x01\n"}))
		want := `{"version":1,"config":{"k":"<a&b>\"\\\u0001\n"}}`
		if got != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("partitions in numeric order", func(t *testing.T) {
		a := TopicAssignment{Partitions: map[int32][]int32{10: {1}, 2: {1}, 0: {1}, 1: {1}}}
		if got := string(a.Encode()); !strings.Contains(got, `"partitions":{"0":[1],"1":[1],"2":[1],"10":[1]}`) {
			t.Fatal(got)
		}
	})
}

func TestDecodeOlderVersions(t *testing.T) {
	t.Run("broker v1: host/port only is PLAINTEXT", func(t *testing.T) {
		b, err := DecodeBrokerInfo(4, []byte(`{"jmx_port":-1,"timestamp":"1","host":"h","version":1,"port":9092}`))
		want := []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "h", Port: 9092}}
		if err != nil || !reflect.DeepEqual(b.Endpoints, want) || b.ID != 4 || b.Version != 1 {
			t.Fatalf("%+v %v", b, err)
		}
	})
	t.Run("broker v2/v3: listener names are protocol names", func(t *testing.T) {
		b, err := DecodeBrokerInfo(1, []byte(`{"jmx_port":-1,"timestamp":"1","endpoints":["ssl://h:9093"],`+
			`"host":null,"version":3,"port":-1,"rack":"r1"}`))
		if err != nil || b.Endpoints[0].Listener != "SSL" || b.Endpoints[0].SecurityProtocol != "SSL" || b.Rack != "r1" {
			t.Fatalf("%+v %v", b, err)
		}
	})
	t.Run("broker: numbers as numbers or strings", func(t *testing.T) {
		b, err := DecodeBrokerInfo(1, []byte(`{"version":"4","timestamp":123,"endpoints":["A://h:1"],`+
			`"listener_security_protocol_map":{"A":"PLAINTEXT"},"jmx_port":"7"}`))
		if err != nil || b.Timestamp != 123 || b.JMXPort != 7 || b.Version != 4 {
			t.Fatalf("%+v %v", b, err)
		}
	})
	t.Run("topic v1: only partitions", func(t *testing.T) {
		a, err := DecodeTopicAssignment([]byte(`{"version":1,"partitions":{"1":[2],"0":[1]}}`))
		if err != nil || len(a.Partitions) != 2 || !a.TopicID.IsZero() || len(a.Adding) != 0 {
			t.Fatalf("%+v %v", a, err)
		}
		if got := string(a.Encode()); got != `{"version":3,"partitions":{"0":[1],"1":[2]},"adding_replicas":{},"removing_replicas":{}}` {
			t.Fatal(got)
		}
	})
	t.Run("config change v1", func(t *testing.T) {
		c, err := DecodeConfigChange([]byte(`{"version":1,"entity_type":"clients","entity_name":"app"}`))
		if err != nil || c.EntityPath != "clients/app" {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("empty config node means no overrides", func(t *testing.T) {
		for _, data := range []string{"", "null"} {
			m, err := DecodeConfig([]byte(data))
			if err != nil || len(m) != 0 {
				t.Fatalf("%q: %v %v", data, m, err)
			}
		}
	})
}

func TestDecodeRejectsMalformed(t *testing.T) {
	cases := map[string]func() error{
		"broker: not json":     func() error { _, err := DecodeBrokerInfo(1, []byte(`{`)); return err },
		"broker: no version":   func() error { _, err := DecodeBrokerInfo(1, []byte(`{"host":"h","port":1}`)); return err },
		"broker: no endpoints": func() error { _, err := DecodeBrokerInfo(1, []byte(`{"version":4}`)); return err },
		"broker: bad endpoint": func() error { _, err := DecodeBrokerInfo(1, []byte(`{"version":4,"endpoints":["h:1"]}`)); return err },
		"broker: unmapped": func() error {
			_, err := DecodeBrokerInfo(1, []byte(`{"version":4,"endpoints":["A://h:1"],"listener_security_protocol_map":{}}`))
			return err
		},
		"topic: bad partition": func() error {
			_, err := DecodeTopicAssignment([]byte(`{"version":1,"partitions":{"x":[1]}}`))
			return err
		},
		"topic: no partitions": func() error { _, err := DecodeTopicAssignment([]byte(`{"version":3}`)); return err },
		"topic: bad topic id": func() error {
			_, err := DecodeTopicAssignment([]byte(`{"version":3,"partitions":{},"topic_id":"zz"}`))
			return err
		},
		"state: no isr": func() error {
			_, err := DecodePartitionState([]byte(`{"controller_epoch":1,"leader":1,"leader_epoch":0}`), 0)
			return err
		},
		"state: leader overflow": func() error {
			_, err := DecodePartitionState([]byte(`{"controller_epoch":1,"leader":4294967296,"leader_epoch":0,"isr":[]}`), 0)
			return err
		},
		"state: empty":            func() error { _, err := DecodePartitionState(nil, 0); return err },
		"controller: no brokerid": func() error { _, err := DecodeController([]byte(`{"version":1}`)); return err },
		"epoch: not a number":     func() error { _, err := DecodeControllerEpoch([]byte(`x`)); return err },
		"cluster id: missing id":  func() error { _, err := DecodeClusterID([]byte(`{"version":"1"}`)); return err },
		"config: null value":      func() error { _, err := DecodeConfig([]byte(`{"version":1,"config":{"a":null}}`)); return err },
		"config change: v1 users": func() error {
			_, err := DecodeConfigChange([]byte(`{"version":1,"entity_type":"users","entity_name":"x"}`))
			return err
		},
		"pid block: no end": func() error { _, err := DecodeProducerIDBlock([]byte(`{"broker":1,"block_start":"0"}`)); return err },
		"reassign: no replicas": func() error {
			_, err := DecodeReassignment([]byte(`{"version":1,"partitions":[{"topic":"a","partition":0}]}`))
			return err
		},
		"acl change: no colon": func() error { _, _, err := DecodeACLChange([]byte(`TOPIC`)); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := f()
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoData) {
				t.Fatalf("error %v is neither ErrMalformed nor ErrNoData", err)
			}
		})
	}
}

func TestUUID(t *testing.T) {
	seen := map[UUID]bool{}
	for i := 0; i < 1000; i++ {
		u := NewUUID()
		s := u.String()
		if len(s) != 22 || s[0] == '-' || u.IsZero() || seen[u] {
			t.Fatalf("bad uuid %q", s)
		}
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("%q is not a version 4 UUID", s)
		}
		seen[u] = true
		back, err := ParseUUID(s)
		if err != nil || back != u {
			t.Fatalf("parse %q: %v", s, err)
		}
	}
	if ZeroUUID.String() != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Fatal(ZeroUUID.String())
	}
}

// TestSanitizeMatchesKafkaSanitizer checks java.net.URLEncoder's rules plus
// Kafka's '*' and '+' replacements.
func TestSanitizeMatchesKafkaSanitizer(t *testing.T) {
	cases := map[string]string{
		"User:alice":   "User%3Aalice",
		"a b*c":        "a%20b%2Ac",
		"safe.-_AZ09":  "safe.-_AZ09",
		"é":            "%C3%A9",
		"CN=x,O=y+z/w": "CN%3Dx%2CO%3Dy%2Bz%2Fw",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if back, err := Desanitize(want); err != nil || back != in {
			t.Errorf("Desanitize(%q) = %q, %v", want, back, err)
		}
	}
}

func TestParseConnect(t *testing.T) {
	cases := []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{in: "h1:2181", servers: []string{"h1:2181"}},
		{in: "h1:2181,h2:2182/kafka/a", servers: []string{"h1:2181", "h2:2182"}, chroot: "/kafka/a"},
		{in: "h1:2181/", servers: []string{"h1:2181"}},
		{in: "h1:2181/kafka/", bad: true},
		{in: "/kafka", bad: true},
	}
	for _, tc := range cases {
		servers, chroot, err := ParseConnect(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(servers, tc.servers) || chroot != tc.chroot {
			t.Errorf("%q: %v %q %v", tc.in, servers, chroot, err)
		}
	}
}

func TestParseSequence(t *testing.T) {
	if v, err := ParseSequence("isr_change_0000000042"); err != nil || v != 42 {
		t.Fatal(v, err)
	}
	if _, err := ParseSequence("isr_change_"); err == nil {
		t.Fatal("no error")
	}
}

func TestValidateAssignmentFollowsAdminZkClient(t *testing.T) {
	cases := map[string]struct {
		parts map[int32][]int32
		ok    bool
	}{
		"valid":                 {map[int32][]int32{0: {1, 2}, 1: {2, 1}}, true},
		"gap in partitions":     {map[int32][]int32{0: {1}, 2: {1}}, false},
		"different rf":          {map[int32][]int32{0: {1, 2}, 1: {1}}, false},
		"duplicate replica":     {map[int32][]int32{0: {1, 1}}, false},
		"no partitions":         {map[int32][]int32{}, false},
		"partition no replicas": {map[int32][]int32{0: {}}, false},
	}
	for name, tc := range cases {
		err := ValidateAssignment(tc.parts)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v", name, err)
		}
		if err != nil && !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%s: wrong error %v", name, err)
		}
	}
}
