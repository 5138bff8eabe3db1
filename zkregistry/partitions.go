package zkregistry

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-zookeeper/zk"
)

// maxInFlight is zookeeper.max.in.flight.requests: how many requests Kafka
// pipelines at once. Batched helpers here run that many in parallel.
const maxInFlight = 10

type result[V any] struct {
	val V
	err error
}

// parallel applies fn to every input with at most maxInFlight calls
// outstanding; results are in input order.
func parallel[I, V any](in []I, fn func(I) (V, error)) []result[V] {
	out := make([]result[V], len(in))
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i := range in {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i].val, out[i].err = fn(in[i])
		}()
	}
	wg.Wait()
	return out
}

// GetPartitionState reads a partition's leader/ISR with its zkVersion;
// ErrNoNode when the state znode does not exist.
func (c *Client) GetPartitionState(tp TopicPartition) (PartitionState, error) {
	data, stat, err := c.Get(PartitionStatePath(tp.Topic, tp.Partition))
	if err != nil {
		return PartitionState{}, err
	}
	s, err := DecodePartitionState(data, stat.Version)
	if err != nil {
		return PartitionState{}, fmt.Errorf("%s: %w", tp, err)
	}
	return s, nil
}

// GetPartitionStates reads many state znodes concurrently; partitions
// without one are left out of the result.
func (c *Client) GetPartitionStates(tps []TopicPartition) (map[TopicPartition]PartitionState, error) {
	res := parallel(tps, c.GetPartitionState)
	out := make(map[TopicPartition]PartitionState, len(tps))
	for i, r := range res {
		if errors.Is(r.err, zk.ErrNoNode) {
			continue
		}
		if r.err != nil {
			return nil, r.err
		}
		out[tps[i]] = r.val
	}
	return out, nil
}

// GetPartitions returns a topic's partition ids that have a znode under
// /brokers/topics/<topic>/partitions.
func (c *Client) GetPartitions(topic string) ([]string, error) {
	ps, err := c.Children(TopicPartitionsPath(topic))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	return ps, err
}

// CreatePartitionStates creates the state znodes of new partitions (Kafka's
// NewPartition -> OnlinePartition initialisation), each fenced: first the
// .../partitions and .../partitions/<p> parents (NODEEXISTS ignored), then
// the state node. The returned map holds each partition's error: nil on
// success (zkVersion 0), ErrNodeExists when a state node already exists.
// ErrControllerMoved, if hit, is also returned as the error.
func (c *Client) CreatePartitionStates(epochZkVersion int32, states map[TopicPartition]PartitionState) (map[TopicPartition]error, error) {
	tps := make([]TopicPartition, 0, len(states))
	for tp := range states {
		tps = append(tps, tp)
	}
	res := parallel(tps, func(tp TopicPartition) (struct{}, error) {
		return struct{}{}, c.createPartitionState(epochZkVersion, tp, states[tp])
	})
	return collectErrors(tps, res)
}

func (c *Client) createPartitionState(epochZkVersion int32, tp TopicPartition, s PartitionState) error {
	for _, p := range []string{TopicPartitionsPath(tp.Topic), PartitionPath(tp.Topic, tp.Partition)} {
		if _, err := c.Write(epochZkVersion, CreateOp(p, nil, Persistent)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err := c.Write(epochZkVersion, CreateOp(PartitionStatePath(tp.Topic, tp.Partition), s.Encode(), Persistent))
	return err
}

// UpdatePartitionStates writes new leader/ISR states, each conditional on
// its ZKVersion (the version read before deciding) and fenced. Successes
// come back with their new ZKVersion; failures map to their error
// (ErrBadVersion: someone else updated it — re-read and retry or give up;
// ErrNoNode). ErrControllerMoved, if hit, is also returned as the error.
// A leader's own ISR update (ZK path) passes NoFencing.
func (c *Client) UpdatePartitionStates(epochZkVersion int32, states map[TopicPartition]PartitionState) (
	updated map[TopicPartition]PartitionState, failed map[TopicPartition]error, err error) {
	tps := make([]TopicPartition, 0, len(states))
	for tp := range states {
		tps = append(tps, tp)
	}
	res := parallel(tps, func(tp TopicPartition) (int32, error) {
		s := states[tp]
		r, err := c.Write(epochZkVersion, SetDataOp(PartitionStatePath(tp.Topic, tp.Partition), s.Encode(), s.ZKVersion))
		if err != nil {
			return 0, err
		}
		return r.Stat.Version, nil
	})
	updated = make(map[TopicPartition]PartitionState, len(tps))
	failed = make(map[TopicPartition]error)
	for i, r := range res {
		if r.err != nil {
			failed[tps[i]] = r.err
			if errors.Is(r.err, ErrControllerMoved) {
				err = r.err
			}
			continue
		}
		s := states[tps[i]]
		s.ZKVersion = r.val
		updated[tps[i]] = s
	}
	return updated, failed, err
}

// UpdatePartitionState is UpdatePartitionStates for one partition: it
// returns the new zkVersion.
func (c *Client) UpdatePartitionState(epochZkVersion int32, tp TopicPartition, s PartitionState) (int32, error) {
	updated, failed, err := c.UpdatePartitionStates(epochZkVersion, map[TopicPartition]PartitionState{tp: s})
	if err != nil {
		return 0, err
	}
	if ferr := failed[tp]; ferr != nil {
		return 0, ferr
	}
	return updated[tp].ZKVersion, nil
}

func collectErrors[V any](tps []TopicPartition, res []result[V]) (map[TopicPartition]error, error) {
	out := make(map[TopicPartition]error, len(tps))
	var moved error
	for i, r := range res {
		out[tps[i]] = r.err
		if errors.Is(r.err, ErrControllerMoved) {
			moved = r.err
		}
	}
	return out, moved
}
