package zkregistry

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCreateTopicWritesConfigThenAssignment(t *testing.T) {
	c := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	a := TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}, 1: {2, 1}}}
	id, err := c.CreateTopic("orders", a, map[string]string{"cleanup.policy": "compact"})
	if err != nil || id.IsZero() {
		t.Fatalf("id %v err %v", id, err)
	}
	data, _, err := c.Get(TopicPath("orders"))
	want := `{"version":3,"partitions":{"0":[1,2],"1":[2,1]},"adding_replicas":{},"removing_replicas":{},"topic_id":"` +
		id.String() + `"}`
	if err != nil || string(data) != want {
		t.Fatalf("topic znode %s (%v)\nwant %s", data, err, want)
	}
	got, err := c.GetTopicAssignment("orders")
	if err != nil || got.TopicID != id || !slices.Equal(got.Partitions[1], []int32{2, 1}) {
		t.Fatalf("%+v %v", got, err)
	}
	cfg, err := c.GetTopicConfig("orders")
	if err != nil || cfg["cleanup.policy"] != "compact" || len(cfg) != 1 {
		t.Fatalf("config %v %v", cfg, err)
	}
	// Kafka writes the config znode even without overrides.
	if _, err := c.CreateTopic("plain", TopicAssignment{Partitions: map[int32][]int32{0: {1}}}, nil); err != nil {
		t.Fatal(err)
	}
	if data, _, err := c.Get(TopicConfigPath("plain")); err != nil || string(data) != `{"version":1,"config":{}}` {
		t.Fatalf("config of plain: %s %v", data, err)
	}
	topics, err := c.GetTopics()
	if err != nil || !slices.Equal(topics, []string{"orders", "plain"}) {
		t.Fatalf("topics %v %v", topics, err)
	}
	all, err := c.GetTopicAssignments([]string{"orders", "plain", "missing"})
	if err != nil || len(all) != 2 {
		t.Fatalf("assignments %v %v", all, err)
	}
}

