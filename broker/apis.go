package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
)

// apiVersionsKey is ApiVersions' key; its unsupported versions are answered rather than closed (KIP-511).
const apiVersionsKey = int16(kmsg.ApiVersions)

// apiEntry is one row of the API table: the versions served and the handler.
type apiEntry struct {
	key      kmsg.Key
	min, max int16
	handle   handlerFunc
}

// apiTable is the one table that both dispatch and ApiVersions read, so the broker can never advertise a
// version it does not serve. Ranges are Kafka 2.8's. The log stores record batch v2 only (message.format.version
// 2): produce v0–v2 message sets are up-converted (produce_legacy.go) and fetch v0–v3 answers are
// down-converted to magic 0/1 (fetch_legacy.go), as a Kafka 2.8 broker with the default format does.
var apiTable = []apiEntry{
	{kmsg.Produce, 0, 9, handleProduce},
	{kmsg.Fetch, 0, 12, handleFetch},
	{kmsg.ListOffsets, 0, 6, handleListOffsets},
	{kmsg.Metadata, 0, 11, handleMetadata},
	{kmsg.LeaderAndISR, 0, 5, handleLeaderAndIsr},
	{kmsg.StopReplica, 0, 3, handleStopReplica},
	{kmsg.UpdateMetadata, 0, 7, handleUpdateMetadata},
	{kmsg.ControlledShutdown, 0, 3, handleControlledShutdown},
	{kmsg.ApiVersions, 0, 3, handleAPIVersions},
	{kmsg.CreateTopics, 0, 7, handleCreateTopics},
	{kmsg.DeleteTopics, 0, 6, handleDeleteTopics},
	{kmsg.DescribeConfigs, 0, 4, handleDescribeConfigs},
	{kmsg.DescribeProducers, 0, 0, handleDescribeProducers},
	{kmsg.CreatePartitions, 0, 3, handleCreatePartitions},
	{kmsg.ElectLeaders, 0, 2, handleElectLeaders},
	{kmsg.AlterPartition, 0, 0, handleAlterISR}, // AlterIsr: Kafka 2.8 serves v0 only
	{kmsg.OffsetForLeaderEpoch, 0, 4, handleOffsetForLeaderEpoch},
	{kmsg.DeleteRecords, 0, 2, handleDeleteRecords},
	{kmsg.DescribeLogDirs, 0, 2, handleDescribeLogDirs},
	{kmsg.AlterPartitionAssignments, 0, 0, handleAlterPartitionReassignments},
	{kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments},
	// Configs and quotas (dynamic, through /config/changes).
	{kmsg.AlterConfigs, 0, 2, handleAlterConfigs},
	{kmsg.IncrementalAlterConfigs, 0, 1, handleIncrementalAlterConfigs},
	{kmsg.DescribeClientQuotas, 0, 1, handleDescribeClientQuotas},
	{kmsg.AlterClientQuotas, 0, 1, handleAlterClientQuotas},
	// Consumer groups (broker/group).
	{kmsg.OffsetCommit, 0, 8, handleOffsetCommit},
	{kmsg.OffsetFetch, 0, 7, handleOffsetFetch},
	{kmsg.FindCoordinator, 0, 3, handleFindCoordinator},
	{kmsg.JoinGroup, 0, 7, handleJoinGroup},
	{kmsg.Heartbeat, 0, 4, handleHeartbeat},
	{kmsg.LeaveGroup, 0, 4, handleLeaveGroup},
	{kmsg.SyncGroup, 0, 5, handleSyncGroup},
	{kmsg.DescribeGroups, 0, 5, handleDescribeGroups},
	{kmsg.ListGroups, 0, 4, handleListGroups},
	{kmsg.DeleteGroups, 0, 2, handleDeleteGroups},
	{kmsg.OffsetDelete, 0, 0, handleOffsetDelete},
	// Transactions (broker/txn).
	{kmsg.AddPartitionsToTxn, 0, 3, handleAddPartitionsToTxn},
	{kmsg.AddOffsetsToTxn, 0, 3, handleAddOffsetsToTxn},
	{kmsg.EndTxn, 0, 3, handleEndTxn},
	{kmsg.WriteTxnMarkers, 0, 1, handleWriteTxnMarkers},
	{kmsg.TxnOffsetCommit, 0, 3, handleTxnOffsetCommit},
	{kmsg.InitProducerID, 0, 4, handleInitProducerID}, // idempotent producers too (22_init_producer_id.go)
}

// apis is the table compiled for lookup.
type apis struct {
	byKey           [kmsg.MaxKey + 1]*apiEntry
	ranges          []protocol.APIRange
	supported       func(key, version int16) bool
	versionsKeys    []kmsg.ApiVersionsResponseApiKey // the ApiVersions answer
	apiVersionsOnly []kmsg.ApiVersionsResponseApiKey // KIP-511 answer: ApiVersions' own range
}

func compileAPIs(table []apiEntry) (*apis, error) {
	a := &apis{}
	for i := range table {
		e := &table[i]
		if e.handle == nil {
			return nil, fmt.Errorf("api table: %s has no handler", e.key.Name())
		}
		a.byKey[e.key] = e
		a.ranges = append(a.ranges, protocol.APIRange{Key: int16(e.key), Min: e.min, Max: e.max})
		if e.key == kmsg.ApiVersions {
			a.apiVersionsOnly = protocol.APIVersionsKeys(a.ranges[len(a.ranges)-1:])
		}
	}
	if err := protocol.ValidateRanges(a.ranges); err != nil {
		return nil, fmt.Errorf("api table: %w", err)
	}
	a.supported = protocol.SupportedFunc(a.ranges)
	a.versionsKeys = protocol.APIVersionsKeys(a.ranges)
	return a, nil
}

// lookup returns the entry for a key that ParseRequest already accepted.
func (a *apis) lookup(key int16) *apiEntry { return a.byKey[key] }
