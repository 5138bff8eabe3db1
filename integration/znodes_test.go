//go:build integration

package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/IBM/sarama"
)

// The znodes a 2.8 cluster writes, read back through ZooKeeper, have Kafka 2.8's JSON shapes (reference 01,
// section 3), so Kafka's own tools and brokers could read them. JSON is parsed, never compared as bytes:
// Kafka's key order is not significant.
func TestZnodesHaveKafka28JSONShapes(t *testing.T) {
	// Racks on all brokers: Kafka refuses rack-aware assignment when only some brokers have one.
	c := StartCluster(t, Options{Brokers: 3, PerBroker: map[int32]map[string]string{
		1: {"broker.rack": "rack-1"}, 2: {"broker.rack": "rack-2"}, 3: {"broker.rack": "rack-3"}}})
	const topic = "znode-shapes"
	retention := "3600000"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &retention}})
	z := c.ZK()

	get := func(t *testing.T, path string) map[string]json.RawMessage {
		t.Helper()
		data, _, err := z.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s is not a JSON object: %v: %s", path, err, data)
		}
		return m
	}

	t.Run("BrokerRegistration", func(t *testing.T) {
		ids, err := z.Children("/brokers/ids")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, []string{"1", "2", "3"}) {
			t.Fatalf("/brokers/ids children %v", ids)
		}
		for _, id := range []int32{1, 2, 3} {
			path := fmt.Sprintf("/brokers/ids/%d", id)
			m := get(t, path)
			wantKeys(t, path, m, "features", "listener_security_protocol_map", "endpoints", "jmx_port", "port",
				"host", "version", "timestamp", "rack")
			wantJSON(t, path, m, "version", 5)
			wantJSON(t, path, m, "host", "127.0.0.1")
			wantJSON(t, path, m, "port", c.brokers[id-1].port)
			wantJSON(t, path, m, "jmx_port", -1)
			wantJSON(t, path, m, "endpoints", []string{"PLAINTEXT://" + c.Addr(id)})
			wantJSON(t, path, m, "listener_security_protocol_map", map[string]string{"PLAINTEXT": "PLAINTEXT"})
			wantJSON(t, path, m, "features", map[string]any{})
			wantMillisString(t, path, m, "timestamp")
			wantJSON(t, path, m, "rack", fmt.Sprintf("rack-%d", id))
			_, st, err := z.Get(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.EphemeralOwner == 0 {
				t.Errorf("%s is not ephemeral", path)
			}
			// Registered as create(null)+setData(json, version 0) in one multi: data version 1.
			if st.Version != 1 {
				t.Errorf("%s has data version %d, want 1 (Kafka's create-then-setData multi)", path, st.Version)
			}
		}
	})

	t.Run("Controller", func(t *testing.T) {
		m := get(t, "/controller")
		wantKeys(t, "/controller", m, "version", "brokerid", "timestamp")
		wantJSON(t, "/controller", m, "version", 1)
		var id int32
		if err := json.Unmarshal(m["brokerid"], &id); err != nil || id < 1 || id > 3 {
			t.Errorf("/controller brokerid %s", m["brokerid"])
		}
		wantMillisString(t, "/controller", m, "timestamp")
		_, st, err := z.Get("/controller")
		if err != nil {
			t.Fatal(err)
		}
		if st.EphemeralOwner == 0 {
			t.Error("/controller is not ephemeral")
		}
		data, _, err := z.Get("/controller_epoch")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := strconv.Atoi(string(data)); err != nil || n < 1 {
			t.Errorf("/controller_epoch is %q, want a decimal integer >= 1", data)
		}
	})

	t.Run("ClusterID", func(t *testing.T) {
		m := get(t, "/cluster/id")
		wantKeys(t, "/cluster/id", m, "version", "id")
		wantJSON(t, "/cluster/id", m, "version", "1") // a string in Kafka
		var id string
		if err := json.Unmarshal(m["id"], &id); err != nil {
			t.Fatal(err)
		}
		wantUUID(t, "/cluster/id id", id)
	})

	t.Run("TopicAssignment", func(t *testing.T) {
		path := "/brokers/topics/" + topic
		m := get(t, path)
		// 2.8 writes version 3 with the topic id (KIP-516, IBP >= 2.8-IV0); version 2 lacked topic_id.
		wantKeys(t, path, m, "version", "partitions", "adding_replicas", "removing_replicas", "topic_id")
		wantJSON(t, path, m, "version", 3)
		wantJSON(t, path, m, "adding_replicas", map[string]any{})
		wantJSON(t, path, m, "removing_replicas", map[string]any{})
		var parts map[string][]int32
		if err := json.Unmarshal(m["partitions"], &parts); err != nil {
			t.Fatalf("%s partitions: %v", path, err)
		}
		if len(parts) != 2 || len(parts["0"]) != 1 || len(parts["1"]) != 1 {
			t.Fatalf("%s partitions %v, want {\"0\":[b],\"1\":[b]}", path, parts)
		}
		var id string
		if err := json.Unmarshal(m["topic_id"], &id); err != nil {
			t.Fatal(err)
		}
		wantUUID(t, path+" topic_id", id)
		// The id in ZooKeeper is the one Metadata v10+ reports.
		md, err := c.MetadataFrom(c.Addr(1), []string{topic})
		if err != nil {
			t.Fatal(err)
		}
		if got := md.Topics[0].Uuid.String(); got != id {
			t.Errorf("metadata topic id %s, znode %s", got, id)
		}

		for p := 0; p < 2; p++ {
			spath := fmt.Sprintf("/brokers/topics/%s/partitions/%d/state", topic, p)
			s := get(t, spath)
			wantKeys(t, spath, s, "controller_epoch", "leader", "version", "leader_epoch", "isr")
			wantJSON(t, spath, s, "version", 1)
			wantJSON(t, spath, s, "leader_epoch", 0)
			wantJSON(t, spath, s, "leader", parts[strconv.Itoa(p)][0])
			wantJSON(t, spath, s, "isr", parts[strconv.Itoa(p)])
			var epoch int
			if err := json.Unmarshal(s["controller_epoch"], &epoch); err != nil || epoch < 1 {
				t.Errorf("%s controller_epoch %s", spath, s["controller_epoch"])
			}
		}
	})

	t.Run("TopicConfig", func(t *testing.T) {
		path := "/config/topics/" + topic
		m := get(t, path)
		wantKeys(t, path, m, "version", "config")
		wantJSON(t, path, m, "version", 1)
		wantJSON(t, path, m, "config", map[string]string{"retention.ms": retention})
	})

	t.Run("PrecreatedPaths", func(t *testing.T) {
		for _, p := range []string{"/consumers", "/brokers/ids", "/brokers/topics", "/brokers/seqid",
			"/config/changes", "/config/topics", "/config/clients", "/config/users", "/config/brokers",
			"/config/ips", "/admin/delete_topics", "/isr_change_notification", "/latest_producer_id_block",
			"/log_dir_event_notification"} {
			if ok, err := z.Exists(p); err != nil || !ok {
				t.Errorf("%s missing (%v)", p, err)
			}
		}
	})

	t.Run("Feature", func(t *testing.T) {
		m := get(t, "/feature")
		wantKeys(t, "/feature", m, "version", "status", "features")
		wantJSON(t, "/feature", m, "version", 1)
		wantJSON(t, "/feature", m, "status", 1)
		wantJSON(t, "/feature", m, "features", map[string]any{})
	})
}

