package broker

// Wiring of the transaction coordinator (broker/txn): its settings, its access to the __transaction_state
// partitions through the replica manager, the WriteTxnMarkers channel to partition leaders, the creation
// of __transaction_state on first need, and the hooks by which LeaderAndIsr and StopReplica tell it about
// leadership changes.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/config"
	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/broker/txn"
	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/storage"
)

// startTxnCoordinator creates and starts the coordinator. Transactional ids map onto the partition count
// of __transaction_state as it is in ZooKeeper now, or transaction.state.log.num.partitions when the topic
// does not exist yet (TransactionStateManager.getTransactionTopicPartitionCount).
func (b *Broker) startTxnCoordinator(ctx context.Context) error {
	n, err := b.partitionCount(b.transactionStateTopic())
	if err != nil {
		return err
	}
	b.markerConns = &markerTransport{b: b, conns: map[int32]*protocol.Client{}}
	b.txnOffsets = groupTxnOffsets{b.groups}
	b.txn = txn.New(b.txnConfig(n), txnPartitions{b}, b.producerIDs, b.markerConns, txn.SystemClock{},
		b.log.WithField("component", "txn_coordinator"))
	b.txn.Start(ctx)
	return nil
}

func (b *Broker) txnConfig(numPartitions int32) txn.Config {
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	cfg := txn.DefaultConfig()
	cfg.BrokerID = b.id
	cfg.NumPartitions = numPartitions
	cfg.MaxTimeout = ms(int64(b.cfg.TransactionMaxTimeoutMs))
	cfg.IDExpiration = ms(int64(b.cfg.TransactionalIDExpirationMs))
	cfg.AbortTimedOutInterval = ms(int64(b.cfg.TransactionAbortTimedOutTransactionCleanupIntervalMs))
	cfg.RemoveExpiredInterval = ms(int64(b.cfg.TransactionRemoveExpiredTransactionCleanupIntervalMs))
	cfg.LoadBufferSize = int(b.cfg.TransactionStateLogLoadBufferSize)
	cfg.RequestTimeout = ms(int64(b.cfg.RequestTimeoutMs))
	cfg.MarkersVersion = 0
	if b.cfg.InterBrokerProtocol() >= config.V2_8_IV0 {
		cfg.MarkersVersion = 1
	}
	return cfg
}

// stopTxnCoordinator stops the coordinator and drops the marker connections.
func (b *Broker) stopTxnCoordinator() {
	if b.txn != nil {
		b.txn.Stop()
	}
	if b.markerConns != nil {
		b.markerConns.close()
	}
}

// txnPartitions gives the coordinator the __transaction_state partitions through the replica manager.
type txnPartitions struct{ b *Broker }

func (t txnPartitions) Append(ctx context.Context, partition int32, timeout time.Duration, batch []byte) (int64, error) {
	tp := storage.TopicPartition{Topic: txn.TopicName, Partition: partition}
	res := t.b.replicas.AppendRecordsAsCoordinator(ctx, timeout, -1, map[storage.TopicPartition][]byte{tp: batch})[tp]
	if res.Err != nil {
		return -1, kerr.ErrorForCode(errorCode(t.b.log, res.Err))
	}
	return res.BaseOffset, nil
}

func (t txnPartitions) Log(partition int32) (txn.Log, bool) {
	p, ok := t.b.replicas.Partition(storage.TopicPartition{Topic: txn.TopicName, Partition: partition})
	if !ok || !p.IsLeader() {
		return nil, false
	}
	l := p.Log()
	if l == nil {
		return nil, false
	}
	return l, true
}

// groupTxnOffsets gives TxnOffsetCommit and WriteTxnMarkers the group coordinator's transactional offsets.
type groupTxnOffsets struct{ g *group.Coordinator }

func (o groupTxnOffsets) CommitTxnOffsets(ctx context.Context, req txn.TxnOffsetCommit) []int16 {
	parts := make([]group.CommitPartition, len(req.Offsets))
	for i, off := range req.Offsets {
		parts[i] = group.CommitPartition{TopicPartition: group.TopicPartition{Topic: off.Topic, Partition: off.Partition},
			Offset: off.Offset, LeaderEpoch: off.LeaderEpoch, Metadata: off.Metadata, CommitTimestamp: off.CommitTimestamp,
			ExpireTimestamp: -1}
	}
	return o.g.CommitTxnOffsets(ctx, req.GroupID, req.ProducerID, req.ProducerEpoch, req.MemberID, req.InstanceID, req.Generation, parts)
}

func (o groupTxnOffsets) CompleteTxn(producerID int64, offsetsPartitions []int32, commit bool) {
	o.g.CompleteTxn(producerID, offsetsPartitions, commit)
}

