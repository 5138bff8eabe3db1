package record

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"testing"
)

func mustValidate(t *testing.T, b Batch, cfg ValidateConfig) Info {
	t.Helper()
	info, err := Validate(b, cfg, testNow)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return info
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want %v", err, kind)
	}
	for _, other := range []error{ErrCorrupt, ErrInvalidRecord, ErrInvalidTimestamp, ErrMessageTooLarge, ErrUnsupportedCompression} {
		if other != kind && errors.Is(err, other) {
			t.Fatalf("err = %v matches %v as well as %v", err, other, kind)
		}
	}
}

func TestValidate_AcceptsProducerBatchForEveryCodec(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := sampleRecords(10, 50)
			recs[4].Timestamp = testNow + 1000
			recs[7].Timestamp = testNow + 1000 // tie: the first one counts
			b := mustBuild(t, recs, optCodec(c))
			info := mustValidate(t, b, clientCfg())
			want := Info{NumRecords: 10, LastOffsetDelta: 9, MaxTimestamp: testNow + 1000,
				OffsetOfMaxTimestampDelta: 4, Codec: c, Size: len(b)}
			if info != want {
				t.Fatalf("Info = %+v, want %+v", info, want)
			}
		})
	}
}

func TestValidate_DoesNotModifyBatch(t *testing.T) {
	for _, c := range allCodecs {
		b := mustBuild(t, sampleRecords(5, 20), optCodec(c))
		before := append([]byte(nil), b...)
		cfg := clientCfg()
		cfg.LogAppendTime = true
		mustValidate(t, b, cfg)
		if !bytes.Equal(before, b) {
			t.Fatalf("%v: Validate modified the batch", c)
		}
	}
}

func TestValidate_CRCMismatchIsCorruptMessage(t *testing.T) {
	for _, c := range allCodecs {
		b := mustBuild(t, sampleRecords(3, 20), optCodec(c))
		b[len(b)-1] ^= 0xff
		_, err := Validate(b, clientCfg(), testNow)
		wantKind(t, err, ErrCorrupt)
	}
}

func TestValidate_ViewMustBeExactlyOneBatch(t *testing.T) {
	b := mustBuild(t, sampleRecords(3, 20), DefaultBuildOptions())
	for name, v := range map[string]Batch{
		"trailing byte":   append(append(Batch(nil), b...), 0),
		"missing byte":    b[:len(b)-1],
		"shorter than 17": b[:16],
		"empty":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Validate(v, clientCfg(), testNow)
			wantKind(t, err, ErrCorrupt)
		})
	}
}

func TestValidate_ClientBatchMustHaveBaseOffsetZero(t *testing.T) {
	o := DefaultBuildOptions()
	o.BaseOffset = 5
	b := mustBuild(t, sampleRecords(2, 5), o)
	_, err := Validate(b, clientCfg(), testNow)
	wantKind(t, err, ErrInvalidRecord)

	cfg := clientCfg()
	cfg.FromClient = false // replicated data carries the leader's offsets
	mustValidate(t, b, cfg)
}

func TestValidate_BatchLargerThanMaxMessageBytesIsMessageTooLarge(t *testing.T) {
	b := mustBuild(t, sampleRecords(20, 100), DefaultBuildOptions())
	cfg := clientCfg()
	cfg.MaxMessageBytes = len(b)
	mustValidate(t, b, cfg)
	cfg.MaxMessageBytes = len(b) - 1
	_, err := Validate(b, cfg, testNow)
	wantKind(t, err, ErrMessageTooLarge)
	// Size is checked before the CRC, as in Log.analyzeAndValidateRecords.
	b[len(b)-1] ^= 1
	_, err = Validate(b, cfg, testNow)
	wantKind(t, err, ErrMessageTooLarge)
}

func TestValidate_ProduceV3RequiresMagicV2(t *testing.T) {
	b := mustBuild(t, sampleRecords(2, 5), DefaultBuildOptions())
	cases := []struct {
		magic byte
		kind  error
	}{
		{0, ErrInvalidRecord}, // ProduceRequest.validateRecords: InvalidRecordException
		{1, ErrInvalidRecord},
		{3, ErrCorrupt}, // ByteBufferLogInputStream: "Invalid magic found"
		{0xff, ErrCorrupt},
	}
	for _, c := range cases {
		v := append(Batch(nil), b...)
		v[offMagic] = c.magic
		_, err := Validate(v, clientCfg(), testNow)
		wantKind(t, err, c.kind)
	}
}

