package broker

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/txn"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// txnProduce appends a transactional batch of n records of producer pid/epoch with the given sequence.
func (db *dataBroker) txnProduce(tp storage.TopicPartition, pid int64, epoch int16, seq int32, n int) int64 {
	db.t.Helper()
	opt := record.DefaultBuildOptions()
	opt.ProducerID, opt.ProducerEpoch, opt.BaseSequence, opt.Transactional = pid, epoch, seq, true
	req := produceRequest(8, -1, tp.Topic, map[int32][]byte{tp.Partition: buildTestBatch(db.t, n, opt, nil)})
	id := "tx"
	req.TransactionID = &id
	resp, err := db.call(handleProduce, req, "c")
	if err != nil {
		db.t.Fatal(err)
	}
	p := produceCodes(db.t, resp)[0]
	if p.ErrorCode != 0 {
		db.t.Fatalf("transactional produce: error %d", p.ErrorCode)
	}
	return p.BaseOffset
}

// writeMarker sends WriteTxnMarkers v1 for one producer and returns the per-partition codes.
func (db *dataBroker) writeMarker(pid int64, epoch int16, coordEpoch int32, commit bool, tps ...storage.TopicPartition) map[storage.TopicPartition]int16 {
	db.t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	for _, tp := range tps {
		mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
		mt.Topic, mt.Partitions = tp.Topic, []int32{tp.Partition}
		m.Topics = append(m.Topics, mt)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	resp, err := db.call(handleWriteTxnMarkers, req, "broker-1-txn-markers")
	if err != nil {
		db.t.Fatal(err)
	}
	out := map[storage.TopicPartition]int16{}
	for _, rm := range resp.Msg.(*kmsg.WriteTxnMarkersResponse).Markers {
		if rm.ProducerID != pid {
			db.t.Fatalf("answer for producer %d", rm.ProducerID)
		}
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				out[storage.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
			}
		}
	}
	return out
}

// plainProduce appends one non-transactional batch of n records.
func (db *dataBroker) plainProduce(tp storage.TopicPartition, n int) {
	db.t.Helper()
	resp, err := db.call(handleProduce, produceRequest(8, -1, tp.Topic, map[int32][]byte{tp.Partition: buildTestBatch(db.t, n, record.DefaultBuildOptions(), nil)}), "c")
	if err != nil || produceCodes(db.t, resp)[0].ErrorCode != 0 {
		db.t.Fatalf("produce: %+v %v", resp, err)
	}
}

// listLatest is ListOffsets v6 latest for a consumer with the isolation level.
func (db *dataBroker) listLatest(tp storage.TopicPartition, isolation int8) int64 {
	db.t.Helper()
	req := listOffsetsRequest(6, -1, tp.Topic, map[int32]int64{tp.Partition: -1})
	req.IsolationLevel = isolation
	return listOffsetsAnswer(db.t, db, req)[tp.Partition].Offset
}

func (db *dataBroker) fetchOne(version int16, isolation int8, tp storage.TopicPartition, offset int64) kmsg.FetchResponseTopicPartition {
	db.t.Helper()
	req := fetchRequest(version, tp.Topic, tp.Partition)
	req.IsolationLevel = isolation
	req.Topics[0].Partitions[0].FetchOffset = offset
	resp, err := db.call(handleFetch, req, "c")
	if err != nil {
		db.t.Fatal(err)
	}
	return decodeFetch(db.t, version, resp).Topics[0].Partitions[0]
}