func wantKeys(t *testing.T, path string, m map[string]json.RawMessage, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("%s has keys %v, want %v", path, got, keys)
	}
}

// wantJSON compares one field semantically: both sides are decoded to generic JSON values.
func wantJSON(t *testing.T, path string, m map[string]json.RawMessage, key string, want any) {
	t.Helper()
	raw, ok := m[key]
	if !ok {
		t.Errorf("%s: no %q", path, key)
		return
	}
	wb, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var g, w any
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Errorf("%s %q: %v", path, key, err)
		return
	}
	_ = json.Unmarshal(wb, &w)
	gb, _ := json.Marshal(g)
	wb, _ = json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("%s %q = %s, want %s", path, key, raw, wb)
	}
}

var digits = regexp.MustCompile(`^[0-9]{13}$`)

// wantMillisString checks a timestamp written, as Kafka does, as a JSON string of epoch milliseconds.
func wantMillisString(t *testing.T, path string, m map[string]json.RawMessage, key string) {
	t.Helper()
	var s string
	if err := json.Unmarshal(m[key], &s); err != nil || !digits.MatchString(s) {
		t.Errorf("%s %q = %s, want a string of epoch milliseconds", path, key, m[key])
	}
}

// wantUUID checks Kafka's Uuid.toString: 16 bytes, base64url without padding (22 characters), not all zero.
func wantUUID(t *testing.T, what, s string) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) != 22 || len(b) != 16 || string(b) == string(make([]byte, 16)) {
		t.Errorf("%s %q is not a base64url 16-byte id", what, s)
	}
}
