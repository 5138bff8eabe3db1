package record

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saramaEncode returns the record batch bytes exactly as Sarama puts them on
// the wire. Sarama's encoders are unexported, so a real sarama.Broker sends
// an acks=0 Produce v7 to a loopback listener, which cuts the batch out of
// the request with kmsg.
func saramaEncode(t *testing.T, batch *sarama.RecordBatch) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		frame []byte
		err   error
	}
	got := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			got <- result{err: err}
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		_, err = io.ReadFull(conn, frame)
		got <- result{frame, err}
	}()

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ApiVersionsRequest = false // the listener only speaks Produce
	br := sarama.NewBroker(ln.Addr().String())
	if err := br.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	req := &sarama.ProduceRequest{RequiredAcks: sarama.NoResponse, Timeout: 1000, Version: 7}
	req.AddBatch("t", 0, batch)
	if _, err := br.Produce(req); err != nil {
		t.Fatalf("sarama produce: %v", err)
	}
	var res result
	select {
	case res = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}

	// Request header v1: api key, version, correlation id, client id.
	f := res.frame
	if binary.BigEndian.Uint16(f) != 0 || binary.BigEndian.Uint16(f[2:]) != 7 {
		t.Fatalf("unexpected request header % x", f[:8])
	}
	body := f[10+int(binary.BigEndian.Uint16(f[8:])):]
	pr := kmsg.ProduceRequest{Version: 7}
	if err := pr.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	return pr.Topics[0].Partitions[0].Records
}

var saramaCodec = map[Codec]sarama.CompressionCodec{
	CodecNone: sarama.CompressionNone, CodecGzip: sarama.CompressionGZIP,
	CodecSnappy: sarama.CompressionSnappy, CodecLZ4: sarama.CompressionLZ4, CodecZstd: sarama.CompressionZSTD,
}

func toSarama(recs []BuildRecord, c Codec) *sarama.RecordBatch {
	first, maxTs := recs[0].Timestamp, recs[0].Timestamp
	sb := &sarama.RecordBatch{Version: 2, Codec: saramaCodec[c], CompressionLevel: sarama.CompressionLevelDefault,
		PartitionLeaderEpoch: -1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: time.UnixMilli(first)}
	for i, r := range recs {
		maxTs = max(maxTs, r.Timestamp)
		sr := &sarama.Record{OffsetDelta: int64(i), TimestampDelta: time.Duration(r.Timestamp-first) * time.Millisecond,
			Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			sr.Headers = append(sr.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		sb.Records = append(sb.Records, sr)
	}
	sb.MaxTimestamp = time.UnixMilli(maxTs)
	return sb
}

// TestValidate_AcceptsSaramaBatches is the differential check against the
// client we must serve: Sarama's own encoder and codecs (its snappy is
// xerial framing from klauspost/compress, its lz4 pierrec, its zstd
// klauspost) must validate and read back, and for uncompressed batches
// Build must produce the very same bytes.
func TestValidate_AcceptsSaramaBatches(t *testing.T) {
	recs := sampleRecords(25, 60)
	recs[7].Key = nil
	recs[9].Timestamp = testNow + 10_000
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			wire := saramaEncode(t, toSarama(recs, c))
			info := mustValidate(t, wire, clientCfg())
			if info.NumRecords != 25 || info.Codec != c || info.MaxTimestamp != testNow+10_000 || info.OffsetOfMaxTimestampDelta != 9 {
				t.Fatalf("Info = %+v", info)
			}
			sameRecords(t, collect(t, wire), recs, 0)

			ours := mustBuild(t, recs, optCodec(c))
			if c == CodecNone && !bytes.Equal(ours, wire) {
				t.Fatalf("Build differs from Sarama:\nours   % x\nsarama % x", ours[:80], wire[:80])
			}
			// Compressed: same header apart from length and CRC.
			if !bytes.Equal(ours[offAttributes:HeaderSize], wire[offAttributes:HeaderSize]) ||
				!bytes.Equal(ours[:offBatchLength], wire[:offBatchLength]) ||
				!bytes.Equal(ours[offLeaderEpoch:offCRC], wire[offLeaderEpoch:offCRC]) {
				t.Fatalf("header fields differ:\nours   % x\nsarama % x", ours[:HeaderSize], wire[:HeaderSize])
			}
		})
	}
}