// Reference 06 §3.1, §6 and §7: an open transaction holds the LSO at its first offset; its ABORT marker
// (a control batch appended by WriteTxnMarkers) releases it and is listed with the producer's first
// offset in read_committed fetches; read_uncommitted sees everything and gets a null list.
func TestWriteTxnMarkersAndReadCommittedFetch(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	db.plainProduce(tp, 2) // offsets 0-1, plain
	first := db.txnProduce(tp, 7, 0, 0, 3)
	if first != 2 {
		t.Fatalf("transaction starts at %d", first)
	}
	open := db.fetchOne(12, 1, tp, 0)
	if open.HighWatermark != 5 || open.LastStableOffset != 2 || countRecords(t, open.RecordBatches) != 2 {
		t.Fatalf("open transaction: HW %d LSO %d records %d", open.HighWatermark, open.LastStableOffset, countRecords(t, open.RecordBatches))
	}
	if lo := db.listLatest(tp, 1); lo != 2 {
		t.Fatalf("ListOffsets latest read_committed %d, want the LSO 2", lo)
	}
	if lo := db.listLatest(tp, 0); lo != 5 {
		t.Fatalf("ListOffsets latest read_uncommitted %d, want the HW 5", lo)
	}

	if codes := db.writeMarker(7, 0, 3, false, tp); codes[tp] != 0 {
		t.Fatalf("ABORT marker: %v", codes)
	}
	db.txnProduce(tp, 7, 0, 3, 1) // a second transaction (offset 6), committed
	if codes := db.writeMarker(7, 0, 3, true, tp); codes[tp] != 0 {
		t.Fatalf("COMMIT marker: %v", codes)
	}
	for _, version := range []int16{4, 11, 12} {
		rc := db.fetchOne(version, 1, tp, 0)
		if rc.LastStableOffset != 8 || rc.HighWatermark != 8 {
			t.Fatalf("v%d: HW %d LSO %d", version, rc.HighWatermark, rc.LastStableOffset)
		}
		if len(rc.AbortedTransactions) != 1 || rc.AbortedTransactions[0].ProducerID != 7 || rc.AbortedTransactions[0].FirstOffset != 2 {
			t.Fatalf("v%d: aborted %+v", version, rc.AbortedTransactions)
		}
		if got := countRecords(t, rc.RecordBatches); got != 8 {
			t.Fatalf("v%d: %d records (control records included)", version, got)
		}
		ru := db.fetchOne(version, 0, tp, 0)
		if ru.AbortedTransactions != nil {
			t.Fatalf("v%d read_uncommitted: aborted %+v, want null", version, ru.AbortedTransactions)
		}
	}
	// A fetch starting after the aborted transaction's marker lists nothing.
	if rc := db.fetchOne(12, 1, tp, 6); len(rc.AbortedTransactions) != 0 || rc.AbortedTransactions == nil {
		t.Fatalf("after the abort: %+v", rc.AbortedTransactions)
	}
}

// Markers for partitions without a local replica are UNKNOWN_TOPIC_OR_PARTITION; a marker with an epoch
// below the producer's is INVALID_PRODUCER_EPOCH and writes nothing.
func TestWriteTxnMarkersErrors(t *testing.T) {
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, tp)
	db.txnProduce(tp, 9, 4, 0, 1)
	missing := storage.TopicPartition{Topic: "nope", Partition: 0}
	codes := db.writeMarker(9, 3, 1, true, tp, missing)
	if codes[missing] != kerr.UnknownTopicOrPartition.Code || codes[tp] != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("codes %v", codes)
	}
	p, _ := db.replicas.Partition(tp)
	if leo := p.Log().LogEndOffset(); leo != 1 {
		t.Fatalf("LEO %d after refused marker", leo)
	}
	if codes := db.writeMarker(9, 5, 1, true, tp); codes[tp] != 0 { // markers may carry a bumped epoch
		t.Fatalf("bumped-epoch marker: %v", codes)
	}
}

// The control batch is Kafka's EndTransactionMarker: key (version 0, type), value (version 0,
// coordinator epoch), transactional and control attributes, base sequence -1.
func TestEndTxnMarkerBatchLayout(t *testing.T) {
	raw, err := endTxnMarkerBatch(42, 3, 17, true, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b := record.Batch(raw)
	if !b.IsControl() || !b.IsTransactional() || b.ProducerID() != 42 || b.ProducerEpoch() != 3 || b.BaseSequence() != -1 || b.NumRecords() != 1 {
		t.Fatalf("header: control %v txn %v pid %d epoch %d seq %d n %d", b.IsControl(), b.IsTransactional(), b.ProducerID(),
			b.ProducerEpoch(), b.BaseSequence(), b.NumRecords())
	}
	_ = b.Records(0, func(r record.Record) error {
		if !bytes.Equal(r.Key, []byte{0, 0, 0, 1}) || !bytes.Equal(r.Value, []byte{0, 0, 0, 0, 0, 17}) {
			t.Fatalf("record key %x value %x", r.Key, r.Value)
		}
		return nil
	})
}

// The hand-encoded fetch response carries AbortedTransactions exactly as kmsg encodes them, every version.
func TestFetchEncodeAbortedTransactionsMatchesKmsg(t *testing.T) {
	aborted := []storage.AbortedTxn{{ProducerID: 7, FirstOffset: 2}, {ProducerID: 9, FirstOffset: 40}}
	for v := int16(4); v <= 12; v++ {
		f := &fetchResponse{version: v, topics: []fetchResponseTopic{{name: "t", partitions: []fetchResponsePartition{
			{partition: 0, highWatermark: 50, lastStableOffset: 45, logStartOffset: 0, readCommitted: true, aborted: aborted},
		}}}}
		k := kmsg.NewPtrFetchResponse()
		k.Version = v
		kp := kmsg.NewFetchResponseTopicPartition()
		kp.HighWatermark, kp.LastStableOffset, kp.LogStartOffset = 50, 45, 0
		if v < 5 {
			kp.LogStartOffset = -1
		}
		for _, a := range aborted {
			ka := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			ka.ProducerID, ka.FirstOffset = a.ProducerID, a.FirstOffset
			kp.AbortedTransactions = append(kp.AbortedTransactions, ka)
		}
		kp.RecordBatches = []byte{}
		k.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{kp}}}
		if got, want := materializeChunks(t, f.chunks()), k.AppendTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d:\n got %x\nwant %x", v, got, want)
		}
	}
}

