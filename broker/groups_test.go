package broker

import (
	"context"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/group"
	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/storage"
)

// groupBroker is a dataBroker with a metadata cache (broker 1 live on PLAINTEXT 127.0.0.1:9092; topic "t"
// with 2 partitions and __consumer_offsets with 3, all led here) and a started group coordinator whose
// offsets partitions go through the real replica manager.
func newGroupBroker(t *testing.T) *dataBroker {
	t.Helper()
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0}, storage.TopicPartition{Topic: "t", Partition: 1})
	db.cfg.GroupInitialRebalanceDelayMs = 0
	db.meta = metadata.NewCache(1)
	db.updateMetadata(1, "t", 2)
	db.updateMetadata(1, group.TopicName, 3)
	l := logrus.New()
	l.SetOutput(io.Discard)
	db.groups = group.New(db.groupConfig(3), offsetsPartitions{db.Broker}, nil, logrus.NewEntry(l))
	db.groups.Start(context.Background())
	t.Cleanup(db.groups.Stop) // runs before the replica manager stops (cleanups run last-in first-out)
	for p := int32(0); p < 3; p++ {
		db.offsetsLeaderAndIsr(p, 1, 1)
	}
	return db
}

func (db *dataBroker) updateMetadata(leader int32, topic string, partitions int32) {
	db.t.Helper()
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version, req.ControllerID, req.ControllerEpoch = 7, 1, 1
	lb := kmsg.NewUpdateMetadataRequestLiveBroker()
	lb.ID = 1
	lb.Endpoints = []kmsg.UpdateMetadataRequestLiveBrokerEndpoint{{Port: 9092, Host: "127.0.0.1", ListenerName: "PLAINTEXT"}}
	req.LiveBrokers = append(req.LiveBrokers, lb)
	ts := kmsg.UpdateMetadataRequestTopicState{Topic: topic}
	for p := int32(0); p < partitions; p++ {
		ts.PartitionStates = append(ts.PartitionStates, kmsg.UpdateMetadataRequestTopicPartition{Partition: p, Leader: leader,
			LeaderEpoch: 1, ISR: []int32{leader}, Replicas: []int32{leader}})
	}
	req.TopicStates = []kmsg.UpdateMetadataRequestTopicState{ts}
	if _, err := db.meta.Update(req); err != nil {
		db.t.Fatal(err)
	}
}

// offsetsLeaderAndIsr applies a LeaderAndIsr for one offsets partition and runs the coordinator hook, as
// handleLeaderAndIsr does.
func (db *dataBroker) offsetsLeaderAndIsr(p, leader, epoch int32) {
	db.t.Helper()
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerEpoch = 5, 1
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = group.TopicName
	ps := kmsg.NewLeaderAndISRRequestTopicPartition()
	ps.Partition, ps.Leader, ps.LeaderEpoch, ps.ISR, ps.Replicas = p, leader, epoch, []int32{leader}, []int32{1, 2}
	ts.PartitionStates = []kmsg.LeaderAndISRRequestTopicPartition{ps}
	req.TopicStates = []kmsg.LeaderAndISRRequestTopicState{ts}
	db.replicas.BecomeLeaderOrFollower(req, func(string) storage.Config { return storage.DefaultConfig() })
	db.groupsOnLeaderAndIsr(req)
}

func (db *dataBroker) serve(h handlerFunc, msg kmsg.Request) kmsg.Response {
	db.t.Helper()
	a, b := net.Pipe()
	db.t.Cleanup(func() { a.Close(); b.Close() })
	resp, err := h(db.Broker, context.Background(), &Request{Msg: msg, Conn: &Conn{nc: a, listener: "PLAINTEXT"}})
	if err != nil {
		db.t.Fatal(err)
	}
	return resp.Msg
}

func TestFindCoordinator(t *testing.T) {
	db := newGroupBroker(t)
	find := func(key string, typ int8) *kmsg.FindCoordinatorResponse {
		r := kmsg.NewPtrFindCoordinatorRequest()
		r.Version, r.CoordinatorKey, r.CoordinatorType = 3, key, typ
		return db.serve(handleFindCoordinator, r).(*kmsg.FindCoordinatorResponse)
	}
	if r := find("g", 0); r.ErrorCode != 0 || r.NodeID != 1 || r.Host != "127.0.0.1" || r.Port != 9092 {
		t.Fatalf("group coordinator: %+v", r)
	}
	for name, c := range map[string]struct {
		typ  int8
		want *kerr.Error
	}{
		"unknown key type": {7, kerr.InvalidRequest}, // key type 1: transactions_test.go
	} {
		r := find("g", c.typ)
		if r.ErrorCode != c.want.Code || r.NodeID != -1 || r.Port != -1 || r.ErrorMessage == nil {
			t.Errorf("%s: %+v", name, r)
		}
	}
	db.updateMetadata(2, group.TopicName, 3) // broker 2 leads them but is not alive
	if r := find("g", 0); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("dead coordinator: %+v", r)
	}
}

