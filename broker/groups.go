package broker

// Wiring of the group coordinator (broker/group): its settings, its access to the __consumer_offsets
// partitions through the replica manager, the creation of __consumer_offsets on first need, the hooks by
// which LeaderAndIsr, StopReplica and UpdateMetadata tell it about leadership changes and deleted
// partitions, and the ZooKeeper offset storage of OffsetCommit/OffsetFetch v0.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
	"github.com/samsa-broker/samsa/zkregistry"
)

// startGroupCoordinator creates and starts the coordinator. Groups map onto the partition count of
// __consumer_offsets as it is in ZooKeeper now, or offsets.topic.num.partitions when the topic does not
// exist yet; it stays fixed for the broker's lifetime (GroupMetadataManager.getGroupMetadataTopicPartitionCount).
func (b *Broker) startGroupCoordinator(ctx context.Context) error {
	n, err := b.partitionCount(b.offsetsTopic())
	if err != nil {
		return err
	}
	b.groups = group.New(b.groupConfig(n), offsetsPartitions{b}, group.SystemClock{}, b.log.WithField("component", "group_coordinator"))
	b.groups.Start(ctx)
	return nil
}

func (b *Broker) groupConfig(numPartitions int32) group.Config {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	ibp := b.cfg.InterBrokerProtocol()
	cfg := group.Config{
		BrokerID:               b.id,
		NumPartitions:          numPartitions,
		MinSessionTimeout:      ms(int64(b.cfg.GroupMinSessionTimeoutMs)),
		MaxSessionTimeout:      ms(int64(b.cfg.GroupMaxSessionTimeoutMs)),
		InitialRebalanceDelay:  ms(int64(b.cfg.GroupInitialRebalanceDelayMs)),
		MaxSize:                int(b.cfg.GroupMaxSize),
		MetadataMaxBytes:       int(b.cfg.OffsetMetadataMaxBytes),
		Retention:              time.Duration(b.cfg.OffsetsRetentionMinutes) * time.Minute,
		RetentionCheckInterval: ms(b.cfg.OffsetsRetentionCheckIntervalMs),
		CommitTimeout:          ms(int64(b.cfg.OffsetsCommitTimeoutMs)),
		CommitRequiredAcks:     b.cfg.OffsetsCommitRequiredAcks,
		LoadBufferSize:         int(b.cfg.OffsetsLoadBufferSize),
		Compression:            record.Codec(b.cfg.OffsetsTopicCompressionCodec),
		OffsetValueVersion:     3,
		GroupValueVersion:      3,
		StaticMembership:       ibp >= config.V2_3_IV0,
	}
	// Record versions by inter.broker.protocol.version (GroupMetadataManager.offsetCommitValue/groupMetadataValue).
	switch {
	case ibp < config.V2_1_IV0:
		cfg.OffsetValueVersion, cfg.GroupValueVersion = 1, 1
	case ibp < config.V2_1_IV1:
		cfg.OffsetValueVersion, cfg.GroupValueVersion = 2, 2
	case ibp < config.V2_3_IV0:
		cfg.GroupValueVersion = 2
	}
	return cfg
}

// offsetsPartitions gives the coordinator the __consumer_offsets partitions through the replica manager.
// Its writes have Kafka's coordinator origin: the producer-only rules (sequence numbers) do not apply to
// the transactional offset commits it appends for producers, the producer epoch still does.
type offsetsPartitions struct{ b *Broker }

func (o offsetsPartitions) Append(ctx context.Context, partition int32, acks int16, timeout time.Duration, batch []byte) (int64, error) {
	tp := storage.TopicPartition{Topic: group.TopicName, Partition: partition}
	res := o.b.replicas.AppendRecordsAsCoordinator(ctx, timeout, acks, map[storage.TopicPartition][]byte{tp: batch})[tp]
	if res.Err != nil {
		return -1, kerr.ErrorForCode(errorCode(o.b.log, res.Err))
	}
	return res.BaseOffset, nil
}

func (o offsetsPartitions) Log(partition int32) (group.Log, bool) {
	p, ok := o.b.replicas.Partition(storage.TopicPartition{Topic: group.TopicName, Partition: partition})
	if !ok || !p.IsLeader() {
		return nil, false
	}
	l := p.Log()
	if l == nil {
		return nil, false
	}
	return l, true
}

