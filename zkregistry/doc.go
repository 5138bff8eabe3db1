// Package zkregistry is Samsa's ZooKeeper layer: Kafka 2.8's znode paths
// and JSON (byte-compatible), a session-aware client with chroot support,
// re-arming watches, broker registration, controller election and the
// epoch-fenced writes every controller decision goes through.
//
// # Znodes (relative to the chroot; see reference 01)
//
//	/controller                         EPHEMERAL  ControllerInfo {"version":1,"brokerid":3,"timestamp":"…"}
//	/controller_epoch                   PERSISTENT decimal epoch, e.g. 7 (data version = epochZkVersion)
//	/brokers/ids/<id>                   EPHEMERAL  BrokerInfo v5; czxid = broker epoch
//	/brokers/seqid                      PERSISTENT empty; data version drives GenerateBrokerID
//	/brokers/topics/<t>                 PERSISTENT TopicAssignment v3 (partitions, adding/removing, topic_id)
//	/brokers/topics/<t>/partitions[/<p>] PERSISTENT null
//	/brokers/topics/<t>/partitions/<p>/state PERSISTENT PartitionState; data version = zkVersion
//	/config/<type>/<entity>             PERSISTENT EncodeConfig {"version":1,"config":{…}}; type in topics,
//	                                               clients, users, brokers, ips (Sanitize'd names)
//	/config/changes/config_change_<seq> SEQUENTIAL ConfigChange {"version":2,"entity_path":"topics/t"}
//	/admin/delete_topics/<t>            PERSISTENT null (deletion marker)
//	/admin/reassign_partitions          PERSISTENT EncodeReassignment (legacy tools)
//	/admin/preferred_replica_election   PERSISTENT EncodePreferredReplicaElection (legacy tools)
//	/isr_change_notification/isr_change_<seq>          EncodeIsrChange
//	/log_dir_event_notification/log_dir_event_<seq>    LogDirEvent {"version":1,"broker":2,"event":1}
//	/latest_producer_id_block           PERSISTENT ProducerIDBlock (bounds as strings)
//	/cluster/id                         PERSISTENT EncodeClusterID {"version":"1","id":"…"}
//	/feature                            PERSISTENT FeatureZNode {"version":1,"status":1,"features":{}}
//	/kafka-acl[-extended/prefixed]/<Type>/<name>       EncodeACLs
//	/kafka-acl[-extended]-changes/acl_changes_<seq>    EncodeACLChange / ExtendedACLChange
//	/delegation_token/tokens/<id>, …/token_changes/token_change_<seq>  DelegationToken / token id
//	/consumers                          PERSISTENT created, unused
//
// Encoders write compact JSON in the key order of the reference examples
// with Jackson's escaping; map-valued fields (configs, listener maps) are
// written with sorted keys (numeric order for partition ids) — Kafka's own
// order there is a hash order that readers ignore. Decoders accept every
// older version, numbers written as strings and vice versa, never panic,
// and fail with ErrMalformed or ErrNoData (FuzzZkJSON checks this, and that
// encode∘decode is a fixed point).
//
// # Client, sessions and retries
//
// Dial parses zookeeper.connect ("h1:2181,h2:2181/chroot"), waits for a
// session (ConnectionTimeout) and creates the chroot; every path is then
// prefixed with it. An operation that fails with a connection loss is
// retried once a session is connected again (for up to ConnectionTimeout),
// like Kafka's retryRequestsUntilConnected, so callers handle the ambiguous
// outcomes the way Kafka does (NODEEXISTS on a retried create: registration
// checks the ephemeral owner, election checks /controller and the epoch).
//
// go-zookeeper recreates a session by itself after an expiry. Events()
// reports SessionConnected / SessionDisconnected / SessionExpired in order
// (an unbounded queue: an expiry is never dropped); SessionConnected with
// NewSession set is the cue to re-register the broker (new czxid, new broker
// epoch) and to run the controller election again.
//
// # Controller fencing
//
// TryElectController performs Kafka 2.8's election multi (create
// /controller, setData /controller_epoch at the version read) and returns
// (epoch, epochZkVersion). Every controller write then goes through
// FencedMulti/Write with that epochZkVersion: multi[check /controller_epoch
// version, op...]; a failed check is ErrControllerMoved (resign), any other
// failure is the op's own error. NoFencing (-1) marks writes that are not
// controller decisions (admin, registration, a leader's own ISR update).
//
// # Watches and goroutines
//
// WatchChildren/WatchData deliver the current state, then every change
// (coalesced), re-arming after each event and after a session expiry. Each
// Watcher owns one goroutine; the session pump is another. Client.Close
// stops all of them and waits. Invariant: no goroutine holds a lock while
// calling ZooKeeper or a callback.
//
// # Config changes
//
// WatchConfigChanges is a broker's /config/changes listener (Kafka's
// ZkConfigManager): it reports every existing entity config once
// (ListEntityConfigs: topics, clients, users, users/<u>/clients/<c>,
// brokers, ips), then each notification (version 1 or 2) whose sequence
// number is above the last processed, in order, as an entity path; the
// callback re-reads the entity. Notifications older than 15 minutes (ctime)
// are deleted. The children watch only pokes the ConfigWatcher's goroutine,
// which lists and reads itself, so a failed read is retried after a second
// and a session expiry loses nothing (the last sequence survives it).
package zkregistry
