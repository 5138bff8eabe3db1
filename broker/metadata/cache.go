package metadata

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaderDuringDelete is the leader id the controller sends for partitions of a topic being deleted.
const LeaderDuringDelete = -2

// ErrStaleControllerEpoch: an UpdateMetadata from a controller older than the one already heard from.
var ErrStaleControllerEpoch = errors.New("metadata: stale controller epoch")

// Endpoint is one listener of a live broker.
type Endpoint struct {
	Listener         string
	Host             string
	Port             int32
	SecurityProtocol int16
}

// Broker is a live broker as the controller described it.
type Broker struct {
	ID        int32
	Rack      *string
	Endpoints []Endpoint
}

// Endpoint returns the broker's endpoint on the named listener.
func (b Broker) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Listener == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Partition is one partition's leadership as the controller described it.
type Partition struct {
	Index           int32
	ControllerEpoch int32
	Leader          int32
	LeaderEpoch     int32
	ISR             []int32
	ZKVersion       int32
	Replicas        []int32
	OfflineReplicas []int32
}

// Topic is a topic and its partitions, sorted by index.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
}

// Partition returns partition p of the topic.
func (t *Topic) Partition(p int32) (Partition, bool) {
	i := sort.Search(len(t.Partitions), func(i int) bool { return t.Partitions[i].Index >= p })
	if i < len(t.Partitions) && t.Partitions[i].Index == p {
		return t.Partitions[i], true
	}
	return Partition{}, false
}

// Snapshot is an immutable view of the cluster. Its maps and slices must not be modified.
type Snapshot struct {
	ControllerID    int32 // -1 until the first UpdateMetadata
	ControllerEpoch int32
	Brokers         []Broker // sorted by id
	Topics          map[string]*Topic
}

// Broker returns live broker id.
func (s *Snapshot) Broker(id int32) (Broker, bool) {
	i := sort.Search(len(s.Brokers), func(i int) bool { return s.Brokers[i].ID >= id })
	if i < len(s.Brokers) && s.Brokers[i].ID == id {
		return s.Brokers[i], true
	}
	return Broker{}, false
}

// TopicNames returns the topic names, sorted.
func (s *Snapshot) TopicNames() []string {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Cache holds the latest snapshot.
type Cache struct {
	brokerID int32
	mu       sync.Mutex // serialises updaters
	snap     atomic.Pointer[Snapshot]
	notify   chan struct{} // closed and replaced on every update (guarded by mu)
}

// NewCache returns an empty cache for broker brokerID.
func NewCache(brokerID int32) *Cache {
	c := &Cache{brokerID: brokerID, notify: make(chan struct{})}
	c.snap.Store(&Snapshot{ControllerID: -1, Topics: map[string]*Topic{}})
	return c
}

// Snapshot returns the current view; it never blocks.
func (c *Cache) Snapshot() *Snapshot { return c.snap.Load() }

// Changed returns a channel closed at the next update, for waiters such as CreateTopics that poll the
// cache until a topic has leaders.
func (c *Cache) Changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notify
}

// Update applies an UpdateMetadata request (any version 0-7) and returns the partitions it deleted (leader
// -2), so the caller can drop what it keeps for them.
func (c *Cache) Update(req *kmsg.UpdateMetadataRequest) (deleted []TopicPartition, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.snap.Load()
	if req.ControllerEpoch < old.ControllerEpoch {
		return nil, fmt.Errorf("%w: request epoch %d, cached epoch %d from controller %d",
			ErrStaleControllerEpoch, req.ControllerEpoch, old.ControllerEpoch, old.ControllerID)
	}
	next := &Snapshot{
		ControllerID:    req.ControllerID,
		ControllerEpoch: req.ControllerEpoch,
		Brokers:         liveBrokers(req),
		Topics:          make(map[string]*Topic, len(old.Topics)),
	}
	for n, t := range old.Topics {
		next.Topics[n] = t
	}
	for _, ts := range topicStates(req) {
		deleted = append(deleted, applyTopic(next.Topics, ts)...)
	}
	c.snap.Store(next)
	close(c.notify)
	c.notify = make(chan struct{})
	return deleted, nil
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// topicStates groups a request's partition states by topic, whatever its version's layout (v0-v4 list
// partitions at the top level with their topic; v5+ nest them under topics, v7 adds topic ids).
func topicStates(req *kmsg.UpdateMetadataRequest) []kmsg.UpdateMetadataRequestTopicState {
	if req.Version >= 5 {
		return req.TopicStates
	}
	var out []kmsg.UpdateMetadataRequestTopicState
	index := map[string]int{}
	for _, p := range req.PartitionStates {
		i, ok := index[p.Topic]
		if !ok {
			i = len(out)
			index[p.Topic] = i
			out = append(out, kmsg.UpdateMetadataRequestTopicState{Topic: p.Topic})
		}
		out[i].PartitionStates = append(out[i].PartitionStates, p)
	}
	return out
}

// applyTopic upserts one topic's partition states into topics (copy on write).
func applyTopic(topics map[string]*Topic, ts kmsg.UpdateMetadataRequestTopicState) (deleted []TopicPartition) {
	byIndex := map[int32]Partition{}
	t := &Topic{Name: ts.Topic, ID: ts.TopicID}
	if old, ok := topics[ts.Topic]; ok {
		if ts.TopicID == ([16]byte{}) {
			t.ID = old.ID
		}
		for _, p := range old.Partitions {
			byIndex[p.Index] = p
		}
	}
	for _, ps := range ts.PartitionStates {
		if ps.Leader == LeaderDuringDelete {
			delete(byIndex, ps.Partition)
			deleted = append(deleted, TopicPartition{ts.Topic, ps.Partition})
			continue
		}
		byIndex[ps.Partition] = Partition{
			Index: ps.Partition, ControllerEpoch: ps.ControllerEpoch, Leader: ps.Leader,
			LeaderEpoch: ps.LeaderEpoch, ISR: ps.ISR, ZKVersion: ps.ZKVersion, Replicas: ps.Replicas,
			OfflineReplicas: ps.OfflineReplicas,
		}
	}
	if len(byIndex) == 0 {
		delete(topics, ts.Topic)
		return deleted
	}
	for _, p := range byIndex {
		t.Partitions = append(t.Partitions, p)
	}
	sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Index < t.Partitions[j].Index })
	topics[ts.Topic] = t
	return deleted
}

func liveBrokers(req *kmsg.UpdateMetadataRequest) []Broker {
	out := make([]Broker, 0, len(req.LiveBrokers))
	for _, lb := range req.LiveBrokers {
		b := Broker{ID: lb.ID, Rack: lb.Rack}
		if req.Version == 0 { // v0 carries one PLAINTEXT host:port
			b.Endpoints = []Endpoint{{Listener: "PLAINTEXT", Host: lb.Host, Port: lb.Port}}
		}
		for _, e := range lb.Endpoints {
			name := e.ListenerName
			if req.Version < 3 { // before v3 the listener is named after its security protocol
				name = securityProtocolName(e.SecurityProtocol)
			}
			b.Endpoints = append(b.Endpoints, Endpoint{Listener: name, Host: e.Host, Port: e.Port, SecurityProtocol: e.SecurityProtocol})
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// securityProtocolName is Kafka's SecurityProtocol id -> name.
func securityProtocolName(id int16) string {
	switch id {
	case 0:
		return "PLAINTEXT"
	case 1:
		return "SSL"
	case 2:
		return "SASL_PLAINTEXT"
	case 3:
		return "SASL_SSL"
	}
	return fmt.Sprintf("UNKNOWN_%d", id)
}
