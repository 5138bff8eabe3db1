package record

// Header is one record header; Value is nil when null. Keys are never null.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record of a batch as Records hands it out. Key and Value are
// nil when null and otherwise alias the batch (uncompressed) or a buffer
// owned by the caller from then on (compressed); copy before modifying.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []Header

	// Timestamp is the record's timestamp as a reader sees it:
	// FirstTimestamp+TimestampDelta, or MaxTimestamp for a LogAppendTime
	// batch (DefaultRecord.readFrom).
	Timestamp int64
	// Offset is BaseOffset+OffsetDelta.
	Offset int64
}

// Records decompresses (output capped at maxUncompressed; <= 0 means
// DefaultMaxUncompressed) and walks the records, calling fn for each in order.
// It checks structure only (every record well-formed, exactly NumRecords of
// them exactly filling the section) and stops at the first error from the
// walk or from fn. It does not check the CRC or Kafka's semantic rules; that
// is Validate's job. Malformed input yields errors wrapping ErrCorrupt.
func (b Batch) Records(maxUncompressed int, fn func(r Record) error) error {
	if len(b) < HeaderSize {
		return corruptf("batch of %d bytes is shorter than the %d-byte header", len(b), HeaderSize)
	}
	if len(b) != b.Size() {
		return corruptf("batch length field says %d bytes, view has %d", b.Size(), len(b))
	}
	count := b.NumRecords()
	if count < 0 {
		return invalidf("negative record count %d", count)
	}
	data := []byte(b[HeaderSize:])
	if c := b.Compression(); c != CodecNone {
		if !c.Valid() {
			return unsupportedCodec(c)
		}
		// A fresh buffer (not the validation pool): fn may keep the slices.
		var err error
		if data, err = decompress(c, data, nil, maxUncompressed); err != nil {
			return err
		}
	}
	if int64(count)*(1+minRecordBody) > int64(len(data)) {
		return malformedf("record count %d cannot fit in %d bytes", count, len(data))
	}
	base, first := b.BaseOffset(), b.FirstTimestamp()
	logAppend, maxTs := b.LogAppendTime(), b.MaxTimestamp()
	rr := recordReader{buf: data}
	var raw rawRecord
	for i := int32(0); i < count; i++ {
		if err := rr.next(&raw); err != nil {
			return err
		}
		r := Record{
			Attributes:     raw.attributes,
			TimestampDelta: raw.timestampDelta,
			OffsetDelta:    raw.offsetDelta,
			Key:            raw.key,
			Value:          raw.value,
			Headers:        decodeHeaders(raw.headers, raw.numHeaders),
			Timestamp:      first + raw.timestampDelta,
			Offset:         base + int64(raw.offsetDelta),
		}
		if logAppend {
			r.Timestamp = maxTs
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if !rr.done() {
		return malformedf("%d bytes left after %d records", rr.remaining(), count)
	}
	return nil
}
