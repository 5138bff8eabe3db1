// Package controller is Kafka 2.8's ZooKeeper-mode controller (KafkaController and its state machines,
// reference 02): every broker runs one, at most one is active, and the active one decides partition leaders
// and ISRs, writes them to ZooKeeper, and tells the brokers with LeaderAndIsr, UpdateMetadata and
// StopReplica.
//
// Data flow:
//
//	ZooKeeper watches ----\                                  /--> zkregistry fenced writes
//	broker answers -------+--> events (chan) --> event loop -+
//	session events (broker)/     one goroutine owns          \--> request batch --> channel manager
//	                             the controllerContext             (per broker: queue + sender goroutine
//	                                                                + protocol.Client) --> brokers
//
// Election: the loop watches /controller; whenever it is absent it runs zkregistry.TryElectController
// (create /controller + bump /controller_epoch in one multi). The winner runs failover (failover.go): /feature,
// child watches on /brokers/ids, /brokers/topics and /admin/delete_topics, the context loaded from ZooKeeper
// (brokers with epochs = czxid, assignments and topic ids, state znodes), UpdateMetadata (brokers only) to
// everyone, LeaderAndIsr for every live replica, dead replicas out of the ISRs, New/Offline partitions
// online, deletions resumed. A term ends (resign) when /controller names another broker or disappears, the
// session expires, a fenced write returns ErrControllerMoved, or a handler fails on ZooKeeper (then
// /controller is deleted so that the next election reloads the state); Stop also deletes /controller.
//
// Invariants:
//   - Only the loop goroutine reads or writes the context, the watches of a term and the channel manager.
//     Watch callbacks and senders only post events; posting gives up when the poster is stopped, so the loop
//     can stop them (Watcher.Stop, channel removal) without deadlock.
//   - Events of controller-only watches and channels carry their term; the loop drops those of an ended term.
//   - Every controller write is fenced: zkregistry's FencedMulti/Write with the epoch's zkVersion, and state
//     znodes are written conditionally on the zkVersion just read (BADVERSION: re-read and retry). A state
//     znode whose controller_epoch is newer than ours is left alone.
//   - Decisions are the pure functions of election.go (Kafka's PartitionLeaderElectionAlgorithms).
//   - Requests of one state change go out per broker in the order LeaderAndIsr, UpdateMetadata, StopReplica;
//     each broker's requests are sent one at a time, in order, retried until answered or the broker leaves.
//
// Requests (inter.broker.protocol.version 2.8-IV1): LeaderAndIsr v5 (Type 0, topic ids, LiveLeaders on the
// inter-broker listener), UpdateMetadata v7 (topic ids, all live brokers with all endpoints, OfflineReplicas,
// leader -2 for topics being deleted), StopReplica v3 (per-partition leader epoch, -2 when deleting, and
// delete flag). All carry the controller id and epoch and the target broker's epoch (KIP-380).
//
// Requests brokers send to the controller enter the loop through call (AlterISR, ControlledShutdown,
// ElectLeaders, reassignments; the broker's handlers wait for the answer):
//   - AlterIsr (alterisr.go): a leader's ISR change, checked against the cached leadership and written
//     conditionally on the zkVersion the leader knows; no leader epoch bump, UpdateMetadata only.
//   - ControlledShutdown (shutdown.go): the broker joins the shutting-down set (registered, so it still gets
//     requests and is listed in UpdateMetadata, but not live: no election, ISR expansion or preferred
//     election picks it); its leaderships move, it leaves the ISRs it follows.
//   - ElectLeaders (preferred.go): preferred or unclean elections on demand; the same file holds the legacy
//     /admin/preferred_replica_election watch and the auto leader rebalance timer (a termed event).
//   - AlterPartitionReassignments / ListPartitionReassignments (reassign.go): see Reassignment below.
//
// Liveness: cc.brokers holds every registered broker (Kafka's liveOrShuttingDownBrokers); isLive excludes
// the shutting-down ones. Broker changes are applied failures first (bounced brokers fail, then start), so
// the elections a startup triggers never pick a broker that is gone. When replicas of one partition go
// offline together the ISR keeps the last leader (never empty), the only clean candidate later.
//
// Reassignment (reassign.go, reassign_zk.go; KIP-455, reference 02 §8): AlterPartitionReassignments and the
// legacy /admin/reassign_partitions znode write RS/AR/RR to the topic znode, send LeaderAndIsr with the
// adding and removing replicas, and complete once the target replicas are all in the ISR (checked after
// AlterIsr, broker startup and failover): Reassign election if needed, removed replicas stopped and
// deleted, topic znode back to RS = TRS. A topic being reassigned is not deleted until the moves end.
//
// Not implemented: ISR-change and log-dir-failure notifications (their stale
// children are deleted at failover), KAFKA_STORAGE_ERROR offline replicas, dynamic
// unclean.leader.election.enable changes (read from ZooKeeper at each election instead).
package controller
