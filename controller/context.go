package controller

import (
	"maps"
	"slices"

	"github.com/samsa-broker/samsa/zkregistry"
)

// TopicPartition names one partition (zkregistry's type, so maps need no conversion).
type TopicPartition = zkregistry.TopicPartition

// partitionState is Kafka's PartitionState (reference 02 §6.1). Transitions happen only on the event loop.
//
//	NewPartition          assignment known, no state znode yet; exits to Online (initialisation) or Offline
//	OnlinePartition       has a live leader; exits to Online (re-election) or Offline (leader died)
//	OfflinePartition      state znode exists, leader dead or -1; exits to Online when an election succeeds,
//	                      NonExistent when its topic is deleted
//	NonExistentPartition  topic deletion started (or unknown)
type partitionState int8

const (
	newPartition partitionState = iota
	onlinePartition
	offlinePartition
	nonExistentPartition
)

func (s partitionState) String() string {
	switch s {
	case newPartition:
		return "NewPartition"
	case onlinePartition:
		return "OnlinePartition"
	case offlinePartition:
		return "OfflinePartition"
	default:
		return "NonExistentPartition"
	}
}

// replicaDeletionState tracks one replica of a topic queued for deletion (the deletion part of Kafka's
// ReplicaStateMachine, reference 02 §7, §9).
type replicaDeletionState int8

const (
	deletionPending    replicaDeletionState = iota // not asked yet (or to be retried)
	deletionStarted                                // StopReplica(delete=true) sent, no answer yet
	deletionSuccessful                             // the broker answered NONE
	deletionIneligible                             // broker offline or answered an error: retried later
)

// replica names one replica: a partition on a broker.
type replica struct {
	tp     TopicPartition
	broker int32
}

// topicInfo is one topic's assignment.
type topicInfo struct {
	id         zkregistry.UUID
	partitions map[int32][]int32 // partition -> replicas (RS), preferred leader first
	// adding and removing hold AR and RR of partitions being reassigned (reference 02 §8); partitions holds
	// their full set RS = TRS ++ (ORS - TRS).
	adding   map[int32][]int32
	removing map[int32][]int32
	watch    *zkregistry.Watcher
}

// znode is the topic's /brokers/topics/<topic> content as the context knows it.
func (t *topicInfo) znode() zkregistry.TopicAssignment {
	return zkregistry.TopicAssignment{Partitions: maps.Clone(t.partitions), Adding: maps.Clone(t.adding),
		Removing: maps.Clone(t.removing), TopicID: t.id}
}

// topicDeletion is a topic queued in /admin/delete_topics (Kafka's TopicDeletionManager state).
type topicDeletion struct {
	started    bool // partitions moved to NonExistent and StopReplica sent at least once
	ineligible bool // a replica is offline or failed: wait for a hosting broker to start
	replicas   map[replica]replicaDeletionState
}

func (d *topicDeletion) all(s replicaDeletionState) bool {
	for _, st := range d.replicas {
		if st != s {
			return false
		}
	}
	return true
}

func (d *topicDeletion) any(s replicaDeletionState) bool {
	for _, st := range d.replicas {
		if st == s {
			return true
		}
	}
	return false
}

// controllerContext is Kafka's ControllerContext (reference 02 §4): everything the active controller knows.
// Owned by the event loop; nil while the controller is not active.
type controllerContext struct {
	epoch          int32
	epochZkVersion int32

	brokers      map[int32]zkregistry.BrokerInfo // registered brokers (live or shutting down), Epoch = czxid
	shuttingDown map[int32]bool                  // registered brokers in controlled shutdown
	topics       map[string]*topicInfo
	leadership   map[TopicPartition]zkregistry.PartitionState // cached state znodes with zkVersion
	states       map[TopicPartition]partitionState
	deletions    map[string]*topicDeletion // topics queued for deletion
	reassigning  map[TopicPartition]bool   // Kafka's partitionsBeingReassigned
	// zkReassignCzxid identifies the /admin/reassign_partitions znode whose creation was last handled: Kafka
	// reacts to its creation only, not to the rewrites that drop completed entries.
	zkReassignCzxid int64
}

