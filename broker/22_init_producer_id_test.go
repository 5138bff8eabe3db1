package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func initProducerID(t *testing.T, db *dataBroker, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	t.Helper()
	resp, err := db.call(handleInitProducerID, req, "c")
	if err != nil {
		t.Fatal(err)
	}
	ir := resp.Msg.(*kmsg.InitProducerIDResponse)
	back := kmsg.InitProducerIDResponse{Version: req.Version}
	if err := back.ReadFrom(ir.AppendTo(nil)); err != nil {
		t.Fatalf("v%d answer does not decode: %v", req.Version, err)
	}
	return ir
}

func TestInitProducerId_IdempotentProducerGetsFreshIdAndEpochZero(t *testing.T) {
	db := newDataBroker(t, nil)
	f := &fakeBlocks{end: 4999}
	db.producerIDs = newProducerIDManager(1, f.allocate, quietLog())
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = v
		resp := initProducerID(t, db, req)
		if resp.ErrorCode != 0 || resp.ProducerID != 5000+int64(v) || resp.ProducerEpoch != 0 {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	// v3+ naming its current id and epoch: still a fresh id and epoch 0 (the client bumps idempotent
	// epochs itself; a 2.8 broker stores nothing for it).
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.ProducerID, req.ProducerEpoch = 4, 5000, 3
	if resp := initProducerID(t, db, req); resp.ErrorCode != 0 || resp.ProducerID != 5005 || resp.ProducerEpoch != 0 {
		t.Fatalf("with an id and epoch: %+v", resp)
	}
}

func TestInitProducerId_InvalidRequests(t *testing.T) {
	db := newDataBroker(t, nil)
	db.producerIDs = newProducerIDManager(1, (&fakeBlocks{end: -1}).allocate, quietLog())
	empty := ""
	txnID := "tx"
	for _, tc := range []struct {
		name  string
		pid   int64
		epoch int16
		id    *string
		want  *kerr.Error
	}{
		{"producer id without epoch", 5, -1, nil, kerr.InvalidRequest},
		{"epoch without producer id", -1, 2, nil, kerr.InvalidRequest},
		{"empty transactional id", -1, -1, &empty, kerr.InvalidRequest},
		{"no transaction coordinator", -1, -1, &txnID, kerr.CoordinatorNotAvailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version, req.ProducerID, req.ProducerEpoch, req.TransactionalID = 4, tc.pid, tc.epoch, tc.id
			req.TransactionTimeoutMillis = 60000
			resp := initProducerID(t, db, req)
			if resp.ErrorCode != tc.want.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
				t.Fatalf("%+v, want %s", resp, tc.want.Message)
			}
		})
	}
}

func TestInitProducerId_ZooKeeperFailureIsRetriable(t *testing.T) {
	db := newDataBroker(t, nil)
	f := &fakeBlocks{end: -1, fail: kerr.UnknownServerError}
	db.producerIDs = newProducerIDManager(1, f.allocate, quietLog())
	resp := initProducerID(t, db, kmsg.NewPtrInitProducerIDRequest())
	if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("%+v", resp)
	}
}

// The produce path with producer state (reference 06 §3): a retry answers the original base offset
// and writes nothing; gaps and stale epochs get their error codes and leave the log as it was.
func TestProduce_IdempotentProducerRules(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	db.producerIDs = newProducerIDManager(1, (&fakeBlocks{end: -1}).allocate, quietLog())
	ir := initProducerID(t, db, kmsg.NewPtrInitProducerIDRequest())
	batch := func(epoch int16, seq int32, n int) []byte {
		opt := record.DefaultBuildOptions()
		opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence = ir.ProducerID, epoch, seq
		return buildTestBatch(t, n, opt, nil)
	}
	produce := func(b []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp, err := db.call(handleProduce, produceRequest(8, -1, "t", map[int32][]byte{0: b}), "c")
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	leo := func() int64 {
		p, _ := db.replicas.Partition(tp)
		return p.Log().LogEndOffset()
	}
	for i, want := range []int64{0, 3, 6} {
		if p := produce(batch(0, int32(i*3), 3)); p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("batch %d: %+v", i, p)
		}
	}
	if p := produce(batch(0, 3, 3)); p.ErrorCode != 0 || p.BaseOffset != 3 || leo() != 9 {
		t.Fatalf("retry: %+v, LEO %d", p, leo())
	}
	if p := produce(batch(0, 10, 1)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code || leo() != 9 {
		t.Fatalf("gap: %+v, LEO %d", p, leo())
	}
	if p := produce(batch(1, 0, 1)); p.ErrorCode != 0 || p.BaseOffset != 9 {
		t.Fatalf("epoch bump: %+v", p)
	}
	if p := produce(batch(0, 9, 1)); p.ErrorCode != kerr.InvalidProducerEpoch.Code || leo() != 10 {
		t.Fatalf("stale epoch: %+v, LEO %d", p, leo())
	}
}
