package broker

import (
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry"
)

// fakeBlocks stands in for /latest_producer_id_block: consecutive blocks of 1000, as
// zkregistry.AllocateProducerIDBlock hands them out, with an injectable failure.
type fakeBlocks struct {
	mu    sync.Mutex
	end   int64 // last id handed out in a block, -1 at first
	calls int
	fail  error
}

func (f *fakeBlocks) allocate(brokerID int32) (zkregistry.ProducerIDBlock, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return zkregistry.ProducerIDBlock{}, f.fail
	}
	blk := zkregistry.ProducerIDBlock{BrokerID: brokerID, Start: f.end + 1, End: f.end + zkregistry.ProducerIDBlockSize}
	f.end = blk.End
	return blk, nil
}

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func TestProducerIdManager_GeneratesIdsFromBlocksOf1000(t *testing.T) {
	f := &fakeBlocks{end: -1}
	m := newProducerIDManager(3, f.allocate, quietLog())
	if err := m.start(); err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 {
		t.Fatalf("startup reserved %d blocks, want 1", f.calls)
	}
	for want := int64(0); want < 2500; want++ {
		got, err := m.GenerateProducerID()
		if err != nil || got != want {
			t.Fatalf("id %d, %v; want %d", got, err, want)
		}
	}
	if f.calls != 3 {
		t.Fatalf("%d blocks reserved for 2500 ids, want 3", f.calls)
	}
}

func TestProducerIdManager_TwoBrokersNeverShareAnId(t *testing.T) {
	f := &fakeBlocks{end: -1} // one znode for the cluster
	a := newProducerIDManager(1, f.allocate, quietLog())
	b := newProducerIDManager(2, f.allocate, quietLog())
	seen := map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range []*producerIDManager{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1500 {
				id, err := m.GenerateProducerID()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 6000 {
		t.Fatalf("%d distinct ids", len(seen))
	}
}

func TestProducerIdManager_ReservationFailureIsRetried(t *testing.T) {
	f := &fakeBlocks{end: 999, fail: errors.New("zookeeper: connection loss")}
	m := newProducerIDManager(1, f.allocate, quietLog())
	if err := m.start(); err == nil {
		t.Fatal("startup succeeded without a block")
	}
	if _, err := m.GenerateProducerID(); err == nil {
		t.Fatal("an id without a block")
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	if id, err := m.GenerateProducerID(); err != nil || id != 1000 {
		t.Fatalf("after ZooKeeper came back: %d, %v", id, err)
	}
}