func newControllerContext(epoch, epochZkVersion int32) *controllerContext {
	return &controllerContext{
		epoch:          epoch,
		epochZkVersion: epochZkVersion,
		brokers:        make(map[int32]zkregistry.BrokerInfo),
		shuttingDown:   make(map[int32]bool),
		topics:         make(map[string]*topicInfo),
		leadership:     make(map[TopicPartition]zkregistry.PartitionState),
		states:         make(map[TopicPartition]partitionState),
		deletions:      make(map[string]*topicDeletion),
		reassigning:    make(map[TopicPartition]bool),
	}
}

// isLive reports whether a broker is registered and not shutting down (Kafka's liveBrokerIds): only live
// brokers lead, join ISRs or count as online replicas.
func (cc *controllerContext) isLive(id int32) bool {
	_, ok := cc.brokers[id]
	return ok && !cc.shuttingDown[id]
}

// isRegistered reports whether a broker is registered, shutting down or not (Kafka's
// liveOrShuttingDownBrokerIds): such brokers still get requests and appear in UpdateMetadata.
func (cc *controllerContext) isRegistered(id int32) bool {
	_, ok := cc.brokers[id]
	return ok
}

func (cc *controllerContext) isShuttingDown(id int32) bool { return cc.shuttingDown[id] }

// registeredIDs lists the registered brokers (live or shutting down), sorted: the recipients of
// UpdateMetadata and its LiveBrokers.
func (cc *controllerContext) registeredIDs() []int32 {
	ids := make([]int32, 0, len(cc.brokers))
	for id := range cc.brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// assignment returns a partition's replicas (nil when unknown).
func (cc *controllerContext) assignment(tp TopicPartition) []int32 {
	t := cc.topics[tp.Topic]
	if t == nil {
		return nil
	}
	return t.partitions[tp.Partition]
}

func (cc *controllerContext) isDeleting(topic string) bool {
	_, ok := cc.deletions[topic]
	return ok
}

// allPartitions returns every known partition, sorted.
func (cc *controllerContext) allPartitions() []TopicPartition {
	var out []TopicPartition
	for name, t := range cc.topics {
		for p := range t.partitions {
			out = append(out, TopicPartition{Topic: name, Partition: p})
		}
	}
	sortTPs(out)
	return out
}

// partitionsOf returns a topic's partitions, sorted.
func (cc *controllerContext) partitionsOf(topic string) []TopicPartition {
	t := cc.topics[topic]
	if t == nil {
		return nil
	}
	out := make([]TopicPartition, 0, len(t.partitions))
	for p := range t.partitions {
		out = append(out, TopicPartition{Topic: topic, Partition: p})
	}
	sortTPs(out)
	return out
}

// partitionsOnBroker returns the partitions with a replica on broker, sorted.
func (cc *controllerContext) partitionsOnBroker(broker int32) []TopicPartition {
	var out []TopicPartition
	for name, t := range cc.topics {
		for p, rs := range t.partitions {
			if slices.Contains(rs, broker) {
				out = append(out, TopicPartition{Topic: name, Partition: p})
			}
		}
	}
	sortTPs(out)
	return out
}

// removeTopic forgets a topic (deleted, or its znode vanished).
func (cc *controllerContext) removeTopic(topic string) {
	for _, tp := range cc.partitionsOf(topic) {
		delete(cc.leadership, tp)
		delete(cc.states, tp)
		delete(cc.reassigning, tp)
	}
	delete(cc.topics, topic)
	delete(cc.deletions, topic)
}

func sortTPs(tps []TopicPartition) { slices.SortFunc(tps, cmpTP) }

func cmpTP(a, b TopicPartition) int {
	switch {
	case a.Topic < b.Topic:
		return -1
	case a.Topic > b.Topic:
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// partitionsLedBy returns the partitions broker leads that have more than one replica and are not being
// deleted (Kafka's partitionLeadersOnBroker: what a controlled shutdown still has to move), sorted.
func (cc *controllerContext) partitionsLedBy(broker int32) []TopicPartition {
	var out []TopicPartition
	for tp, st := range cc.leadership {
		if st.Leader == broker && len(cc.assignment(tp)) > 1 && !cc.isDeleting(tp.Topic) {
			out = append(out, tp)
		}
	}
	sortTPs(out)
	return out
}
