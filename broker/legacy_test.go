package broker

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// legacyTestSet is a magic 0/1 message set of n messages (keys k0.., values v0.., timestamps ts+i) compressed
// with c, made by down-converting a v2 batch.
func legacyTestSet(t *testing.T, magic int8, c record.Codec, n int, ts int64) []byte {
	t.Helper()
	recs := make([]record.BuildRecord, n)
	for i := range recs {
		recs[i] = record.BuildRecord{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i)), Timestamp: ts + int64(i)}
	}
	opt := record.DefaultBuildOptions()
	opt.Codec = c
	b, err := record.Build(recs, opt)
	if err != nil {
		t.Fatal(err)
	}
	set, err := record.DownConvert(b, magic, 0, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// fetchV4Records fetches tp from offset 0 with Fetch v4 and returns the stored batches' records.
func fetchStored(t *testing.T, db *dataBroker, topic string) (batches []record.Batch, recs []record.Record) {
	t.Helper()
	resp, err := db.call(handleFetch, fetchRequest(4, topic, 0), "c")
	if err != nil {
		t.Fatal(err)
	}
	data := decodeFetch(t, 4, resp).Topics[0].Partitions[0].RecordBatches
	for len(data) > 0 {
		b, rest, err := record.Next(data)
		if err != nil {
			t.Fatal(err)
		}
		batches = append(batches, b)
		if err := b.Records(0, func(r record.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		data = rest
	}
	return batches, recs
}

// TestProduce_LegacyVersionsUpConvertToOneBatchV2 is LogValidatorTest's conversion cases at the handler: produce
// v0/v1 (magic 0) and v2 (magic 1) sets of every codec are stored as one v2 batch per request with the producer's
// codec (compression.type=producer), consecutive offsets, CreateTime timestamps (magic 0: NO_TIMESTAMP).
func TestProduce_LegacyVersionsUpConvertToOneBatchV2(t *testing.T) {
	now := time.Now().UnixMilli()
	for _, v := range []int16{0, 1, 2} {
		for _, c := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecSnappy, record.CodecLZ4} {
			t.Run(fmt.Sprintf("v%d/%s", v, c), func(t *testing.T) {
				db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
				magic := int8(0)
				if v == 2 {
					magic = 1
				}
				for round := 0; round < 2; round++ {
					resp, err := db.call(handleProduce, produceRequest(v, 1, "t", map[int32][]byte{0: legacyTestSet(t, magic, c, 3, now)}), "c")
					if err != nil {
						t.Fatal(err)
					}
					if p := produceCodes(t, resp)[0]; p.ErrorCode != 0 || p.BaseOffset != int64(3*round) {
						t.Fatalf("round %d: %+v", round, p)
					}
				}
				batches, recs := fetchStored(t, db, "t")
				if len(batches) != 2 || len(recs) != 6 {
					t.Fatalf("%d batches, %d records", len(batches), len(recs))
				}
				for _, b := range batches {
					if b.Compression() != c || b.ProducerID() != -1 || b.LogAppendTime() {
						t.Fatalf("batch codec %v producer %d", b.Compression(), b.ProducerID())
					}
				}
				for i, r := range recs {
					wantTs := int64(-1)
					if magic == 1 {
						wantTs = now + int64(i%3)
					}
					if r.Offset != int64(i) || string(r.Key) != fmt.Sprint("k", i%3) || string(r.Value) != fmt.Sprint("v", i%3) || r.Timestamp != wantTs {
						t.Fatalf("record %d = %+v", i, r)
					}
				}
			})
		}
	}
}

// TestProduce_LegacyTargetCodecIsTopicCompressionType: BrokerCompressionCodec.getTargetCompressionCodec — a
// topic compression.type other than producer recompresses converted sets.
func TestProduce_LegacyTargetCodecIsTopicCompressionType(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	tc := db.currentConfig().TopicDefaults()
	tc.CompressionType = "lz4"
	db.topics.set("t", tc)
	resp, err := db.call(handleProduce, produceRequest(2, 1, "t", map[int32][]byte{0: legacyTestSet(t, 1, record.CodecGzip, 2, time.Now().UnixMilli())}), "c")
	if err != nil || produceCodes(t, resp)[0].ErrorCode != 0 {
		t.Fatalf("%v %+v", err, resp)
	}
	if batches, _ := fetchStored(t, db, "t"); batches[0].Compression() != record.CodecLZ4 {
		t.Fatalf("codec %v", batches[0].Compression())
	}
}

// TestProduce_LegacyRules: the errors Kafka answers for legacy sets, the empty set, the v2 batch a produce v0–v2
// may carry (ProduceRequest.validateRecords checks magic from v3 only), and magic 1 refused in produce v3+.
func TestProduce_LegacyRules(t *testing.T) {
	now := time.Now().UnixMilli()
	good := legacyTestSet(t, 1, record.CodecNone, 2, now)
	badCRC := bytes.Clone(good)
	badCRC[14] ^= 0xff
	mixed := append(legacyTestSet(t, 0, record.CodecNone, 1, now), good...)
	old := legacyTestSet(t, 1, record.CodecNone, 1, now-30*24*3600*1000)
	cases := []struct {
		name     string
		version  int16
		recs     []byte
		code     int16
		appended int
	}{
		{"corrupt CRC is CORRUPT_MESSAGE", 2, badCRC, kerr.CorruptMessage.Code, 0},
		{"mixed magic is INVALID_RECORD", 2, mixed, kerr.InvalidRecord.Code, 0},
		{"timestamp out of range is INVALID_TIMESTAMP", 2, old, kerr.InvalidTimestamp.Code, 0},
		{"no complete message appends nothing", 0, good[:10], 0, 0},
		{"v2 batch in produce v2 is appended", 2, buildTestBatch(t, 2, record.DefaultBuildOptions(), []byte("k")), 0, 2},
		{"magic 1 in produce v3 is INVALID_RECORD", 3, good, kerr.InvalidRecord.Code, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
			tc := db.currentConfig().TopicDefaults()
			tc.MessageTimestampDifferenceMaxMs = 3600 * 1000
			db.topics.set("t", tc)
			db.replicas.UpdateTopicConfig("t", storage.Config(tc.Log()), 1)
			resp, err := db.call(handleProduce, produceRequest(c.version, 1, "t", map[int32][]byte{0: c.recs}), "c")
			if err != nil {
				t.Fatal(err)
			}
			p := produceCodes(t, resp)[0]
			if p.ErrorCode != c.code {
				t.Fatalf("error %d, want %d", p.ErrorCode, c.code)
			}
			if c.code == 0 && c.appended == 0 && p.BaseOffset != -1 {
				t.Fatalf("base offset %d for nothing appended", p.BaseOffset)
			}
			if _, recs := fetchStored(t, db, "t"); len(recs) != c.appended {
				t.Fatalf("%d records stored", len(recs))
			}
		})
	}
}

// TestFetch_LegacyVersionsDownConvert: fetch v0–v1 answer magic 0, v2–v3 magic 1 (timestamps kept), control
// batches dropped, offsets kept, records below the fetch offset dropped from uncompressed batches; the
// responses decode with kmsg at their version.
func TestFetch_LegacyVersionsDownConvert(t *testing.T) {
	x := storage.TopicPartition{Topic: "t", Partition: 0}
	db := newDataBroker(t, nil, x)
	now := time.Now().UnixMilli()
	for _, c := range []record.Codec{record.CodecNone, record.CodecGzip} {
		recs := []record.BuildRecord{{Key: []byte("a"), Value: []byte("1"), Timestamp: now}, {Key: []byte("b"), Value: []byte("2"), Timestamp: now + 1}}
		opt := record.DefaultBuildOptions()
		opt.Codec = c
		batch, _ := record.Build(recs, opt)
		if _, err := db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: batch}), "c"); err != nil {
			t.Fatal(err)
		}
	}
	for v := int16(0); v <= 3; v++ {
		req := fetchRequest(v, "t", 0)
		req.Topics[0].Partitions[0].FetchOffset = 1
		resp, err := db.call(handleFetch, req, "c")
		if err != nil {
			t.Fatal(err)
		}
		p := decodeFetch(t, v, resp).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 4 {
			t.Fatalf("v%d: %+v", v, p)
		}
		wantMagic := int8(0)
		if v >= 2 {
			wantMagic = 1
		}
		var offs []int64
		err = record.WalkLegacy(p.RecordBatches, 0, func(_, m *record.LegacyMessage) error {
			offs = append(offs, m.Offset)
			wantTs := int64(-1)
			if wantMagic == 1 {
				wantTs = now + (m.Offset % 2)
			}
			if m.Magic != wantMagic || m.Timestamp != wantTs {
				return fmt.Errorf("message %+v", *m)
			}
			return nil
		})
		if err != nil || fmt.Sprint(offs) != "[1 2 3]" {
			t.Fatalf("v%d: offsets %v, %v", v, offs, err)
		}
	}
}

