package record

// Kafka's varint and varlong (ByteUtils.java): zig-zag, then 7-bit groups,
// least significant first, high bit = continuation: the same bytes as
// encoding/binary.PutVarint (the tests compare against it). Decoding is our
// own because Kafka bounds varints to 5 bytes and varlongs to 10 (longer
// forms are rejected, so a hostile record cannot make a length out of a run
// of 0x80 bytes), and to give the common one-byte case a short path.

const (
	maxVarintLen32 = 5
	maxVarintLen64 = 10
)

// readVarint32 decodes a zig-zag varint of at most 5 bytes from the start of
// b. n is the number of bytes read; n == 0 means b ended inside the varint,
// n < 0 means it is overlong (a 6th byte would be needed) or does not fit in
// 32 bits. Kafka's readVarint silently drops the bits above 32 of a 5-byte
// varint; we reject them, which differs only for inputs no encoder produces.
func readVarint32(b []byte) (v int32, n int) {
	if len(b) > 0 && b[0] < 0x80 { // most lengths and deltas fit in one byte
		u := uint32(b[0])
		return int32(u>>1) ^ -int32(u&1), 1
	}
	var u uint64
	for i := 0; i < maxVarintLen32; i++ {
		if i == len(b) {
			return 0, 0
		}
		c := b[i]
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if u > 0xffffffff {
				return 0, -(i + 1)
			}
			x := uint32(u)
			return int32(x>>1) ^ -int32(x&1), i + 1
		}
	}
	return 0, -(maxVarintLen32 + 1)
}

// readVarint64 decodes a zig-zag varlong of at most 10 bytes; n as for
// readVarint32. The 10th byte may only carry the 64th bit.
func readVarint64(b []byte) (v int64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	var u uint64
	for i := 0; i < maxVarintLen64; i++ {
		if i == len(b) {
			return 0, 0
		}
		c := b[i]
		if i == maxVarintLen64-1 && c > 1 {
			return 0, -(i + 1)
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1
		}
	}
	return 0, -(maxVarintLen64 + 1)
}

// appendVarint appends v zig-zag encoded (Kafka writeVarint/writeVarlong).
func appendVarint(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

// varintLen is the encoded size of v.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}
