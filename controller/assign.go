package controller

// Replica assignment for new topics and new partitions: Kafka 2.8's AdminUtils.assignReplicasToBrokers
// (reference 02 §13.2). The broker handling CreateTopics/CreatePartitions calls it and writes the result to
// /brokers/topics/<t>; the controller then acts on the znode.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
)

// BrokerRack is a live broker and its rack ("" when it has none).
type BrokerRack struct {
	ID   int32
	Rack string
}

// Assignment errors, mapped by the broker to INVALID_PARTITIONS / INVALID_REPLICATION_FACTOR / INVALID_REQUEST.
var (
	ErrInvalidPartitions        = errors.New("controller: number of partitions must be larger than 0")
	ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")
	ErrInconsistentRacks        = errors.New("controller: not all brokers have rack information")
)

// AssignOptions are Kafka's fixedStartIndex and startPartitionId; -1 for a new topic (random start).
type AssignOptions struct {
	FixedStartIndex  int
	StartPartitionID int32
	Rand             *rand.Rand // nil: a fresh random source
}

// NewTopicAssignOptions is what a new topic uses: random start index and shift.
func NewTopicAssignOptions() AssignOptions {
	return AssignOptions{FixedStartIndex: -1, StartPartitionID: -1}
}

// AssignReplicas spreads nPartitions partitions with rf replicas each over brokers. Partition p's first
// replica is its preferred leader. Racks: all brokers without one → rack-unaware; all with one →
// rack-aware (no two replicas of a partition on one rack while racks remain); a mix is an error, as in
// Kafka (the admin's --disable-rack-aware override does not exist here).
func AssignReplicas(brokers []BrokerRack, nPartitions int32, rf int16, opt AssignOptions) (map[int32][]int32, error) {
	if nPartitions <= 0 {
		return nil, ErrInvalidPartitions
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: %d, must be larger than 0", ErrInvalidReplicationFactor, rf)
	}
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("%w: %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	sorted := append([]BrokerRack(nil), brokers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	withRack := 0
	for _, b := range sorted {
		if b.Rack != "" {
			withRack++
		}
	}
	r := opt.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	switch withRack {
	case 0:
		ids := make([]int32, len(sorted))
		for i, b := range sorted {
			ids[i] = b.ID
		}
		return assignRackUnaware(ids, nPartitions, int(rf), opt, r), nil
	case len(sorted):
		return assignRackAware(sorted, nPartitions, int(rf), opt, r), nil
	default:
		return nil, ErrInconsistentRacks
	}
}

// starts draws Kafka's startIndex and nextReplicaShift: independent random draws unless fixed.
func starts(n int, opt AssignOptions, r *rand.Rand) (startIndex, shift int, p int32) {
	if opt.FixedStartIndex >= 0 {
		startIndex, shift = opt.FixedStartIndex, opt.FixedStartIndex
	} else {
		startIndex, shift = r.IntN(n), r.IntN(n)
	}
	return startIndex, shift, max(0, opt.StartPartitionID)
}

// replicaIndex is Kafka's: the position of replica j (j ≥ 0 counts the followers) for a partition whose
// first replica sits at first; the shift keeps followers off the leader's position.
func replicaIndex(first, nextShift, j, n int) int {
	shift := 1 + (nextShift+j)%(n-1)
	return (first + shift) % n
}

func assignRackUnaware(ids []int32, nPartitions int32, rf int, opt AssignOptions, r *rand.Rand) map[int32][]int32 {
	n := len(ids)
	out := make(map[int32][]int32, nPartitions)
	startIndex, nextShift, p := starts(n, opt, r)
	for i := int32(0); i < nPartitions; i++ {
		if p > 0 && int(p)%n == 0 {
			nextShift++
		}
		first := (int(p) + startIndex) % n
		replicas := []int32{ids[first]}
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, ids[replicaIndex(first, nextShift, j, n)])
		}
		out[p] = replicas
		p++
	}
	return out
}

// rackAlternated is Kafka's getRackAlternatedBrokerList: racks sorted by name, each rack's brokers by id,
// then one broker from each rack in turn.
func rackAlternated(brokers []BrokerRack) []BrokerRack {
	byRack := map[string][]BrokerRack{}
	var racks []string
	for _, b := range brokers { // brokers are sorted by id
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	sort.Strings(racks)
	out := make([]BrokerRack, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, rack := range racks {
			if bs := byRack[rack]; i < len(bs) {
				out = append(out, bs[i])
			}
		}
	}
	return out
}

func assignRackAware(brokers []BrokerRack, nPartitions int32, rf int, opt AssignOptions, r *rand.Rand) map[int32][]int32 {
	list := rackAlternated(brokers)
	n := len(list)
	numRacks := 0
	seen := map[string]bool{}
	for _, b := range list {
		if !seen[b.Rack] {
			seen[b.Rack] = true
			numRacks++
		}
	}
	out := make(map[int32][]int32, nPartitions)
	startIndex, nextShift, p := starts(n, opt, r)
	for i := int32(0); i < nPartitions; i++ {
		if p > 0 && int(p)%n == 0 {
			nextShift++
		}
		first := (int(p) + startIndex) % n
		leader := list[first]
		replicas := []int32{leader.ID}
		racksUsed := map[string]bool{leader.Rack: true}
		brokersUsed := map[int32]bool{leader.ID: true}
		k := 0
		for len(replicas) < rf {
			for {
				b := list[(first+1+(nextShift*numRacks+k)%(n-1))%n]
				k++
				if (!racksUsed[b.Rack] || len(racksUsed) == numRacks) && (!brokersUsed[b.ID] || len(brokersUsed) == n) {
					replicas = append(replicas, b.ID)
					racksUsed[b.Rack] = true
					brokersUsed[b.ID] = true
					break
				}
			}
		}
		out[p] = replicas
		p++
	}
	return out
}

// AddPartitionsStartIndex is Kafka's fixedStartIndex for new partitions of an existing topic: the index in
// the sorted live broker list of the first broker with id ≥ the preferred leader of partition 0 (0 if none).
func AddPartitionsStartIndex(brokers []BrokerRack, partition0Leader int32) int {
	ids := make([]int32, len(brokers))
	for i, b := range brokers {
		ids[i] = b.ID
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for i, id := range ids {
		if id >= partition0Leader {
			return i
		}
	}
	return 0
}