// TestFetch_LegacyDownConversionDisabledIsUnsupportedVersion: message.downconversion.enable=false answers
// UNSUPPORTED_VERSION (with offsets -1) to old consumers that would need converted data, not to v4+ and not
// for an empty read; a zstd topic answers UNSUPPORTED_COMPRESSION_TYPE to consumers below v10 (KIP-110).
func TestFetch_LegacyDownConversionDisabledIsUnsupportedVersion(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0})
	tc := db.currentConfig().TopicDefaults()
	tc.MessageDownconversionEnable = false
	db.topics.set("t", tc)
	fetch := func(v int16, offset int64) kmsg.FetchResponseTopicPartition {
		req := fetchRequest(v, "t", 0)
		req.Topics[0].Partitions[0].FetchOffset = offset
		resp, err := db.call(handleFetch, req, "c")
		if err != nil {
			t.Fatal(err)
		}
		return decodeFetch(t, v, resp).Topics[0].Partitions[0]
	}
	if p := fetch(1, 0); p.ErrorCode != 0 {
		t.Fatalf("empty read: %+v", p)
	}
	if _, err := db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 2, record.DefaultBuildOptions(), nil)}), "c"); err != nil {
		t.Fatal(err)
	}
	if p := fetch(2, 0); p.ErrorCode != kerr.UnsupportedVersion.Code || p.HighWatermark != -1 || len(p.RecordBatches) != 0 {
		t.Fatalf("disabled: %+v", p)
	}
	if p := fetch(4, 0); p.ErrorCode != 0 || countRecords(t, p.RecordBatches) != 2 {
		t.Fatalf("v4: %+v", p)
	}
	tc.CompressionType = "zstd"
	db.topics.set("t", tc)
	for _, v := range []int16{3, 4, 9} {
		if p := fetch(v, 2); p.ErrorCode != kerr.UnsupportedCompressionType.Code || p.HighWatermark != -1 {
			t.Fatalf("zstd topic, fetch v%d: %+v", v, p)
		}
	}
	if p := fetch(10, 0); p.ErrorCode != 0 || countRecords(t, p.RecordBatches) != 2 {
		t.Fatalf("zstd topic, fetch v10 (reads zstd): %+v", p)
	}
}

