package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// withQuotas installs a quota manager on db's broker, as quotaEntityChanged would.
func withQuotas(t *testing.T, db *dataBroker, e quota.Entity, cfg map[string]string) {
	t.Helper()
	m := quota.NewManager(quota.DefaultConfig(), time.Now)
	if err := m.Update(e, cfg); err != nil {
		t.Fatal(err)
	}
	db.Broker.quotas.Store(m)
	t.Cleanup(func() {
		db.Broker.quotas.Store(nil)
	})
}

// callSized is dataBroker.call with the request size set, as the connection sets it.
func callSized(db *dataBroker, h handlerFunc, msg kmsg.Request, clientID string) (Response, error) {
	hdr := protocol.RequestHeader{APIKey: msg.Key(), APIVersion: msg.GetVersion(), CorrelationID: 7, ClientID: &clientID}
	return h(db.Broker, context.Background(), &Request{Header: hdr, Msg: msg, Size: len(msg.AppendTo(nil)) + 10 + len(clientID)})
}

// TestProduceQuota_ThrottlesAndMutesPerKIP219: over producer_byte_rate the response carries the throttle
// time; v6+ is answered at once (the client throttles), older versions are delayed; other client ids
// are not throttled.
func TestProduceQuota_ThrottlesAndMutesPerKIP219(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	withQuotas(t, db, quota.Entity{ClientID: quota.Named("slow")}, map[string]string{quota.ProducerByteRate: "100"})
	for _, v := range []int16{5, 6, 9} {
		var resp Response
		for range 3 { // the first request may fit in the ten-second minimum window
			req := produceRequest(v, 1, "t", map[int32][]byte{0: buildTestBatch(t, 20, record.DefaultBuildOptions(), []byte("k"))})
			var err error
			if resp, err = callSized(db, handleProduce, req, "slow"); err != nil {
				t.Fatal(err)
			}
			if resp.Throttle > 0 {
				break
			}
		}
		pr := resp.Msg.(*kmsg.ProduceResponse)
		if resp.Throttle <= 0 || pr.ThrottleMillis != int32(resp.Throttle.Milliseconds()) {
			t.Fatalf("v%d: throttle %v, ThrottleMillis %d", v, resp.Throttle, pr.ThrottleMillis)
		}
		if resp.ClientThrottles != (v >= 6) {
			t.Fatalf("v%d: ClientThrottles = %v", v, resp.ClientThrottles)
		}
		if pr.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("v%d: throttled produce must still append", v)
		}
	}
	req := produceRequest(9, 1, "t", map[int32][]byte{0: buildTestBatch(t, 20, record.DefaultBuildOptions(), []byte("k"))})
	resp, err := callSized(db, handleProduce, req, "fast")
	if err != nil || resp.Throttle != 0 {
		t.Fatalf("unquota'd client: throttle %v, err %v", resp.Throttle, err)
	}
}

// TestFetchQuota_ThrottledConsumerGetsEmptyResponse is KafkaApis' fetch quota: a throttled consumer gets
// no partitions and the throttle time (getThrottledResponse); a follower fetch is never client-quota'd.
func TestFetchQuota_ThrottledConsumerGetsEmptyResponse(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	for range 5 {
		req := produceRequest(9, 1, "t", map[int32][]byte{0: buildTestBatch(t, 50, record.DefaultBuildOptions(), []byte("k"))})
		if _, err := db.call(handleProduce, req, "p"); err != nil {
			t.Fatal(err)
		}
	}
	withQuotas(t, db, quota.Entity{User: quota.Default}, map[string]string{quota.ConsumerByteRate: "10"})
	for _, v := range []int16{7, 12} {
		var resp Response
		for range 3 {
			var err error
			if resp, err = db.call(handleFetch, fetchRequest(v, "t", 0), "c"+string(rune('0'+v))); err != nil {
				t.Fatal(err)
			}
			if resp.Throttle > 0 {
				break
			}
		}
		fr := decodeFetch(t, v, resp)
		if resp.Throttle <= 0 || fr.ThrottleMillis <= 0 || len(fr.Topics) != 0 {
			t.Fatalf("v%d: throttle %v, ThrottleMillis %d, %d topics", v, resp.Throttle, fr.ThrottleMillis, len(fr.Topics))
		}
		if resp.ClientThrottles != (v >= 8) {
			t.Fatalf("v%d: ClientThrottles = %v", v, resp.ClientThrottles)
		}
	}
	follower := fetchRequest(12, "t", 0)
	follower.ReplicaID = 2
	resp, err := db.call(handleFetch, follower, "c12")
	if err != nil {
		t.Fatal(err)
	}
	resp.release()
	if resp.Throttle != 0 {
		t.Fatalf("follower fetch throttled %v", resp.Throttle)
	}
}