// localMarkers delivers markers by calling this broker's WriteTxnMarkers handler (every partition is led
// here in these tests).
type localMarkers struct{ db *dataBroker }

func (l localMarkers) Leader(tp txn.TopicPartition) (int32, bool) {
	top, ok := l.db.meta.Snapshot().Topics[tp.Topic]
	if !ok {
		return -1, false
	}
	p, ok := top.Partition(tp.Partition)
	if !ok {
		return -1, false
	}
	return p.Leader, true
}

func (l localMarkers) Send(ctx context.Context, _ int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	resp, err := handleWriteTxnMarkers(l.db.Broker, ctx, &Request{Msg: req})
	if err != nil {
		return nil, err
	}
	return resp.Msg.(*kmsg.WriteTxnMarkersResponse), nil
}

type countingPIDs struct{ next atomic.Int64 }

func (c *countingPIDs) GenerateProducerID() (int64, error) { return c.next.Add(1) + 4000, nil }

// newTxnBroker is a group broker that also leads the single __transaction_state partition and runs a
// transaction coordinator whose markers come back to this broker's handler.
func newTxnBroker(t *testing.T) *dataBroker {
	t.Helper()
	db := newGroupBroker(t)
	db.updateMetadata(1, txn.TopicName, 1)
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch = 5, 1
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = txn.TopicName
	ps := kmsg.NewLeaderAndISRRequestTopicPartition()
	ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas = 0, 1, 3, []int32{1}, []int32{1}
	ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
	req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
	db.replicas.BecomeLeaderOrFollower(req, func(string) storage.Config { return storage.DefaultConfig() })
	l := logrus.New()
	l.SetOutput(io.Discard)
	db.txnOffsets = groupTxnOffsets{db.groups}
	db.txn = txn.New(db.txnConfig(1), txnPartitions{db.Broker}, &countingPIDs{}, localMarkers{db}, nil, logrus.NewEntry(l))
	db.txn.Start(context.Background())
	t.Cleanup(db.txn.Stop) // before the group coordinator and the replica manager
	db.txnOnLeaderAndIsr(req)
	return db
}

