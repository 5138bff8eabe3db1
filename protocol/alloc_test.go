package protocol

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocatedNoGC is allocated without the forced collection, for sweeps of many small decodes.
func allocatedNoGC(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// putCount writes an array count at b[p:]: int32, or uvarint(count+1) in flexible versions. The bomb count
// is the bytes left after it, the most kmsg's one-byte-per-element check lets through.
func putCount(b []byte, p int, flexible, bomb bool) {
	if !flexible {
		c := uint32(1)
		if bomb {
			c = uint32(len(b) - p - 4)
		}
		binary.BigEndian.PutUint32(b[p:], c)
		return
	}
	c := uint64(2)
	if bomb {
		c = uint64(len(b)-p-binaryUvarintLen(uint64(len(b)-p))) + 1
	}
	binary.PutUvarint(b[p:], c)
}

func binaryUvarintLen(v uint64) int { return len(binary.AppendUvarint(nil, v)) }

// bombBodies are zero-filled bodies with an oversized array count at one offset, or a count of 1 at one
// offset and an oversized count at a later one (reaching nested arrays such as topics -> partitions).
func bombBodies(n int, flexible bool) [][]byte {
	var out [][]byte
	for p := 0; p < 48; p++ {
		b := make([]byte, n)
		putCount(b, p, flexible, true)
		out = append(out, b)
	}
	for q := 0; q < 28; q++ {
		for p := q + 1; p < 36; p++ {
			b := make([]byte, n)
			putCount(b, q, flexible, false)
			putCount(b, p, flexible, true)
			out = append(out, b)
		}
	}
	return out
}

// Reliability plan 8.3 target 3: decoders must not allocate far beyond the input. Every version of the
// APIs this broker serves, fed array-count bombs, stays within decodeFactor bytes per body byte, the bound
// guardAllocation enforces.
func TestDecodeAllocationWithinFactor(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation sweep: not in -short or -race")
	}
	const n = 1024
	for _, key := range issue3Keys {
		r := kafka28Ranges[0]
		for _, x := range kafka28Ranges {
			if x.Key == key {
				r = x
			}
		}
		for v := r.Min; v <= r.Max; v++ {
			var worst uint64
			for _, body := range bombBodies(n, responseFlexible(key, v)) {
				req := kmsg.RequestForKey(key)
				req.SetVersion(v)
				a := allocatedNoGC(func() { _ = decodeBody(req, body) })
				worst = max(worst, a)
			}
			t.Logf("%s v%d: worst %d bytes for %d (factor allows %d)", kmsg.NameForKey(key), v, worst, n, decodeFactor[key]*n+4096)
			if limit := uint64(decodeFactor[key]*n + 4096); worst > limit {
				t.Errorf("%s v%d: %d bytes allocated for a %d-byte body, factor allows %d",
					kmsg.NameForKey(key), v, worst, n, limit)
			}
		}
	}
}

// A Produce request declaring millions of topics is refused by scanProduce before kmsg allocates them.
func TestProduceArrayBombRefusedWithoutAllocation(t *testing.T) {
	body := make([]byte, 1<<20)
	binary.BigEndian.PutUint16(body, 0xffff)                   // null transactional id
	binary.BigEndian.PutUint32(body[4:], 1000)                 // timeout
	binary.BigEndian.PutUint32(body[8:], uint32(len(body)-12)) // topics
	frame := cat(header(0, 8, 1), clientID("c"), body)
	var err error
	a := allocated(func() { _, _, err = ParseRequest(frame, supported28) })
	if !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if a > 64<<10 {
		t.Fatalf("allocated %d bytes", a)
	}
}

// Bodies whose worst case exceeds MaxDecodeAlloc are refused before kmsg runs.
func TestLargeBodyOverDecodeBudgetRefused(t *testing.T) {
	n := int(MaxDecodeAlloc/decodeFactor[1]) + 1
	body := make([]byte, n)
	frame := cat(header(1, 11, 1), clientID("c"), body)
	var err error
	a := allocated(func() { _, _, err = ParseRequest(frame, supported28) })
	if !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if a > 64<<10 {
		t.Fatalf("allocated %d bytes", a)
	}
	t.Logf("largest decodable body: Fetch %d, Metadata %d, LeaderAndIsr %d, UpdateMetadata %d, CreateTopics %d",
		MaxDecodeAlloc/decodeFactor[1], MaxDecodeAlloc/decodeFactor[3], MaxDecodeAlloc/decodeFactor[4],
		MaxDecodeAlloc/decodeFactor[6], MaxDecodeAlloc/decodeFactor[19])
}

// scanProduce's count of what kmsg allocates is an upper bound on a real decode.
func TestScanProduceNeedCoversDecode(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation sizes differ under -race")
	}
	for _, v := range []int16{3, 8, 9} {
		req := kmsg.NewPtrProduceRequest()
		req.Version = v
		for i := 0; i < 200; i++ {
			tp := kmsg.NewProduceRequestTopic()
			tp.Topic = "topic-with-a-name"
			for j := 0; j < 20; j++ {
				p := kmsg.NewProduceRequestTopicPartition()
				p.Partition = int32(j)
				tp.Partitions = append(tp.Partitions, p)
			}
			req.Topics = append(req.Topics, tp)
		}
		body := req.AppendTo(nil)
		need, err := scanProduce(body, v)
		if err != nil {
			t.Fatal(err)
		}
		got := kmsg.NewPtrProduceRequest()
		got.Version = v
		a := allocated(func() { _ = got.ReadFrom(body) })
		if uint64(need) < a {
			t.Fatalf("v%d: scan says %d, decode allocated %d", v, need, a)
		}
	}
}