func TestParseQuotaEntityPath(t *testing.T) {
	for _, tc := range []struct {
		path, typ, entity string
		want              quota.Entity
	}{
		{"users/<default>", "users", "<default>", quota.Entity{User: quota.Default}},
		{"users/alice/clients/app%201", "users", "alice/clients/app%201", quota.Entity{User: quota.Named("alice"), ClientID: quota.Named("app 1")}},
		{"users/<default>/clients/<default>", "users", "<default>/clients/<default>", quota.Entity{User: quota.Default, ClientID: quota.Default}},
		{"clients/%3Cdefault%3E", "clients", "%3Cdefault%3E", quota.Entity{ClientID: quota.Named("<default>")}},
	} {
		e, typ, entity, err := parseQuotaEntityPath(tc.path)
		if err != nil || e != tc.want || typ != tc.typ || entity != tc.entity {
			t.Errorf("%s: %v %s %s %v", tc.path, e, typ, entity, err)
		}
	}
	for _, bad := range []string{"topics/t", "users", "users/a/clients", "users/a/topics/b", "brokers/1"} {
		if _, _, _, err := parseQuotaEntityPath(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// fakeQuotaZK is ZooKeeper's /config as a map of sanitized paths below /config.
type fakeQuotaZK map[string]map[string]string

func (f fakeQuotaZK) GetEntityConfig(typ, entity string) (map[string]string, error) {
	if c, ok := f[typ+"/"+entity]; ok {
		return c, nil
	}
	return map[string]string{}, nil
}

func (f fakeQuotaZK) ReadAllEntityConfigs(typ string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for p, c := range f {
		if rest, ok := strings.CutPrefix(p, typ+"/"); ok && !strings.Contains(rest, "/") {
			out[rest] = c
		}
	}
	return out, nil
}

func (f fakeQuotaZK) ReadAllUserClientConfigs() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for p, c := range f {
		if rest, ok := strings.CutPrefix(p, "users/"); ok && strings.Contains(rest, "/") {
			out[rest] = c
		}
	}
	return out, nil
}

func comp(typ string, match int8, name *string) kmsg.DescribeClientQuotasRequestComponent {
	c := kmsg.NewDescribeClientQuotasRequestComponent()
	c.EntityType, c.MatchType, c.Match = typ, kmsg.QuotasMatchType(match), name
	return c
}

// TestDescribeClientQuotas_MatchRules is ZkAdminManager.describeClientQuotas' filter semantics (exact,
// default, any; strict), checked against the entities of a small /config tree.
func TestDescribeClientQuotas_MatchRules(t *testing.T) {
	zk := fakeQuotaZK{
		"users/<default>":                   {quota.ProducerByteRate: "1000"},
		"users/alice":                       {quota.ProducerByteRate: "2000", "SCRAM-SHA-256": "salt=x"},
		"users/bob":                         {"SCRAM-SHA-256": "salt=y"}, // no quota keys: left out
		"users/alice/clients/app":           {quota.ConsumerByteRate: "3000"},
		"users/<default>/clients/<default>": {quota.RequestPercentage: "50.5"},
		"clients/app":                       {quota.ProducerByteRate: "4000"},
		"clients/<default>":                 {quota.ProducerByteRate: "5000"},
		"ips/<default>":                     {ipConnectionCreationRate: "10"},
	}
	s := kmsg.StringPtr
	key := func(e quotaEntry) string { return e.user.String() + "|" + e.clientID.String() + "|" + e.ip.String() }
	for _, tc := range []struct {
		name   string
		comps  []kmsg.DescribeClientQuotasRequestComponent
		strict bool
		want   []string
	}{
		{"everything", nil, false, []string{
			`"alice"|-|-`, `"alice"|"app"|-`, `<default>|-|-`, `<default>|<default>|-`, `-|"app"|-`, `-|<default>|-`, `-|-|<default>`}},
		{"strict empty filter matches nothing", nil, true, nil},
		{"exact user non-strict", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, s("alice"))}, false,
			[]string{`"alice"|-|-`, `"alice"|"app"|-`}},
		{"exact user strict", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, s("alice"))}, true,
			[]string{`"alice"|-|-`}},
		{"default user strict", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 1, nil)}, true,
			[]string{`<default>|-|-`}},
		{"any user strict", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, nil)}, true,
			[]string{`"alice"|-|-`, `<default>|-|-`}},
		{"exact user and client strict", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, s("alice")), comp("client-id", 0, s("app"))}, true,
			[]string{`"alice"|"app"|-`}},
		{"any client non-strict", []kmsg.DescribeClientQuotasRequestComponent{comp("client-id", 2, nil)}, false,
			[]string{`"alice"|"app"|-`, `<default>|<default>|-`, `-|"app"|-`, `-|<default>|-`}},
		{"default client strict", []kmsg.DescribeClientQuotasRequestComponent{comp("client-id", 1, nil)}, true,
			[]string{`-|<default>|-`}},
		{"ip any", []kmsg.DescribeClientQuotasRequestComponent{comp("ip", 2, nil)}, true,
			[]string{`-|-|<default>`}},
		{"unknown exact user", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, s("carol"))}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := describeClientQuotas(zk, tc.comps, tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, key(e))
				if _, ok := e.values["SCRAM-SHA-256"]; ok {
					t.Errorf("%s: non-quota key described", key(e))
				}
			}
			if len(keys) != len(tc.want) {
				t.Fatalf("got %q, want %q", keys, tc.want)
			}
			want := map[string]bool{}
			for _, w := range tc.want {
				want[w] = true
			}
			for _, k := range keys {
				if !want[k] {
					t.Fatalf("got %q, want %q", keys, tc.want)
				}
			}
		})
	}
}

