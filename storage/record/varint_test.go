package record

import (
	"encoding/binary"
	"math"
	"testing"
)

func TestVarint_MatchesKafkaEncoding(t *testing.T) {
	// Values and bytes from Kafka's ByteUtilsTest (zig-zag LEB128).
	cases := []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{-1, []byte{0x01}},
		{1, []byte{0x02}},
		{63, []byte{0x7e}},
		{-64, []byte{0x7f}},
		{64, []byte{0x80, 0x01}},
		{math.MaxInt32, []byte{0xfe, 0xff, 0xff, 0xff, 0x0f}},
		{math.MinInt32, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, c := range cases {
		got := appendVarint(nil, c.v)
		if string(got) != string(c.want) || varintLen(c.v) != len(c.want) {
			t.Errorf("appendVarint(%d) = % x (len %d), want % x", c.v, got, varintLen(c.v), c.want)
		}
		if v, n := readVarint32(c.want); int64(v) != c.v || n != len(c.want) {
			t.Errorf("readVarint32(% x) = %d, %d", c.want, v, n)
		}
		if v, n := readVarint64(c.want); v != c.v || n != len(c.want) {
			t.Errorf("readVarint64(% x) = %d, %d", c.want, v, n)
		}
	}
	for _, v := range []int64{math.MaxInt64, math.MinInt64, 1 << 40, -(1 << 50)} {
		b := appendVarint(nil, v)
		if got, n := readVarint64(b); got != v || n != len(b) || n != binary.PutVarint(make([]byte, 10), v) {
			t.Errorf("varlong %d round trip: %d, %d", v, got, n)
		}
	}
}

func TestVarint_RejectsOverlongForms(t *testing.T) {
	cases := []struct {
		name  string
		in    []byte
		is64  bool
		wantN int // 0 truncated, <0 rejected
	}{
		{"varint of 6 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, false, -1},
		{"varint of 5 bytes above 32 bits", []byte{0x80, 0x80, 0x80, 0x80, 0x10}, false, -1},
		{"varint truncated", []byte{0x80, 0x80}, false, 0},
		{"varint empty", nil, false, 0},
		{"varlong of 11 bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, true, -1},
		{"varlong 10th byte above 64 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, true, -1},
		{"varlong truncated", []byte{0xff, 0xff}, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n int
			if c.is64 {
				_, n = readVarint64(c.in)
			} else {
				_, n = readVarint32(c.in)
			}
			if (c.wantN == 0) != (n == 0) || (c.wantN < 0) != (n < 0) {
				t.Fatalf("n = %d, want %d-kind", n, c.wantN)
			}
		})
	}
}

// FuzzVarint compares our decoders with encoding/binary.Varint: wherever the
// standard library decodes a value within Kafka's byte limits and range we
// must agree exactly; everything else we must reject.
func FuzzVarint(f *testing.F) {
	for _, v := range []int64{0, -1, 1, 300, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64} {
		f.Add(appendVarint(nil, v))
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		ref, refN := binary.Varint(data)

		v64, n64 := readVarint64(data)
		switch {
		case refN > 0:
			if n64 != refN || v64 != ref {
				t.Fatalf("varlong % x: got %d,%d want %d,%d", data, v64, n64, ref, refN)
			}
		case refN == 0 && n64 > 0:
			t.Fatalf("varlong % x: truncated input gave n=%d", data, n64)
		case refN == 0 && n64 < 0 && len(data) < maxVarintLen64:
			// The stdlib waits for more bytes when a 10th byte has the
			// continuation bit; we may reject it already, but only then.
			t.Fatalf("varlong % x: short input rejected as overlong, n=%d", data, n64)
		case refN < 0 && n64 >= 0:
			t.Fatalf("varlong % x: overflow accepted, n=%d", data, n64)
		}
		if n64 > maxVarintLen64 {
			t.Fatalf("varlong read %d bytes", n64)
		}

		v32, n32 := readVarint32(data)
		u, un := binary.Uvarint(data)
		fits := un > 0 && un <= maxVarintLen32 && u <= math.MaxUint32
		switch {
		case fits:
			if n32 != un || int64(v32) != ref {
				t.Fatalf("varint % x: got %d,%d want %d,%d", data, v32, n32, ref, un)
			}
		case n32 > 0:
			t.Fatalf("varint % x: accepted %d,%d beyond Kafka's limits", data, v32, n32)
		case n32 == 0 && !(un == 0 && len(data) < maxVarintLen32):
			t.Fatalf("varint % x: reported truncated, stdlib n=%d", data, un)
		}
		// A minimal-length input re-encodes to itself (non-minimal forms
		// such as 0x80 0x00 are legal, as in Kafka, and re-encode shorter).
		if n32 > 0 && n32 == varintLen(int64(v32)) && string(appendVarint(nil, int64(v32))) != string(data[:n32]) {
			t.Fatalf("varint % x: %d does not re-encode", data, v32)
		}
	})
}
