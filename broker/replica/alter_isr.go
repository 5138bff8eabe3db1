package replica

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
)

// alterISRRetryBackoff is how long the manager waits before resending after a top-level error or a
// partition error (Kafka's DefaultAlterIsrManager schedules the retry 50 ms later).
const alterISRRetryBackoff = 50 * time.Millisecond

// alterISRMaxBackoff caps the backoff after transport errors (no controller known, connection refused), as
// Kafka's reconnect.backoff.max.ms does.
const alterISRMaxBackoff = time.Second

// alterISRResult is the controller's answer for one partition: err (a partition error), or the new state.
type alterISRResult struct {
	err         *kerr.Error
	leaderEpoch int32
	isr         []int32
	zkVersion   int32
}

// alterISRItem is one partition's proposed ISR (Kafka's AlterIsrItem).
type alterISRItem struct {
	tp          storage.TopicPartition
	leaderEpoch int32
	isr         []int32
	zkVersion   int32
	done        func(alterISRResult)
}

// alterISRManager is Kafka's DefaultAlterIsrManager (KIP-497): partitions submit proposals, at most one per
// partition is queued, and one goroutine sends everything queued in one AlterIsr request, with at most one
// request in flight. The request never times out for the partitions: transport failures and top-level
// errors (NOT_CONTROLLER, STALE_BROKER_EPOCH) resend the same items after a backoff. Each item's callback
// runs once, with no lock held, when the controller answered for its partition.
type alterISRManager struct {
	brokerID    int32
	brokerEpoch func() int64
	send        func(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error)
	log         *logrus.Entry

	mu     sync.Mutex
	queued map[storage.TopicPartition]*alterISRItem // guarded by mu; unanswered items, in flight or not
	wake   chan struct{}                            // capacity 1

	failing bool // owned by run: the last exchange failed; repeats log at debug level, not every 50 ms
}

// failed logs a failed exchange: a warning the first time, debug while it keeps failing.
func (a *alterISRManager) failed(lg *logrus.Entry, msg string) {
	if a.failing {
		lg.Debug(msg)
		return
	}
	a.failing = true
	lg.Warn(msg + " (repeats logged at debug level)")
}

func newAlterISRManager(brokerID int32, brokerEpoch func() int64, send func(context.Context, *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error), lg *logrus.Entry) *alterISRManager {
	return &alterISRManager{
		brokerID: brokerID, brokerEpoch: brokerEpoch, send: send, log: lg.WithField("component", "alter_isr"),
		queued: map[storage.TopicPartition]*alterISRItem{}, wake: make(chan struct{}, 1),
	}
}

// submit queues item unless one is already queued for its partition (AlterIsrManager.submit).
func (a *alterISRManager) submit(item *alterISRItem) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.queued[item.tp]; ok {
		return false
	}
	a.queued[item.tp] = item
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return true
}

// clearPending forgets tp's queued item (a LeaderAndIsr replaced the partition's ISR state). An answer for
// an item already in flight still reaches its callback, which finds the state replaced and ignores it.
func (a *alterISRManager) clearPending(tp storage.TopicPartition) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.queued, tp)
}

// queuedItems returns the queued items in a stable order.
func (a *alterISRManager) queuedItems() []*alterISRItem {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*alterISRItem, 0, len(a.queued))
	for _, it := range a.queued {
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].tp.Topic != out[j].tp.Topic {
			return out[i].tp.Topic < out[j].tp.Topic
		}
		return out[i].tp.Partition < out[j].tp.Partition
	})
	return out
}

// run sends queued items until ctx ends.
func (a *alterISRManager) run(ctx context.Context) {
	backoff := time.Duration(0)
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-retry:
		}
		retry = nil
		items := a.queuedItems()
		if len(items) == 0 {
			continue
		}
		wait, err := a.sendOnce(ctx, items)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, alterISRRetryBackoff), alterISRMaxBackoff)
			a.failed(a.log.WithError(err).WithField("retry_in", backoff), "AlterIsr to the controller failed")
			retry = time.After(backoff)
		case wait:
			backoff = 0
			retry = time.After(alterISRRetryBackoff)
		default:
			backoff = 0
			retry = time.After(0) // items queued meanwhile go out at once
		}
	}
}

// sendOnce sends items in one request and applies the answer. wait reports a top-level or partition error
// after which the next request should wait alterISRRetryBackoff.
func (a *alterISRManager) sendOnce(ctx context.Context, items []*alterISRItem) (wait bool, err error) {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 0 // AlterIsr v0: what IBP 2.7-IV2..2.8 send
	req.BrokerID = a.brokerID
	req.BrokerEpoch = a.brokerEpoch()
	for _, it := range items {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != it.tp.Topic {
			t := kmsg.NewAlterPartitionRequestTopic()
			t.Topic = it.tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.NewISR, rp.PartitionEpoch = it.tp.Partition, it.leaderEpoch, it.isr, it.zkVersion
		t := &req.Topics[len(req.Topics)-1]
		t.Partitions = append(t.Partitions, rp)
	}
	resp, err := a.send(ctx, req)
	if err != nil {
		return false, err
	}
	if resp == nil {
		return false, errors.New("no AlterIsr response")
	}
	if resp.ErrorCode != 0 {
		a.failed(a.log.WithField("error", kerr.ErrorForCode(resp.ErrorCode)), "AlterIsr refused by the controller; retrying")
		return true, nil
	}
	a.failing = false
	results := make(map[storage.TopicPartition]alterISRResult)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			res := alterISRResult{leaderEpoch: p.LeaderEpoch, isr: p.ISR, zkVersion: p.PartitionEpoch}
			if p.ErrorCode != 0 {
				res = alterISRResult{err: kerr.TypedErrorForCode(p.ErrorCode)}
				wait = true
			}
			results[storage.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = res
		}
	}
	for _, it := range items {
		res, ok := results[it.tp]
		if !ok {
			// Iterate what was sent, not what came back: an item the answer left out is sent again.
			a.log.WithFields(logrus.Fields{"topic": it.tp.Topic, "partition": it.tp.Partition}).Warn("AlterIsr answer lacks a partition; resending")
			wait = true
			continue
		}
		a.mu.Lock()
		if a.queued[it.tp] == it {
			delete(a.queued, it.tp) // before the callback, so that it may submit again
		}
		a.mu.Unlock()
		it.done(res)
	}
	return wait, nil
}