// markerTransport sends WriteTxnMarkers to partition leaders on the inter-broker listener (this broker
// included, like Kafka), keeping one connection per broker.
type markerTransport struct {
	b *Broker

	mu    sync.Mutex
	conns map[int32]*protocol.Client // guarded by mu
}

// Leader is the partition's leader if it is alive and reachable on the inter-broker listener.
func (t *markerTransport) Leader(tp txn.TopicPartition) (int32, bool) {
	top, ok := t.b.meta.Snapshot().Topics[tp.Topic]
	if !ok {
		return -1, false
	}
	p, ok := top.Partition(tp.Partition)
	if !ok {
		return -1, false
	}
	if _, reachable := t.b.interBrokerEndpoint(p.Leader); p.Leader < 0 || !reachable {
		return -1, true
	}
	return p.Leader, true
}

func (t *markerTransport) Send(ctx context.Context, id int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	addr, ok := t.b.interBrokerEndpoint(id)
	if !ok {
		return nil, fmt.Errorf("broker %d has no live %s endpoint", id, t.b.cfg.InterBrokerListener())
	}
	t.mu.Lock()
	c := t.conns[id]
	if c != nil && c.Addr() != addr {
		_ = c.Close()
		c = nil
	}
	t.mu.Unlock()
	if c == nil {
		timeout := time.Duration(t.b.cfg.RequestTimeoutMs) * time.Millisecond
		var err error
		if c, err = protocol.Dial(ctx, addr, fmt.Sprintf("broker-%d-txn-markers", t.b.id), timeout); err != nil {
			return nil, err
		}
		t.mu.Lock()
		if old := t.conns[id]; old != nil {
			_ = old.Close()
		}
		t.conns[id] = c
		t.mu.Unlock()
	}
	resp, err := c.Request(ctx, req)
	if err != nil {
		t.mu.Lock()
		if t.conns[id] == c {
			delete(t.conns, id)
		}
		t.mu.Unlock()
		_ = c.Close()
		return nil, err
	}
	return resp.(*kmsg.WriteTxnMarkersResponse), nil
}

func (t *markerTransport) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.conns {
		_ = c.Close()
		delete(t.conns, id)
	}
}

// transactionStateTopic is __transaction_state: transaction.state.log.num.partitions and
// transaction.state.log.replication.factor, compacted, uncompressed, min.insync.replicas =
// transaction.state.log.min.isr (capped by the replication factor), unclean election disabled,
// segment.bytes = transaction.state.log.segment.bytes.
func (b *Broker) transactionStateTopic() internalTopic {
	return internalTopic{name: txn.TopicName, partitions: b.cfg.TransactionStateLogNumPartitions,
		rf: b.cfg.TransactionStateLogReplicationFactor, rfKey: "transaction.state.log.replication.factor",
		configs: func(rf int16) map[string]string {
			return map[string]string{
				"cleanup.policy":                 "compact",
				"compression.type":               "uncompressed",
				"min.insync.replicas":            strconv.Itoa(int(min(b.cfg.TransactionStateLogMinISR, int32(rf)))),
				"segment.bytes":                  strconv.Itoa(int(b.cfg.TransactionStateLogSegmentBytes)),
				"unclean.leader.election.enable": "false",
			}
		}}
}

// txnCoordinatorNode is the coordinator of a transactional id: the leader of its __transaction_state
// partition.
func (b *Broker) txnCoordinatorNode(transactionalID, listener string) (metadata.Broker, metadata.Endpoint, error) {
	return b.coordinatorNode(b.transactionStateTopic(), b.txn.PartitionFor(transactionalID), listener)
}

// txnOnLeaderAndIsr loads the __transaction_state partitions this LeaderAndIsr made this broker lead
// (the leader epoch being the coordinator epoch) and unloads those it lost.
func (b *Broker) txnOnLeaderAndIsr(req *kmsg.LeaderAndISRRequest) {
	b.coordinatorOnLeaderAndIsr(txn.TopicName, b.txn, req)
}

// txnOnStopReplica unloads the __transaction_state partitions a StopReplica took away from this broker.
func (b *Broker) txnOnStopReplica(req *kmsg.StopReplicaRequest) {
	resign := func(partition, epoch int32) {
		p, ok := b.replicas.Partition(storage.TopicPartition{Topic: txn.TopicName, Partition: partition})
		if !ok || !p.IsLeader() {
			b.txn.OnResignation(partition, epoch)
		}
	}
	for _, t := range req.Topics {
		if t.Topic != txn.TopicName {
			continue
		}
		switch {
		case req.Version == 0:
			resign(t.Partition, -1)
		case req.Version <= 2:
			for _, p := range t.Partitions {
				resign(p, -1)
			}
		default:
			for _, ps := range t.PartitionStates {
				resign(ps.Partition, ps.LeaderEpoch)
			}
		}
	}
}