// TestListOffsets_V0OffsetsBefore: Log.legacyFetchOffsetsBefore for latest and earliest, max_num_offsets, the
// consumer's high watermark cap and errors.
func TestListOffsets_V0OffsetsBefore(t *testing.T) {
	db := newDataBroker(t, nil, storage.TopicPartition{Topic: "t", Partition: 0}, storage.TopicPartition{Topic: "t", Partition: 1})
	db.call(handleProduce, produceRequest(7, 1, "t", map[int32][]byte{0: buildTestBatch(t, 4, record.DefaultBuildOptions(), nil)}), "c")
	ask := func(replicaID int32, p int32, ts int64, maxNum int32) kmsg.ListOffsetsResponseTopicPartition {
		req := listOffsetsRequest(0, replicaID, "t", map[int32]int64{p: ts})
		req.Topics[0].Partitions[0].MaxNumOffsets = maxNum
		return listOffsetsAnswer(t, db, req)[p]
	}
	cases := []struct {
		name      string
		replicaID int32
		partition int32
		ts        int64
		maxNum    int32
		want      string
		code      int16
	}{
		{"latest", -1, 0, -1, 1, "[4]", 0},
		{"latest and earlier, descending", -1, 0, -1, 5, "[4 0]", 0},
		{"earliest", -1, 0, -2, 3, "[0]", 0},
		{"empty log", -1, 1, -1, 2, "[0]", 0},
		{"future timestamp", -1, 0, time.Now().UnixMilli() + 60000, 1, "[4]", 0},
		{"no offsets asked", -1, 0, -1, 0, "[]", 0},
		{"unknown partition", -1, 7, -1, 1, "[]", kerr.UnknownTopicOrPartition.Code},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ask(c.replicaID, c.partition, c.ts, c.maxNum)
			if p.ErrorCode != c.code || fmt.Sprint(p.OldStyleOffsets) != c.want {
				t.Fatalf("%+v, want %s", p, c.want)
			}
		})
	}
}

// TestFetchEncode_LegacyVersionsMatchKmsg: the hand encoder's v0–v3 bytes (no throttle in v0, no LSO or aborted
// transactions) with an in-memory message set equal kmsg's.
func TestFetchEncode_LegacyVersionsMatchKmsg(t *testing.T) {
	set := legacyTestSet(t, 1, record.CodecNone, 3, 1000)
	for v := int16(0); v <= 3; v++ {
		f := &fetchResponse{version: v, throttleMs: 5, topics: []fetchResponseTopic{{name: "t", partitions: []fetchResponsePartition{
			{partition: 0, highWatermark: 3, lastStableOffset: 3, logStartOffset: 0, records: set},
			{partition: 1, errorCode: 35, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1},
		}}}}
		k := kmsg.NewPtrFetchResponse()
		k.Version = v
		if v >= 1 {
			k.ThrottleMillis = 5
		}
		p0 := kmsg.NewFetchResponseTopicPartition()
		p0.HighWatermark, p0.RecordBatches = 3, set
		p1 := kmsg.NewFetchResponseTopicPartition()
		p1.Partition, p1.ErrorCode, p1.HighWatermark, p1.RecordBatches = 1, 35, -1, []byte{}
		k.Topics = []kmsg.FetchResponseTopic{{Topic: "t", Partitions: []kmsg.FetchResponseTopicPartition{p0, p1}}}
		if got, want := materializeChunks(t, f.chunks()), k.AppendTo(nil); !bytes.Equal(got, want) {
			t.Fatalf("v%d:\n got %x\nwant %x", v, got, want)
		}
	}
}