func TestValidate_CompressionCodec5To7IsUnsupported(t *testing.T) {
	for id := int16(5); id <= 7; id++ {
		b := rawBatch(simpleRecord(0, nil), 1, 0, id)
		_, err := Validate(b, clientCfg(), testNow)
		wantKind(t, err, ErrUnsupportedCompression)
		if err := b.Records(0, func(Record) error { return nil }); !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("Records: %v", err)
		}
	}
}

func TestValidate_RecordCountMustMatchLastOffsetDelta(t *testing.T) {
	two := append(simpleRecord(0, nil), simpleRecord(1, nil)...)
	cases := []struct {
		name       string
		count, lod int32
	}{
		{"count above last offset delta + 1", 3, 1},
		{"count below last offset delta + 1", 2, 2},
		{"zero count", 0, -1},
		{"negative last offset delta", 2, -1},
		{"negative count", -1, 1},
		{"max int32 last offset delta", 2, math.MaxInt32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Validate(rawBatch(two, c.count, c.lod, 0), clientCfg(), testNow)
			wantKind(t, err, ErrInvalidRecord)
		})
	}
}

func TestValidate_ClientMayNotSendControlBatches(t *testing.T) {
	o := DefaultBuildOptions()
	o.Control, o.Transactional, o.ProducerID, o.ProducerEpoch = true, true, 1, 0
	b := mustBuild(t, []BuildRecord{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}, Timestamp: testNow}}, o)
	_, err := Validate(b, clientCfg(), testNow)
	wantKind(t, err, ErrInvalidRecord)
	cfg := clientCfg()
	cfg.FromClient = false // the coordinator's own markers
	mustValidate(t, b, cfg)
}

func TestValidate_IdempotentBatchNeedsBaseSequence(t *testing.T) {
	o := DefaultBuildOptions()
	o.ProducerID, o.ProducerEpoch, o.BaseSequence = 1000, 0, -1
	_, err := Validate(mustBuild(t, sampleRecords(2, 5), o), clientCfg(), testNow)
	wantKind(t, err, ErrInvalidRecord)
	o.BaseSequence = 0
	mustValidate(t, mustBuild(t, sampleRecords(2, 5), o), clientCfg())
}

func TestValidate_ClientOffsetDeltasMustBeZeroToNMinusOne(t *testing.T) {
	cases := map[string][]int64{
		"starts at 1":   {1, 2},
		"repeats":       {0, 0},
		"goes backward": {1, 0},
		"skips":         {0, 2},
	}
	for name, deltas := range cases {
		t.Run(name, func(t *testing.T) {
			var recs []byte
			for _, d := range deltas {
				recs = append(recs, simpleRecord(d, nil)...)
			}
			_, err := Validate(rawBatch(recs, 2, 1, 0), clientCfg(), testNow)
			wantKind(t, err, ErrInvalidRecord)
		})
	}
}

func TestValidate_ReplicatedBatchMayHaveCompactionGaps(t *testing.T) {
	cfg := clientCfg()
	cfg.FromClient = false
	recs := append(append(simpleRecord(0, nil), simpleRecord(3, nil)...), simpleRecord(9, nil)...)
	info := mustValidate(t, rawBatch(recs, 3, 9, 0), cfg)
	if info.NumRecords != 3 || info.LastOffsetDelta != 9 {
		t.Fatalf("Info = %+v", info)
	}
	// An empty batch kept for producer state (LogCleaner) is legal too.
	mustValidate(t, rawBatch(nil, 0, 4, 0), cfg)

	for name, bad := range map[string]Batch{
		"delta above last offset delta": rawBatch(simpleRecord(10, nil), 1, 9, 0),
		"decreasing deltas":             rawBatch(append(simpleRecord(3, nil), simpleRecord(2, nil)...), 2, 9, 0),
		"negative last offset delta":    rawBatch(nil, 0, -1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Validate(bad, cfg, testNow)
			wantKind(t, err, ErrInvalidRecord)
		})
	}
}

