// Package txn is the transaction coordinator (Kafka 2.8's TransactionCoordinator, TransactionStateManager
// and TransactionMarkerChannelManager): it owns the transactional ids of the __transaction_state partitions
// this broker leads, persists every state change of their transactions there in Kafka's record schemas
// (schema.go, so Kafka's tools could read the log), and drives commits and aborts to every partition of a
// transaction with WriteTxnMarkers.
//
// # Data flow
//
//	FindCoordinator(1) (broker) ─▶ PartitionFor(id) = abs(javaHash(id)) % NumPartitions ─▶ that partition's leader
//	LeaderAndIsr (broker) ─▶ OnElection(p, leaderEpoch): p answers COORDINATOR_LOAD_IN_PROGRESS; the worker
//	    reads p from log start to end (last value per id wins, tombstones remove), installs it with
//	    coordinator epoch = leaderEpoch, and resends the markers of transactions found PrepareCommit/Abort
//	LeaderAndIsr as follower / StopReplica ─▶ OnResignation(p): NOT_COORDINATOR at once; the worker drops p's
//	    ids once appends in flight are done; queued markers of p are dropped (the next coordinator finishes)
//	InitProducerId / AddPartitionsToTxn / AddOffsetsToTxn / EndTxn (broker handlers, on the connection's
//	    goroutine) ─▶ lookup ─▶ prepare under the id's lock (pending state set) ─▶ append the new value to p
//	    (acks=-1, timeout = the transaction timeout) ─▶ complete in memory only once durable
//	EndTxn after PrepareX is durable ─▶ answer NONE ─▶ CompleteX pending ─▶ marker channel: markers grouped
//	    by partition leader ─▶ one WriteTxnMarkers per broker in flight ─▶ answers remove partitions from the
//	    transaction (retriable errors: resent after RetryBackoff to the current leader) ─▶ empty ─▶ CompleteX
//	    appended (retried while COORDINATOR_NOT_AVAILABLE)
//	every transaction.abort.timed.out.transaction.cleanup.interval.ms ─▶ Ongoing transactions past their
//	    timeout: epoch bumped (PrepareEpochFence) and aborted like an EndTxn(abort) with the bumped epoch
//	every transaction.remove.expired.transaction.cleanup.interval.ms ─▶ ids at rest longer than
//	    transactional.id.expiration.ms: tombstone appended, id forgotten
//
// # Invariants
//
// A state change is applied to memory only after its record is durable and only if the partition's
// coordinator epoch did not change meanwhile; while one is pending every other request for the id gets
// CONCURRENT_TRANSACTIONS. The coordinator epoch written in markers is the __transaction_state partition's
// leader epoch, so partition leaders fence markers from a deposed coordinator
// (TRANSACTION_COORDINATOR_FENCED). Only PrepareCommit/PrepareAbort transactions are finished by a new
// coordinator; Ongoing ones are left to their producer or their timeout.
//
// # Locks and goroutines
//
//	stateManager.guards[p] (RW per partition: read held across a state append to p, so p cannot be
//	unloaded or reloaded underneath it; written by the worker while it loads or drops p) → stateManager.mu
//	(short: the partition map) → stateManager.statusMu (a leaf for loading / leaving marks, taken alone by
//	OnElection/OnResignation, which therefore never wait for an append) → txnPartition.mu → metadata.mu.
//	markerManager.mu is a leaf taken without the others held.
//
// Start runs the worker (loads and unloads in leadership order), the marker sender loop and the two
// periodic tasks; marker requests and completion appends run on tracked goroutines. Stop cancels them and
// waits; the tests check for leaks in TestMain.
//
// # Deviations from Kafka
//
// Marker answers Kafka treats as fatal to the broker (CORRUPT_MESSAGE, MESSAGE_TOO_LARGE, ...) are logged
// and retried. lastProducerId/lastProducerEpoch are not persisted (as in the v0 value), so a KIP-360 retry
// across a coordinator move is fenced, as in Kafka.
package txn
