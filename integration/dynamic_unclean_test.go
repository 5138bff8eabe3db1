//go:build integration

package integration

import (
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// A partition offline because every ISR member is down comes back at once, with the out-of-sync replica
// as leader, when unclean.leader.election.enable is turned on dynamically: as the cluster-wide broker
// default (IncrementalAlterConfigs on brokers/<default>) for one topic, and as a topic override
// (AlterConfigs) for the other (Kafka's UncleanLeaderElectionEnable / TopicUncleanLeaderElectionEnable
// controller events). Without the change the controller would wait for the ISR member to return.
//
// Two topics with replicas {A, B}, neither the controller: B stops (the ISR shrinks to {A}), A stops (both
// partitions offline, ISR [A]), B starts again (still offline: unclean is off).
func TestDynamicUncleanLeaderElectionElectsOfflinePartitions(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	z := c.ZK()
	ctrl := controllerOf(t, z)
	var pair []int32
	for _, id := range []int32{1, 2, 3} {
		if id != ctrl {
			pair = append(pair, id)
		}
	}
	a, b := pair[0], pair[1]
	byDefault, byTopic := "dyn-unclean-default", "dyn-unclean-topic"
	for _, topic := range []string{byDefault, byTopic} {
		c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
			ReplicaAssignment: map[int32][]int32{0: {a, b}}})
		waitFullISR(t, z, topic, 1, pair, 30*time.Second)
	}

	c.Stop(b)
	for _, topic := range []string{byDefault, byTopic} {
		waitStates(t, z, topic, 1, 30*time.Second, topic+": ISR {A}",
			func(_ int32, s partitionState) bool { return s.Leader == a && slices.Equal(s.ISR, []int32{a}) })
	}
	c.Stop(a)
	for _, topic := range []string{byDefault, byTopic} {
		waitStates(t, z, topic, 1, 30*time.Second, topic+": offline",
			func(_ int32, s partitionState) bool { return s.Leader == -1 })
	}
	c.Start(b)
	waitMetadata(t, c, []int32{ctrl, b}, byDefault, 0, 15*time.Second, "B registered, partition still offline",
		func(pm *sarama.PartitionMetadata) bool { return pm.Leader == -1 })
	for _, topic := range []string{byDefault, byTopic} {
		if s, err := z.PartitionState(topic, 0); err != nil || s.Leader != -1 {
			t.Fatalf("%s: %s (err %v): elected with unclean election off", topic, s, err)
		}
	}

	admin := c.Admin()
	on := "true"
	// The topic override first: only that topic may elect B.
	start := time.Now()
	if err := admin.AlterConfig(sarama.TopicResource, byTopic, map[string]*string{"unclean.leader.election.enable": &on}, false); err != nil {
		t.Fatal(err)
	}
	waitStates(t, z, byTopic, 1, 15*time.Second, byTopic+": unclean leader B",
		func(_ int32, s partitionState) bool { return s.Leader == b && slices.Equal(s.ISR, []int32{b}) })
	t.Logf("topic override: %s led by %d %.2fs after AlterConfigs", byTopic, b, time.Since(start).Seconds())
	if s, err := z.PartitionState(byDefault, 0); err != nil || s.Leader != -1 {
		t.Fatalf("%s: %s (err %v): elected by another topic's override", byDefault, s, err)
	}

	// Then the cluster-wide default.
	start = time.Now()
	err := admin.IncrementalAlterConfig(sarama.BrokerResource, "", map[string]sarama.IncrementalAlterConfigsEntry{
		"unclean.leader.election.enable": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &on},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	waitStates(t, z, byDefault, 1, 15*time.Second, byDefault+": unclean leader B",
		func(_ int32, s partitionState) bool { return s.Leader == b && slices.Equal(s.ISR, []int32{b}) })
	t.Logf("broker default: %s led by %d %.2fs after IncrementalAlterConfigs", byDefault, b, time.Since(start).Seconds())

	// A returns as a follower of B and both partitions are fully replicated again.
	c.Start(a)
	for _, topic := range []string{byDefault, byTopic} {
		waitFullISR(t, z, topic, 1, pair, 60*time.Second)
	}
}
