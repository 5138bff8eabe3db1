package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// legacyMsg is one message for legacySet; Inner makes it a wrapper of
// codec Codec around the inner messages (offsets as given).
type legacyMsg struct {
	Offset     int64
	Attrs      int8
	Timestamp  int64
	Key, Value []byte
	Codec      Codec
	Inner      []legacyMsg
}

// legacySet encodes msgs in magic magic, compressing wrappers with Kafka's
// framing (magic 0 LZ4 with the broken header checksum).
func legacySet(t testing.TB, magic int8, msgs ...legacyMsg) []byte {
	t.Helper()
	var out []byte
	for _, m := range msgs {
		value := m.Value
		attrs := m.Attrs
		if m.Inner != nil {
			raw := legacySet(t, magic, m.Inner...)
			c, err := Compress(m.Codec, raw)
			if err != nil {
				t.Fatal(err)
			}
			if m.Codec == CodecLZ4 && magic == MagicV0 {
				breakLegacyLZ4Header(c)
			}
			value = c
			attrs |= int8(m.Codec)
		}
		out = appendLegacy(out, m.Offset, magic, attrs, m.Timestamp, m.Key, value)
	}
	return out
}

func plainMsgs(n int, ts int64) []legacyMsg {
	msgs := make([]legacyMsg, n)
	for i := range msgs {
		msgs[i] = legacyMsg{Offset: int64(i), Timestamp: ts + int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value-%d", i))}
	}
	msgs[n-1].Key = nil // a null key
	return msgs
}

func walkAll(t testing.TB, set []byte) []LegacyMessage {
	t.Helper()
	var got []LegacyMessage
	if err := WalkLegacy(set, 0, func(_, m *LegacyMessage) error { got = append(got, *m); return nil }); err != nil {
		t.Fatalf("WalkLegacy: %v", err)
	}
	return got
}

// TestLegacyRecord_RoundTrip: every magic and codec reads back with
// Kafka's offsets (v0 inner absolute, v1 inner relative to the wrapper's
// last offset) and timestamps (NoTimestamp for magic 0).
func TestLegacyRecord_RoundTrip(t *testing.T) {
	for _, magic := range []int8{MagicV0, MagicV1} {
		for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
			t.Run(fmt.Sprintf("magic%d/%s", magic, c), func(t *testing.T) {
				msgs := plainMsgs(5, testNow)
				set := legacySet(t, magic, msgs...)
				if c != CodecNone {
					inner := plainMsgs(5, testNow)
					if magic == MagicV0 {
						for i := range inner {
							inner[i].Offset += 100
						}
					}
					set = legacySet(t, magic, legacyMsg{Offset: 104, Codec: c, Timestamp: testNow + 4, Inner: inner})
				}
				got := walkAll(t, set)
				if len(got) != 5 {
					t.Fatalf("%d messages", len(got))
				}
				for i, m := range got {
					wantOff := int64(i)
					if c != CodecNone {
						wantOff += 100
					}
					wantTs := int64(NoTimestamp)
					if magic == MagicV1 {
						wantTs = testNow + int64(i)
					}
					if m.Offset != wantOff || m.Timestamp != wantTs || !bytes.Equal(m.Value, msgs[i].Value) || !bytes.Equal(m.Key, msgs[i].Key) || (m.Key == nil) != (msgs[i].Key == nil) {
						t.Fatalf("message %d = %+v", i, m)
					}
				}
			})
		}
	}
}

