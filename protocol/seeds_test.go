package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka28Ranges are the request versions a Kafka 2.8 ZooKeeper-mode broker serves (08 §5), the pairs the
// decode fuzz target and the allocation test cover.
var kafka28Ranges = []APIRange{
	{0, 0, 9}, {1, 0, 12}, {2, 0, 6}, {3, 0, 11}, {4, 0, 5}, {5, 0, 3}, {6, 0, 7}, {7, 0, 3}, {8, 0, 8},
	{9, 0, 7}, {10, 0, 3}, {11, 0, 7}, {12, 0, 4}, {13, 0, 4}, {14, 0, 5}, {15, 0, 5}, {16, 0, 4}, {17, 0, 1},
	{18, 0, 3}, {19, 0, 7}, {20, 0, 6}, {21, 0, 2}, {22, 0, 4}, {23, 0, 4}, {24, 0, 3}, {25, 0, 3}, {26, 0, 3},
	{27, 0, 1}, {28, 0, 3}, {29, 0, 2}, {30, 0, 2}, {31, 0, 2}, {32, 0, 4}, {33, 0, 2}, {34, 0, 2}, {35, 0, 2},
	{36, 0, 2}, {37, 0, 3}, {38, 0, 2}, {39, 0, 2}, {40, 0, 2}, {41, 0, 2}, {42, 0, 2}, {43, 0, 2}, {44, 0, 1},
	{45, 0, 0}, {46, 0, 0}, {47, 0, 0}, {48, 0, 1}, {49, 0, 1}, {50, 0, 0}, {51, 0, 0}, {56, 0, 0}, {57, 0, 0},
	{60, 0, 0}, {61, 0, 0},
}

// issue3Keys are the APIs the broker of issue 3 serves; the allocation test sweeps all their 2.8 versions.
var issue3Keys = []int16{0, 1, 2, 3, 4, 5, 6, 18, 19, 20, 37}

var supported28 = SupportedFunc(kafka28Ranges)

// recordsOf returns n bytes standing in for a record batch: kmsg treats records as opaque bytes.
func recordsOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func produceRequest(version int16, payload int) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Version = version
	r.Acks = -1
	r.TimeoutMillis = 10000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "orders"
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition = 0
	p.Records = recordsOf(payload)
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func fetchRequest(version int16) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version = version
	r.ReplicaID = -1
	r.MaxWaitMillis = 500
	r.MinBytes = 1
	r.MaxBytes = 100 << 20
	r.SessionEpoch = -1
	r.Rack = "rack-a"
	t := kmsg.NewFetchRequestTopic()
	t.Topic = "orders"
	for i := int32(0); i < 3; i++ {
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = i
		p.FetchOffset = 42 + int64(i)
		p.CurrentLeaderEpoch = 3
		p.PartitionMaxBytes = 1 << 20
		t.Partitions = append(t.Partitions, p)
	}
	r.Topics = append(r.Topics, t)
	return r
}

func metadataRequest(version int16) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = version
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr("orders")
	r.Topics = append(r.Topics, t)
	r.AllowAutoTopicCreation = true
	return r
}

func apiVersionsRequest(version int16) *kmsg.ApiVersionsRequest {
	r := kmsg.NewPtrApiVersionsRequest()
	r.Version = version
	r.ClientSoftwareName = "sarama"
	r.ClientSoftwareVersion = "1.61.1"
	return r
}