func offsetCommitRequest(version int16, groupID string, offsets map[string]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group = version, groupID
	for topic, off := range offsets {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, off, 3
		rt.Partitions = append(rt.Partitions, rp)
		r.Topics = append(r.Topics, rt)
	}
	return r
}

func offsetFetchRequest(version int16, groupID string, topic string) *kmsg.OffsetFetchRequest {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.Group = version, groupID
	if topic != "" {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// Commits go through the replica manager into __consumer_offsets and survive the partition's leadership
// moving away (unloaded: NOT_COORDINATOR) and back (loaded from the log).
func TestOffsetCommitAndFetchThroughTheReplicaManager(t *testing.T) {
	db := newGroupBroker(t)
	resp := db.serve(handleOffsetCommit, offsetCommitRequest(8, "g", map[string]int64{"t": 5, "unknown": 1})).(*kmsg.OffsetCommitResponse)
	codes := map[string]int16{}
	for _, rt := range resp.Topics {
		codes[rt.Topic] = rt.Partitions[0].ErrorCode
	}
	if codes["t"] != 0 || codes["unknown"] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit codes %v", codes)
	}
	fetch := func(version int16, topic string) *kmsg.OffsetFetchResponse {
		return db.serve(handleOffsetFetch, offsetFetchRequest(version, "g", topic)).(*kmsg.OffsetFetchResponse)
	}
	if f := fetch(7, ""); len(f.Topics) != 1 || f.Topics[0].Topic != "t" || f.Topics[0].Partitions[0].Offset != 5 ||
		f.Topics[0].Partitions[0].LeaderEpoch != 3 {
		t.Fatalf("fetch all: %+v", f.Topics)
	}
	p := db.groups.PartitionFor("g")
	part, _ := db.replicas.Partition(storage.TopicPartition{Topic: group.TopicName, Partition: p})
	l := part.Log()
	if l.LogEndOffset() != 1 {
		t.Fatalf("offsets partition LEO %d, want one commit record", l.LogEndOffset())
	}

	db.offsetsLeaderAndIsr(p, 2, 2) // another broker leads the group's partition now
	if f := fetch(7, "t"); f.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("fetch from a former coordinator: %+v", f)
	}
	if f := fetch(1, "t"); f.Topics[0].Partitions[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("v1 fetch from a former coordinator: %+v", f)
	}
	db.offsetsLeaderAndIsr(p, 1, 3) // and back: loaded from the log before answering
	eventuallyGroups(t, func() bool { return fetch(7, "t").ErrorCode == 0 })
	if f := fetch(7, "t"); f.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("after reloading: %+v", f.Topics)
	}
}

func eventuallyGroups(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
}

func TestJoinAndDescribeGroupThroughHandlers(t *testing.T) {
	db := newGroupBroker(t)
	j := kmsg.NewPtrJoinGroupRequest()
	j.Version, j.Group, j.ProtocolType, j.SessionTimeoutMillis, j.RebalanceTimeoutMillis = 3, "g", "consumer", 10000, 10000
	j.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 1}}}
	jr := db.serve(handleJoinGroup, j).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.Generation != 1 || jr.LeaderID != jr.MemberID {
		t.Fatalf("join: %+v", jr)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.Generation, s.MemberID = 3, "g", 1, jr.MemberID
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("x")}}
	if sr := db.serve(handleSyncGroup, s).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "x" {
		t.Fatalf("sync: %+v", sr)
	}
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version, d.Groups = 5, []string{"g", "other"}
	dr := db.serve(handleDescribeGroups, d).(*kmsg.DescribeGroupsResponse)
	g := dr.Groups[0]
	if g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 || g.Members[0].ClientHost != "/pipe" ||
		string(g.Members[0].MemberAssignment) != "x" || g.AuthorizedOperations != math.MinInt32 {
		t.Fatalf("describe: %+v", g)
	}
	if dr.Groups[1].State != "Dead" || dr.Groups[1].ErrorCode != 0 {
		t.Fatalf("unknown group: %+v", dr.Groups[1])
	}
	lr := db.serve(handleListGroups, kmsg.NewPtrListGroupsRequest()).(*kmsg.ListGroupsResponse)
	if len(lr.Groups) != 1 || lr.Groups[0].Group != "g" || lr.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("list: %+v", lr)
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g"}
	if r := db.serve(handleDeleteGroups, dg).(*kmsg.DeleteGroupsResponse); r.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete a Stable group: %+v", r.Groups)
	}
}
