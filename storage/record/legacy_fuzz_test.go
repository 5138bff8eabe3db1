package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// legacyFuzzSeeds: every magic and codec, wrappers, mixed sets and the shapes
// the decoder must refuse.
func legacyFuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, magic := range []int8{MagicV0, MagicV1} {
		seeds = append(seeds, legacySet(t, magic, plainMsgs(3, testNow)...))
		for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4} {
			seeds = append(seeds, legacySet(t, magic,
				legacyMsg{Offset: 2, Codec: c, Timestamp: testNow, Inner: plainMsgs(3, testNow)},
				legacyMsg{Offset: 3, Value: []byte("tail")}))
		}
		seeds = append(seeds, legacySet(t, magic, legacyMsg{Offset: 1, Codec: CodecGzip, Inner: []legacyMsg{
			{Codec: CodecSnappy, Inner: plainMsgs(1, testNow)}}}))
	}
	seeds = append(seeds, append(legacySet(t, MagicV0, plainMsgs(1, 0)...), legacySet(t, MagicV1, plainMsgs(1, testNow)...)...))
	return seeds
}

// fixLegacyCRCs repairs the CRC of every shallow entry whose framing is
// intact, so mutations reach the body and the compressed payloads.
func fixLegacyCRCs(set []byte) []byte {
	out := bytes.Clone(set)
	for p := 0; len(out)-p >= legacyOffsetSize+legacyOverheadV0; {
		size := int(int32(binary.BigEndian.Uint32(out[p+8:])))
		if size < legacyOverheadV0 || size > len(out)-p-legacyOffsetSize {
			break
		}
		body := out[p+legacyOffsetSize : p+legacyOffsetSize+size]
		binary.BigEndian.PutUint32(body, crc32.ChecksumIEEE(body[4:]))
		p += legacyOffsetSize + size
	}
	return out
}

// FuzzLegacyMessageSet: WalkLegacy and UpConvert never panic and fail only
// with our error kinds; whatever UpConvert accepts is one v2 batch that
// Validate accepts and that holds exactly the messages WalkLegacy reads.
func FuzzLegacyMessageSet(f *testing.F) {
	for _, s := range legacyFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzLegacyOne(t, data)
		fuzzLegacyOne(t, fixLegacyCRCs(data))
	})
}

func fuzzLegacyOne(t *testing.T, data []byte) {
	var walked []LegacyMessage
	walkErr := WalkLegacy(data, fuzzCap, func(_, m *LegacyMessage) error { walked = append(walked, *m); return nil })
	if walkErr != nil && !knownKind(walkErr) {
		t.Fatalf("WalkLegacy: error of unknown kind: %v", walkErr)
	}
	before := bytes.Clone(data)
	v2, err := UpConvert(data, UpConvertOptions{TargetCodec: CodecProducer, MaxUncompressed: fuzzCap})
	if !bytes.Equal(before, data) {
		t.Fatal("UpConvert modified its input")
	}
	if err != nil {
		if !knownKind(err) {
			t.Fatalf("UpConvert: error of unknown kind: %v", err)
		}
		return
	}
	if walkErr != nil {
		t.Fatalf("UpConvert accepted what WalkLegacy refused: %v", walkErr)
	}
	if v2 == nil {
		if len(walked) != 0 {
			t.Fatalf("no batch for %d messages", len(walked))
		}
		return
	}
	cfg := ValidateConfig{MaxUncompressed: 4 * fuzzCap, MaxTimestampDiff: -1, FromClient: true}
	if _, err := Validate(v2, cfg, testNow); err != nil {
		t.Fatalf("converted batch rejected: %v", err)
	}
	i := 0
	err = Batch(v2).Records(4*fuzzCap, func(r Record) error {
		m := walked[i]
		if !bytes.Equal(r.Key, m.Key) || (r.Key == nil) != (m.Key == nil) || !bytes.Equal(r.Value, m.Value) ||
			(r.Value == nil) != (m.Value == nil) || r.Timestamp != m.Timestamp {
			t.Fatalf("record %d = %+v, message %+v", i, r, m)
		}
		i++
		return nil
	})
	if err != nil || i != len(walked) {
		t.Fatalf("records: %v after %d of %d", err, i, len(walked))
	}
}

// FuzzDownConvert: DownConvert never panics on log bytes, fails only with our
// error kinds, and what it produces is a legacy set of that magic that WalkLegacy
// reads and UpConvert accepts again.
func FuzzDownConvert(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add([]byte(s), int64(0))
	}
	f.Add(v2Log(f, batchAt(f, 0, 3, CodecNone), batchAt(f, 3, 4, CodecLZ4), batchAt(f, 7, 2, CodecGzip)), int64(4))
	f.Fuzz(func(t *testing.T, data []byte, firstOffset int64) {
		for _, magic := range []int8{MagicV0, MagicV1} {
			out, err := DownConvert(data, magic, firstOffset, 1<<20, fuzzCap)
			if err != nil {
				if !knownKind(err) {
					t.Fatalf("error of unknown kind: %v", err)
				}
				continue
			}
			// Offsets are copied, not checked: the log is trusted to keep them in order.
			err = WalkLegacy(out, 4*fuzzCap, func(_, m *LegacyMessage) error {
				if m.Magic != magic {
					t.Fatalf("message %+v", *m)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("down-converted set unreadable: %v", err)
			}
			// LogAppendTime survives in magic 1, which producers may not send.
			if _, err := UpConvert(out, UpConvertOptions{TargetCodec: CodecProducer, MaxUncompressed: 4 * fuzzCap}); err != nil && !errors.Is(err, ErrInvalidTimestamp) {
				t.Fatalf("down-converted set refused by UpConvert: %v", err)
			}
		}
	})
}
