//go:build integration

package integration

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The benchmarks that bypass Sarama (bench_test.go) talk to the broker through wireConn: request frames built
// by hand around kmsg bodies, responses read as whole frames, so the hot loops decode only what they need
// (error codes, sizes, offsets) and measure the broker rather than a client library's record decoding.

const benchClientID = "samsa-bench"

// maxBenchFrame bounds a response frame we are willing to buffer (fetches ask for 8 MiB).
const maxBenchFrame = 64 << 20

// wireConn is one bare Kafka connection, used from one goroutine.
type wireConn struct {
	nc       net.Conn
	r        *bufio.Reader
	corr     int32
	wbuf     []byte
	rbuf     []byte
	versions map[int16]int16 // api key -> highest version the broker advertises
}

// dialWire connects to addr and asks ApiVersions, as every Kafka client does first. The connection is closed
// when the benchmark ends.
func dialWire(tb testing.TB, addr string) *wireConn {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	w := &wireConn{nc: nc, r: bufio.NewReaderSize(nc, 256<<10)}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = benchClientID
	req.ClientSoftwareVersion = "0"
	resp := kmsg.NewPtrApiVersionsResponse()
	if err := w.roundTrip(req, resp); err != nil {
		tb.Fatalf("api versions: %v", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		tb.Fatalf("api versions: %v", err)
	}
	w.versions = make(map[int16]int16, len(resp.ApiKeys))
	for _, k := range resp.ApiKeys {
		w.versions[k.ApiKey] = k.MaxVersion
	}
	return w
}

// version returns the highest version of key both the broker and we (capped at upTo) speak.
func (w *wireConn) version(tb testing.TB, key kmsg.Key, upTo int16) int16 {
	tb.Helper()
	v, ok := w.versions[int16(key)]
	if !ok {
		tb.Fatalf("broker does not advertise %s", key.Name())
	}
	return min(v, upTo)
}

// corrIDOffset is where the correlation id sits in a request frame: size(4) key(2) version(2).
const corrIDOffset = 8

// appendRequest appends one request frame: request header v1, or v2 (an empty tag section) for flexible
// versions, then the body.
func appendRequest(dst []byte, corr int32, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.Key()))
	dst = binary.BigEndian.AppendUint16(dst, uint16(req.GetVersion()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(benchClientID)))
	dst = append(dst, benchClientID...)
	if req.IsFlexible() {
		dst = append(dst, 0)
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// readFrame reads one size-prefixed frame into buf (grown as needed) and returns it without the size.
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return buf, err
	}
	n := int(int32(binary.BigEndian.Uint32(size[:])))
	if n < 4 || n > maxBenchFrame {
		return buf, fmt.Errorf("response frame of %d bytes", n)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// send writes req with the next correlation id and returns that id.
func (w *wireConn) send(req kmsg.Request) (int32, error) {
	corr := w.corr
	w.corr++
	w.wbuf = appendRequest(w.wbuf[:0], corr, req)
	_, err := w.nc.Write(w.wbuf)
	return corr, err
}

// receive reads the response to the request sent with corr into resp (of the request's key and version).
// resp's byte fields (fetched records) alias w's read buffer until the next receive.
func (w *wireConn) receive(corr int32, resp kmsg.Response) error {
	var err error
	if w.rbuf, err = readFrame(w.r, w.rbuf); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(w.rbuf)); got != corr {
		return fmt.Errorf("response has correlation id %d, want %d", got, corr)
	}
	body := w.rbuf[4:]
	// Flexible responses carry header v1 (a tag section), except ApiVersions, whose header stays v0 so that
	// a client can read it before knowing the broker's versions (KIP-511).
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			return errors.New("response header carries tagged fields")
		}
		body = body[1:]
	}
	return resp.ReadFrom(body)
}

