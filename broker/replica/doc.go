// Package replica is the broker's partition layer (Kafka 2.8's ReplicaManager, cluster.Partition,
// ReplicaFetcherManager/ReplicaFetcherThread and AlterIsrManager): it turns the controller's LeaderAndIsr and
// StopReplica into leader and follower partitions over storage logs, appends produce batches as leader, serves
// fetches from the logs as file ranges, replicates into followers with fetcher goroutines, keeps the high
// watermark and the ISR, and parks acks=-1 produces and min_bytes fetches in purgatories until they can complete.
//
// # Data flow
//
//	LeaderAndIsr ─▶ BecomeLeaderOrFollower ─▶ leaders: remove their fetchers, Partition.makeLeader (epoch assigned
//	             │                              at the LEO in the leader-epoch cache)
//	             └─ followers: Partition.makeFollower, then remove their fetchers and add them to the fetcher of
//	                the new leader (endpoint from LiveLeaders, else the metadata cache), in Truncating state
//	Produce ─▶ AppendRecords ─▶ Partition.appendRecordsToLeader ─▶ Log.AppendAsLeader, maybeIncrementLeaderHW
//	             (AppendRecordsAsCoordinator: Log.AppendAsCoordinator, for transaction markers and group commits)
//	             └ acks=-1: delayedProduce in the produce purgatory until HW >= last offset + 1 everywhere
//	Fetch ─▶ FetchMessages ─▶ Partition.readRecords ─▶ Log.Read (bound: HW for consumers, LSO for read_committed
//	             │  ones, which also get the aborted transactions of the range; LEO for followers)
//	             │  v12 LastFetchedEpoch that diverged: no records, DivergingEpoch instead
//	             │  follower fetch (replica id >= 0): updateFollowerFetchState ─▶ maybe expand ISR, maybe HW up
//	             └ fewer than min_bytes: delayedFetch in the fetch purgatory, re-read on completion
//	fetcher (one goroutine per leader broker and fetcher id, num.replica.fetchers):
//	   Truncating partitions ─▶ OffsetsForLeaderEpoch(latest local epoch) ─▶ truncate (KIP-101/KIP-279) ─▶ Fetching
//	   Fetching partitions ─▶ one Fetch v12 ─▶ Log.AppendAsFollower, HW = min(leader HW, LEO), log start follows
//	DeleteRecords ─▶ Partition.deleteRecordsOnLeader ─▶ Log.DeleteRecordsBefore (offset -1: the HW)
//	             └ delayedDeleteRecords in the DeleteRecords purgatory until the low watermark (min log start of
//	               the leader and its alive followers, which report theirs in every fetch) reaches the offset
//	isr-expiration (every replica.lag.time.max.ms/2) ─▶ Partition.maybeShrinkISR ─┐
//	follower fetch at the HW ─▶ Partition.maybeExpandISR ─────────────────────────┴▶ alterISRManager ─▶ AlterIsr
//	   (Config.AlterISR: the broker's channel to the controller) ─▶ answer ─▶ committed ISR + zkVersion, HW up
//	ticker ─▶ CheckpointHighWatermarks ─▶ replication-offset-checkpoint (leaders and followers; and on Stop)
//
// # High watermark and ISR
//
// The leader's HW is the smallest LEO among itself and the remote replicas that are in the maximal ISR or caught
// up within replica.lag.time.max.ms (reference 03 §4.1); it never decreases on the leader. A follower's HW is
// min(leader HW, its LEO) from each fetch response. ISR changes go through AlterIsr (KIP-497): the leader
// proposes (at most one change in flight per partition: PendingExpand counts the new member in the maximal ISR,
// PendingShrink keeps the old ISR as maximal) and only the controller's answer commits; the leader epoch does not
// change. Shrink: an ISR follower whose LEO differs from the leader's and that has not caught up for
// replica.lag.time.max.ms. Expand: a follower whose LEO reached the HW and the start of the leader's epoch.
//
// # Truncation (Kafka 2.8, with one deviation)
//
// Every partition that becomes follower starts in Truncating state: with a leader-epoch cache it asks the leader
// OffsetsForLeaderEpoch for its latest epoch and truncates to min(leader's end of that epoch, its own end of it);
// when the leader answers an epoch the follower does not know, it cuts to the end of its largest epoch below and
// asks again (KIP-279); with no epoch known, or an undefined answer, it truncates to its HW (KIP-101's fallback).
// Kafka 2.8 (IBP >= 2.7-IV1) skips this step for logs that have epochs and relies on the Fetch v12
// DivergingEpoch instead; we always take the OffsetsForLeaderEpoch step (as IBP < 2.7 did) and also handle a
// DivergingEpoch in responses, and as leader we answer LastFetchedEpoch with DivergingEpoch, so Kafka-style
// followers are served too. Fetch errors: OFFSET_OUT_OF_RANGE asks the leader (ListOffsets) for its LEO and log
// start and truncates or restarts the log; FENCED_LEADER_EPOCH stops fetching the partition until the next
// LeaderAndIsr; other errors and connection loss back off replica.fetch.backoff.ms.
//
// # Locks
//
//	Manager.stateMu (one LeaderAndIsr / StopReplica at a time, Kafka's replicaStateChangeLock)
//	  → fetcherManager.mu → fetcher.mu (held while the fetcher appends to or truncates a partition, so that
//	    removing a partition from its fetcher waits for that and nothing writes it afterwards)
//	    → Partition.mu (RWMutex, Kafka's leaderIsrUpdateLock: appends and reads share it, role changes own it)
//	      → Partition.hwMu (HW advancement and remote replicas' fetch state)
//	        → alterISRManager.mu (proposals are submitted under Partition.mu; answers are applied without it)
//	        → storage.Log's own lock (inside Log calls)
//
// The partition map is copy-on-write (written under stateMu, read without locks). No purgatory call is made
// with a partition lock held: delayed operations are checked after the locks are released (Kafka's
// ActionQueue), and their TryComplete takes partition locks itself. No lock is held across a network call:
// fetchers send with no lock and re-check, when an answer arrives, that the partition's fetch state is the one
// that asked.
//
// # Goroutines
//
// Start runs the purgatories' timers, the HW checkpoint task, the isr-expiration task and the AlterIsr sender;
// fetchers start and stop with LeaderAndIsr / StopReplica (idle ones are shut down). Stop stops them all and
// waits; the package tests check for leaks in TestMain.
package replica