func listOffsetsRequest(version int16) *kmsg.ListOffsetsRequest {
	r := kmsg.NewPtrListOffsetsRequest()
	r.Version = version
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = "orders"
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp = -2
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func createTopicsRequest(version int16) *kmsg.CreateTopicsRequest {
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version = version
	r.TimeoutMillis = 30000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = "orders"
	t.NumPartitions = 8
	t.ReplicationFactor = 3
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "retention.ms", kmsg.StringPtr("86400000")
	t.Configs = append(t.Configs, c)
	r.Topics = append(r.Topics, t)
	return r
}

func deleteTopicsRequest(version int16) *kmsg.DeleteTopicsRequest {
	r := kmsg.NewPtrDeleteTopicsRequest()
	r.Version = version
	r.TimeoutMillis = 30000
	r.TopicNames = []string{"orders"}
	t := kmsg.NewDeleteTopicsRequestTopic()
	t.Topic = kmsg.StringPtr("orders")
	r.Topics = append(r.Topics, t)
	return r
}

func createPartitionsRequest(version int16) *kmsg.CreatePartitionsRequest {
	r := kmsg.NewPtrCreatePartitionsRequest()
	r.Version = version
	r.TimeoutMillis = 30000
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic = "orders"
	t.Count = 12
	r.Topics = append(r.Topics, t)
	return r
}

func leaderAndISRRequest(version int16) *kmsg.LeaderAndISRRequest {
	r := kmsg.NewPtrLeaderAndISRRequest()
	r.Version = version
	r.ControllerID, r.ControllerEpoch, r.BrokerEpoch = 1, 5, 4294967296
	p := kmsg.NewLeaderAndISRRequestTopicPartition()
	p.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.ZKVersion = "orders", 0, 1, 7, 9
	p.ISR, p.Replicas, p.IsNew = []int32{1, 2}, []int32{1, 2, 3}, true
	r.PartitionStates = append(r.PartitionStates, p)
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic = "orders"
	ts.PartitionStates = append(ts.PartitionStates, p)
	r.TopicStates = append(r.TopicStates, ts)
	l := kmsg.NewLeaderAndISRRequestLiveLeader()
	l.BrokerID, l.Host, l.Port = 1, "127.0.0.1", 9092
	r.LiveLeaders = append(r.LiveLeaders, l)
	return r
}

func updateMetadataRequest(version int16) *kmsg.UpdateMetadataRequest {
	r := kmsg.NewPtrUpdateMetadataRequest()
	r.Version = version
	r.ControllerID, r.ControllerEpoch, r.BrokerEpoch = 1, 5, 4294967296
	p := kmsg.NewUpdateMetadataRequestTopicPartition()
	p.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.ZKVersion = "orders", 0, 1, 7, 9
	p.ISR, p.Replicas = []int32{1, 2}, []int32{1, 2, 3}
	r.PartitionStates = append(r.PartitionStates, p)
	ts := kmsg.NewUpdateMetadataRequestTopicState()
	ts.Topic = "orders"
	ts.PartitionStates = append(ts.PartitionStates, p)
	r.TopicStates = append(r.TopicStates, ts)
	b := kmsg.NewUpdateMetadataRequestLiveBroker()
	b.ID, b.Host, b.Port = 1, "127.0.0.1", 9092
	e := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
	e.Host, e.Port, e.ListenerName, e.SecurityProtocol = "127.0.0.1", 9092, "PLAINTEXT", 0
	b.Endpoints = append(b.Endpoints, e)
	r.LiveBrokers = append(r.LiveBrokers, b)
	return r
}

func stopReplicaRequest(version int16) *kmsg.StopReplicaRequest {
	r := kmsg.NewPtrStopReplicaRequest()
	r.Version = version
	r.ControllerID, r.ControllerEpoch, r.BrokerEpoch = 1, 5, 4294967296
	t := kmsg.NewStopReplicaRequestTopic()
	t.Topic, t.Partitions = "orders", []int32{0, 1}
	ps := kmsg.NewStopReplicaRequestTopicPartitionState()
	ps.Partition, ps.LeaderEpoch, ps.Delete = 0, 7, true
	t.PartitionStates = append(t.PartitionStates, ps)
	r.Topics = append(r.Topics, t)
	return r
}

// seedRequests are requests at the versions Sarama V2_8_0_0 picks (ApiVersions v3, Metadata v11, Produce v9,
// Fetch v12, ListOffsets v6, CreateTopics v7, DeleteTopics v6, CreatePartitions v3; sarama's
// *_request.go), the controller's versions (LeaderAndIsr v5, UpdateMetadata v7, StopReplica v3), and a
// non-flexible version of each for the classic encodings.
func seedRequests() []kmsg.Request {
	return []kmsg.Request{
		apiVersionsRequest(3), apiVersionsRequest(0),
		metadataRequest(11), metadataRequest(9), metadataRequest(8), metadataRequest(1),
		produceRequest(9, 300), produceRequest(8, 300), produceRequest(3, 300),
		fetchRequest(12), fetchRequest(11), fetchRequest(4),
		listOffsetsRequest(6), listOffsetsRequest(1),
		createTopicsRequest(7), createTopicsRequest(4),
		deleteTopicsRequest(6), deleteTopicsRequest(3),
		createPartitionsRequest(3), createPartitionsRequest(1),
		leaderAndISRRequest(5), leaderAndISRRequest(1),
		updateMetadataRequest(7), updateMetadataRequest(5),
		stopReplicaRequest(3), stopReplicaRequest(1),
	}
}

// seedFrame is req as ReadFrame returns it: header and body without the size.
func seedFrame(req kmsg.Request, correlationID int32) []byte {
	hdr := RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: correlationID,
		ClientID: kmsg.StringPtr("sarama")}
	return AppendRequest(nil, hdr, req)[4:]
}

// capturedFrames returns the request frames (without size) a real Sarama V2_8_0_0 client sent, recorded
// by TestSaramaRequestsParse -update into testdata/sarama/, sorted by file name.
func capturedFrames(tb testing.TB) [][]byte {
	names, err := filepath.Glob(filepath.Join("testdata", "sarama", "*.bin"))
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(names)
	var frames [][]byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, b)
	}
	return frames
}

// allSeedFrames is every seed frame: kmsg-built and Sarama-captured.
func allSeedFrames(tb testing.TB) [][]byte {
	var frames [][]byte
	for i, req := range seedRequests() {
		frames = append(frames, seedFrame(req, int32(i+1)))
	}
	return append(frames, capturedFrames(tb)...)
}

// sameRequest reports whether a and b encode identically at the same version.
func sameRequest(a, b kmsg.Request) bool {
	return a.Key() == b.Key() && a.GetVersion() == b.GetVersion() && bytes.Equal(a.AppendTo(nil), b.AppendTo(nil))
}
