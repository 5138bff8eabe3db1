package zkregistry

import (
	"fmt"
	"strconv"
	"strings"
)

// Znode paths, relative to the chroot (Kafka's ZkData.scala).
const (
	ControllerPath      = "/controller"
	ControllerEpochPath = "/controller_epoch"

	BrokersPath     = "/brokers"
	BrokerIDsPath   = "/brokers/ids"
	BrokerSeqIDPath = "/brokers/seqid"
	TopicsPath      = "/brokers/topics"

	ConfigPath        = "/config"
	ConfigChangesPath = "/config/changes"
	// ConfigChangePrefix + 10-digit sequence (persistent sequential).
	ConfigChangePrefix = ConfigChangesPath + "/config_change_"

	AdminPath                    = "/admin"
	DeleteTopicsPath             = "/admin/delete_topics"
	ReassignPartitionsPath       = "/admin/reassign_partitions"
	PreferredReplicaElectionPath = "/admin/preferred_replica_election"

	IsrChangeNotificationPath = "/isr_change_notification"
	IsrChangePrefix           = IsrChangeNotificationPath + "/isr_change_"

	LogDirEventNotificationPath = "/log_dir_event_notification"
	LogDirEventPrefix           = LogDirEventNotificationPath + "/log_dir_event_"

	ProducerIDBlockPath = "/latest_producer_id_block"
	ClusterIDPath       = "/cluster/id"
	FeaturePath         = "/feature"
	ConsumersPath       = "/consumers" // pre-0.9 consumers; only created

	ACLPath                 = "/kafka-acl"
	ACLChangesPath          = "/kafka-acl-changes"
	ACLChangePrefix         = ACLChangesPath + "/acl_changes_"
	ACLExtendedPath         = "/kafka-acl-extended"
	ACLExtendedChangesPath  = "/kafka-acl-extended-changes"
	ACLExtendedChangePrefix = ACLExtendedChangesPath + "/acl_changes_"

	DelegationTokenPath         = "/delegation_token"
	DelegationTokensPath        = "/delegation_token/tokens"
	DelegationTokenChangesPath  = "/delegation_token/token_changes"
	DelegationTokenChangePrefix = DelegationTokenChangesPath + "/token_change_"
)

// Config entity types: /config/<type>/<sanitized name>.
const (
	ConfigTopics  = "topics"
	ConfigClients = "clients"
	ConfigUsers   = "users"
	ConfigBrokers = "brokers"
	ConfigIPs     = "ips"
	// DefaultEntity names the default entity of users, clients and brokers.
	DefaultEntity = "<default>"
)

// ConfigEntityTypes lists every /config/<type> a broker creates at startup.
var ConfigEntityTypes = []string{ConfigTopics, ConfigClients, ConfigUsers, ConfigBrokers, ConfigIPs}

// PersistentPaths are created (null data, ignore-if-exists) by every broker
// at startup (KafkaZkClient.createTopLevelPaths); parents come implicitly.
var PersistentPaths = []string{
	ConsumersPath, BrokerIDsPath, TopicsPath, ConfigChangesPath, DeleteTopicsPath, BrokerSeqIDPath,
	IsrChangeNotificationPath, ProducerIDBlockPath, LogDirEventNotificationPath,
	ConfigPath + "/" + ConfigTopics, ConfigPath + "/" + ConfigClients, ConfigPath + "/" + ConfigUsers,
	ConfigPath + "/" + ConfigBrokers, ConfigPath + "/" + ConfigIPs,
}

func itoa(v int32) string { return strconv.FormatInt(int64(v), 10) }

// BrokerPath is /brokers/ids/<id>.
func BrokerPath(id int32) string { return BrokerIDsPath + "/" + itoa(id) }

// TopicPath is /brokers/topics/<topic>.
func TopicPath(topic string) string { return TopicsPath + "/" + topic }

// TopicPartitionsPath is /brokers/topics/<topic>/partitions.
func TopicPartitionsPath(topic string) string { return TopicPath(topic) + "/partitions" }

// PartitionPath is /brokers/topics/<topic>/partitions/<p>.
func PartitionPath(topic string, p int32) string { return TopicPartitionsPath(topic) + "/" + itoa(p) }

// PartitionStatePath is /brokers/topics/<topic>/partitions/<p>/state.
func PartitionStatePath(topic string, p int32) string { return PartitionPath(topic, p) + "/state" }

// ConfigEntityTypePath is /config/<entityType>.
func ConfigEntityTypePath(entityType string) string { return ConfigPath + "/" + entityType }

// ConfigEntityPath is /config/<entityType>/<entity>; entity must already be
// sanitized (Sanitize) where Kafka sanitizes it (users, clients).
func ConfigEntityPath(entityType, entity string) string {
	return ConfigEntityTypePath(entityType) + "/" + entity
}

// TopicConfigPath is /config/topics/<topic>.
func TopicConfigPath(topic string) string { return ConfigEntityPath(ConfigTopics, topic) }

// BrokerConfigPath is /config/brokers/<id> (or <default>).
func BrokerConfigPath(broker string) string { return ConfigEntityPath(ConfigBrokers, broker) }

// DeleteTopicPath is the deletion marker /admin/delete_topics/<topic>.
func DeleteTopicPath(topic string) string { return DeleteTopicsPath + "/" + topic }

// ACLResourcePath is /kafka-acl/<ResourceType>/<name> (LITERAL patterns).
func ACLResourcePath(resourceType, name string) string {
	return ACLPath + "/" + resourceType + "/" + name
}

// ACLExtendedResourcePath is /kafka-acl-extended/prefixed/<ResourceType>/<name>.
func ACLExtendedResourcePath(resourceType, name string) string {
	return ACLExtendedPath + "/prefixed/" + resourceType + "/" + name
}

// DelegationTokenInfoPath is /delegation_token/tokens/<tokenId>.
func DelegationTokenInfoPath(tokenID string) string { return DelegationTokensPath + "/" + tokenID }

// ParseSequence returns the sequence number of a sequential znode name such
// as "isr_change_0000000042" (ZooKeeper appends 10 zero-padded digits).
func ParseSequence(name string) (int64, error) {
	if len(name) < 10 {
		return 0, fmt.Errorf("%w: %q is not a sequential znode name", ErrMalformed, name)
	}
	v, err := strconv.ParseInt(name[len(name)-10:], 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%w: %q is not a sequential znode name", ErrMalformed, name)
	}
	return v, nil
}

// parentOf returns the parent of an absolute path ("/" for top level).
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
