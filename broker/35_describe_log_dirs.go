package broker

// DescribeLogDirs, v0–v2 (v1 only changed throttling, v2 is the flexible encoding).
//
// Behaviour (KafkaApis.handleDescribeLogDirsRequest, ReplicaManager.describeLogDirs, KIP-113):
//   - One entry per log dir of this broker (log.dirs order, absolute paths), listing the partitions of the
//     request found in that dir (null topics: every log on this broker) with their size in bytes (the
//     segments' .log files) and offset lag max(HW - LEO, 0) — 0 for a hosted log, -1 for a log the replica
//     manager does not host (loaded from disk before a LeaderAndIsr named it). IsFuture is always false:
//     there are no future logs (AlterReplicaLogDirs is not served).
//   - As Kafka 2.8 builds the answer from the dir's logs grouped by topic, a topic present in the dir but
//     not asked for is listed with no partitions.
//   - Per-dir ErrorCode is KAFKA_STORAGE_ERROR for an offline dir in Kafka; Samsa does not take log dirs
//     offline (an I/O error surfaces on the request that hit it), so it is always 0 here.
//   - No authorizer: the CLUSTER_AUTHORIZATION_FAILED path (an empty answer) does not exist.

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

func handleDescribeLogDirs(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	var wanted map[storage.TopicPartition]bool // nil: all
	if req.Topics != nil {
		wanted = map[storage.TopicPartition]bool{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				wanted[storage.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
	}
	byDir := b.logs.DirLogs()
	for _, dir := range b.logs.Dirs() {
		rd := kmsg.NewDescribeLogDirsResponseDir()
		rd.Dir = dir
		logs := byDir[dir]
		slices.SortFunc(logs, func(x, y *storage.Log) int {
			a, c := x.TopicPartition(), y.TopicPartition()
			if n := strings.Compare(a.Topic, c.Topic); n != 0 {
				return n
			}
			return int(a.Partition - c.Partition)
		})
		for _, l := range logs {
			tp := l.TopicPartition()
			if n := len(rd.Topics); n == 0 || rd.Topics[n-1].Topic != tp.Topic {
				rt := kmsg.NewDescribeLogDirsResponseDirTopic()
				rt.Topic = tp.Topic
				rd.Topics = append(rd.Topics, rt)
			}
			if wanted != nil && !wanted[tp] {
				continue
			}
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size, rp.OffsetLag = tp.Partition, l.Size(), logEndOffsetLag(b, tp)
			rt := &rd.Topics[len(rd.Topics)-1]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Dirs = append(resp.Dirs, rd)
	}
	return Response{Msg: resp}, nil
}

// logEndOffsetLag is ReplicaManager.getLogEndOffsetLag for a current (not future) log: how far the LEO is
// behind the HW, never negative; -1 (DescribeLogDirsResponse.INVALID_OFFSET_LAG) when the replica manager
// does not host the partition.
func logEndOffsetLag(b *Broker, tp storage.TopicPartition) int64 {
	p, ok := b.replicas.Partition(tp)
	if !ok {
		return -1
	}
	l := p.Log()
	if l == nil {
		return -1
	}
	return max(l.HighWatermark()-l.LogEndOffset(), 0)
}
