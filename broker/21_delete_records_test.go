package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func deleteRecordsRequest(version int16, topic string, offsets map[int32]int64) *kmsg.DeleteRecordsRequest {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version, req.TimeoutMillis = version, 5000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 16; p++ {
		if off, ok := offsets[p]; ok {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p, off
			rt.Partitions = append(rt.Partitions, rp)
		}
	}
	req.Topics = []kmsg.DeleteRecordsRequestTopic{rt}
	return req
}

func TestDeleteRecords_HandlerEveryVersion(t *testing.T) {
	for v := int16(0); v <= 2; v++ {
		db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0}, storage.TopicPartition{Topic: "t", Partition: 1})
		db.meta = metadata.NewCache(1)
		db.updateMetadata(1, "t", 2)
		db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 4, record.DefaultBuildOptions(), nil)}), "c")
		req := deleteRecordsRequest(v, "t", map[int32]int64{0: 3, 1: 1, 7: 0})
		resp, err := db.call(handleDeleteRecords, req, "c")
		if err != nil {
			t.Fatal(err)
		}
		dr := resp.Msg.(*kmsg.DeleteRecordsResponse)
		back := kmsg.DeleteRecordsResponse{Version: v}
		if err := back.ReadFrom(dr.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(back.Topics) != 1 || back.Topics[0].Topic != "t" || len(back.Topics[0].Partitions) != 3 {
			t.Fatalf("v%d: %+v", v, back)
		}
		got := map[int32]kmsg.DeleteRecordsResponseTopicPartition{}
		for _, p := range back.Topics[0].Partitions {
			got[p.Partition] = p
		}
		want := map[int32][2]int64{ // error code, low watermark
			0: {0, 3},
			1: {int64(kerr.OffsetOutOfRange.Code), -1}, // empty partition: HW 0
			7: {int64(kerr.UnknownTopicOrPartition.Code), -1},
		}
		for p, w := range want {
			if g := got[p]; int64(g.ErrorCode) != w[0] || g.LowWatermark != w[1] {
				t.Errorf("v%d partition %d: code %d low watermark %d, want %v", v, p, g.ErrorCode, g.LowWatermark, w)
			}
		}
	}
}