func TestDescribeClientQuotas_InvalidFilters(t *testing.T) {
	s := kmsg.StringPtr
	for _, tc := range []struct {
		name  string
		comps []kmsg.DescribeClientQuotasRequestComponent
		want  *kerr.Error
	}{
		{"duplicate type", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, nil), comp("user", 1, nil)}, kerr.InvalidRequest},
		{"empty type", []kmsg.DescribeClientQuotasRequestComponent{comp("", 2, nil)}, kerr.InvalidRequest},
		{"custom type", []kmsg.DescribeClientQuotasRequestComponent{comp("tenant", 2, nil)}, kerr.UnsupportedVersion},
		{"ip with user", []kmsg.DescribeClientQuotasRequestComponent{comp("ip", 2, nil), comp("user", 2, nil)}, kerr.InvalidRequest},
		{"exact without name", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, nil)}, kerr.UnknownServerError},
		{"default with name", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 1, s("a"))}, kerr.UnknownServerError},
		{"bad match type", []kmsg.DescribeClientQuotasRequestComponent{comp("user", 7, nil)}, kerr.UnknownServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := describeClientQuotas(fakeQuotaZK{}, tc.comps, false)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func alterEntity(pairs ...*string) []kmsg.AlterClientQuotasRequestEntryEntity {
	var out []kmsg.AlterClientQuotasRequestEntryEntity
	for i := 0; i+1 < len(pairs); i += 2 {
		e := kmsg.NewAlterClientQuotasRequestEntryEntity()
		e.Type, e.Name = *pairs[i], pairs[i+1]
		out = append(out, e)
	}
	return out
}

// TestAlterClientQuotas_EntityRules is parseAndSanitizeQuotaEntity and the valid combinations.
func TestAlterClientQuotas_EntityRules(t *testing.T) {
	s := kmsg.StringPtr
	for _, tc := range []struct {
		name           string
		entity         []kmsg.AlterClientQuotasRequestEntryEntity
		typ, entityArg string
		err            *kerr.Error
	}{
		{"default user", alterEntity(s("user"), nil), "users", "<default>", nil},
		{"user client", alterEntity(s("user"), s("a b"), s("client-id"), s("c*")), "users", "a%20b/clients/c%2A", nil},
		{"client", alterEntity(s("client-id"), s("app")), "clients", "app", nil},
		{"duplicate type: last wins", alterEntity(s("client-id"), s("x"), s("client-id"), s("y")), "clients", "y", nil},
		{"ip", alterEntity(s("ip"), s("127.0.0.1")), "ips", "127.0.0.1", nil},
		{"empty entity", nil, "", "", kerr.InvalidRequest},
		{"unknown type", alterEntity(s("tenant"), s("x")), "", "", kerr.InvalidRequest},
		{"empty name", alterEntity(s("user"), s("")), "", "", kerr.InvalidRequest},
		{"ip with user", alterEntity(s("ip"), nil, s("user"), s("u")), "", "", kerr.InvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, _ := quotaEntityMap(tc.entity)
			got, err := quotaTargetOf(context.Background(), names)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got.entityType != tc.typ || got.entity != tc.entityArg {
				t.Fatalf("got %s %s %v", got.entityType, got.entity, err)
			}
		})
	}
}