// roundTrip sends req and decodes its response into resp, whose version it sets to req's.
func (w *wireConn) roundTrip(req kmsg.Request, resp kmsg.Response) error {
	resp.SetVersion(req.GetVersion())
	corr, err := w.send(req)
	if err != nil {
		return err
	}
	return w.receive(corr, resp)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record batch v2 layout (reference 08; Kafka's DefaultRecordBatch): the offsets of the fields we write or read.
const (
	batchLengthOffset     = 8  // int32: bytes after this field
	batchCRCOffset        = 17 // uint32 CRC-32C of everything from attributes on
	batchAttributesOffset = 21
	batchLastDeltaOffset  = 23 // int32 lastOffsetDelta
	batchHeaderSize       = 61
)

// appendRecordBatch appends an uncompressed v2 record batch of n records with nil keys, valueSize-byte
// values and no headers, and no producer id. The broker assigns offsets on append, so one batch can be sent
// any number of times.
func appendRecordBatch(dst []byte, n, valueSize int) []byte {
	start := len(dst)
	now := time.Now().UnixMilli()
	dst = binary.BigEndian.AppendUint64(dst, 0)                  // baseOffset
	dst = binary.BigEndian.AppendUint32(dst, 0)                  // batchLength, set below
	dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)         // partitionLeaderEpoch -1
	dst = append(dst, 2)                                         // magic
	dst = binary.BigEndian.AppendUint32(dst, 0)                  // crc, set below
	dst = binary.BigEndian.AppendUint16(dst, 0)                  // attributes
	dst = binary.BigEndian.AppendUint32(dst, uint32(n-1))        // lastOffsetDelta
	dst = binary.BigEndian.AppendUint64(dst, uint64(now))        // firstTimestamp
	dst = binary.BigEndian.AppendUint64(dst, uint64(now))        // maxTimestamp
	dst = binary.BigEndian.AppendUint64(dst, 0xffffffffffffffff) // producerId -1
	dst = binary.BigEndian.AppendUint16(dst, 0xffff)             // producerEpoch -1
	dst = binary.BigEndian.AppendUint32(dst, 0xffffffff)         // baseSequence -1
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))          // records
	value := benchValue(valueSize)
	var body []byte
	for i := range n {
		body = body[:0]
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, 0)        // timestampDelta
		body = binary.AppendVarint(body, int64(i)) // offsetDelta
		body = binary.AppendVarint(body, -1)       // key: null
		body = binary.AppendVarint(body, int64(len(value)))
		body = append(body, value...)
		body = binary.AppendVarint(body, 0) // headers
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[batchLengthOffset:], uint32(len(batch)-batchLengthOffset-4))
	binary.BigEndian.PutUint32(batch[batchCRCOffset:], crc32.Checksum(batch[batchAttributesOffset:], castagnoli))
	return dst
}

// benchValue is a record value: a fixed, non-repeating-looking pattern (compression is off anyway).
func benchValue(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = byte(i*7 + i>>8)
	}
	return v
}