// malformedRecords are record sections that pass the CRC but do not parse,
// each with its record count (always 1 record expected unless noted).
func malformedRecords() map[string]struct {
	recs  []byte
	count int32
} {
	type c = struct {
		recs  []byte
		count int32
	}
	good := simpleRecord(0, []byte("k"))
	return map[string]c{
		"record length past end":         {append(vi(100), good[1:]...), 1},
		"record length negative":         {append(vi(-5), good[1:]...), 1},
		"record length below minimum":    {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1)), 1},
		"record length varint overlong":  {append([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, good[1:]...), 1},
		"trailing garbage after records": {append(append([]byte(nil), good...), 0, 0, 0), 1},
		"fewer records than count":       {good, 2},
		"key length below -1":            {rec([]byte{0}, vi(0), vi(0), vi(-2), vi(1), []byte("v"), vi(0)), 1},
		"key past record end":            {rec([]byte{0}, vi(0), vi(0), vi(50), []byte("k"), vi(-1), vi(0)), 1},
		"value past record end":          {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(50), []byte("v"), vi(0)), 1},
		"negative header count":          {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(-1)), 1},
		"header count beyond bytes":      {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(math.MaxInt32)), 1},
		"null header key":                {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), 1},
		"header value past end":          {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(1), vi(1), []byte("h"), vi(9)), 1},
		"record longer than its fields":  {rec([]byte{0}, vi(0), vi(0), vi(-1), vi(-1), vi(0), []byte{7, 7}), 1},
		"timestamp delta overlong": {rec([]byte{0}, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00},
			vi(0), vi(-1), vi(-1), vi(0)), 1},
		"offset delta above 32 bits": {rec([]byte{0}, vi(0), []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, vi(-1), vi(-1), vi(0)), 1},
		"huge count, tiny section":   {good, math.MaxInt32},
	}
}

// Kafka 2.8: a record that does not parse inside a batch whose CRC is valid is INVALID_RECORD
// (DefaultRecord.readFrom throws InvalidRecordException), not the retriable CORRUPT_MESSAGE.
func TestValidate_MalformedRecordsAreInvalidRecord(t *testing.T) {
	cfg := clientCfg()
	cfg.FromClient = false // count/offset rules aside: the walk itself must fail
	for name, c := range malformedRecords() {
		for _, codec := range allCodecs {
			t.Run(name+"/"+codec.String(), func(t *testing.T) {
				section := c.recs
				if codec != CodecNone {
					var err error
					if section, err = Compress(codec, c.recs); err != nil {
						t.Fatal(err)
					}
				}
				b := rawBatch(section, c.count, max(c.count-1, 0), int16(codec))
				_, err := Validate(b, cfg, testNow)
				wantKind(t, err, ErrInvalidRecord)
				if err := b.Records(0, func(Record) error { return nil }); !errors.Is(err, ErrInvalidRecord) {
					t.Fatalf("Records: %v, want ErrInvalidRecord", err)
				}
			})
		}
	}
}

func TestValidate_CompressedStreamErrorsAreCorruptMessage(t *testing.T) {
	raw := []byte{}
	for i := 0; i < 50; i++ {
		raw = append(raw, simpleRecord(int64(i), []byte("key"))...)
	}
	for _, codec := range allCodecs[1:] {
		comp, err := Compress(codec, raw)
		if err != nil {
			t.Fatal(err)
		}
		cases := map[string][]byte{
			"truncated stream": comp[:len(comp)/2],
			"empty stream":     nil,
			"garbage stream":   bytes.Repeat([]byte{0x5a}, 64),
			"trailing garbage": append(append([]byte(nil), comp...), 0xde, 0xad, 0xbe, 0xef),
		}
		for name, section := range cases {
			t.Run(codec.String()+"/"+name, func(t *testing.T) {
				_, err := Validate(rawBatch(section, 50, 49, int16(codec)), clientCfg(), testNow)
				if name == "empty stream" && errors.Is(err, ErrInvalidRecord) {
					return // a codec whose empty stream is legal yields no records: the count check fires
				}
				wantKind(t, err, ErrCorrupt)
			})
		}
	}
}

