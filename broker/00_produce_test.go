package broker

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/replica"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// dataBroker is a Broker with just what the produce, fetch and list-offsets handlers use: configuration,
// a storage.Manager in a temp dir and a replica manager leading the given partitions (RF=1).
type dataBroker struct {
	*Broker
	t *testing.T
}

func newDataBroker(t *testing.T, topicCfg func(topic string) storage.Config, lead ...storage.TopicPartition) *dataBroker {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	lg := logrus.NewEntry(l)
	if topicCfg == nil {
		topicCfg = func(string) storage.Config { return storage.DefaultConfig() }
	}
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{t.TempDir()}, Default: storage.DefaultConfig()}, lg)
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{cfg: config.Default(), log: lg, id: 1, logs: logs}
	b.replicas = replica.NewManager(1, logs, replica.Config{}, lg)
	t.Cleanup(func() {
		b.replicas.Stop()
		if err := logs.Close(); err != nil {
			t.Error(err)
		}
	})
	db := &dataBroker{Broker: b, t: t}
	if len(lead) > 0 {
		db.become(1, 0, []int32{1}, lead...)
	}
	return db
}

// become applies a v5 LeaderAndIsr for tps with leader, epoch and ISR; replicas are brokers 1 and the ISR.
func (db *dataBroker) become(leader, epoch int32, isr []int32, tps ...storage.TopicPartition) {
	db.t.Helper()
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch = 5, 1
	replicas := []int32{1}
	for _, id := range isr {
		if id != 1 {
			replicas = append(replicas, id)
		}
	}
	for _, x := range tps {
		ts := kmsg.NewLeaderAndISRRequestTopicState()
		ts.Topic = x.Topic
		ps := kmsg.NewLeaderAndISRRequestTopicPartition()
		ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas = x.Partition, leader, epoch, isr, replicas
		ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
		req.TopicStates = append(req.TopicStates, ts)
	}
	resp := db.replicas.BecomeLeaderOrFollower(req, func(string) storage.Config { return storage.DefaultConfig() })
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				db.t.Fatalf("LeaderAndIsr %s: error %d", t.TopicID, p.ErrorCode)
			}
		}
	}
}

func (db *dataBroker) call(h handlerFunc, msg kmsg.Request, clientID string) (Response, error) {
	hdr := protocol.RequestHeader{APIKey: msg.Key(), APIVersion: msg.GetVersion(), CorrelationID: 7, ClientID: &clientID}
	return h(db.Broker, context.Background(), &Request{Header: hdr, Msg: msg})
}

