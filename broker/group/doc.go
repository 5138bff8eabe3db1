// Package group is the group coordinator (Kafka 2.8's GroupCoordinator and GroupMetadataManager): consumer
// group membership and rebalances, committed offsets, and their storage in the compacted internal topic
// __consumer_offsets, in Kafka's own record schemas (schema.go), so Kafka's tools could read the log.
//
// # Data flow
//
//	FindCoordinator (broker) ─▶ PartitionFor(group) = abs(javaHash(group)) % NumPartitions ─▶ that partition's leader
//	LeaderAndIsr (broker) ─▶ OnElection(p, epoch) ─▶ loader goroutine: Log.Read from log start to LEO,
//	    replay (last record per key wins, tombstones remove, transactional offsets wait for their marker)
//	    ─▶ groups installed, partition served (COORDINATOR_LOAD_IN_PROGRESS until then)
//	LeaderAndIsr as follower / StopReplica ─▶ OnResignation(p) ─▶ the partition's groups go Dead: parked
//	    joins/syncs answered NOT_COORDINATOR, later requests NOT_COORDINATOR
//	JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/... (broker handler) ─▶ Coordinator method:
//	    validate (INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR)
//	    ─▶ lookup ─▶ closure posted to the group's mailbox ─▶ the group's goroutine runs it and answers
//	    (at once, or later for parked joins and syncs) ─▶ the handler, waiting on a channel, responds
//	group metadata (leader's SyncGroup, a generation turning Empty, a static member's new id) and offset
//	    commits ─▶ record batch ─▶ Partitions.Append (acks=offsets.commit.required.acks) on another goroutine
//	    ─▶ completion posted back to the mailbox ─▶ state change and answers
//	retention timer (offsets.retention.check.interval.ms) ─▶ every group: expire offsets, Empty groups
//	    without offsets go Dead; tombstones appended with acks=0
//	UpdateMetadata deleting partitions ─▶ HandleDeletedPartitions ─▶ offsets removed, tombstones appended
//	TxnOffsetCommit ─▶ CommitTxnOffsets: transactional batch, offsets pending for the producer
//	WriteTxnMarkers on an offsets partition ─▶ CompleteTxn ─▶ pending offsets committed or dropped
//
// # Ownership and invariants
//
// One goroutine per group owns all of the group's state and timers (STYLE: "one goroutine per group owns
// state and timers"). Everything reaches it through an unbounded FIFO mailbox: requests, timer expiries
// (session, pending member, rebalance and initial delays, armed with the Clock's AfterFunc and identified by
// tokens, so a timer that fires after being replaced is ignored) and append completions. Delayed joins and
// heartbeats therefore need no purgatory: they are per-group timers. A group is removed from the index
// when it goes Dead; its goroutine exits once no append is in flight, running anything still queued
// against the Dead state; a request that finds the mailbox closed looks the group up again.
//
// Committed offsets enter the cache only after their append succeeded (pending until then), and replace a
// cached offset only if their batch is later in the log. The group index and the partition ownership
// table are guarded by Coordinator.mu, never held while waiting for a group.
//
// # Lock order
//
//	Coordinator.mu → mailbox.mu (a leaf). Group goroutines take Coordinator.mu briefly (forget) and never
//	hold anything while appending; handlers hold nothing while they wait.
//
// # Deviations from Kafka
//
// OffsetCommit/OffsetFetch v0 (ZooKeeper storage) are the broker's handlers' business, not this package's.
// Transactional offset commits (CommitTxnOffsets, CompleteTxn; txn.go) are staged per producer until the
// transaction's marker, live and when loading. Protocol vote ties are broken by name (Kafka: arbitrarily).
// A JoinGroup or SyncGroup replaced by a retry of the same member is answered (REBALANCE_IN_PROGRESS)
// instead of being dropped. A group's writes are appended one at a time in decision order (Kafka appends
// locally under the group lock and only waits for acks concurrently); the replica manager offers no
// separate local-append step to do the same.
package group