func TestValidate_CompactedTopicRequiresKeys(t *testing.T) {
	recs := sampleRecords(4, 5)
	recs[1].Key, recs[3].Key = nil, nil
	recs[2].Key = []byte{} // empty is a key; only null is rejected
	cfg := clientCfg()
	cfg.Compacted = true
	for _, c := range allCodecs {
		_, err := Validate(mustBuild(t, recs, optCodec(c)), cfg, testNow)
		wantKind(t, err, ErrInvalidRecord)
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Records) != 2 || ve.Records[0].BatchIndex != 1 || ve.Records[1].BatchIndex != 3 {
			t.Fatalf("record errors: %+v", ve)
		}
	}
	cfg.Compacted = false
	mustValidate(t, mustBuild(t, recs, DefaultBuildOptions()), cfg)
}

func TestValidate_CreateTimeOutsideMaxDiffIsInvalidTimestamp(t *testing.T) {
	const diff = 3600_000
	cases := []struct {
		name string
		ts   int64
		cfg  func(*ValidateConfig)
		ok   bool
	}{
		{"at the limit in the past", testNow - diff, nil, true},
		{"at the limit in the future", testNow + diff, nil, true},
		{"past the limit in the past", testNow - diff - 1, nil, false},
		{"past the limit in the future", testNow + diff + 1, nil, false},
		{"no timestamp (-1) is not checked", NoTimestamp, nil, true},
		{"far past, extreme value", math.MinInt64 + 1, nil, false},
		{"negative limit means unlimited", 0, func(c *ValidateConfig) { c.MaxTimestampDiff = -1 }, true},
		{"MaxInt64 limit means unlimited", 0, func(c *ValidateConfig) { c.MaxTimestampDiff = math.MaxInt64 }, true},
		{"zero limit only accepts now", testNow + 1, func(c *ValidateConfig) { c.MaxTimestampDiff = 0 }, false},
		{"LogAppendTime topic ignores client timestamps", 0, func(c *ValidateConfig) { c.LogAppendTime = true }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := clientCfg()
			cfg.MaxTimestampDiff = diff
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			recs := []BuildRecord{{Value: []byte("a"), Timestamp: testNow}, {Value: []byte("b"), Timestamp: c.ts}}
			_, err := Validate(mustBuild(t, recs, DefaultBuildOptions()), cfg, testNow)
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok {
				wantKind(t, err, ErrInvalidTimestamp)
			}
		})
	}
}

func TestValidate_ProducerBatchFlaggedLogAppendTimeIsInvalidTimestamp(t *testing.T) {
	b := mustBuild(t, sampleRecords(2, 5), DefaultBuildOptions())
	b.SetLogAppendTime(testNow)
	_, err := Validate(b, clientCfg(), testNow)
	wantKind(t, err, ErrInvalidTimestamp)
	cfg := clientCfg()
	cfg.FromClient = false // what the leader stored and followers fetch
	info := mustValidate(t, b, cfg)
	if info.MaxTimestamp != testNow {
		t.Fatalf("MaxTimestamp %d", info.MaxTimestamp)
	}
}

func TestValidate_TimestampErrorWinsOverKeyErrorAsInProcessRecordErrors(t *testing.T) {
	cfg := clientCfg()
	cfg.Compacted, cfg.MaxTimestampDiff = true, 1000
	recs := []BuildRecord{
		{Key: nil, Value: []byte("a"), Timestamp: testNow},                // key error
		{Key: []byte("k"), Value: []byte("b"), Timestamp: testNow + 5000}, // timestamp error
	}
	_, err := Validate(mustBuild(t, recs, DefaultBuildOptions()), cfg, testNow)
	wantKind(t, err, ErrInvalidTimestamp)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Records) != 2 {
		t.Fatalf("record errors: %v", err)
	}
	// A record with both problems reports only its key (validateKey.orElse).
	recs = []BuildRecord{{Key: nil, Value: []byte("a"), Timestamp: testNow + 5000}}
	_, err = Validate(mustBuild(t, recs, DefaultBuildOptions()), cfg, testNow)
	wantKind(t, err, ErrInvalidRecord)
}

