// Package purgatory holds delayed operations (acks=-1 produce, fetch with max_wait_ms/min_bytes, and later
// joins and heartbeats) until they can complete or time out. It follows Kafka 2.8's
// kafka.server.DelayedOperationPurgatory and kafka.utils.timer (SystemTimer, TimingWheel, TimerTaskList).
//
// # Data flow
//
//	handler ──TryCompleteElseWatch(op, keys)──▶ op.TryComplete ─true─▶ OnComplete (caller's goroutine)
//	                                             │ false
//	                                             ▼
//	                     watch lists[key] += op; Timer.Add(op's task); op.TryComplete again
//	HW/LEO moves ──CheckAndComplete(key)──▶ TryComplete of each op under key ─true─▶ OnComplete
//	Timer driver ──bucket due──▶ executor ──▶ ForceComplete ─won─▶ OnComplete, then OnExpiration
//
// # Timer
//
// A Timer is a hierarchy of wheels. The finest has WheelSize buckets of Tick (1 ms x 20 by default, as
// Kafka); each overflow wheel, created on demand, has buckets as wide as the whole wheel below it (20 ms,
// 400 ms, 8 s, 160 s, ...). A bucket is a doubly-linked list of tasks, so Add and Cancel are O(1) whatever
// the number pending. Non-empty buckets sit in a delay queue (a container/heap ordered by expiration); one
// driver goroutine sleeps until the head bucket is due, advances the wheels' clocks to its expiration and
// re-adds its tasks: those from an overflow bucket fall into a finer wheel, those within the current tick
// have expired and go to the executor, which runs them outside every timer lock. Without Start there is no
// goroutine and AdvanceClock, called by the test with a ManualClock, does the driver's work and runs expired
// tasks itself.
//
// Invariants: a task's expiration is rounded up to a whole tick, so it never runs before its delay has
// elapsed on the Clock, and runs at most a tick (plus scheduling) later. A task leaves the pending state
// exactly once, by a compare-and-swap to fired or cancelled: it runs iff Cancel did not return true. A wheel's
// currentTime only moves under the timer's write lock, so Adds (read lock) see a stable wheel.
//
// # Purgatory
//
// Watch lists live in 512 shards (Kafka's count), each a map from key to a per-key list with its own lock.
// An operation completes exactly once: completed is set by one compare-and-swap, and only the winner runs
// OnComplete (and OnExpiration, when the win was the timer's). TryComplete runs under a per-operation mutex
// taken with TryLock; a checker that finds it held sets a flag so the holder tries again (Kafka's
// maybeTryComplete), so checkers of different keys never wait for one another. Completed operations stay in
// other keys' lists until those keys are checked or the purge runs, once the estimated count of such entries
// exceeds PurgeInterval (Kafka's purge.interval.requests).
//
// Callbacks: unlike Kafka, OnComplete runs after the operation lock is released. It usually builds and sends
// a response, taking partition locks; under our lock it would stall other keys' checkers and risk lock-order
// inversions. The compare-and-swap, done under the operation lock, already keeps TryComplete and other
// completions out.
//
// # Lock order
//
//	Purgatory.lifeMu → shard.mu → watchers.mu
//	Timer.mu (read: Add; write: AdvanceClock) → bucket.mu (→ a second, finer bucket.mu only in flush) → delayQueue.mu
//	executor.mu: a leaf, never held with another lock
//	DelayedOperation.mu: held only around TryComplete and the completion CAS. TryComplete may call into the
//	purgatory (CheckAndComplete, TryCompleteElseWatch), which never takes an operation's mu while holding
//	shard or watchers locks and only TryLocks it. No timer or purgatory lock is held while user code runs,
//	except lifeMu during Shutdown's drain (so OnComplete must not call Start or Shutdown).
package purgatory
