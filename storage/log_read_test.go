package storage

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// fiveBatches appends batches of 5 records: offsets 0-4, 5-9, ..., and returns their bytes.
func appendBatchesOf5(t *testing.T, l *Log, n int) [][]byte {
	var out [][]byte
	for i := 0; i < n; i++ {
		_, b := mustAppend(t, l, 5, 30, testNow+int64(i)*10)
		out = append(out, b)
	}
	return out
}

// Log.read / LogSegment.translateOffset: the result starts at the batch whose last offset is >=
// the fetch offset, never in the middle of a batch.
func TestRead_StartsAtBatchContainingOffset(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	bs := appendBatchesOf5(t, l, 6)
	for off := int64(0); off < 30; off++ {
		got, _ := readBytes(t, l, off, 1<<20, -1, false)
		if want := bytes.Join(bs[off/5:], nil); !bytes.Equal(got, want) {
			t.Fatalf("read at %d: %d bytes, want %d from batch %d", off, len(got), len(want), off/5*5)
		}
	}
}

// The upper bound (HW for consumers) is exclusive and batch-granular: the batch containing it is
// not returned (Kafka's maxPosition is the position of that batch).
func TestRead_ExclusiveUpperBound(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	bs := appendBatchesOf5(t, l, 4)
	cases := []struct {
		offset, bound int64
		batches       int // from offset's batch
	}{
		{0, 10, 2}, {0, 12, 2}, {0, 20, 4}, {0, -1, 4}, {0, 100, 4}, {7, 10, 1},
		{10, 10, 0}, {12, 10, 0}, {11, 14, 0}, {0, 0, 0},
	}
	for _, c := range cases {
		got, res := readBytes(t, l, c.offset, 1<<20, c.bound, true)
		first := c.offset / 5
		want := bytes.Join(bs[first:first+int64(c.batches)], nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("read at %d bound %d: %d bytes, want %d batches (%d bytes)", c.offset, c.bound, len(got), c.batches, len(want))
		}
		if res.LogEndOffset != 20 || res.LogStartOffset != 0 {
			t.Fatalf("result offsets %+v", res)
		}
	}
}

// maxBytes may cut the last batch, as Kafka's FileRecords.slice does; clients drop the partial batch.
func TestRead_MaxBytesMayEndMidBatch(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	bs := appendBatchesOf5(t, l, 3)
	got, _ := readBytes(t, l, 0, len(bs[0])+10, -1, false)
	if len(got) != len(bs[0])+10 || len(splitBatches(t, got)) != 1 {
		t.Fatalf("got %d bytes", len(got))
	}
}

// KIP-74: with minOneMessage the first batch is returned whole even when it exceeds maxBytes.
func TestRead_MinOneMessageReturnsWholeFirstBatch(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	bs := appendBatchesOf5(t, l, 3)
	got, _ := readBytes(t, l, 5, 10, -1, true)
	if !bytes.Equal(got, bs[1]) {
		t.Fatalf("minOneMessage read: %d bytes, want the %d-byte batch", len(got), len(bs[1]))
	}
	got, res := readBytes(t, l, 5, 10, -1, false)
	if len(got) != 10 || len(res.Ranges) != 1 {
		t.Fatalf("read without minOneMessage: %d bytes", len(got))
	}
	got, res = readBytes(t, l, 5, 0, -1, false)
	if len(got) != 0 || len(res.Ranges) != 0 {
		t.Fatalf("read of 0 bytes returned %d", len(got))
	}
}

func TestRead_OffsetOutOfRangeOutsideLogStartAndEnd(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	appendBatchesOf5(t, l, 4)
	l.SetHighWatermark(20)
	if _, err := l.DeleteRecordsBefore(7); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{-1, 0, 6, 21} {
		if _, err := l.Read(off, 100, -1, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read at %d: error %v", off, err)
		}
	}
	got, res := readBytes(t, l, 20, 100, -1, true)
	if len(got) != 0 || res.LogEndOffset != 20 || res.LogStartOffset != 7 {
		t.Fatalf("read at LEO: %d bytes, %+v", len(got), res)
	}
	first, res := readFirstBatch(t, l, 7)
	res.Release()
	if first.BaseOffset() != 5 {
		t.Fatalf("read at the log start offset starts at batch %d", first.BaseOffset())
	}
}