// offsetsTopic is __consumer_offsets: offsets.topic.num.partitions and offsets.topic.replication.factor,
// compacted, segment.bytes=offsets.topic.segment.bytes, compression.type=producer.
func (b *Broker) offsetsTopic() internalTopic {
	return internalTopic{name: group.TopicName, partitions: b.cfg.OffsetsTopicNumPartitions,
		rf: b.cfg.OffsetsTopicReplicationFactor, rfKey: "offsets.topic.replication.factor",
		configs: func(int16) map[string]string {
			return map[string]string{
				"cleanup.policy":   "compact",
				"compression.type": "producer",
				"segment.bytes":    strconv.Itoa(int(b.cfg.OffsetsTopicSegmentBytes)),
			}
		}}
}

// groupCoordinatorNode is the coordinator of a group: the leader of its offsets partition.
func (b *Broker) groupCoordinatorNode(groupID, listener string) (metadata.Broker, metadata.Endpoint, error) {
	return b.coordinatorNode(b.offsetsTopic(), b.groups.PartitionFor(groupID), listener)
}

// groupClient identifies a request's connection the way Kafka records members: the client id and the
// address in InetAddress.toString form ("/10.0.0.5").
func groupClient(r *Request) group.Client {
	host := r.Conn.ClientAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return group.Client{ID: r.ClientID(), Host: "/" + host}
}

// groupsOnLeaderAndIsr loads the offsets partitions this LeaderAndIsr made this broker lead and unloads
// those it lost (KafkaApis.onLeadershipChange).
func (b *Broker) groupsOnLeaderAndIsr(req *kmsg.LeaderAndISRRequest) {
	b.coordinatorOnLeaderAndIsr(group.TopicName, b.groups, req)
}

// groupsOnStopReplica unloads the offsets partitions a StopReplica took away from this broker.
func (b *Broker) groupsOnStopReplica(req *kmsg.StopReplicaRequest) {
	resign := func(partition int32) {
		p, ok := b.replicas.Partition(storage.TopicPartition{Topic: group.TopicName, Partition: partition})
		if !ok || !p.IsLeader() {
			b.groups.OnResignation(partition, -1)
		}
	}
	for _, t := range req.Topics {
		if t.Topic != group.TopicName {
			continue
		}
		switch {
		case req.Version == 0:
			resign(t.Partition)
		case req.Version <= 2:
			for _, p := range t.Partitions {
				resign(p)
			}
		default:
			for _, ps := range t.PartitionStates {
				resign(ps.Partition)
			}
		}
	}
}

// groupsOnDeletedPartitions drops committed offsets of partitions deleted with their topic.
func (b *Broker) groupsOnDeletedPartitions(deleted []metadata.TopicPartition) {
	tps := make([]group.TopicPartition, 0, len(deleted))
	for _, tp := range deleted {
		tps = append(tps, group.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
	}
	b.groups.HandleDeletedPartitions(tps)
}

// knownPartition reports whether the metadata cache has the partition (Kafka's metadataCache.contains,
// which OffsetCommit and OffsetDelete check first).
func knownPartition(snap *metadata.Snapshot, topic string, partition int32) bool {
	t, ok := snap.Topics[topic]
	if !ok {
		return false
	}
	_, ok = t.Partition(partition)
	return ok
}

// zkOffsetPath is where OffsetCommit/OffsetFetch v0 keep offsets (Kafka's ConsumerPathZNode).
func zkOffsetPath(groupID, topic string, partition int32) string {
	return "/consumers/" + groupID + "/offsets/" + topic + "/" + strconv.Itoa(int(partition))
}

// setZKOffset writes a v0 commit as a decimal string (KafkaZkClient.setOrCreateConsumerOffset).
func (b *Broker) setZKOffset(groupID, topic string, partition int32, offset int64) error {
	path, data := zkOffsetPath(groupID, topic, partition), []byte(strconv.FormatInt(offset, 10))
	_, err := b.zk.Set(path, data, -1)
	if errors.Is(err, zkregistry.ErrNoNode) {
		_, err = b.zk.CreateRecursive(path, data, zkregistry.Persistent)
		if errors.Is(err, zkregistry.ErrNodeExists) {
			_, err = b.zk.Set(path, data, -1)
		}
	}
	return err
}

// getZKOffset reads a v0 commit; found is false when none exists.
func (b *Broker) getZKOffset(groupID, topic string, partition int32) (offset int64, found bool, err error) {
	data, _, err := b.zk.Get(zkOffsetPath(groupID, topic, partition))
	if errors.Is(err, zkregistry.ErrNoNode) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, err
	}
	offset, err = strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return -1, false, fmt.Errorf("%w: %s holds %q", zkregistry.ErrMalformed, zkOffsetPath(groupID, topic, partition), data)
	}
	return offset, true, nil
}