func buildTestBatch(t testing.TB, n int, opt record.BuildOptions, key []byte) []byte {
	t.Helper()
	recs := make([]record.BuildRecord, n)
	for i := range recs {
		recs[i] = record.BuildRecord{Key: key, Value: []byte("value-value-value"), Timestamp: time.Now().UnixMilli()}
	}
	b, err := record.Build(recs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func produceRequest(version, acks int16, topic string, parts map[int32][]byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = version, acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < int32(len(parts)+8); p++ {
		if recs, ok := parts[p]; ok {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, recs
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	return req
}

func produceCodes(t *testing.T, resp Response) map[int32]kmsg.ProduceResponseTopicPartition {
	t.Helper()
	pr, ok := resp.Msg.(*kmsg.ProduceResponse)
	if !ok {
		t.Fatalf("response %+v", resp)
	}
	out := map[int32]kmsg.ProduceResponseTopicPartition{}
	for _, rt := range pr.Topics {
		for _, p := range rt.Partitions {
			out[p.Partition] = p
		}
	}
	return out
}

func TestProduce_AppendsAtEveryVersionAndAnswersPerPartition(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	for v := int16(3); v <= 9; v++ {
		req := produceRequest(v, 1, "t", map[int32][]byte{
			0: buildTestBatch(t, 3, record.DefaultBuildOptions(), []byte("k")),
			1: buildTestBatch(t, 1, record.DefaultBuildOptions(), []byte("k")),
		})
		resp, err := db.call(handleProduce, req, "c")
		if err != nil {
			t.Fatal(err)
		}
		got := produceCodes(t, resp)
		if p := got[0]; p.ErrorCode != 0 || p.BaseOffset != int64(v-3)*3 || p.LogAppendTime != -1 || p.LogStartOffset != 0 {
			t.Fatalf("v%d partition 0: %+v", v, p)
		}
		if p := got[1]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.BaseOffset != -1 {
			t.Fatalf("v%d unknown partition: %+v", v, p)
		}
		// The response must encode at the request's version.
		buf := resp.Msg.AppendTo(nil)
		back := kmsg.ProduceResponse{Version: v}
		if err := back.ReadFrom(buf); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
	}
}

func TestProduce_RecordsMustBeExactlyOneV2Batch(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	one := buildTestBatch(t, 2, record.DefaultBuildOptions(), []byte("k"))
	zstd := record.DefaultBuildOptions()
	zstd.Codec = record.CodecZstd
	zbatch := buildTestBatch(t, 2, zstd, []byte("k"))
	magic1 := append([]byte(nil), one...)
	magic1[16] = 1
	shortSize := append([]byte(nil), one...)
	shortSize[8], shortSize[9], shortSize[10], shortSize[11] = 0, 0, 0, 10
	badMagic := append([]byte(nil), one...)
	badMagic[16] = 9
	txn := record.DefaultBuildOptions()
	txn.ProducerID, txn.ProducerEpoch, txn.BaseSequence, txn.Transactional = 5, 0, 0, true
	for _, c := range []struct {
		name    string
		version int16
		recs    []byte
		want    int16
	}{
		{"null records", 7, nil, kerr.InvalidRecord.Code},
		{"shorter than a batch", 7, one[:40], kerr.InvalidRecord.Code},
		{"two batches", 7, append(append([]byte(nil), one...), one...), kerr.InvalidRecord.Code},
		{"one batch and a torn tail", 7, append(append([]byte(nil), one...), one[:30]...), 0},
		{"magic 1", 7, magic1, kerr.InvalidRecord.Code},
		{"impossible length", 7, shortSize, kerr.CorruptMessage.Code},
		{"unknown magic", 7, badMagic, kerr.CorruptMessage.Code},
		{"zstd before v7", 6, zbatch, kerr.UnsupportedCompressionType.Code},
		{"zstd at v7", 7, zbatch, 0},
		{"transactional batch without transactional id", 7, buildTestBatch(t, 1, txn, nil), kerr.TransactionalIDAuthorizationFailed.Code},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := db.call(handleProduce, produceRequest(c.version, 1, "t", map[int32][]byte{0: c.recs}), "c")
			if err != nil {
				t.Fatal(err)
			}
			if got := produceCodes(t, resp)[0].ErrorCode; got != c.want {
				t.Fatalf("error %d, want %d", got, c.want)
			}
		})
	}
}

func TestProduce_Acks0SendsNothingAndClosesOnError(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	resp, err := db.call(handleProduce, produceRequest(8, 0, "t", map[int32][]byte{0: buildTestBatch(t, 1, record.DefaultBuildOptions(), nil)}), "c")
	if err != nil || !resp.None {
		t.Fatalf("acks=0 success: %+v %v", resp, err)
	}
	if _, err := db.call(handleProduce, produceRequest(8, 0, "t", map[int32][]byte{3: buildTestBatch(t, 1, record.DefaultBuildOptions(), nil)}), "c"); err == nil {
		t.Fatal("acks=0 with a failed partition must close the connection")
	}
	p, _ := db.replicas.Partition(storage.TopicPartition{Topic: "t", Partition: 0})
	if leo := p.State().LogEndOffset; leo != 1 {
		t.Fatalf("LEO %d", leo)
	}
}

func TestProduce_AcksAllAndInvalidAcks(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	resp, err := db.call(handleProduce, produceRequest(7, -1, "t", map[int32][]byte{0: buildTestBatch(t, 2, record.DefaultBuildOptions(), nil)}), "c")
	if err != nil || produceCodes(t, resp)[0].ErrorCode != 0 {
		t.Fatalf("acks=-1: %+v %v", resp, err)
	}
	resp, err = db.call(handleProduce, produceRequest(7, 2, "t", map[int32][]byte{0: buildTestBatch(t, 2, record.DefaultBuildOptions(), nil)}), "c")
	if err != nil || produceCodes(t, resp)[0].ErrorCode != kerr.InvalidRequiredAcks.Code {
		t.Fatalf("acks=2: %+v %v", resp, err)
	}
}

// KafkaApis.handleProduceRequest: transactional records are only accepted with a transactional id (which an
// authorizer would check); the leader does not ask the coordinator whether the partition was added.
func TestProduce_TransactionalRecordsWithTransactionalIDAreAppended(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = 5, 0, 0, true
	req := produceRequest(8, 1, "t", map[int32][]byte{0: buildTestBatch(t, 1, opt, nil)})
	id := "txn"
	req.TransactionID = &id
	resp, err := db.call(handleProduce, req, "c")
	if err != nil || produceCodes(t, resp)[0].ErrorCode != 0 {
		t.Fatalf("%+v %v", resp, err)
	}
}

func TestProduce_InternalTopicsOnlyForAdminClient(t *testing.T) {
	x := storage.TopicPartition{Topic: consumerOffsetsTopic, Partition: 0}
	db := newDataBroker(t, nil, x)
	req := func() *kmsg.ProduceRequest {
		return produceRequest(8, 1, x.Topic, map[int32][]byte{0: buildTestBatch(t, 1, record.DefaultBuildOptions(), []byte("k"))})
	}
	resp, _ := db.call(handleProduce, req(), "client")
	if c := produceCodes(t, resp)[0].ErrorCode; c != kerr.InvalidTopicException.Code {
		t.Fatalf("client: %d", c)
	}
	resp, _ = db.call(handleProduce, req(), adminClientID)
	if c := produceCodes(t, resp)[0].ErrorCode; c != 0 {
		t.Fatalf("admin client: %d", c)
	}
}

func TestProduce_V8RecordErrorsForCompactedTopicWithoutKeys(t *testing.T) {
	x := storage.TopicPartition{Topic: "compacted", Partition: 0}
	db := newDataBroker(t, nil)
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch = 5, 1
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = x.Topic
	ps := kmsg.NewLeaderAndISRRequestTopicPartition()
	ps.Leader, ps.ISR, ps.Replicas = 1, []int32{1}, []int32{1}
	ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
	req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
	db.replicas.BecomeLeaderOrFollower(req, func(string) storage.Config {
		c := storage.DefaultConfig()
		c.CleanupPolicy = "compact"
		return c
	})
	resp, err := db.call(handleProduce, produceRequest(8, 1, x.Topic, map[int32][]byte{0: buildTestBatch(t, 3, record.DefaultBuildOptions(), nil)}), "c")
	if err != nil {
		t.Fatal(err)
	}
	p := produceCodes(t, resp)[0]
	if p.ErrorCode != kerr.InvalidRecord.Code || len(p.ErrorRecords) != 3 || p.ErrorRecords[2].RelativeOffset != 2 || p.ErrorMessage == nil {
		t.Fatalf("%+v", p)
	}
}
