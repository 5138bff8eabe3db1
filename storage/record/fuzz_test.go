package record

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
)

const fuzzCap = 1 << 20

// fuzzSeeds are well-formed batches for every codec plus the shapes the
// validator must reject; the fuzzer mutates from there.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range allCodecs {
		seeds = append(seeds, mustBuild(t, sampleRecords(1, 0), optCodec(c)), mustBuild(t, sampleRecords(6, 30), optCodec(c)))
		o := optCodec(c)
		o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = 5, 1, 0, true
		seeds = append(seeds, mustBuild(t, sampleRecords(3, 8), o))
	}
	lat := mustBuild(t, sampleRecords(2, 4), optCodec(CodecLZ4))
	lat.SetLogAppendTime(testNow)
	seeds = append(seeds, lat)
	o := DefaultBuildOptions()
	o.Control, o.Transactional, o.ProducerID = true, true, 9
	seeds = append(seeds, mustBuild(t, []BuildRecord{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 1}}}, o))
	for _, m := range malformedRecords() {
		seeds = append(seeds, rawBatch(m.recs, m.count, max(m.count-1, 0), 0))
	}
	gap := append(append(simpleRecord(0, nil), simpleRecord(3, nil)...), simpleRecord(9, nil)...)
	seeds = append(seeds, rawBatch(gap, 3, 9, 0))
	return seeds
}

// FuzzRecordBatch: Validate never panics and fails only with our error
// kinds; whatever it accepts, Records reads back consistently, and
// rebuilding the same records with Build validates again.
func FuzzRecordBatch(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOne(t, data)
		// Almost every mutation breaks the CRC, which would keep the fuzzer
		// out of the record walk; check a copy with the CRC repaired too.
		if len(data) >= HeaderSize {
			fixed := bytes.Clone(data)
			Batch(fixed).setCRC()
			fuzzOne(t, fixed)
		}
	})
}

func fuzzOne(t *testing.T, data []byte) {
	_, _, _, _ = PeekHeader(data)
	if b, _, err := Next(data); err == nil {
		_ = b.Records(fuzzCap, func(Record) error { return nil }) // must not panic either
	}
	for _, fromClient := range []bool{true, false} {
		cfg := ValidateConfig{MaxUncompressed: fuzzCap, MaxTimestampDiff: -1, FromClient: fromClient}
		before := bytes.Clone(data)
		info, err := Validate(data, cfg, testNow)
		if !bytes.Equal(before, data) {
			t.Fatal("Validate modified its input")
		}
		if err != nil {
			if !knownKind(err) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			continue
		}
		checkAccepted(t, Batch(data), info, cfg)
	}
}

func knownKind(err error) bool {
	for _, k := range []error{ErrCorrupt, ErrInvalidRecord, ErrInvalidTimestamp, ErrMessageTooLarge, ErrUnsupportedCompression} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

func checkAccepted(t *testing.T, b Batch, info Info, cfg ValidateConfig) {
	var recs []BuildRecord
	var got []Record
	maxTs := int64(NoTimestamp)
	err := b.Records(fuzzCap, func(r Record) error {
		got = append(got, r)
		recs = append(recs, BuildRecord{Key: r.Key, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers})
		maxTs = max(maxTs, r.Timestamp)
		return nil
	})
	if err != nil {
		t.Fatalf("Validate accepted but Records failed: %v", err)
	}
	if int32(len(got)) != info.NumRecords || info.Size != len(b) || info.Codec != b.Compression() {
		t.Fatalf("Info %+v for %d records", info, len(got))
	}
	if info.MaxTimestamp != maxTs {
		t.Fatalf("Info.MaxTimestamp %d, records say %d", info.MaxTimestamp, maxTs)
	}
	if len(recs) == 0 {
		return
	}
	opt := BuildOptions{BaseOffset: b.BaseOffset(), Codec: b.Compression(), ProducerID: b.ProducerID(),
		ProducerEpoch: b.ProducerEpoch(), BaseSequence: b.BaseSequence(), Transactional: b.IsTransactional(),
		Control: b.IsControl(), PartitionLeaderEpoch: b.PartitionLeaderEpoch()}
	rebuilt, err := Build(recs, opt)
	if err != nil {
		t.Fatalf("Build of accepted records: %v", err)
	}
	if _, err := Validate(rebuilt, cfg, testNow); err != nil {
		t.Fatalf("rebuilt batch rejected: %v", err)
	}
	i := 0
	err = Batch(rebuilt).Records(fuzzCap, func(r Record) error {
		o := got[i]
		if !bytes.Equal(r.Key, o.Key) || (r.Key == nil) != (o.Key == nil) || !bytes.Equal(r.Value, o.Value) ||
			(r.Value == nil) != (o.Value == nil) || r.Timestamp != o.Timestamp || len(r.Headers) != len(o.Headers) {
			t.Fatalf("record %d changed: %+v vs %+v", i, r, o)
		}
		i++
		return nil
	})
	if err != nil || i != len(got) {
		t.Fatalf("rebuilt records: %v after %d", err, i)
	}
}

// TestValidate_AllocationStaysWithinCaps replays the fuzz seeds and
// deterministic mutations of them (CRC repaired, so the record walk runs)
// and measures what each Validate allocates: the decompression cap plus the
// codec's own bounded state, never anything proportional to a declared
// count or length. The fuzz loop itself cannot afford ReadMemStats.
func TestValidate_AllocationStaysWithinCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: reads MemStats per input")
	}
	// Codec state: gzip ~40 KiB of tables; lz4 one block buffer of up to 4 MiB
	// (the frame's declared block size); zstd a history ring of window+256 KiB
	// with the window capped at zstdMaxWindow.
	overhead := codecState
	rnd := rand.New(rand.NewPCG(7, 7))
	cfg := ValidateConfig{MaxUncompressed: fuzzCap, MaxTimestampDiff: -1, FromClient: true}
	var inputs [][]byte
	for _, s := range fuzzSeeds(t) {
		inputs = append(inputs, s)
		for i := 0; i < 50; i++ {
			m := bytes.Clone(s)
			for j := 0; j < 1+rnd.IntN(4); j++ {
				m[rnd.IntN(len(m))] = byte(rnd.IntN(256))
			}
			if len(m) >= HeaderSize {
				Batch(m).setCRC()
			}
			inputs = append(inputs, m)
		}
	}
	var ms runtime.MemStats
	for i, in := range inputs {
		codec := CodecNone
		if len(in) >= HeaderSize {
			codec = Batch(in).Compression()
		}
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		_, _ = Validate(in, cfg, testNow)
		runtime.ReadMemStats(&ms)
		limit := uint64(4<<10) + overhead[codec]
		if codec != CodecNone {
			limit += 2*fuzzCap + 4*uint64(len(in))
		}
		if grew := ms.TotalAlloc - before; grew > limit {
			t.Fatalf("input %d (%v, %d bytes) allocated %d bytes, limit %d", i, codec, len(in), grew, limit)
		}
	}
}