// One segment per read; an offset past the last batch of a segment is found in the next.
func TestRead_AcrossSegmentBoundaries(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	for l.NumSegments() < 4 {
		mustAppend(t, l, 5, 400, testNow)
	}
	v := l.view.Load()
	for i, s := range v.segs[:len(v.segs)-1] {
		got, _ := readBytes(t, l, s.base, 1<<20, -1, false)
		if int64(len(got)) != s.size.Load() {
			t.Fatalf("read of segment %d returned %d of %d bytes", s.base, len(got), s.size.Load())
		}
		first, res := readFirstBatch(t, l, v.segs[i+1].base-1)
		res.Release()
		if first.LastOffset() != v.segs[i+1].base-1 {
			t.Fatalf("read at the segment's last offset starts at %d", first.BaseOffset())
		}
	}
}

// A range handed to a reader must stay readable when retention deletes its segment meanwhile:
// the segment is reference-counted and its descriptor closed only on the last Release.
func TestRead_RangeSurvivesSegmentDeletion(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionBytes = 0
	l, clock, _ := newTestLog(t, cfg)
	for l.NumSegments() < 3 {
		mustAppend(t, l, 5, 400, testNow)
	}
	res, err := l.Read(0, 1<<20, -1, false)
	if err != nil || len(res.Ranges) != 1 {
		t.Fatalf("read: %v", err)
	}
	want := make([]byte, res.Ranges[0].Length)
	if _, err := res.Ranges[0].File.ReadAt(want, res.Ranges[0].Position); err != nil {
		t.Fatal(err)
	}
	n, err := l.DeleteOldSegments(clock.now(), l.LogEndOffset())
	if err != nil || n < 2 {
		t.Fatalf("deleted %d segments, err %v", n, err)
	}
	seg0 := segmentFile(l.Dir(), 0, logSuffix)
	eventually(t, 5e9, "deleted segment removed", func() bool {
		return !fileExists(seg0) && !fileExists(seg0+deletedSuffix)
	})
	got, err := res.Ranges[0].Bytes()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("range of a deleted segment: %v", err)
	}
	f := res.Ranges[0].File
	res.Release()
	res.Release() // idempotent
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("descriptor still open after the last release: %v", err)
	}
}

// Readers never take the writer's lock: many readers run while the writer appends, rolls and
// deletes segments, and every read starts on a whole batch containing (or after) its offset.
func TestRead_ConcurrentReadersWithWriter(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionBytes = 64 << 10
	l, clock, _ := newTestLog(t, cfg)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for !stop.Load() {
				start, end := l.LogStartOffset(), l.LogEndOffset()
				off := start + rng.Int64N(end-start+1)
				res, err := l.Read(off, 4096, -1, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start meanwhile
				}
				if err != nil {
					errs <- err
					return
				}
				for _, fr := range res.Ranges {
					data, err := fr.Bytes()
					if err != nil {
						errs <- err
						return
					}
					b, _, err := record.Next(data)
					if err != nil || !b.CRCValid() || b.LastOffset() < off {
						errs <- errors.New("read did not start at a valid batch containing the offset")
						return
					}
				}
				res.Release()
				reads.Add(1)
			}
		}()
	}
	for i := 0; i < 600; i++ {
		mustAppend(t, l, 5, 100, testNow+int64(i))
		if i%50 == 0 {
			if _, err := l.DeleteOldSegments(clock.now(), l.LogEndOffset()); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads completed")
	}
}

