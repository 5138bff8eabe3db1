// Package storage is the partition log: segments of Kafka 2.x record batches with sparse offset and
// time indexes, byte-compatible with Kafka's files (kafka.log.Log, LogSegment, LogManager), plus the
// log dir's checkpoint files and meta.properties.
//
// # Files
//
//	<log.dir>/                                 one per entry of log.dirs
//	  .lock                                    flock(LOCK_EX) while a Manager runs
//	  .kafka_cleanshutdown                     empty; written by Manager.Close, removed at startup
//	  meta.properties                          broker.id, cluster.id, version=0 (Java properties)
//	  recovery-point-offset-checkpoint         offset checkpoints, text:
//	  log-start-offset-checkpoint                0\n<count>\n<topic> <partition> <offset>\n...
//	  replication-offset-checkpoint            (tmp file, fsync, rename, fsync dir)
//	  cleaner-offset-checkpoint                first dirty offset of each compacted log (same format)
//	  <topic>-<partition>/
//	    leader-epoch-checkpoint                leader-epoch cache, text (same atomic write):
//	                                             0\n<count>\n<epoch> <start offset>\n...
//	    00000000000000000000.log               %020d base offset; batches exactly as on the wire
//	    00000000000000000000.index
//	    00000000000000000000.timeindex
//	    00000000000000000000.txnindex          aborted transactions; created with the first one
//	    00000000000000368769.log ...
//	    00000000000000368769.snapshot          producer state below offset 368769
//	  <topic>-<partition>.<32 hex>-delete/     deleted partition, removed after the delete delay
//
// A .log file has no header: v2 record batches back to back. Each starts
//
//	+0 baseOffset int64 | +8 batchLength int32 | +12 partitionLeaderEpoch int32 | +16 magic=2 |
//	+17 crc uint32 (CRC-32C of bytes 21..end) | +21 attributes int16 | +23 lastOffsetDelta int32 |
//	+27 firstTimestamp int64 | +35 maxTimestamp int64 | +43 producerId | +51 epoch | +53 baseSequence |
//	+57 recordCount int32 | +61 records (compressed as one stream when attributes&7 != 0)
//
// Index files, big-endian, relative offset = offset - base offset:
//
//	.index      [ rel offset int32 | position int32 ]             8 bytes per entry
//	.timeindex  [ timestamp int64  | rel offset int32 ]           12 bytes per entry
//	.txnindex   [ version int16 = 0 | producer id int64 | first offset int64 |
//	              marker offset int64 | last stable offset int64 ] 34 bytes per entry
//	.snapshot   version int16 = 1 | crc uint32 (CRC-32C of the bytes after it) | count int32 |
//	            count x [ producer id int64 | epoch int16 | last sequence int32 | last offset int64
//	            (-1: none) | offset delta int32 | timestamp int64 | coordinator epoch int32 |
//	            current txn first offset int64 (-1: none) ]             46 bytes per entry
//
// An offset entry (O, P) is added when more than index.interval.bytes were appended since the last
// entry (counted before the append); O is the append's last offset and P the position where the
// append starts. A time entry (T, O) goes with it: T the largest timestamp so far in the segment, O
// its offset, only when T is above the last entry; roll, close and recovery add a final one. Index
// files are preallocated to segment.index.bytes while active and trimmed to their entries on roll
// and close. Segments roll on segment.bytes, segment.ms (minus a per-segment jitter; from the
// first batch's timestamp, else the creation time), a full index, or a relative offset above
// int32. Temporary suffixes: .deleted (removed after file.delete.delay.ms, or at startup),
// .cleaned (removed at startup), .swap (index swaps deleted; a .log.swap replaces the segments it
// covers).
//
// # Data flow
//
// Produce: AppendAsLeader validates the batch (record.Validate) without the lock, fixes the
// CRC-covered timestamp fields in the caller's buffer, then under Log.mu writes baseOffset and
// partitionLeaderEpoch (outside the CRC), rolls if due and hands the caller's bytes to one pwrite,
// then publishes the new LEO. Nothing is written before every check has passed; a failed write is
// cut off again. Fetch: Read finds the segment, asks the offset index for a position and scans
// batch headers forward (pread of 8 KiB chunks) to the first batch whose last offset is >= the
// fetch offset, and returns (file, position, length) to be sent with sendfile (FileRange.WriteTo).
// Flush: none per append unless flush.messages/flush.ms say so; a roll fsyncs the old segment in
// the background; Close fsyncs everything. The recovery point is the highest fsynced offset.
// Recovery (startup): a .kafka_cleanshutdown marker means the files are trusted (indexes still
// checked: SanityCheck plus a comparison of their last entries with the .log); otherwise every
// segment from the one holding the recovery point is CRC-checked batch by batch, cut at the first
// invalid or torn batch (logged with bytes_removed), later segments deleted, indexes rebuilt.
//
// # Leader-epoch cache (epoch.go, epoch_log.go)
//
// Kafka's LeaderEpochFileCache: (epoch, start offset) pairs, both strictly increasing, rewritten to
// leader-epoch-checkpoint on every change. assign runs for every v2 batch appended (leader or
// follower: the batch's partitionLeaderEpoch at its base offset, before the bytes are written; a
// failed write takes the entry back) and when a broker becomes leader (its epoch at the LEO);
// entries conflicting with a new one (epoch or start not below it) are dropped. TruncateTo drops
// entries starting at or after the cut (at the LEO when nothing is cut: an epoch assigned by a
// leader that wrote nothing); TruncateFullyAndStartAt clears it; a log start moving up (retention,
// DeleteRecords, a follower following its leader) moves the first entry's start up to it. At load,
// the epochs of recovered segments' batches newer than the cache are assigned, then the cache is cut
// to the LEO and to the log start; a missing or garbled file is rebuilt from every segment's batch
// headers. EndOffsetForEpoch answers OffsetsForLeaderEpoch (KIP-279): the largest epoch <= the
// requested one and the start of the next epoch (the LEO for the latest). Writers hold Log.mu;
// readers load an immutable slice, like the log's view.
//
// # Producer state (producer_*.go, txnindex.go)
//
// Kafka 2.8's ProducerStateManager, one per Log, guarded by Log.mu (reference 06 §2-3, 04 §7): per
// producer id the epoch, the last 5 data batches (sequence and offset ranges, timestamp), the
// coordinator epoch of its last marker and the first offset of its open transaction; plus the open
// transactions and the completed ones whose marker is not yet below the HW, which give the first
// unstable offset. Every append is checked before its bytes are written and applied after:
//
//	AppendAsLeader (client)  retry of one of the last 5 batches -> original offsets, nothing written
//	                         epoch below the producer's -> ErrInvalidProducerEpoch; sequence not
//	                         last+1 (or a new epoch not at 0) -> ErrOutOfOrderSequence, unless the
//	                         producer has no epoch here (unknown: any sequence); non-transactional
//	                         batch in an open transaction -> ErrInvalidTxnState
//	AppendAsCoordinator      epochs, and a marker's coordinator epoch (ErrTransactionCoordinatorFenced)
//	AppendAsFollower, load   replayed without checks
//
// A COMMIT/ABORT marker ends the producer's transaction; an ABORT appends (producer, first offset,
// marker offset, LSO then) to the .txnindex of the segment receiving it. The transaction stays
// unstable until SetHighWatermark passes its marker; LastStableOffset = min(first unstable offset
// (clamped to the log start), HW) is published through an atomic for lock-free readers.
// CollectAbortedTransactions and AbortedTransactions (upper bound from a read's file range and the
// offset index, Log.addAbortedTransactions) read the .txnindex files with pread under the segment's
// idxMu held shared; the writer appends with a pwrite at the published size.
//
// Snapshots: written (and fsynced, under Log.mu, as Kafka does) on every roll (named by the new
// segment's base offset), at Close (at the LEO) and while loading; deleted with the segment of the
// same base offset by retention, above the cut by truncation, all of them by a full truncation, and
// below min(the segment under the recovery point, the second-to-last segment) after each
// recovery-point checkpoint. Loading: stray snapshots go (except the newest, from a clean shutdown),
// as do those above the LEO or at or below the log start; the newest that parses is loaded (corrupt
// ones are deleted), limited to the first segment whose indexes were rebuilt, and the batches from
// there to the LEO are replayed, rebuilding the .txnindex of every rebuilt segment. After a clean
// shutdown the snapshot at the LEO makes this a file read. TruncateTo reloads the newest snapshot
// below the cut and replays up to it. Producers without an open transaction idle for
// transactional.id.expiration.ms (by their last batch's timestamp) are dropped every
// producer.id.expiration.check.interval.ms and when a snapshot is loaded; retention never drops a
// producer (KIP-360). Deviation: without any snapshot after a clean shutdown the log is replayed
// (Kafka writes empty snapshots instead, an upgrade shortcut that forgets producers).
//
// # Concurrency and lock order
//
//	Manager.mu -> Log.flushMu -> Log.mu -> segment.idxMu
//	logCleaner.mu -> Manager.mu (the cleaner; nothing holding Manager.mu or Log.mu calls into it)
//
// Log.mu serialises writers: appends, roll, truncation, retention, DeleteRecordsBefore, Close.
// fsync runs outside Log.mu under Log.flushMu, so appends continue during a flush. Readers (Read,
// OffsetForTimestamp, LogEndOffset and the other getters) take no Log lock: they load an
// immutable snapshot (segment list, log start, LEO) published with an atomic pointer after every
// change, and take a reference on the segment they use. Any number of readers run alongside the
// writer. A reader holds segment.idxMu shared only for an index lookup; the writer takes it
// exclusively only to trim, resize, truncate or rename an index (roll, truncation, deletion), so
// a writer waits at most for lookups in flight and never for a reader's I/O.
//
// Segments are reference-counted: the segment list holds one reference, every FileRange another
// until Release. A segment deleted by retention or truncation is renamed .deleted and removed
// from the list at once, but its descriptors stay open until the last reader releases it, so a
// range handed out earlier reads the same bytes even after the file is unlinked. Truncation cuts
// the active file in place: a reader still holding a range past the cut gets a short read
// (FileRange.Bytes and WriteTo return io.ErrUnexpectedEOF). Readers must read ranges with pread or
// WriteTo, never through the *os.File's shared seek offset.
//
// # Compaction (cleaner*.go, offsetmap.go)
//
// Kafka 2.8's log cleaner for logs whose cleanup.policy contains compact. log.cleaner.threads
// goroutines (started by Manager.Start) each pick the compacted log with the highest dirty ratio
// (bytes from the first dirty offset up to the first uncleanable segment, over all bytes) above
// min.cleanable.dirty.ratio, or one whose oldest dirty batch passed max.compaction.lag.ms, and
// back off log.cleaner.backoff.ms when there is none. The first dirty offset comes from
// cleaner-offset-checkpoint (log start when absent or outside [log start, LEO]; a truncation
// below it moves it back). Cleaning never reaches the active segment, the segment holding the last
// stable offset or a segment with records newer than min.compaction.lag.ms.
//
//	dirty range ──Records──► offsetMap: 127-bit key hash -> latest offset (bounded memory,
//	                          log.cleaner.dedupe.buffer.size / threads; a full map ends the range early)
//	segments [first, map end) grouped up to segment.bytes ──filter──► <base>.log/.index/.timeindex.cleaned
//	  per batch: all records kept -> copied byte for byte; some -> Batch.Rebuild (same base offset and
//	  last offset delta, records keep offset deltas, same codec); none -> dropped, unless it is the
//	  last data batch of an idempotent producer (Batch.EmptyCopy)
//	  a record goes when a later offset of its key is mapped, it has no key, or it is a tombstone in a
//	  segment last modified before (last clean segment's mtime - delete.retention.ms)
//	fsync, mtime = the group's last segment's ──Log.replaceSegments (under Log.mu)──►
//	  .cleaned -> .swap; view publishes the new segment; old segments -> .deleted (readers keep
//	  their references); .swap -> final names; fsync dir
//
// replaceSegments refuses (and the output is deleted) when the log was truncated or closed, or the
// group's segments were deleted, since the cleaning took its snapshot. Startup (prepareDir)
// deletes .cleaned files and completes .swap logs, so a crash anywhere leaves either the old or
// the new segments. The cleaned segment takes the group's last modification time, so the
// tombstone horizon follows the data's age, not the cleaning's.
//
// Deviations: every producer counts as active for the empty-batch rule (Kafka: those in the
// producer state); transactional and control batches are left as they are (neither mapped nor
// filtered), so aborted data and markers stay, and the cleaned segment's .txnindex is the
// concatenation of the replaced segments' (Kafka rewrites it while dropping aborted data);
// log.cleaner.io.max.bytes.per.second is not applied; a failed cleaning marks the log uncleanable until it is deleted or the broker
// restarts (Kafka: until the log dir fails or the partition moves).
//
// # Not implemented here
//
// Legacy (magic 0/1) batches (recovery treats them as corrupt), log dir moves (-future dirs are
// skipped).
package storage
