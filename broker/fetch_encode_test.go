package broker

import (
	"bytes"
	"io"
	"reflect"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/storage"
	"github.com/samsa-broker/samsa/storage/record"
)

// openEncodeTestLog is a storage.Log in a temp dir holding n batches of recs records each.
func openEncodeTestLog(t testing.TB, n, recs int) *storage.Log {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	lg, err := storage.OpenLog(t.TempDir(), storage.TopicPartition{Topic: "enc", Partition: 0}, storage.DefaultConfig(), 0, 0, true, logrus.NewEntry(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lg.Close() })
	for range n {
		if _, err := lg.AppendAsLeader(buildTestBatch(t, recs, record.DefaultBuildOptions(), []byte("key")), 0); err != nil {
			t.Fatal(err)
		}
	}
	return lg
}

func readRange(t testing.TB, l *storage.Log, offset int64, maxBytes int) []storage.FileRange {
	t.Helper()
	rr, err := l.Read(offset, maxBytes, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	return rr.Ranges
}

// materializeChunks concatenates a chunked body, reading the file ranges (and releasing them).
func materializeChunks(t testing.TB, chunks []Chunk) []byte {
	t.Helper()
	var out []byte
	for _, c := range chunks {
		if c.Bytes != nil {
			out = append(out, c.Bytes...)
			continue
		}
		b, err := c.File.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
		c.File.Release()
	}
	return out
}

// sampleFetchResponse builds the same response for the hand encoder and for kmsg: two topics, a partition
// with two file ranges, one with an error, one empty, read_committed and read_uncommitted partitions.
func sampleFetchResponse(t *testing.T, l *storage.Log, version int16) (*fetchResponse, *kmsg.FetchResponse) {
	r1 := readRange(t, l, 0, 200)   // the first batch whole (KIP-74)
	r2 := readRange(t, l, 1, 1<<20) // everything
	r3 := readRange(t, l, 2, 1<<20)
	var recs1, recs3 []byte
	for _, r := range append(append([]storage.FileRange(nil), r1...), r2...) {
		b, _ := r.Bytes()
		recs1 = append(recs1, b...)
	}
	for _, r := range r3 {
		b, _ := r.Bytes()
		recs3 = append(recs3, b...)
	}
	f := &fetchResponse{version: version, throttleMs: 0, errorCode: 0, sessionID: 0, topics: []fetchResponseTopic{
		{name: "alpha", partitions: []fetchResponsePartition{
			{partition: 0, highWatermark: 3, lastStableOffset: 3, logStartOffset: 0, ranges: append(r1, r2...)},
			{partition: 1, errorCode: 1, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1},
		}},
		{name: "beta-topic", partitions: []fetchResponsePartition{
			{partition: 7, highWatermark: 3, lastStableOffset: 3, logStartOffset: 0, readCommitted: true},
			{partition: 2, highWatermark: 3, lastStableOffset: 3, logStartOffset: 1, readCommitted: true, ranges: r3},
		}},
	}}
	k := kmsg.NewPtrFetchResponse()
	k.Version = version
	part := func(p int32, code int16, hw, lso, ls int64, aborted bool, recs []byte) kmsg.FetchResponseTopicPartition {
		kp := kmsg.NewFetchResponseTopicPartition()
		kp.Partition, kp.ErrorCode, kp.HighWatermark, kp.LastStableOffset, kp.LogStartOffset = p, code, hw, lso, ls
		if aborted {
			kp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
		}
		kp.RecordBatches = append([]byte{}, recs...)
		return kp
	}
	k.Topics = []kmsg.FetchResponseTopic{
		{Topic: "alpha", Partitions: []kmsg.FetchResponseTopicPartition{part(0, 0, 3, 3, 0, false, recs1), part(1, 1, -1, -1, -1, false, nil)}},
		{Topic: "beta-topic", Partitions: []kmsg.FetchResponseTopicPartition{part(7, 0, 3, 3, 0, true, nil), part(2, 0, 3, 3, 1, true, recs3)}},
	}
	if version < 5 {
		for i := range k.Topics {
			for j := range k.Topics[i].Partitions {
				k.Topics[i].Partitions[j].LogStartOffset = -1 // not on the wire before v5
			}
		}
	}
	return f, k
}

func TestFetchEncode_MatchesKmsgEveryVersion(t *testing.T) {
	l := openEncodeTestLog(t, 3, 4)
	for v := int16(4); v <= 12; v++ {
		f, want := sampleFetchResponse(t, l, v)
		got := materializeChunks(t, f.chunks())
		if wantBytes := want.AppendTo(nil); !bytes.Equal(got, wantBytes) {
			t.Fatalf("v%d: hand encoding differs from kmsg:\n got %x\nwant %x", v, got, wantBytes)
		}
		back := kmsg.NewPtrFetchResponse()
		back.Version = v
		if err := back.ReadFrom(got); err != nil {
			t.Fatalf("v%d: kmsg cannot decode: %v", v, err)
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("v%d: decoded %+v\nwant %+v", v, back, want)
		}
	}
}

func TestFetchEncode_SessionErrorHasNoTopics(t *testing.T) {
	for v := int16(7); v <= 12; v++ {
		f := &fetchResponse{version: v, errorCode: 70}
		want := kmsg.NewPtrFetchResponse()
		want.Version, want.ErrorCode = v, 70
		if got := materializeChunks(t, f.chunks()); !bytes.Equal(got, want.AppendTo(nil)) {
			t.Fatalf("v%d: %x", v, got)
		}
	}
}

// BenchmarkFetchEncode encodes a fetch of 8 partitions of 1 MiB each; SetBytes counts the response bytes
// the encoding frames (the records themselves are file ranges, never touched).
func BenchmarkFetchEncode(b *testing.B) {
	l := openEncodeTestLog(b, 64, 64)
	rr := readRange(b, l, 0, 1<<20)
	defer func() {
		for _, r := range rr {
			r.Release()
		}
	}()
	f := &fetchResponse{version: 12}
	for ti := range 2 {
		t := fetchResponseTopic{name: "benchmark-topic-" + string(rune('a'+ti))}
		for p := range 4 {
			// Release is dropped: the same ranges are framed on every iteration.
			r := storage.FileRange{File: rr[0].File, Position: rr[0].Position, Length: rr[0].Length}
			t.partitions = append(t.partitions, fetchResponsePartition{partition: int32(p), highWatermark: 4096, lastStableOffset: 4096, ranges: []storage.FileRange{r}})
		}
		f.topics = append(f.topics, t)
	}
	var total int64
	for _, c := range f.chunks() {
		total += c.size()
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		_ = f.chunks()
	}
}