// produceRequest wraps one batch for topic/partition in a Produce request with acks=1.
func produceRequest(version int16, topic string, partition int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = 1
	req.TimeoutMillis = 30000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = topic
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition = partition
	p.Records = batch
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// produceError returns the first error code in a Produce response, as an error.
func produceError(resp *kmsg.ProduceResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("produce %s-%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// produceFixture appends batches batches of recordsPerBatch records of valueSize bytes to topic's
// partitions, round robin, outside any benchmark timer, and returns each partition's log end offset.
func produceFixture(tb testing.TB, addr, topic string, partitions int32, batches, recordsPerBatch, valueSize int) []int64 {
	tb.Helper()
	w := dialWire(tb, addr)
	v := w.version(tb, kmsg.Produce, 8) // v9 is flexible; v3-v8 carry the same batches
	batch := appendRecordBatch(nil, recordsPerBatch, valueSize)
	ends := make([]int64, partitions)
	for i := range batches {
		p := int32(i) % partitions
		resp := kmsg.NewPtrProduceResponse()
		if err := w.roundTrip(produceRequest(v, topic, p, batch), resp); err != nil {
			tb.Fatalf("produce fixture: %v", err)
		}
		if err := produceError(resp); err != nil {
			tb.Fatalf("produce fixture: %v", err)
		}
		base := resp.Topics[0].Partitions[0].BaseOffset
		if base != ends[p] {
			tb.Fatalf("produce fixture: %s-%d batch appended at %d, want %d", topic, p, base, ends[p])
		}
		ends[p] = base + int64(recordsPerBatch)
	}
	return ends
}

// fetcher reads one partition with raw Fetch requests on one connection.
type fetcher struct {
	w   *wireConn
	req *kmsg.FetchRequest
}

func newFetcher(tb testing.TB, addr, topic string, partition int32, maxBytes int32) *fetcher {
	tb.Helper()
	w := dialWire(tb, addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = w.version(tb, kmsg.Fetch, 11) // v12 is flexible; v4-v11 read the same batches
	req.MaxWaitMillis = 500
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	t := kmsg.NewFetchRequestTopic()
	t.Topic = topic
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition = partition
	p.PartitionMaxBytes = maxBytes
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return &fetcher{w: w, req: req}
}

// fetch asks for records from offset on and returns the offset after the last whole batch received and the
// number of record bytes received. Only batch headers are read: sizes and offset deltas, never records.
func (f *fetcher) fetch(offset int64) (next int64, n int, err error) {
	f.req.Topics[0].Partitions[0].FetchOffset = offset
	resp := kmsg.NewPtrFetchResponse()
	if err := f.w.roundTrip(f.req, resp); err != nil {
		return 0, 0, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("fetch: %w", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, 0, fmt.Errorf("fetch: answer for %d topics", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return 0, 0, fmt.Errorf("fetch at %d: %w", offset, err)
	}
	next = offset
	for rb := p.RecordBatches; len(rb) >= batchHeaderSize; {
		size := batchLengthOffset + 4 + int(int32(binary.BigEndian.Uint32(rb[batchLengthOffset:])))
		if size > len(rb) {
			break // a partial batch at the end of the response, as Kafka sends when max_bytes cuts one
		}
		base := int64(binary.BigEndian.Uint64(rb))
		next = base + int64(int32(binary.BigEndian.Uint32(rb[batchLastDeltaOffset:]))) + 1
		rb = rb[size:]
	}
	if next <= offset {
		return 0, 0, fmt.Errorf("fetch at %d returned no whole batch (%d bytes, high watermark %d)",
			offset, len(p.RecordBatches), p.HighWatermark)
	}
	return next, len(p.RecordBatches), nil
}

// TestBenchBatchIsAValidRecordBatchV2 checks the benchmarks' hand-built batch against franz-go's decoder:
// magic 2, batchLength and CRC-32C (over attributes to the end) as Kafka's DefaultRecordBatch computes them,
// offset deltas 0..n-1, null keys. A broker rejecting it would make every figure meaningless.
func TestBenchBatchIsAValidRecordBatchV2(t *testing.T) {
	const n, size = 3, 100
	raw := appendRecordBatch(nil, n, size)
	var batch kmsg.RecordBatch
	if err := batch.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if batch.Magic != 2 || int(batch.Length) != len(raw)-12 || batch.LastOffsetDelta != n-1 || batch.NumRecords != n {
		t.Fatalf("header: magic %d length %d (of %d bytes) lastOffsetDelta %d records %d",
			batch.Magic, batch.Length, len(raw), batch.LastOffsetDelta, batch.NumRecords)
	}
	if want := int32(crc32.Checksum(raw[batchAttributesOffset:], castagnoli)); batch.CRC != want {
		t.Fatalf("crc %x, want %x", batch.CRC, want)
	}
	rest := batch.Records
	for i := range n {
		length, k := binary.Varint(rest)
		if k <= 0 || int(length)+k > len(rest) {
			t.Fatalf("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(rest[:k+int(length)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.OffsetDelta != int32(i) || r.Key != nil || len(r.Value) != size || len(r.Headers) != 0 {
			t.Fatalf("record %d: offsetDelta %d key %q value %d bytes headers %d", i, r.OffsetDelta, r.Key, len(r.Value), len(r.Headers))
		}
		rest = rest[k+int(length):]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the last record", len(rest))
	}
}