// The client's view of a consume-transform-produce transaction through the handlers (reference 06 §5):
// FindCoordinator(1), InitProducerId, AddPartitionsToTxn, transactional produce, AddOffsetsToTxn,
// TxnOffsetCommit (pending until the COMMIT marker reaches the offsets partition), EndTxn; an aborted
// transaction's offsets never become visible.
func TestTransactionThroughHandlers(t *testing.T) {
	db := newTxnBroker(t)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.Version, find.CoordinatorKey, find.CoordinatorType = 3, "tx", 1
	var fr *kmsg.FindCoordinatorResponse
	eventuallyGroups(t, func() bool {
		fr = db.serve(handleFindCoordinator, find).(*kmsg.FindCoordinatorResponse)
		return fr.ErrorCode == 0
	})
	if fr.NodeID != 1 || fr.Port != 9092 {
		t.Fatalf("transaction coordinator: %+v", fr)
	}
	initReq := kmsg.NewPtrInitProducerIDRequest()
	id := "tx"
	initReq.Version, initReq.TransactionalID, initReq.TransactionTimeoutMillis = 4, &id, 60000
	var ir *kmsg.InitProducerIDResponse
	eventuallyGroups(t, func() bool { // COORDINATOR_LOAD_IN_PROGRESS until the partition is loaded
		ir = db.serve(handleInitProducerID, initReq).(*kmsg.InitProducerIDResponse)
		return ir.ErrorCode == 0
	})
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, pid, epoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "t", Partitions: []int32{0}}, {Topic: "missing", Partitions: []int32{0}}}
	ar := db.serve(handleAddPartitionsToTxn, add).(*kmsg.AddPartitionsToTxnResponse)
	if ar.Topics[0].Partitions[0].ErrorCode != kerr.OperationNotAttempted.Code || ar.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("with an unknown partition: %+v", ar.Topics)
	}
	add.Topics = add.Topics[:1]
	if ar := db.serve(handleAddPartitionsToTxn, add).(*kmsg.AddPartitionsToTxnResponse); ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add: %+v", ar.Topics)
	}
	tp := storage.TopicPartition{Topic: "t", Partition: 0}
	db.txnProduce(tp, pid, epoch, 0, 2)

	txnCommitOffset := func(offset int64) int16 {
		ao := kmsg.NewPtrAddOffsetsToTxnRequest()
		ao.Version, ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = 3, id, pid, epoch, "g"
		if r := db.serve(handleAddOffsetsToTxn, ao).(*kmsg.AddOffsetsToTxnResponse); r.ErrorCode != 0 {
			t.Fatalf("AddOffsetsToTxn: %d", r.ErrorCode)
		}
		oc := kmsg.NewPtrTxnOffsetCommitRequest()
		oc.Version, oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = 3, id, "g", pid, epoch, -1
		oc.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}},
			{Topic: "missing", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
		r := db.serve(handleTxnOffsetCommit, oc).(*kmsg.TxnOffsetCommitResponse)
		if r.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("unknown partition: %+v", r.Topics)
		}
		return r.Topics[0].Partitions[0].ErrorCode
	}
	committed := func() int64 {
		f := db.serve(handleOffsetFetch, offsetFetchRequest(7, "g", "t")).(*kmsg.OffsetFetchResponse)
		return f.Topics[0].Partitions[0].Offset
	}
	endTxn := func(commit bool) {
		e := kmsg.NewPtrEndTxnRequest()
		e.Version, e.TransactionalID, e.ProducerID, e.ProducerEpoch, e.Commit = 3, id, pid, epoch, commit
		if r := db.serve(handleEndTxn, e).(*kmsg.EndTxnResponse); r.ErrorCode != 0 {
			t.Fatalf("EndTxn(%v): %d", commit, r.ErrorCode)
		}
	}
	if code := txnCommitOffset(2); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	if got := committed(); got != -1 {
		t.Fatalf("pending offset visible before the commit: %d", got)
	}
	endTxn(true)
	eventuallyGroups(t, func() bool { return committed() == 2 })
	if rc := db.fetchOne(12, 1, tp, 0); rc.LastStableOffset != 3 || len(rc.AbortedTransactions) != 0 {
		t.Fatalf("after commit: LSO %d aborted %+v", rc.LastStableOffset, rc.AbortedTransactions)
	}

	// A second transaction, aborted: its offset commit is dropped. (CONCURRENT_TRANSACTIONS until the first
	// one's CompleteCommit is written.)
	eventuallyGroups(t, func() bool {
		return db.serve(handleAddPartitionsToTxn, add).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode == 0
	})
	db.txnProduce(tp, pid, epoch, 2, 1)
	if code := txnCommitOffset(9); code != 0 {
		t.Fatalf("TxnOffsetCommit: %d", code)
	}
	endTxn(false)
	eventuallyGroups(t, func() bool {
		s, err := db.txn.Describe(id)
		return err == nil && s.State == txn.CompleteAbort && !s.Pending
	})
	if got := committed(); got != 2 {
		t.Fatalf("aborted offset became visible: %d", got)
	}
	rc := db.fetchOne(12, 1, tp, 0)
	if rc.LastStableOffset != 5 || len(rc.AbortedTransactions) != 1 || rc.AbortedTransactions[0].FirstOffset != 3 {
		t.Fatalf("after abort: LSO %d aborted %+v", rc.LastStableOffset, rc.AbortedTransactions)
	}
}