func TestValidate_LogAppendTimeTopicReportsNowAndLastOffset(t *testing.T) {
	cfg := clientCfg()
	cfg.LogAppendTime = true
	info := mustValidate(t, mustBuild(t, sampleRecords(5, 5), optCodec(CodecSnappy)), cfg)
	if info.MaxTimestamp != testNow || info.OffsetOfMaxTimestampDelta != 4 {
		t.Fatalf("Info = %+v", info)
	}
}

func TestValidate_NoTimestampRecordsReportMinusOne(t *testing.T) {
	recs := []BuildRecord{{Value: []byte("a"), Timestamp: -1}, {Value: []byte("b"), Timestamp: -1}}
	info := mustValidate(t, mustBuild(t, recs, DefaultBuildOptions()), clientCfg())
	if info.MaxTimestamp != NoTimestamp || info.OffsetOfMaxTimestampDelta != -1 {
		t.Fatalf("Info = %+v", info)
	}
}

// TestValidate_DecompressionBombIsCorruptMessage feeds 32 MiB of zeros
// compressed with each codec through a 1 MiB cap: it must fail without
// allocating anything near the inflated size.
// codecState bounds what a codec allocates for its own state when its pool is
// empty: gzip's tables, lz4's block buffer, zstd's history window.
var codecState = map[Codec]uint64{CodecNone: 0, CodecGzip: 1 << 20, CodecSnappy: 0, CodecLZ4: 9 << 20, CodecZstd: zstdMaxWindow + 1<<20}

func TestValidate_DecompressionBombIsCorruptMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 32 MiB inputs")
	}
	zeros := make([]byte, 32<<20)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, zeros)
			if err != nil {
				t.Fatal(err)
			}
			b := rawBatch(comp, 1, 0, int16(c))
			cfg := clientCfg()
			cfg.MaxMessageBytes, cfg.MaxUncompressed = 0, 1<<20
			// Warm the pools so the measurement sees only this input's cost.
			Validate(b, cfg, testNow)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = Validate(b, cfg, testNow)
			runtime.ReadMemStats(&after)
			wantKind(t, err, ErrCorrupt)
			// Output is capped at 1 MiB (+1 byte, doubling from the hint). A
			// GC may have emptied the decoder pools, so the codec's own bounded
			// state can be allocated again too (zstd: its history window, up to
			// zstdMaxWindow): the bound is that, never the 32 MiB the bomb holds.
			limit := uint64(4<<20) + codecState[c]
			if grew := after.TotalAlloc - before.TotalAlloc; grew > limit {
				t.Fatalf("allocated %d bytes for a 1 MiB cap (limit %d)", grew, limit)
			}
		})
	}
}

func TestValidate_ZstdFrameDeclaringHugeWindowIsRejected(t *testing.T) {
	// Frame header: magic, descriptor 0x00 (no single segment, no checksum,
	// no content size), window descriptor exponent 20 => 1 GiB, then a last
	// raw block of 1 byte.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x09, 0x00, 0x00, 'x'}
	_, err := Decompress(CodecZstd, frame, 1<<20)
	wantKind(t, err, ErrCorrupt)
	// The same frame with a 1 MiB window (exponent 10) decodes.
	frame[5] = 10 << 3
	out, err := Decompress(CodecZstd, frame, 1<<20)
	if err != nil || string(out) != "x" {
		t.Fatalf("small window: %q, %v", out, err)
	}
}

func TestValidate_UncompressedBatchDoesNotAllocate(t *testing.T) {
	b := mustBuild(t, sampleRecords(100, 100), DefaultBuildOptions())
	cfg := clientCfg()
	cfg.MaxTimestampDiff = math.MaxInt64 - 1
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Validate(b, cfg, testNow); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Validate allocated %.1f times per run", allocs)
	}
}

// TestValidate_ConcurrentCompressedBatches exercises the shared decoder
// pools and free lists from several goroutines (run with -race).
func TestValidate_ConcurrentCompressedBatches(t *testing.T) {
	var batches []Batch
	for _, c := range allCodecs {
		batches = append(batches, mustBuild(t, sampleRecords(40, 200), optCodec(c)))
	}
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 25; i++ {
				for _, b := range batches {
					if _, err := Validate(b, clientCfg(), testNow); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
