package zkregistry

import (
	"bytes"
	"testing"
)

// codecs pairs each decoder with its encoder: for any input a decoder
// accepts, encode(decode(x)) must itself decode and re-encode to the same
// bytes (the canonical form is a fixed point).
var fuzzCodecs = map[string]func([]byte) ([]byte, error){
	"broker": func(b []byte) ([]byte, error) { v, err := DecodeBrokerInfo(1, b); return v.Encode(), err },
	"topic":  func(b []byte) ([]byte, error) { v, err := DecodeTopicAssignment(b); return v.Encode(), err },
	"state":  func(b []byte) ([]byte, error) { v, err := DecodePartitionState(b, 0); return v.Encode(), err },
	"config": func(b []byte) ([]byte, error) { v, err := DecodeConfig(b); return EncodeConfig(v), err },
	"change": func(b []byte) ([]byte, error) { v, err := DecodeConfigChange(b); return v.Encode(), err },
	"controller": func(b []byte) ([]byte, error) {
		v, err := DecodeController(b)
		return v.Encode(), err
	},
	"epoch": func(b []byte) ([]byte, error) {
		v, err := DecodeControllerEpoch(b)
		return EncodeControllerEpoch(v), err
	},
	"reassign": func(b []byte) ([]byte, error) {
		v, err := DecodeReassignment(b)
		return EncodeReassignment(v), err
	},
	"preferred": func(b []byte) ([]byte, error) {
		v, err := DecodePreferredReplicaElection(b)
		return EncodePreferredReplicaElection(v), err
	},
	"isr":      func(b []byte) ([]byte, error) { v, err := DecodeIsrChange(b); return EncodeIsrChange(v), err },
	"logdir":   func(b []byte) ([]byte, error) { v, err := DecodeLogDirEvent(b); return v.Encode(), err },
	"pidblock": func(b []byte) ([]byte, error) { v, err := DecodeProducerIDBlock(b); return v.Encode(), err },
	"cluster":  func(b []byte) ([]byte, error) { v, err := DecodeClusterID(b); return EncodeClusterID(v), err },
	"feature":  func(b []byte) ([]byte, error) { v, err := DecodeFeatureZNode(b); return v.Encode(), err },
	"acls":     func(b []byte) ([]byte, error) { v, err := DecodeACLs(b); return EncodeACLs(v), err },
	"aclchange": func(b []byte) ([]byte, error) {
		rt, n, err := DecodeACLChange(b)
		return EncodeACLChange(rt, n), err
	},
	"extacl": func(b []byte) ([]byte, error) { v, err := DecodeExtendedACLChange(b); return v.Encode(), err },
	"token":  func(b []byte) ([]byte, error) { v, err := DecodeDelegationToken(b); return v.Encode(), err },
}

func FuzzZkJSON(f *testing.F) {
	for _, seed := range []string{
		`{"version":1,"brokerid":3,"timestamp":"1626848389123"}`,
		`{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},"endpoints":["PLAINTEXT://host1:9092","SSL://[::1]:9093"],"jmx_port":-1,"port":9092,"host":"host1","version":5,"timestamp":"1626848389000","rack":"rack-a"}`,
		`{"jmx_port":-1,"timestamp":"1","host":"h","version":1,"port":9092}`,
		`{"version":3,"partitions":{"0":[1,2,3],"1":[2,3,1]},"adding_replicas":{},"removing_replicas":{},"topic_id":"x3Qb0kyzR6eEmM9S2Nf1Cw"}`,
		`{"controller_epoch":1,"leader":2,"version":1,"leader_epoch":0,"isr":[2,3,1]}`,
		`{"version":1,"config":{"retention.ms":"86400000","cleanup.policy":"compact"}}`,
		`{"version":2,"entity_path":"topics/my-topic"}`,
		`{"version":1,"entity_type":"topics","entity_name":"my-topic"}`,
		`{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[4,5,6]}]}`,
		`{"version":1,"partitions":[{"topic":"foo","partition":0},{"topic":"bar","partition":3}]}`,
		`{"version":1,"broker":2,"event":1}`,
		`{"version":1,"broker":0,"block_start":"3000","block_end":"3999"}`,
		`{"version":"1","id":"7rbKWmT9SjGqfNLf0ZkA4Q"}`,
		`{"version":1,"status":1,"features":{"f":{"min_version_level":1,"max_version_level":2}}}`,
		`{"version":1,"acls":[{"principal":"User:alice","permissionType":"Allow","operation":"Read","host":"*"}]}`,
		`TOPIC:orders`, `7`, ``, `null`, `{}`, `[]`, `{"version":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, codec := range fuzzCodecs {
			first, err := codec(data)
			if err != nil {
				continue
			}
			second, err := codec(first)
			if err != nil {
				t.Fatalf("%s: re-decoding our own encoding %s of %q: %v", name, first, data, err)
			}
			if !bytes.Equal(first, second) {
				t.Fatalf("%s: not a fixed point:\n%s\n%s", name, first, second)
			}
		}
		if s := string(data); sanitizeRoundTrip(s) != s {
			t.Fatalf("sanitize round trip of %q", s)
		}
	})
}

// sanitizeRoundTrip is Desanitize(Sanitize(s)) (which must be s for any bytes).
func sanitizeRoundTrip(s string) string {
	out, err := Desanitize(Sanitize(s))
	if err != nil {
		return "error: " + err.Error()
	}
	return out
}
