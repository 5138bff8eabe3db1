package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

func TestDescribeLogDirs_HandlerEveryVersion(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "a", Partition: 0}, storage.TopicPartition{Topic: "a", Partition: 1},
		storage.TopicPartition{Topic: "b", Partition: 0})
	db.call(handleProduce, produceRequest(7, 1, "a", map[int32][]byte{1: buildTestBatch(t, 4, record.DefaultBuildOptions(), nil)}), "c")
	// A log on disk that the replica manager does not host has no offset lag (-1).
	if _, err := db.logs.GetOrCreateLog(storage.TopicPartition{Topic: "c", Partition: 0}, storage.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	type part struct {
		topic     string
		partition int32
	}
	describe := func(v int16, topics []kmsg.DescribeLogDirsRequestTopic) (map[part]kmsg.DescribeLogDirsResponseDirTopicPartition, []string) {
		req := kmsg.NewPtrDescribeLogDirsRequest()
		req.Version, req.Topics = v, topics
		resp, err := db.call(handleDescribeLogDirs, req, "c")
		if err != nil {
			t.Fatal(err)
		}
		back := kmsg.DescribeLogDirsResponse{Version: v}
		if err := back.ReadFrom(resp.Msg.(*kmsg.DescribeLogDirsResponse).AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(back.Dirs) != 1 || back.Dirs[0].Dir != db.logs.Dirs()[0] || back.Dirs[0].ErrorCode != 0 {
			t.Fatalf("v%d dirs: %+v", v, back.Dirs)
		}
		out := map[part]kmsg.DescribeLogDirsResponseDirTopicPartition{}
		var names []string
		for _, rt := range back.Dirs[0].Topics {
			names = append(names, rt.Topic)
			for _, p := range rt.Partitions {
				out[part{rt.Topic, p.Partition}] = p
			}
		}
		return out, names
	}
	for v := int16(0); v <= 2; v++ {
		all, names := describe(v, nil)
		if len(all) != 4 || len(names) != 3 {
			t.Fatalf("v%d null topics: %d partitions in %v", v, len(all), names)
		}
		if p := all[part{"a", 1}]; p.Size <= 0 || p.OffsetLag != 0 || p.IsFuture {
			t.Fatalf("v%d a-1: %+v", v, p)
		}
		if p := all[part{"a", 0}]; p.Size != 0 || p.OffsetLag != 0 {
			t.Fatalf("v%d empty a-0: %+v", v, p)
		}
		if p := all[part{"c", 0}]; p.OffsetLag != -1 {
			t.Fatalf("v%d unhosted c-0: %+v", v, p)
		}
		// Only the partitions asked for; Kafka 2.8 still names the dir's other topics, with no partitions.
		some, names := describe(v, []kmsg.DescribeLogDirsRequestTopic{{Topic: "a", Partitions: []int32{1, 5}}})
		if _, ok := some[part{"a", 1}]; len(some) != 1 || !ok || len(names) != 3 {
			t.Fatalf("v%d topic a partitions 1,5: %v in %v", v, some, names)
		}
		none, _ := describe(v, []kmsg.DescribeLogDirsRequestTopic{})
		if len(none) != 0 {
			t.Fatalf("v%d empty topic list: %v", v, none)
		}
	}
}
