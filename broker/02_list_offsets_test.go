package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func listOffsetsRequest(version int16, replicaID int32, topic string, parts map[int32]int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version, req.ReplicaID = version, replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 16; p++ {
		if ts, ok := parts[p]; ok {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, ts
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	return req
}

func listOffsetsAnswer(t *testing.T, db *dataBroker, req *kmsg.ListOffsetsRequest) map[int32]kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	resp, err := db.call(handleListOffsets, req, "c")
	if err != nil {
		t.Fatal(err)
	}
	lr := resp.Msg.(*kmsg.ListOffsetsResponse)
	// The answer must encode at the request's version.
	back := kmsg.ListOffsetsResponse{Version: req.Version}
	if err := back.ReadFrom(lr.AppendTo(nil)); err != nil {
		t.Fatal(err)
	}
	out := map[int32]kmsg.ListOffsetsResponseTopicPartition{}
	for _, rp := range lr.Topics[0].Partitions {
		out[rp.Partition] = rp
	}
	return out
}

func TestListOffsets_HandlerEveryVersion(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0}, storage.TopicPartition{Topic: "t", Partition: 1})
	db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 4, record.DefaultBuildOptions(), nil)}), "c")
	for v := int16(1); v <= 6; v++ {
		got := listOffsetsAnswer(t, db, listOffsetsRequest(v, -1, "t", map[int32]int64{0: -1, 1: -2, 7: -1}))
		wantEpoch := int32(0)
		if v < 4 {
			wantEpoch = -1 // not on the wire
		}
		if p := got[0]; p.ErrorCode != 0 || p.Offset != 4 || p.Timestamp != -1 || p.LeaderEpoch != wantEpoch {
			t.Fatalf("v%d latest: %+v", v, p)
		}
		if p := got[1]; p.ErrorCode != 0 || p.Offset != 0 || p.Timestamp != -1 {
			t.Fatalf("v%d earliest: %+v", v, p)
		}
		if p := got[7]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.Offset != -1 || p.Timestamp != -1 {
			t.Fatalf("v%d unknown: %+v", v, p)
		}
	}
}

func TestListOffsets_DuplicatePartitionIsInvalidRequest(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	req := listOffsetsRequest(5, -1, "t", map[int32]int64{0: -1})
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, req.Topics[0].Partitions[0])
	resp, _ := db.call(handleListOffsets, req, "c")
	for _, p := range resp.Msg.(*kmsg.ListOffsetsResponse).Topics[0].Partitions {
		if p.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("%+v", p)
		}
	}
}

func TestListOffsets_OffsetNotAvailableIsLeaderNotAvailableBeforeV5(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil)
	db.become(2, 0, []int32{2, 1}, x)
	p, _ := db.replicas.Partition(x)
	if _, err := p.Log().AppendAsFollower(buildTestBatch(t, 3, record.DefaultBuildOptions(), nil)); err != nil {
		t.Fatal(err)
	}
	db.become(1, 1, []int32{1, 2}, x) // new leader whose HW (0) lags its epoch start offset (3)
	for v, want := range map[int16]int16{4: kerr.LeaderNotAvailable.Code, 5: kerr.OffsetNotAvailable.Code, 6: kerr.OffsetNotAvailable.Code} {
		if got := listOffsetsAnswer(t, db, listOffsetsRequest(v, -1, "t", map[int32]int64{0: -1}))[0]; got.ErrorCode != want {
			t.Fatalf("v%d: %+v", v, got)
		}
	}
	// A follower asking (replica id >= 0) sees the LEO, without the lagging check.
	if got := listOffsetsAnswer(t, db, listOffsetsRequest(6, 2, "t", map[int32]int64{0: -1}))[0]; got.ErrorCode != 0 || got.Offset != 3 {
		t.Fatalf("replica: %+v", got)
	}
}

// Kafka's DebuggingConsumerId (-2) may ask any replica: a follower answers "latest" with its own log end offset
// (fetchOnlyFromLeader=false, isolation log end), which `samsa topics --describe` prints per replica; a consumer
// (-1) asking the same follower gets NOT_LEADER_OR_FOLLOWER.
func TestListOffsets_DebuggingReplicaIDIsAnsweredByAFollowerWithItsLogEnd(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil)
	db.become(2, 0, []int32{2, 1}, x) // follower of broker 2
	p, _ := db.replicas.Partition(x)
	if _, err := p.Log().AppendAsFollower(buildTestBatch(t, 3, record.DefaultBuildOptions(), nil)); err != nil {
		t.Fatal(err)
	}
	for v := int16(1); v <= 6; v++ {
		if got := listOffsetsAnswer(t, db, listOffsetsRequest(v, -2, "t", map[int32]int64{0: -1}))[0]; got.ErrorCode != 0 || got.Offset != 3 {
			t.Fatalf("v%d debugging replica id: %+v", v, got)
		}
		if got := listOffsetsAnswer(t, db, listOffsetsRequest(v, -1, "t", map[int32]int64{0: -1}))[0]; got.ErrorCode != kerr.NotLeaderForPartition.Code || got.Offset != -1 {
			t.Fatalf("v%d consumer: %+v", v, got)
		}
	}
}
