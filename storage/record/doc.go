// Package record reads, checks, stamps and builds Kafka v2 record batches
// (magic 2, the Kafka 0.11+ format used by Kafka 2.x) — the unit that
// producers send, the log stores byte for byte and fetches return — and
// converts the legacy message sets (magic 0 and 1) of pre-0.11 clients to and
// from it (legacy.go, legacy_convert.go).
//
// # Data flow
//
//	produce request ──Next──► Batch ──Validate(FromClient)──► Info
//	                                     │ broker/storage then stamp in place:
//	                                     ▼ SetBaseOffset, SetPartitionLeaderEpoch,
//	                                       SetLogAppendTime | SetMaxTimestamp
//	segment file ──PeekHeader / Next──► Batch ──CRCValid──► recovery, index rebuild
//	tools, tests, control markers ──Build──► []byte ──Records──► Record
//	log cleaner: Batch ──Records──► kept Records ──Rebuild / EmptyCopy──► []byte
//	produce v0–v2 message set ──UpConvert──► one v2 batch ──► the produce path above
//	log bytes (v2) ──DownConvert──► magic 0/1 message set ──► fetch v0–v3 (in memory)
//
// The package imports nothing of ours and keeps no state except buffer and
// decoder pools; everything is safe for concurrent use on distinct batches.
//
// # Batch layout (DefaultRecordBatch.java, big-endian)
//
//	 0  baseOffset            int64   clients send 0; the leader stamps it   ┐ outside
//	 8  batchLength           int32   bytes after this field                 │ the CRC:
//	12  partitionLeaderEpoch  int32   -1 from producers; leader stamps it    │ stamping needs
//	16  magic                 int8    2                                      ┘ no recompute
//	17  crc                   uint32  CRC-32C (Castagnoli) of bytes [21, end)
//	21  attributes            int16   bits 0-2 codec, 3 LogAppendTime, 4 transactional, 5 control
//	23  lastOffsetDelta       int32   lastOffset - baseOffset (kept by compaction)
//	27  firstTimestamp        int64   first record's timestamp
//	35  maxTimestamp          int64   max record timestamp, or the broker time for LogAppendTime
//	43  producerId            int64   -1 unless idempotent
//	51  producerEpoch         int16   -1 unless idempotent
//	53  baseSequence          int32   -1 unless idempotent
//	57  recordsCount          int32   never compressed
//	61  records ...                   one compressed stream when codec != 0
//
// A record: length varint, attributes int8 (0), timestampDelta varlong,
// offsetDelta varint, keyLength varint (-1 = null), key, valueLength varint
// (-1 = null), value, headerCount varint, then per header keyLength varint
// (never null), key, valueLength varint (-1 = null), value. Varints are
// zig-zag LEB128, at most 5 bytes (varint) or 10 (varlong); longer forms are
// rejected. Codecs: gzip stream, snappy in xerial framing (see xerial.go),
// LZ4 frame, zstd frame.
//
// # Legacy message sets (LegacyRecord.java; layout in legacy.go)
//
// An entry is offset int64, size int32, then crc (CRC-32 IEEE of the rest),
// magic, attributes (codec bits 0-2, LogAppendTime bit 3 in magic 1),
// timestamp (magic 1 only), key and value with int32 lengths. A compressed
// wrapper's value is the compressed inner set: inner offsets absolute in
// magic 0, relative (0..n-1) in magic 1, wrapper offset = last inner offset;
// one level only. Magic 0 LZ4 frames carry Kafka 0.8's wrong header checksum
// (hashed over the frame magic too): read leniently, written that way. The
// log never stores legacy sets: Kafka 2.8 with message.format.version 2
// converts on produce and on fetch, and so do we.
//
// # Invariants
//
//   - A Batch is exactly one batch: len == LogOverhead + batchLength. Next
//     and Validate check that; accessors assume it.
//   - Validate never modifies the batch, never panics on any input, and never
//     allocates more than its input and cfg.MaxUncompressed allow; an
//     uncompressed batch is validated without heap allocation.
//   - Decompression stops at the caller's limit (errors wrap ErrCorrupt);
//     zstd windows above 16 MiB are refused (Java producers use 2 MiB).
//   - Record slices handed out by Records alias the batch (uncompressed) or a
//     fresh buffer (compressed) and stay valid as long as the caller keeps them.
//
// # Errors and Kafka codes
//
// Errors wrap one sentinel; broker/errors.go maps them with errors.Is (this
// package does not import kerr):
//
//	ErrCorrupt                → CORRUPT_MESSAGE (2)
//	ErrInvalidRecord          → INVALID_RECORD (87)
//	ErrInvalidTimestamp       → INVALID_TIMESTAMP (32)
//	ErrMessageTooLarge        → MESSAGE_TOO_LARGE (10)
//	ErrUnsupportedCompression → UNSUPPORTED_COMPRESSION_TYPE (76)
//	ErrTruncated              → not sent to clients: a torn tail for recovery
//	                            to truncate (also matches io.ErrUnexpectedEOF)
//
// A record that does not parse inside a batch with a valid CRC is
// ErrInvalidRecord, as in Kafka 2.8 (DefaultRecord.readFrom throws
// InvalidRecordException); a bad CRC or an undecodable compressed stream is
// ErrCorrupt.
//
// Per-record failures come as *ValidationError, whose Records fill the
// RecordErrors of Produce v8+ responses.
//
// Deviations from Kafka 2.8, all stricter and none reachable by Java, Sarama
// or franz-go producers: key or value lengths below -1 are rejected (Java reads them as null); 5-byte
// varints with bits above 32 are rejected (Java drops the bits); offset
// deltas must be 0..n-1 in client batches (Kafka silently rewrites
// compressed batches whose inner offsets are off, and ignores them in
// uncompressed ones); gzip data followed by trailing garbage is rejected.
package record
