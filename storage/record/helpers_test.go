package record

import (
	"encoding/binary"
	"fmt"
	"testing"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

const testNow = int64(1_700_000_000_000)

// clientCfg is what the leader uses for producer input on a default topic.
func clientCfg() ValidateConfig {
	return ValidateConfig{MaxMessageBytes: 1 << 20, MaxTimestampDiff: -1, FromClient: true}
}

// sampleRecords returns n records with keys, values, one header on every
// third record and increasing timestamps around testNow.
func sampleRecords(n, valueSize int) []BuildRecord {
	recs := make([]BuildRecord, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		recs[i] = BuildRecord{Key: []byte(fmt.Sprintf("key-%d", i)), Value: v, Timestamp: testNow + int64(i)}
		if i%3 == 0 {
			recs[i].Headers = []Header{{Key: "h", Value: []byte{byte(i)}}, {Key: "null", Value: nil}}
		}
	}
	return recs
}

func mustBuild(t testing.TB, recs []BuildRecord, opt BuildOptions) Batch {
	t.Helper()
	b, err := Build(recs, opt)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return Batch(b)
}

func optCodec(c Codec) BuildOptions {
	o := DefaultBuildOptions()
	o.Codec = c
	return o
}

// rawBatch assembles a batch around an arbitrary records section with a
// correct length and CRC, so tests can feed malformed records past the CRC.
func rawBatch(records []byte, count, lastOffsetDelta int32, attrs int16) Batch {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	b = append(b, records...)
	be := binary.BigEndian
	be.PutUint32(b[offBatchLength:], uint32(len(b)-LogOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = MagicV2
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(lastOffsetDelta))
	be.PutUint64(b[offFirstTimestamp:], uint64(testNow))
	be.PutUint64(b[offMaxTimestamp:], uint64(testNow))
	be.PutUint64(b[offProducerID:], 0xffffffffffffffff)
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offNumRecords:], uint32(count))
	Batch(b).setCRC()
	return b
}

// rec encodes one record body given as raw field bytes (after the length).
func rec(body ...[]byte) []byte {
	var all []byte
	for _, p := range body {
		all = append(all, p...)
	}
	return append(appendVarint(nil, int64(len(all))), all...)
}

func vi(v int64) []byte { return appendVarint(nil, v) }

// simpleRecord is a well-formed record with the given offset delta and key.
func simpleRecord(offsetDelta int64, key []byte) []byte {
	k := vi(-1)
	if key != nil {
		k = append(vi(int64(len(key))), key...)
	}
	return rec([]byte{0}, vi(0), vi(offsetDelta), k, vi(1), []byte("v"), vi(0))
}

// restamp rewrites a field inside the CRC and fixes the CRC.
func restamp(b Batch, f func(b Batch)) Batch {
	c := append(Batch(nil), b...)
	f(c)
	c.setCRC()
	return c
}