func TestCreateTopicRejections(t *testing.T) {
	c := newClient(t)
	one := TopicAssignment{Partitions: map[int32][]int32{0: {1}}}
	if _, err := c.CreateTopic("a.b", one, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, topic string
		a           TopicAssignment
		want        error
	}{
		{"exists", "a.b", one, ErrTopicExists},
		{"collides on . vs _", "a_b", one, ErrTopicCollision},
		{"bad assignment", "c", TopicAssignment{Partitions: map[int32][]int32{0: {1}, 2: {1}}}, ErrInvalidReplicaAssignment},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.CreateTopic(tc.topic, tc.a, nil); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("marked for deletion counts as existing", func(t *testing.T) {
		if err := c.MarkTopicForDeletion("a.b"); err != nil {
			t.Fatal(err)
		}
		_, err := c.CreateTopic("a.b", one, nil)
		if !errors.Is(err, ErrTopicExists) || !strings.Contains(err.Error(), "marked for deletion") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTopicDeletionMarkersAndCompletion(t *testing.T) {
	c := newClient(t)
	if err := c.MarkTopicForDeletion("nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, err := c.CreateTopic("t", TopicAssignment{Partitions: map[int32][]int32{0: {1}}}, nil); err != nil {
		t.Fatal(err)
	}
	_, version, err := c.TryElectController(1)
	if err != nil {
		t.Fatal(err)
	}
	tp := TopicPartition{"t", 0}
	if _, err := c.CreatePartitionStates(version, map[TopicPartition]PartitionState{tp: {Leader: 1, ISR: []int32{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkTopicForDeletion("t"); err != nil {
		t.Fatal(err)
	}
	if err := c.MarkTopicForDeletion("t"); !errors.Is(err, ErrTopicMarkedForDeletion) {
		t.Fatalf("second mark: %v", err)
	}
	if d, err := c.GetTopicDeletions(); err != nil || !slices.Equal(d, []string{"t"}) {
		t.Fatalf("deletions %v %v", d, err)
	}
	if data, _, err := c.Get(DeleteTopicPath("t")); err != nil || len(data) != 0 {
		t.Fatalf("marker data %q %v", data, err)
	}
	if err := c.DeleteTopicZNodes(version+1, "t"); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("stale deletion: %v", err)
	}
	if err := c.DeleteTopicZNodes(version, "t"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{TopicPath("t"), TopicConfigPath("t"), DeleteTopicPath("t")} {
		if st, err := c.Exists(p); err != nil || st != nil {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
}

// TestPartitionStateZkVersionRules: creation has zkVersion 0; updates are
// conditional on the cached zkVersion (BADVERSION otherwise) and fenced by
// the controller epoch.
func TestPartitionStateZkVersionRules(t *testing.T) {
	c := newClient(t)
	if _, err := c.CreateTopic("t", TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}, 1: {2, 1}}}, nil); err != nil {
		t.Fatal(err)
	}
	_, version, err := c.TryElectController(1)
	if err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	states := map[TopicPartition]PartitionState{
		tp0: {Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, ControllerEpoch: 1},
		tp1: {Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, ControllerEpoch: 1},
	}
	errs, err := c.CreatePartitionStates(version, states)
	if err != nil || errs[tp0] != nil || errs[tp1] != nil {
		t.Fatalf("create: %v %v", errs, err)
	}
	if errs, _ := c.CreatePartitionStates(version, states); !errors.Is(errs[tp0], ErrNodeExists) {
		t.Fatalf("second create: %v", errs)
	}
	data, _, _ := c.Get(PartitionStatePath("t", 0))
	if string(data) != `{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}` {
		t.Fatalf("state znode %s", data)
	}
	got, err := c.GetPartitionStates([]TopicPartition{tp0, tp1, {"t", 9}})
	if err != nil || len(got) != 2 || got[tp0].ZKVersion != 0 || got[tp1].Leader != 2 {
		t.Fatalf("read: %+v %v", got, err)
	}

	next := got[tp0]
	next.ISR, next.LeaderEpoch = []int32{1}, 1
	updated, failed, err := c.UpdatePartitionStates(version, map[TopicPartition]PartitionState{tp0: next})
	if err != nil || len(failed) != 0 || updated[tp0].ZKVersion != 1 {
		t.Fatalf("update: %+v %v %v", updated, failed, err)
	}
	// Writing again from the stale zkVersion 0 loses.
	if _, err := c.UpdatePartitionState(version, tp0, next); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale zkVersion: %v", err)
	}
	// A leader's own ISR change (unfenced) with the right version works.
	next.ZKVersion = 1
	if v, err := c.UpdatePartitionState(NoFencing, tp0, next); err != nil || v != 2 {
		t.Fatalf("unfenced: %d %v", v, err)
	}
	// A stale controller is fenced for every partition.
	_, failed, err = c.UpdatePartitionStates(version+5, map[TopicPartition]PartitionState{tp1: got[tp1]})
	if !errors.Is(err, ErrControllerMoved) || !errors.Is(failed[tp1], ErrControllerMoved) {
		t.Fatalf("fenced: %v %v", failed, err)
	}
	if ps, err := c.GetPartitions("t"); err != nil || len(ps) != 2 {
		t.Fatalf("partitions %v %v", ps, err)
	}
}

func TestSetTopicAssignmentForNewPartitions(t *testing.T) {
	c := newClient(t)
	a := TopicAssignment{Partitions: map[int32][]int32{0: {1}}}
	id, err := c.CreateTopic("t", a, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.TopicID = id
	a.Partitions[1] = []int32{2}
	if err := c.SetTopicAssignment(NoFencing, "t", a); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetTopicAssignment("t")
	if err != nil || len(got.Partitions) != 2 || got.TopicID != id {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestChangeEntityConfigWritesNotification(t *testing.T) {
	c := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeEntityConfig(ConfigBrokers, DefaultEntity, map[string]string{"log.retention.ms": "1"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.GetEntityConfig(ConfigBrokers, DefaultEntity)
	if err != nil || cfg["log.retention.ms"] != "1" {
		t.Fatalf("%v %v", cfg, err)
	}
	kids, err := c.Children(ConfigChangesPath)
	if err != nil || len(kids) != 1 || !strings.HasPrefix(kids[0], "config_change_") {
		t.Fatalf("notifications %v %v", kids, err)
	}
	if _, err := ParseSequence(kids[0]); err != nil {
		t.Fatal(err)
	}
	data, _, _ := c.Get(ConfigChangesPath + "/" + kids[0])
	if string(data) != `{"version":2,"entity_path":"brokers/<default>"}` {
		t.Fatalf("notification %s", data)
	}
	if cfg, err := c.GetTopicConfig("none"); err != nil || len(cfg) != 0 {
		t.Fatalf("missing topic config: %v %v", cfg, err)
	}
}

func TestProducerIDBlocksAreConsecutive(t *testing.T) {
	c := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	first, err := c.AllocateProducerIDBlock(1)
	if err != nil || first != (ProducerIDBlock{BrokerID: 1, Start: 0, End: 999}) {
		t.Fatalf("%+v %v", first, err)
	}
	second, err := c.AllocateProducerIDBlock(2)
	if err != nil || second != (ProducerIDBlock{BrokerID: 2, Start: 1000, End: 1999}) {
		t.Fatalf("%+v %v", second, err)
	}
	data, _, _ := c.Get(ProducerIDBlockPath)
	if string(data) != `{"version":1,"broker":2,"block_start":"1000","block_end":"1999"}` {
		t.Fatalf("znode %s", data)
	}
}
