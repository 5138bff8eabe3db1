// Package replica is the broker's partition layer (Kafka 2.8's ReplicaManager and cluster.Partition): it turns
// the controller's LeaderAndIsr and StopReplica into leader and follower partitions over storage logs, appends
// produce batches as leader, serves fetches from the logs as file ranges, keeps the high watermark, and parks
// acks=-1 produces and min_bytes fetches in purgatories until they can complete.
//
// # Data flow
//
//	LeaderAndIsr ─▶ BecomeLeaderOrFollower ─▶ Partition.makeLeader / makeFollower ─▶ storage.Manager.GetOrCreateLog
//	                                              (HW from replication-offset-checkpoint, read once per request)
//	Produce ─▶ AppendRecords ─▶ Partition.appendRecordsToLeader ─▶ Log.AppendAsLeader, maybeIncrementLeaderHW
//	             │  after every partition lock is released: CheckAndComplete(tp) on the fetch purgatory
//	             │  (and the produce purgatory when the HW moved)
//	             └ acks=-1: delayedProduce in the produce purgatory until HW >= last offset + 1 everywhere
//	Fetch ─▶ FetchMessages ─▶ Partition.readRecords ─▶ Log.Read (bound: HW for consumers, LEO for followers)
//	             │  follower fetch (replica id >= 0): updateFollowerFetchState, maybe HW up
//	             └ fewer than min_bytes: delayedFetch in the fetch purgatory, re-read on completion
//	ticker ─▶ CheckpointHighWatermarks ─▶ storage.Manager.CheckpointHighWatermarks (every
//	          replica.high.watermark.checkpoint.interval.ms once the first LeaderAndIsr arrived, and on Stop)
//
// # High watermark
//
// The leader's HW is the smallest LEO among itself and the remote replicas that are in the (maximal) ISR or
// caught up within replica.lag.time.max.ms (reference 03 §4.1); it never decreases on the leader. Remote
// replicas' fetch state (LEO, log start, lastCaughtUpTimeMs, ...) is kept per follower and updated by follower
// fetches (FetchMessages with a replica id), exactly as Kafka's Replica.updateFetchState. With replication
// factor 1 there are no remote replicas and the HW follows the LEO on every append. The HW value itself lives
// in the storage.Log (Log.HighWatermark), where retention reads it.
//
// # Not yet (issue 4)
//
// Followers only record their role: no fetcher threads replicate into them and nothing is truncated when a
// partition becomes follower. The ISR is never expanded or shrunk here (no AlterIsr / ZooKeeper write), there
// is no leader-epoch cache (leader-epoch-checkpoint, OffsetForLeaderEpoch, DivergingEpoch), and
// LastFetchedEpoch in follower fetches is ignored.
//
// # Locks
//
//	Manager.stateMu (one LeaderAndIsr / StopReplica at a time, Kafka's replicaStateChangeLock)
//	  → Partition.mu (RWMutex, Kafka's leaderIsrUpdateLock: appends and reads share it, role changes own it)
//	    → Partition.hwMu (HW advancement and remote replicas' fetch state)
//	      → storage.Log's own lock (inside Log calls)
//
// The partition map is copy-on-write (written under stateMu, read without locks). No purgatory call is made
// with a partition lock held: delayed operations are checked after the locks are released (Kafka's
// ActionQueue), and their TryComplete takes partition locks itself.
package replica