// WriteTo must use an explicit file offset: the *os.File is shared by every reader.
func TestFileRange_WriteToSendsRangeWithoutMovingFileOffset(t *testing.T) {
	l, _, _ := newTestLog(t, testConfig())
	bs := appendBatchesOf5(t, l, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	done := make(chan []byte)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		done <- b
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Read(5, 1<<20, 15, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := res.Ranges[0].WriteTo(conn)
	conn.Close()
	if err != nil || n != res.Ranges[0].Length {
		t.Fatalf("sent %d of %d: %v", n, res.Ranges[0].Length, err)
	}
	if got := <-done; !bytes.Equal(got, bytes.Join(bs[1:3], nil)) {
		t.Fatalf("received %d bytes", len(got))
	}
	if pos, _ := res.Ranges[0].File.Seek(0, io.SeekCurrent); pos != 0 {
		t.Fatalf("file offset moved to %d", pos)
	}
	var buf bytes.Buffer
	if n, err := res.Ranges[0].WriteTo(&buf); err != nil || n != res.Ranges[0].Length {
		t.Fatalf("copy fallback: %d %v", n, err)
	}
	res.Release()
}

type tsRecord struct{ offset, ts int64 }

// decodeSegments decodes every record of every segment once, for bruteOffsetForTimestamp.
func decodeSegments(t *testing.T, l *Log) (largest []int64, recs [][]tsRecord) {
	for _, s := range l.view.Load().segs {
		data := make([]byte, s.size.Load())
		if _, err := s.log.ReadAt(data, 0); err != nil {
			t.Fatal(err)
		}
		var rs []tsRecord
		for _, b := range splitBatches(t, data) {
			if err := b.Records(0, func(r record.Record) error {
				rs = append(rs, tsRecord{r.Offset, r.Timestamp})
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		largest = append(largest, s.largestTimestamp())
		recs = append(recs, rs)
	}
	return largest, recs
}

// bruteOffsetForTimestamp applies Kafka's rule over decoded records: the first segment whose
// largest timestamp is >= ts, then its first record with timestamp >= ts and offset >= log start.
func bruteOffsetForTimestamp(largest []int64, recs [][]tsRecord, logStart, ts int64) (int64, int64, bool) {
	for i := range largest {
		if largest[i] < ts {
			continue
		}
		for _, r := range recs[i] {
			if r.ts >= ts && r.offset >= logStart {
				return r.offset, r.ts, true
			}
		}
		return 0, 0, false
	}
	return 0, 0, false
}

func TestOffsetForTimestamp_FindsFirstRecordAtOrAfterTimestamp(t *testing.T) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip} {
		t.Run(codec.String(), func(t *testing.T) {
			l, _, _ := newTestLog(t, testConfig())
			rng := rand.New(rand.NewPCG(7, 7))
			for i := 0; i < 150; i++ {
				opt := record.DefaultBuildOptions()
				opt.Codec = codec
				// Timestamps mostly rise, with some going backwards, as producers' clocks do.
				b := buildBatchOpt(t, 1+rng.IntN(5), 200, testNow+int64(i)*100-rng.Int64N(300), opt)
				if _, err := l.AppendAsLeader(b, 0); err != nil {
					t.Fatal(err)
				}
			}
			if l.NumSegments() < 3 {
				t.Fatalf("%d segments", l.NumSegments())
			}
			l.SetHighWatermark(l.LogEndOffset())
			check := func() {
				largest, recs := decodeSegments(t, l)
				for ts := testNow - 500; ts < testNow+15500; ts += 37 {
					off, got, found, err := l.OffsetForTimestamp(ts)
					if err != nil {
						t.Fatal(err)
					}
					wOff, wTs, wFound := bruteOffsetForTimestamp(largest, recs, l.LogStartOffset(), ts)
					if found != wFound || off != wOff || got != wTs {
						t.Fatalf("ts %d: (%d, %d, %v), linear scan (%d, %d, %v)", ts, off, got, found, wOff, wTs, wFound)
					}
				}
			}
			check()
			if _, err := l.DeleteRecordsBefore(l.LogEndOffset() / 3); err != nil {
				t.Fatal(err)
			}
			check()
			if off, ts, found, _ := l.OffsetForTimestamp(-2); !found || off != l.LogStartOffset() || ts != -1 {
				t.Fatalf("earliest: %d %d %v", off, ts, found)
			}
			if off, ts, found, _ := l.OffsetForTimestamp(-1); !found || off != l.LogEndOffset() || ts != -1 {
				t.Fatalf("latest: %d %d %v", off, ts, found)
			}
			if _, _, found, _ := l.OffsetForTimestamp(testNow + 1e9); found {
				t.Fatal("found a record after the last timestamp")
			}
		})
	}
}