// TestAlterClientQuotas_OpValidation: LONG keys take whole numbers (within 1e-6; Kafka's truncation also
// rejects negatives), DOUBLE keys are stored as Java prints them, unknown keys are INVALID_REQUEST and
// remove deletes any key.
func TestAlterClientQuotas_OpValidation(t *testing.T) {
	op := func(k string, v float64, remove bool) kmsg.AlterClientQuotasRequestEntryOp {
		o := kmsg.NewAlterClientQuotasRequestEntryOp()
		o.Key, o.Value, o.Remove = k, v, remove
		return o
	}
	cfg := map[string]string{"SCRAM-SHA-256": "x", quota.ConsumerByteRate: "5"}
	err := applyQuotaOps(cfg, clientQuotaKeys, []kmsg.AlterClientQuotasRequestEntryOp{
		op(quota.ProducerByteRate, 1024000, false),
		op(quota.RequestPercentage, 50, false),
		op(quota.ControllerMutationRate, 1.5e7, false),
		op(quota.ConsumerByteRate, 0, true),
		op("SCRAM-SHA-256", 0, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{quota.ProducerByteRate: "1024000", quota.RequestPercentage: "50.0", quota.ControllerMutationRate: "1.5E7"}
	if len(cfg) != len(want) {
		t.Fatalf("config %v, want %v", cfg, want)
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Fatalf("config %v, want %v", cfg, want)
		}
	}
	for _, bad := range []kmsg.AlterClientQuotasRequestEntryOp{
		op(quota.ProducerByteRate, 1.5, false),
		op(quota.ProducerByteRate, -5, false),
		op(quota.ProducerByteRate, 1e19, false),
		op("retention.ms", 1, false),
		op("SCRAM-SHA-256", 1, false),
	} {
		if err := applyQuotaOps(map[string]string{}, clientQuotaKeys, []kmsg.AlterClientQuotasRequestEntryOp{bad}); !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("%s=%v: err %v, want INVALID_REQUEST", bad.Key, bad.Value, err)
		}
	}
	if v, ok := quotaValueString(quotaLong, 2047.9999999); !ok || v != "2048" {
		t.Errorf("near-integer LONG: %q %v", v, ok)
	}
}

func TestJavaDoubleString(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0.0", 1: "1.0", 50.5: "50.5", 1e7: "1.0E7", 1.5e7: "1.5E7", 0.001: "0.001", 1e-4: "1.0E-4",
		9999999: "9999999.0", 1.23456789e20: "1.23456789E20",
	} {
		if got := javaDoubleString(v); got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}

// TestConn_ThrottledConnectionIsMuted is KIP-219 on the wire: a throttled Produce v7 is answered at once
// and the connection then reads nothing for the throttle time; a throttled v5 (before KIP-219) is
// answered only after it.
func TestConn_ThrottledConnectionIsMuted(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	a, err := compileAPIs(apiTable)
	if err != nil {
		t.Fatal(err)
	}
	db.apis = a
	m := quota.NewManager(quota.DefaultConfig(), time.Now)
	db.Broker.quotas.Store(m)
	t.Cleanup(func() { db.Broker.quotas.Store(nil) })

	for _, v := range []int16{5, 7} {
		clientID := "slow" + strconv.Itoa(int(v))
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
		produce := f.AppendRequest(nil, produceRequest(v, 1, "t", map[int32][]byte{0: buildTestBatch(t, 50, record.DefaultBuildOptions(), []byte("k"))}), 1)
		// A bound that makes this one request exceed the 10 s minimum window by 10%: a 1 s throttle.
		bound := float64(len(produce)-4) / 11
		if err := m.Update(quota.Entity{ClientID: quota.Named(clientID)}, map[string]string{quota.ProducerByteRate: strconv.FormatFloat(bound, 'f', -1, 64)}); err != nil {
			t.Fatal(err)
		}
		client := serveTestConn(t, db.Broker)
		start := time.Now()
		if _, err := client.Write(produce); err != nil {
			t.Fatal(err)
		}
		first := readTestFrame(t, client)
		firstAt := time.Since(start)
		pr := kmsg.NewPtrProduceResponse()
		pr.Version = v
		body := first[4:]
		if err := pr.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		throttle := time.Duration(pr.ThrottleMillis) * time.Millisecond
		if throttle < 900*time.Millisecond || throttle > 1100*time.Millisecond {
			t.Fatalf("v%d: ThrottleMillis %d, want about 1000", v, pr.ThrottleMillis)
		}
		if _, err := client.Write(f.AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 2)); err != nil {
			t.Fatal(err)
		}
		readTestFrame(t, client)
		secondAt := time.Since(start)
		if secondAt < throttle {
			t.Fatalf("v%d: next request answered after %v, within the %v throttle: connection not muted", v, secondAt, throttle)
		}
		if v < 6 && firstAt < throttle {
			t.Fatalf("v%d: throttled response sent after %v, before the %v throttle", v, firstAt, throttle)
		}
		if v >= 6 && firstAt >= throttle {
			t.Fatalf("v%d: throttled response held %v: KIP-219 versions are answered at once", v, firstAt)
		}
	}
}

