package main

// reassign-partitions --generate: propose a new assignment of whole topics over a set of brokers, as
// ReassignPartitionsCommand.generateAssignment does. Each topic keeps its partition count and replication
// factor (that of its partition 0) and is laid out by AdminUtils' rack-unaware round robin with a random
// start, so two runs may propose different (equally balanced) layouts, as in Kafka. Samsa brokers have no
// broker.rack, so the rack-aware variant is not needed. Nothing is changed: the proposal is to be saved and
// passed to --execute.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/IBM/sarama"
)

// parseTopicsToMoveJSON reads {"topics":[{"topic":"foo"}],"version":1}: each topic once.
func parseTopicsToMoveJSON(data []byte) ([]string, error) {
	var doc struct {
		Version *int `json:"version"`
		Topics  []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("topics to move json file: %w", err)
	}
	if doc.Version != nil && *doc.Version != 1 {
		return nil, fmt.Errorf("not supported version field value %d", *doc.Version)
	}
	var topics, dups []string
	for _, t := range doc.Topics {
		if t.Topic == "" {
			return nil, errors.New("topics to move json file: every entry needs a \"topic\"")
		}
		if contains(topics, t.Topic) {
			dups = append(dups, t.Topic)
		}
		topics = append(topics, t.Topic)
	}
	if len(topics) == 0 {
		return nil, errors.New(`topics to move json file lists no topics (want {"topics":[{"topic":"foo"}],"version":1})`)
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("list of topics to reassign contains duplicate entries: %s", strings.Join(dups, ","))
	}
	return topics, nil
}

// assignRoundRobin is AdminUtils.assignReplicasToBrokersRackUnaware: partition p's first replica is broker
// (p+start) mod n, the others follow at a shift that grows by one every n partitions, so leaders and
// followers spread evenly.
func assignRoundRobin(partitions, replicationFactor int, brokers []int32, start, shift int) ([][]int32, error) {
	n := len(brokers)
	if replicationFactor > n {
		return nil, fmt.Errorf("replication factor: %d larger than available brokers: %d", replicationFactor, n)
	}
	out := make([][]int32, partitions)
	for p := 0; p < partitions; p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{brokers[first]}
		for j := 0; j < replicationFactor-1; j++ {
			replicas = append(replicas, brokers[(first+1+(shift+j)%(n-1))%n])
		}
		out[p] = replicas
	}
	return out, nil
}

func (r reassigner) generate(topicsFile string, brokers []int32) error {
	data, err := os.ReadFile(topicsFile)
	if err != nil {
		return err
	}
	topics, err := parseTopicsToMoveJSON(data)
	if err != nil {
		return err
	}
	live := brokerIDs(r.client.Brokers())
	for _, id := range brokers {
		if !contains32(live, id) {
			return fmt.Errorf("unknown broker id %d", id)
		}
	}
	md, err := r.admin.DescribeTopics(topics)
	if err != nil {
		return err
	}
	current := map[topicPartition][]int32{}
	proposed := map[topicPartition][]int32{}
	sorted := append([]int32(nil), brokers...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, t := range md {
		if t.Err != sarama.ErrNoError {
			return fmt.Errorf("topic %s: %w", t.Name, t.Err)
		}
		rf := 0
		for _, p := range t.Partitions {
			current[topicPartition{t.Name, p.ID}] = p.Replicas
			if p.ID == 0 {
				rf = len(p.Replicas)
			}
		}
		layout, err := assignRoundRobin(len(t.Partitions), rf, sorted, rand.IntN(len(sorted)), rand.IntN(len(sorted)))
		if err != nil {
			return err
		}
		for p, replicas := range layout {
			proposed[topicPartition{t.Name, int32(p)}] = replicas
		}
	}
	fmt.Fprintf(r.out, "Current partition replica assignment\n%s\n\n", formatReassignmentJSON(current))
	fmt.Fprintf(r.out, "Proposed partition reassignment configuration\n%s\n", formatReassignmentJSON(proposed))
	return nil
}
