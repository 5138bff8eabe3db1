package record

// Walking the records section of a batch without allocating: a recordReader
// hands out rawRecords whose key, value and headers are sub-slices of the
// (decompressed) records buffer. Every length is checked against the bytes
// that are really there before it is used, so hostile counts and lengths
// cannot make us allocate or loop more than the input size allows.

// malformedf reports a record that does not parse inside a batch whose CRC is
// valid. Kafka 2.8 answers INVALID_RECORD here (DefaultRecord.readFrom throws
// InvalidRecordException, KIP-467), not CORRUPT_MESSAGE: clients retry
// CORRUPT_MESSAGE, and a batch that parses wrong will never succeed.
func malformedf(format string, args ...any) error { return invalidf(format, args...) }

// minRecordBody is the smallest record body: attributes plus five one-byte
// varints (timestampDelta, offsetDelta, keyLength, valueLength, headerCount).
const minRecordBody = 6

// minHeaderSize is the smallest encoded header: an empty key and a null value.
const minHeaderSize = 2

// rawRecord is one record as walked; key and value are nil when null.
type rawRecord struct {
	attributes     int8
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte
	numHeaders     int32
	headers        []byte // the encoded headers, already checked
}

// recordReader walks buf, the records section of one batch.
type recordReader struct {
	buf []byte
	pos int
}

// done reports whether every byte has been consumed.
func (r *recordReader) done() bool { return r.pos == len(r.buf) }

// remaining is the number of bytes not yet consumed.
func (r *recordReader) remaining() int { return len(r.buf) - r.pos }

// next decodes the record at the current position. Every error wraps
// ErrCorrupt: the bytes do not form a record (DefaultRecord.readFrom's
// checks, plus bounds on key/value lengths below -1 which Java reads as null).
func (r *recordReader) next(rec *rawRecord) (err error) {
	length, n := readVarint32(r.buf[r.pos:])
	if n <= 0 {
		return malformedf("record length varint at byte %d: %s", r.pos, varintProblem(n))
	}
	start := r.pos + n
	if length < minRecordBody || int(length) > len(r.buf)-start {
		return malformedf("record length %d at byte %d with %d bytes left", length, r.pos, len(r.buf)-start)
	}
	body := r.buf[start : start+int(length) : start+int(length)]
	r.pos = start + int(length)

	rec.attributes = int8(body[0])
	p := 1
	if rec.timestampDelta, n = readVarint64(body[p:]); n <= 0 {
		return malformedf("timestampDelta varint: %s", varintProblem(n))
	}
	p += n
	if rec.offsetDelta, n = readVarint32(body[p:]); n <= 0 {
		return malformedf("offsetDelta varint: %s", varintProblem(n))
	}
	p += n
	if rec.key, p, err = readBytesField(body, p, "key"); err != nil {
		return err
	}
	if rec.value, p, err = readBytesField(body, p, "value"); err != nil {
		return err
	}
	if rec.numHeaders, n = readVarint32(body[p:]); n <= 0 {
		return malformedf("header count varint: %s", varintProblem(n))
	}
	p += n
	if rec.numHeaders < 0 || int(rec.numHeaders) > (len(body)-p)/minHeaderSize {
		return malformedf("header count %d with %d bytes left", rec.numHeaders, len(body)-p)
	}
	hstart := p
	for i := int32(0); i < rec.numHeaders; i++ {
		var key []byte
		if key, p, err = readBytesField(body, p, "header key"); err != nil {
			return err
		}
		if key == nil {
			return malformedf("header %d has a null key", i)
		}
		if _, p, err = readBytesField(body, p, "header value"); err != nil {
			return err
		}
	}
	if p != len(body) {
		return malformedf("record declares %d bytes but its fields use %d", len(body), p)
	}
	rec.headers = body[hstart:p:p]
	return nil
}

// readBytesField reads a varint length (-1 = null) and that many bytes at
// body[p:]. It returns nil for null and a non-nil (possibly empty) slice
// otherwise, capped so appends by a caller cannot scribble on the batch.
func readBytesField(body []byte, p int, what string) ([]byte, int, error) {
	l, n := readVarint32(body[p:])
	if n <= 0 {
		return nil, p, malformedf("%s length varint: %s", what, varintProblem(n))
	}
	p += n
	switch {
	case l == -1:
		return nil, p, nil
	case l < -1 || int(l) > len(body)-p:
		return nil, p, malformedf("%s length %d with %d bytes left", what, l, len(body)-p)
	}
	end := p + int(l)
	return body[p:end:end], end, nil
}

func varintProblem(n int) string {
	if n == 0 {
		return "truncated"
	}
	return "overlong or out of range"
}

// decodeHeaders turns already checked encoded headers into Headers.
func decodeHeaders(raw []byte, n int32) []Header {
	if n == 0 {
		return nil
	}
	hs := make([]Header, n)
	p := 0
	for i := range hs {
		key, q, _ := readBytesField(raw, p, "")
		val, q2, _ := readBytesField(raw, q, "")
		hs[i] = Header{Key: string(key), Value: val}
		p = q2
	}
	return hs
}