// serveTestConn serves one connection of b on a TCP socket and returns the client end.
func serveTestConn(t *testing.T, b *Broker) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Conn{b: b, nc: server, log: b.log}).serve(ctx)
	}()
	t.Cleanup(func() { cancel(); client.Close(); <-done })
	_ = client.SetReadDeadline(time.Now().Add(20 * time.Second))
	return client
}

// readTestFrame reads one response frame (after the size) from the client end.
func readTestFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, frame); err != nil {
		t.Fatal(err)
	}
	return frame
}

// BenchmarkRecordQuota is the per-request quota cost of Produce and consumer Fetch: with no quota
// configured in the process (one atomic load) and with one (manager lookup, resolution, sensor).
func BenchmarkRecordQuota(b *testing.B) {
	id := "bench"
	r := &Request{Header: protocol.RequestHeader{ClientID: &id}}
	br := &Broker{}
	b.Run("NoQuotas", func(b *testing.B) {
		for b.Loop() {
			br.recordQuota(quota.Produce, r, 1024)
		}
	})
	b.Run("Quotaed", func(b *testing.B) {
		m := quota.NewManager(quota.DefaultConfig(), time.Now)
		if err := m.Update(quota.Entity{ClientID: quota.Default}, map[string]string{quota.ProducerByteRate: "1e15"}); err != nil {
			b.Fatal(err)
		}
		br.quotas.Store(m)
		defer br.quotas.Store(nil)
		for b.Loop() {
			br.recordQuota(quota.Produce, r, 1024)
		}
	})
}