// TestLegacyRecord_Rejects: LegacyRecord.ensureValid and the deep iterator's
// rules (AbstractLegacyRecordBatch.DeepRecordsIterator).
func TestLegacyRecord_Rejects(t *testing.T) {
	good := legacySet(t, MagicV1, plainMsgs(2, testNow)...)
	badCRC := bytes.Clone(good)
	badCRC[12] ^= 1
	short := bytes.Clone(good)
	binary.BigEndian.PutUint32(short[8:], 5)
	badMagic := bytes.Clone(good)
	badMagic[16] = 7
	keyLen := bytes.Clone(good)
	binary.BigEndian.PutUint32(keyLen[12+4+1+1+8:], 1000)
	binary.BigEndian.PutUint32(keyLen[12:], crc32IEEE(keyLen[16:12+int(binary.BigEndian.Uint32(keyLen[8:]))]))
	nested := legacySet(t, MagicV1, legacyMsg{Offset: 1, Codec: CodecGzip, Inner: []legacyMsg{
		{Offset: 0, Codec: CodecGzip, Inner: plainMsgs(1, testNow)}}})
	mixedInner := appendLegacy(nil, 0, MagicV1, int8(CodecGzip), testNow, nil,
		mustCompress(t, CodecGzip, legacySet(t, MagicV0, plainMsgs(1, 0)...)))
	empty, _ := Compress(CodecGzip, nil)
	emptyWrapper := appendLegacy(nil, 0, MagicV1, int8(CodecGzip), testNow, nil, empty)
	nullWrapper := appendLegacy(nil, 0, MagicV1, int8(CodecGzip), testNow, nil, nil)
	zstdWrapper := appendLegacy(nil, 0, MagicV1, int8(CodecZstd), testNow, nil, []byte{1, 2, 3})
	bomb := appendLegacy(nil, 0, MagicV1, int8(CodecGzip), testNow, nil, mustCompress(t, CodecGzip, make([]byte, DefaultMaxUncompressed+1)))
	cases := []struct {
		name string
		set  []byte
		want error
	}{
		{"bad CRC is CORRUPT_MESSAGE", badCRC, ErrCorrupt},
		{"size below RECORD_OVERHEAD_V0", short, ErrCorrupt},
		{"unknown magic", badMagic, ErrCorrupt},
		{"key length past the message", keyLen, ErrCorrupt},
		{"inner messages must not be compressed", nested, ErrInvalidRecord},
		{"inner magic differs from the wrapper", mixedInner, ErrInvalidRecord},
		{"compressed set with no inner records", emptyWrapper, ErrInvalidRecord},
		{"compressed message with null value", nullWrapper, ErrInvalidRecord},
		{"zstd needs magic 2", zstdWrapper, ErrUnsupportedCompression},
		{"decompression capped", bomb, ErrCorrupt},
		{"v2 batch in a legacy set", mustBuild(t, sampleRecords(1, 1), optCodec(CodecNone)), ErrInvalidRecord},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := WalkLegacy(c.set, 0, func(_, _ *LegacyMessage) error { return nil })
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	// A truncated tail is dropped silently (ByteBufferLogInputStream).
	if got := walkAll(t, good[:len(good)-3]); len(got) != 1 {
		t.Fatalf("truncated tail: %d messages", len(got))
	}
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func mustCompress(t testing.TB, c Codec, raw []byte) []byte {
	t.Helper()
	out, err := Compress(c, raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLegacyLZ4_Magic0HeaderChecksum: KafkaLZ4BlockOutputStream's magic 0
// frames hash the frame magic into the header checksum; our xxh32 agrees with
// pierrec's correct checksum and the broken one is repaired before decoding.
func TestLegacyLZ4_Magic0HeaderChecksum(t *testing.T) {
	frame := mustCompress(t, CodecLZ4, []byte("hello hello hello"))
	end := lz4DescriptorEnd(frame)
	if end < 0 || frame[end] != byte(xxh32(frame[4:end])>>8) {
		t.Fatalf("xxh32 disagrees with pierrec's header checksum")
	}
	broken := bytes.Clone(frame)
	breakLegacyLZ4Header(broken)
	if broken[end] == frame[end] {
		t.Skip("broken and correct checksums coincide for this descriptor")
	}
	if _, err := Decompress(CodecLZ4, broken, 0); err == nil {
		t.Fatal("standard reader accepted the broken checksum; the fix-up is untested")
	}
	if out, err := Decompress(CodecLZ4, fixLegacyLZ4Header(broken), 0); err != nil || string(out) != "hello hello hello" {
		t.Fatalf("fixed frame: %q, %v", out, err)
	}
	// xxh32 reference values (xxhsum): empty input and "abc".
	if xxh32(nil) != 0x02cc5d05 || xxh32([]byte("abc")) != 0x32d153ff {
		t.Fatalf("xxh32 = %#x, %#x", xxh32(nil), xxh32([]byte("abc")))
	}
	// The 16-byte stripe path (descriptors with a content size and dictionary id).
	if got := xxh32([]byte("Nobody inspects the spammish repetition")); got != 0xe2293b2f {
		t.Fatalf("xxh32 long input = %#x", got)
	}
}

// TestLogValidator_ConvertAndAssignOffsetsNonCompressed: magic 0 and 1 sets
// become one uncompressed v2 batch with offsets 0..n-1, CreateTime, the
// messages' timestamps (magic 0: NO_TIMESTAMP) and no producer id.
func TestLogValidator_ConvertAndAssignOffsetsNonCompressed(t *testing.T) {
	for _, magic := range []int8{MagicV0, MagicV1} {
		t.Run(fmt.Sprintf("magic%d", magic), func(t *testing.T) {
			msgs := plainMsgs(4, testNow)
			for i := range msgs {
				msgs[i].Offset = 77 // producers' offsets are ignored
			}
			v2, err := UpConvert(legacySet(t, magic, msgs...), UpConvertOptions{TargetCodec: CodecProducer})
			if err != nil {
				t.Fatal(err)
			}
			info := mustValidate(t, v2, clientCfg())
			wantMax := int64(NoTimestamp)
			if magic == MagicV1 {
				wantMax = testNow + 3
			}
			if info.NumRecords != 4 || info.Codec != CodecNone || info.MaxTimestamp != wantMax || Batch(v2).ProducerID() != NoProducerID || Batch(v2).LogAppendTime() {
				t.Fatalf("info %+v", info)
			}
			for i, r := range collect(t, v2) {
				wantTs := int64(NoTimestamp)
				if magic == MagicV1 {
					wantTs = testNow + int64(i)
				}
				if r.Offset != int64(i) || r.Timestamp != wantTs || !bytes.Equal(r.Value, msgs[i].Value) || (r.Key == nil) != (msgs[i].Key == nil) {
					t.Fatalf("record %d = %+v", i, r)
				}
			}
		})
	}
}

// TestLogValidator_ValidateMessagesAndAssignOffsetsCompressed: compressed
// wrappers are rebuilt into one v2 batch with the target codec: the producer's
// with compression.type=producer, else the topic's (getTargetCompressionCodec).
func TestLogValidator_ValidateMessagesAndAssignOffsetsCompressed(t *testing.T) {
	for _, magic := range []int8{MagicV0, MagicV1} {
		for _, src := range []Codec{CodecGzip, CodecSnappy, CodecLZ4} {
			for _, target := range []Codec{CodecProducer, CodecNone, CodecZstd} {
				t.Run(fmt.Sprintf("magic%d/%s/to-%d", magic, src, target), func(t *testing.T) {
					set := legacySet(t, magic,
						legacyMsg{Offset: 2, Codec: src, Timestamp: testNow + 2, Inner: plainMsgs(3, testNow)},
						legacyMsg{Offset: 3, Timestamp: testNow + 9, Value: []byte("plain")})
					v2, err := UpConvert(set, UpConvertOptions{TargetCodec: target})
					if err != nil {
						t.Fatal(err)
					}
					want := target
					if target == CodecProducer {
						want = src
					}
					info := mustValidate(t, v2, clientCfg())
					if info.NumRecords != 4 || info.Codec != want {
						t.Fatalf("info %+v", info)
					}
					recs := collect(t, v2)
					if string(recs[3].Value) != "plain" || string(recs[1].Value) != "value-1" {
						t.Fatalf("records %+v", recs)
					}
				})
			}
		}
	}
}

// TestLogValidator_LegacyRules: analyzeAndValidateRecords / validateBatch /
// validateTimestamp rules on legacy input.
func TestLogValidator_LegacyRules(t *testing.T) {
	lat := plainMsgs(1, testNow)
	lat[0].Attrs = legacyAttrLogAppendTime
	mixed := append(legacySet(t, MagicV0, plainMsgs(1, 0)...), legacySet(t, MagicV1, plainMsgs(1, testNow)...)...)
	big := legacySet(t, MagicV1, legacyMsg{Value: make([]byte, 100)})
	cases := []struct {
		name string
		set  []byte
		opt  UpConvertOptions
		want error
	}{
		{"producer must not set LogAppendTime", legacySet(t, MagicV1, lat...), UpConvertOptions{}, ErrInvalidTimestamp},
		{"all batches must have the same magic", mixed, UpConvertOptions{}, ErrInvalidRecord},
		{"message larger than max.message.bytes", big, UpConvertOptions{MaxMessageBytes: 100}, ErrMessageTooLarge},
		{"corrupt CRC", append(bytes.Clone(big[:len(big)-1]), big[len(big)-1]^1), UpConvertOptions{}, ErrCorrupt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := UpConvert(c.set, c.opt); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	t.Run("no complete message appends nothing", func(t *testing.T) {
		if b, err := UpConvert(big[:20], UpConvertOptions{}); b != nil || err != nil {
			t.Fatalf("%v, %v", b, err)
		}
	})
}

// v2Log concatenates batches as a log segment holds them.
func v2Log(t testing.TB, batches ...Batch) []byte {
	var out []byte
	for _, b := range batches {
		out = append(out, b...)
	}
	return out
}

func batchAt(t testing.TB, base int64, n int, c Codec) Batch {
	o := optCodec(c)
	o.BaseOffset = base
	return mustBuild(t, sampleRecords(n, 10), o)
}

// TestDownConvert_Rules: RecordsUtil.downConvert — control batches dropped,
// offsets kept, records below the fetch offset dropped from uncompressed
// batches only, one wrapper per compressed batch, timestamps for magic 1
// only, zstd refused.
func TestDownConvert_Rules(t *testing.T) {
	ctrlOpt := DefaultBuildOptions()
	ctrlOpt.Control, ctrlOpt.Transactional, ctrlOpt.ProducerID, ctrlOpt.BaseOffset = true, true, 3, 5
	ctrl := mustBuild(t, []BuildRecord{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}}, ctrlOpt)
	for _, magic := range []int8{MagicV0, MagicV1} {
		for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
			t.Run(fmt.Sprintf("magic%d/%s", magic, c), func(t *testing.T) {
				data := v2Log(t, batchAt(t, 0, 5, c), ctrl, batchAt(t, 6, 3, c))
				out, err := DownConvert(data, magic, 2, 1<<20, 0)
				if err != nil {
					t.Fatal(err)
				}
				var offs []int64
				shallow := 0
				for rest := out; len(rest) > 0; {
					m, size, ok, err := nextLegacy(rest)
					if err != nil || !ok || m.Magic != magic {
						t.Fatalf("shallow entry: %+v %v %v", m, ok, err)
					}
					rest = rest[size:]
					shallow++
				}
				for _, m := range walkAll(t, out) {
					offs = append(offs, m.Offset)
					wantTs := int64(NoTimestamp)
					if magic == MagicV1 {
						wantTs = testNow + m.Offset%6
						if m.Offset >= 6 {
							wantTs = testNow + m.Offset - 6
						}
					}
					if m.Timestamp != wantTs || m.Magic != magic {
						t.Fatalf("message %+v, want timestamp %d", m, wantTs)
					}
				}
				want := []int64{2, 3, 4, 6, 7, 8}
				wantShallow := 6
				if c != CodecNone {
					want, wantShallow = []int64{0, 1, 2, 3, 4, 6, 7, 8}, 2
				}
				if fmt.Sprint(offs) != fmt.Sprint(want) || shallow != wantShallow {
					t.Fatalf("offsets %v (%d shallow), want %v (%d)", offs, shallow, want, wantShallow)
				}
			})
		}
	}
	t.Run("zstd cannot be down-converted", func(t *testing.T) {
		if _, err := DownConvert(batchAt(t, 0, 2, CodecZstd), MagicV1, 0, 1<<20, 0); !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("LogAppendTime batch keeps its flag and time in magic 1", func(t *testing.T) {
		b := batchAt(t, 0, 2, CodecGzip)
		b.SetLogAppendTime(testNow + 500)
		out, err := DownConvert(b, MagicV1, 0, 1<<20, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = WalkLegacy(out, 0, func(w, m *LegacyMessage) error {
			if !w.LogAppendTime() || m.Timestamp != testNow+500 || w.Timestamp != testNow+500 {
				return fmt.Errorf("wrapper %+v message %+v", *w, *m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("limit keeps whole messages and the first batch", func(t *testing.T) {
		data := v2Log(t, batchAt(t, 0, 4, CodecNone), batchAt(t, 4, 4, CodecGzip))
		out, err := DownConvert(data, MagicV1, 0, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(walkAll(t, out)); n != 4 {
			t.Fatalf("%d messages within a 10-byte limit, want the first batch's 4", n)
		}
		full, _ := DownConvert(data, MagicV1, 0, 1<<20, 0)
		cut, _ := DownConvert(data, MagicV1, 0, len(full)-1, 0)
		if len(walkAll(t, cut)) != 4 {
			t.Fatal("a wrapper that does not fit must be left out whole")
		}
	})
	t.Run("torn tail ignored", func(t *testing.T) {
		data := v2Log(t, batchAt(t, 0, 2, CodecNone), batchAt(t, 2, 2, CodecNone))
		out, err := DownConvert(data[:len(data)-5], MagicV0, 0, 1<<20, 0)
		if err != nil || len(walkAll(t, out)) != 2 {
			t.Fatalf("%v", err)
		}
	})
}

// TestLegacy_UpThenDownRoundTrip: a set up-converted and down-converted again
// carries the same keys, values and (magic 1) timestamps.
func TestLegacy_UpThenDownRoundTrip(t *testing.T) {
	msgs := plainMsgs(6, testNow)
	set := legacySet(t, MagicV1, legacyMsg{Offset: 5, Codec: CodecSnappy, Timestamp: testNow + 5, Inner: msgs})
	v2, err := UpConvert(set, UpConvertOptions{TargetCodec: CodecProducer})
	if err != nil {
		t.Fatal(err)
	}
	Batch(v2).SetBaseOffset(40)
	out, err := DownConvert(v2, MagicV1, 40, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := walkAll(t, out)
	for i, m := range got {
		if m.Offset != 40+int64(i) || m.Timestamp != testNow+int64(i) || !bytes.Equal(m.Value, msgs[i].Value) || !bytes.Equal(m.Key, msgs[i].Key) {
			t.Fatalf("message %d = %+v", i, m)
		}
	}
}

// saramaRoundTrip serves one request on a loopback listener: it returns the
// request frame and answers with resp (built from the frame), as a broker.
func saramaRoundTrip(t *testing.T, answer func(frame []byte) []byte, call func(br *sarama.Broker)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			done <- err
			return
		}
		frame := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(conn, frame); err != nil {
			done <- err
			return
		}
		if body := answer(frame); body != nil {
			out := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
			out = append(out, frame[4:8]...) // correlation id
			_, err = conn.Write(append(out, body...))
		}
		done <- err
	}()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V0_10_0_0
	cfg.ApiVersionsRequest = false
	br := sarama.NewBroker(ln.Addr().String())
	if err := br.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	call(br)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
}

// saramaLegacyProduce runs a real Sarama SyncProducer at version against a
// fake one-broker cluster (Metadata and Produce answered with kmsg) and
// returns the message set of its one produce request.
func saramaLegacyProduce(t *testing.T, version sarama.KafkaVersion, codec sarama.CompressionCodec, msgs []*sarama.ProducerMessage) (produceVersion int16, records []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, portStr, _ := net.SplitHostPort(ln.Addr().String())
	var port int32
	fmt.Sscan(portStr, &port)
	got := make(chan []byte, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				for {
					var size [4]byte
					if _, err := io.ReadFull(conn, size[:]); err != nil {
						return
					}
					frame := make([]byte, binary.BigEndian.Uint32(size[:]))
					if _, err := io.ReadFull(conn, frame); err != nil {
						return
					}
					key, v := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
					body := frame[10+int(binary.BigEndian.Uint16(frame[8:])):]
					var resp kmsg.Response
					switch key {
					case 3:
						mr := kmsg.NewMetadataResponse()
						mr.Version = v
						b := kmsg.NewMetadataResponseBroker()
						b.NodeID, b.Host, b.Port = 1, host, port
						mr.Brokers = append(mr.Brokers, b)
						mt := kmsg.NewMetadataResponseTopic()
						mt.Topic = kmsg.StringPtr("t")
						mp := kmsg.NewMetadataResponseTopicPartition()
						mp.Leader, mp.Replicas, mp.ISR = 1, []int32{1}, []int32{1}
						mt.Partitions = append(mt.Partitions, mp)
						mr.Topics = append(mr.Topics, mt)
						resp = &mr
					case 0:
						pr := kmsg.ProduceRequest{Version: v}
						if err := pr.ReadFrom(body); err != nil {
							return
						}
						got <- append([]byte{byte(v)}, pr.Topics[0].Partitions[0].Records...)
						presp := kmsg.NewProduceResponse()
						presp.Version = v
						rt := kmsg.NewProduceResponseTopic()
						rt.Topic = "t"
						rt.Partitions = append(rt.Partitions, kmsg.NewProduceResponseTopicPartition())
						presp.Topics = append(presp.Topics, rt)
						resp = &presp
					default:
						return
					}
					out := binary.BigEndian.AppendUint32(nil, 0)
					out = append(out, frame[4:8]...)
					out = resp.AppendTo(out)
					binary.BigEndian.PutUint32(out, uint32(len(out)-4))
					if _, err := conn.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ApiVersionsRequest = false
	cfg.Producer.Return.Successes = true
	cfg.Producer.Compression = codec
	cfg.Producer.Flush.Messages = len(msgs)
	cfg.Producer.Flush.Frequency = time.Minute
	cfg.Metadata.Retry.Max = 0
	p, err := sarama.NewSyncProducer([]string{ln.Addr().String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		return int16(r[0]), r[1:]
	case <-time.After(10 * time.Second):
		t.Fatal("no produce request")
	}
	return 0, nil
}

// TestUpConvert_SaramaLegacyProducer: message sets as Sarama's old producers
// encode them (0.8.2: produce v0, magic 0; 0.10.0: produce v2, magic 1)
// convert exactly, for every codec they can use.
func TestUpConvert_SaramaLegacyProducer(t *testing.T) {
	for _, v := range []struct {
		version sarama.KafkaVersion
		magic   int8
	}{{sarama.V0_8_2_0, 0}, {sarama.V0_10_0_0, 1}} {
		for _, c := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy, sarama.CompressionLZ4} {
			if c == sarama.CompressionLZ4 && v.magic == 0 {
				continue // Sarama needs 0.10 (magic 1) for LZ4
			}
			t.Run(fmt.Sprintf("%s/%s", v.version, c), func(t *testing.T) {
				var msgs []*sarama.ProducerMessage
				for i := 0; i < 3; i++ {
					msgs = append(msgs, &sarama.ProducerMessage{Topic: "t", Key: sarama.StringEncoder(fmt.Sprint("k", i)),
						Value: sarama.StringEncoder(fmt.Sprint("v", i)), Timestamp: time.UnixMilli(testNow + int64(i))})
				}
				pv, records := saramaLegacyProduce(t, v.version, c, msgs)
				if pv != 2*int16(v.magic) {
					t.Fatalf("produce v%d", pv)
				}
				v2, err := UpConvert(records, UpConvertOptions{TargetCodec: CodecProducer})
				if err != nil {
					t.Fatal(err)
				}
				if Batch(v2).Compression() != Codec(c) {
					t.Fatalf("codec %v", Batch(v2).Compression())
				}
				recs := collect(t, v2)
				if len(recs) != 3 {
					t.Fatalf("%d records", len(recs))
				}
				for i, r := range recs {
					wantTs := int64(NoTimestamp)
					if v.magic == 1 {
						wantTs = testNow + int64(i)
					}
					if string(r.Key) != fmt.Sprint("k", i) || string(r.Value) != fmt.Sprint("v", i) || r.Timestamp != wantTs {
						t.Fatalf("record %d = %+v", i, r)
					}
				}
			})
		}
	}
}

// TestDownConvert_SaramaLegacyConsumer: Sarama's fetch v0 (magic 0) and v2
// (magic 1) decoders read what DownConvert produces: CRCs, codecs, wrapper
// and inner offsets, timestamps.
func TestDownConvert_SaramaLegacyConsumer(t *testing.T) {
	for _, v := range []struct {
		version int16
		magic   int8
	}{{0, 0}, {2, 1}} {
		for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4} {
			if c == CodecLZ4 && v.magic == 0 {
				continue // magic 0 LZ4 carries Kafka's broken checksum, which Sarama's reader refuses
			}
			t.Run(fmt.Sprintf("v%d/%s", v.version, c), func(t *testing.T) {
				data := v2Log(t, batchAt(t, 10, 4, c), batchAt(t, 14, 2, c))
				out, err := DownConvert(data, v.magic, 10, 1<<20, 0)
				if err != nil {
					t.Fatal(err)
				}
				var resp *sarama.FetchResponse
				saramaRoundTrip(t, func([]byte) []byte {
					kr := kmsg.NewFetchResponse()
					kr.Version = v.version
					rt := kmsg.NewFetchResponseTopic()
					rt.Topic = "t"
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.HighWatermark, rp.RecordBatches = 16, out
					rt.Partitions = append(rt.Partitions, rp)
					kr.Topics = append(kr.Topics, rt)
					return kr.AppendTo(nil)
				}, func(br *sarama.Broker) {
					req := &sarama.FetchRequest{Version: v.version, MaxWaitTime: 1, MinBytes: 1}
					req.AddBlock("t", 0, 10, 1<<20, -1)
					var err error
					if resp, err = br.Fetch(req); err != nil {
						t.Fatal(err)
					}
				})
				blk := resp.GetBlock("t", 0)
				if blk == nil || blk.Err != sarama.ErrNoError || len(blk.RecordsSet) != 1 {
					t.Fatalf("block %+v", blk)
				}
				n := 0
				for _, mb := range blk.RecordsSet[0].MsgSet.Messages {
					msgs := []*sarama.MessageBlock{mb}
					if mb.Msg.Set != nil {
						msgs = mb.Msg.Set.Messages
					}
					last := msgs[len(msgs)-1].Offset
					for _, im := range msgs {
						off := im.Offset
						if v.magic == 1 && mb.Msg.Set != nil {
							off = mb.Offset - last + im.Offset
						}
						want := 10 + int64(n)
						if off != want || string(im.Msg.Value) != string(sampleRecords(4, 10)[(want-10)%4].Value) {
							t.Fatalf("message %d: offset %d value %q", n, off, im.Msg.Value)
						}
						if v.magic == 1 && im.Msg.Timestamp.UnixMilli() != testNow+(want-10)%4 {
							t.Fatalf("message %d: timestamp %v", n, im.Msg.Timestamp)
						}
						n++
					}
				}
				if n != 6 {
					t.Fatalf("%d messages", n)
				}
			})
		}
	}
}
