package broker

// Producer ids (Kafka's ProducerIdManager, ZooKeeper mode, reference 06 §1): every broker reserves
// blocks of 1000 ids in /latest_producer_id_block (zkregistry.AllocateProducerIDBlock: read, then a
// write conditional on the znode's version, retried when another broker won) and hands them out in
// order; when a block is used up the next one is reserved. The first block is reserved at startup.
// Ids are unique across the cluster and across restarts: a block is never handed out twice, and ids
// of a block a broker did not finish are simply never used.

import (
	"fmt"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// producerIDManager hands out producer ids. Reserving a block goes to ZooKeeper, so it runs without
// the lock: one caller reserves while the others wait on its channel (no lock across ZooKeeper calls).
type producerIDManager struct {
	brokerID int32
	allocate func(brokerID int32) (zkregistry.ProducerIDBlock, error)
	log      *logrus.Entry

	mu       sync.Mutex
	block    zkregistry.ProducerIDBlock // guarded by mu; the block ids come from
	next     int64                      // guarded by mu; next id to hand out, > block.End when used up
	fetching chan struct{}              // guarded by mu; non-nil while a block is being reserved, closed after
	fetchErr error                      // guarded by mu; the outcome of the last reservation
}

func newProducerIDManager(brokerID int32, allocate func(int32) (zkregistry.ProducerIDBlock, error), lg *logrus.Entry) *producerIDManager {
	// Nothing reserved yet: next above End makes the first call reserve.
	return &producerIDManager{brokerID: brokerID, allocate: allocate, log: lg, block: zkregistry.ProducerIDBlock{End: -1}}
}

// start reserves the first block (TransactionCoordinator.startup -> ProducerIdManager's constructor).
func (m *producerIDManager) start() error {
	return m.reserve()
}

// GenerateProducerID returns the next id of the current block, reserving a new block first when the
// current one is used up (ProducerIdManager.generateProducerId). It fails only when ZooKeeper does.
func (m *producerIDManager) GenerateProducerID() (int64, error) {
	for {
		m.mu.Lock()
		if m.next <= m.block.End {
			id := m.next
			m.next++
			m.mu.Unlock()
			return id, nil
		}
		m.mu.Unlock()
		if err := m.reserve(); err != nil {
			return -1, err
		}
	}
}

// reserve gets a new block unless another caller is already doing so, in which case it waits for that
// caller's outcome.
func (m *producerIDManager) reserve() error {
	m.mu.Lock()
	if ch := m.fetching; ch != nil {
		m.mu.Unlock()
		<-ch
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.fetchErr
	}
	ch := make(chan struct{})
	m.fetching = ch
	m.mu.Unlock()

	blk, err := m.allocate(m.brokerID)
	if err == nil && blk.End < blk.Start {
		err = fmt.Errorf("empty producer id block %+v", blk)
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetching, m.fetchErr = nil, err
	close(ch)
	if err != nil {
		m.log.WithError(err).Error("failed to reserve a producer id block")
		return fmt.Errorf("reserve a producer id block in %s: %w", zkregistry.ProducerIDBlockPath, err)
	}
	m.block, m.next = blk, blk.Start
	m.log.WithFields(logrus.Fields{"block_start": blk.Start, "block_end": blk.End}).Info("reserved producer id block")
	return nil
}
