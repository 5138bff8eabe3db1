package main

// samsa produce: Kafka 2.8's kafka-console-producer on Sarama. Each stdin line is one record (an empty line
// is an empty value); with --property parse.key=true the text before the first key.separator (default TAB) is
// the key. Keyed records go where Kafka's Java producer would put them (murmur2 of the key, as
// DefaultPartitioner), so a key lands on the same partition whichever tool wrote it; records without a key
// go round robin (Kafka 2.8 uses the sticky partitioner, which only batches differently).
//
// Options: --bootstrap-server (or Kafka's older --broker-list), --topic, --property parse.key|key.separator|
// ignore.error, --acks or --request-required-acks (all, -1, 1, 0; default 1 as in 2.8's console producer),
// --compression-type or --compression-codec (none, gzip, snappy, lz4, zstd), --sync (wait for each record).
// Exit status 1 when any record failed, after flushing the rest; "ERROR Error when sending message ..." per
// failure on stderr, as Kafka's ErrorLoggingCallback prints it.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/IBM/sarama"
)

type produceOptions struct {
	bootstrap   []string
	topic       string
	parseKey    bool
	keySep      string
	ignoreError bool
	acks        sarama.RequiredAcks
	codec       sarama.CompressionCodec
	sync        bool
}

var produceProperties = []string{"parse.key", "key.separator", "ignore.error"}

const produceUsage = "usage: samsa produce --bootstrap-server HOST:PORT --topic T [--property parse.key=true] " +
	"[--property key.separator=:] [--acks all|1|0] [--compression-type none|gzip|snappy|lz4|zstd] [--sync] < lines"

func parseProduceArgs(args []string, stderr io.Writer) (produceOptions, error) {
	fs, bootstrap := toolFlags("produce", produceUsage, stderr)
	brokerList := fs.String("broker-list", "", "deprecated name of --bootstrap-server")
	topic := fs.String("topic", "", "REQUIRED: the topic to produce to")
	var props multiFlag
	fs.Var(&props, "property", "parse.key=true, key.separator=SEP (default TAB), ignore.error=true (repeatable)")
	acks := fs.String("acks", "", "acks of each produce request: all (or -1), 1 or 0 (default 1)")
	reqAcks := fs.String("request-required-acks", "", "Kafka's name for --acks")
	codec := fs.String("compression-type", "", "none, gzip, snappy, lz4 or zstd (default none)")
	codecAlias := fs.String("compression-codec", "", "Kafka's name for --compression-type")
	syncMode := fs.Bool("sync", false, "send each record synchronously")
	if err := fs.Parse(args); err != nil {
		return produceOptions{}, err
	}
	if fs.NArg() > 0 {
		return produceOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := produceOptions{topic: *topic, keySep: "\t", sync: *syncMode, acks: sarama.WaitForLocal}
	var err error
	if o.bootstrap, err = splitBootstrap(firstSet(*bootstrap, *brokerList)); err != nil {
		return o, err
	}
	if o.topic == "" {
		return o, errors.New("--topic is required")
	}
	p, err := parseProperties("property", props, produceProperties)
	if err != nil {
		return o, err
	}
	o.parseKey = parseBool(p, "parse.key", false)
	o.ignoreError = parseBool(p, "ignore.error", false)
	if sep, ok := p["key.separator"]; ok {
		if sep == "" {
			return o, errors.New("--property key.separator= : the separator must not be empty")
		}
		o.keySep = sep
	}
	if o.acks, err = parseAcks(firstSet(*acks, *reqAcks)); err != nil {
		return o, err
	}
	if o.codec, err = parseCodec(firstSet(*codec, *codecAlias)); err != nil {
		return o, err
	}
	return o, nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func parseAcks(s string) (sarama.RequiredAcks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "1":
		return sarama.WaitForLocal, nil
	case "all", "-1":
		return sarama.WaitForAll, nil
	case "0":
		return sarama.NoResponse, nil
	}
	return 0, fmt.Errorf("--acks %q: want all, -1, 1 or 0", s)
}

func parseCodec(s string) (sarama.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return sarama.CompressionNone, nil
	case "gzip":
		return sarama.CompressionGZIP, nil
	case "snappy":
		return sarama.CompressionSnappy, nil
	case "lz4":
		return sarama.CompressionLZ4, nil
	case "zstd":
		return sarama.CompressionZSTD, nil
	}
	return 0, fmt.Errorf("--compression-type %q: want none, gzip, snappy, lz4 or zstd", s)
}

func runProduce(args []string, stdout, stderr io.Writer) int {
	return produceMain(args, os.Stdin, stdout, stderr)
}

func produceMain(args []string, stdin io.Reader, _, stderr io.Writer) int {
	o, err := parseProduceArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa produce: %v\n%s\n", err, produceUsage)
		return 2
	}
	cfg := toolConfig("samsa-produce")
	cfg.Producer.RequiredAcks = o.acks
	cfg.Producer.Compression = o.codec
	cfg.Producer.Partitioner = newKafkaPartitioner
	cfg.Producer.Retry.Max = 3 // kafka-console-producer's --message-send-max-retries
	cfg.Producer.Return.Errors = true
	cfg.Producer.Return.Successes = o.sync
	client, err := sarama.NewClient(o.bootstrap, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "samsa produce: %v\n", err)
		return 1
	}
	defer client.Close()
	if o.sync {
		prod, err := sarama.NewSyncProducerFromClient(client)
		if err != nil {
			fmt.Fprintf(stderr, "samsa produce: %v\n", err)
			return 1
		}
		defer prod.Close()
		return o.produce(stdin, stderr, func(m *sarama.ProducerMessage) error {
			_, _, err := prod.SendMessage(m)
			return err
		}, nil)
	}
	prod, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		fmt.Fprintf(stderr, "samsa produce: %v\n", err)
		return 1
	}
	var failed int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for perr := range prod.Errors() {
			failed++
			reportSendError(stderr, perr.Msg, perr.Err)
		}
	}()
	status := o.produce(stdin, stderr, func(m *sarama.ProducerMessage) error {
		prod.Input() <- m
		return nil
	}, func() {
		prod.AsyncClose() // flushes what is buffered; Errors closes once everything is answered
		wg.Wait()
	})
	if failed > 0 {
		return 1
	}
	return status
}

// produce turns stdin lines into records and hands each to send; finish (if any) runs at EOF or on a
// line error, before the exit status is decided.
func (o produceOptions) produce(stdin io.Reader, stderr io.Writer, send func(*sarama.ProducerMessage) error, finish func()) int {
	status := 0
	r := bufio.NewReaderSize(stdin, 64*1024)
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadString('\n')
		if line == "" && err != nil {
			if err != io.EOF {
				fmt.Fprintf(stderr, "samsa produce: read stdin: %v\n", err)
				status = 1
			}
			break
		}
		msg, perr := o.lineToMessage(strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), lineNo)
		if perr != nil {
			fmt.Fprintf(stderr, "samsa produce: %v\n", perr)
			status = 1
			break
		}
		if serr := send(msg); serr != nil {
			reportSendError(stderr, msg, serr)
			status = 1
		}
		if err != nil { // last line without a newline
			break
		}
	}
	if finish != nil {
		finish()
	}
	return status
}

// lineToMessage applies LineMessageReader's rules: with parse.key the key is the text before the first
// separator; a line without one is an error unless ignore.error, which sends the whole line as the value.
func (o produceOptions) lineToMessage(line string, lineNo int) (*sarama.ProducerMessage, error) {
	m := &sarama.ProducerMessage{Topic: o.topic}
	if !o.parseKey {
		m.Value = sarama.StringEncoder(line)
		return m, nil
	}
	key, value, ok := strings.Cut(line, o.keySep)
	if !ok {
		if !o.ignoreError {
			return nil, fmt.Errorf("no key found on line %d: %s", lineNo, line)
		}
		m.Value = sarama.StringEncoder(line)
		return m, nil
	}
	m.Key, m.Value = sarama.StringEncoder(key), sarama.StringEncoder(value)
	return m, nil
}

func reportSendError(w io.Writer, m *sarama.ProducerMessage, err error) {
	key := "null"
	if m.Key != nil {
		key = fmt.Sprintf("%d bytes", m.Key.Length())
	}
	fmt.Fprintf(w, "ERROR Error when sending message to topic %s with key: %s, value: %d bytes with error: %v\n",
		m.Topic, key, m.Value.Length(), err)
}

// kafkaPartitioner places records as Kafka 2.8's DefaultPartitioner does for keyed records:
// toPositive(murmur2(key)) % partitions; records without a key go round robin.
type kafkaPartitioner struct {
	next int32
}

func newKafkaPartitioner(string) sarama.Partitioner { return &kafkaPartitioner{} }

func (p *kafkaPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if m.Key == nil {
		p.next = (p.next + 1) % n
		return p.next, nil
	}
	key, err := m.Key.Encode()
	if err != nil {
		return -1, err
	}
	return kafkaPartition(key, n), nil
}

func (p *kafkaPartitioner) RequiresConsistency() bool { return true }

// MessageRequiresConsistency: only keyed records must stay on their partition when it is unavailable.
func (p *kafkaPartitioner) MessageRequiresConsistency(m *sarama.ProducerMessage) bool {
	return m.Key != nil
}

func kafkaPartition(key []byte, n int32) int32 {
	return int32((uint32(murmur2(key)) & 0x7fffffff) % uint32(n)) // Utils.toPositive masks the sign bit
}

// murmur2 is MurmurHash2 (32-bit) with Kafka's seed, as org.apache.kafka.common.utils.Utils.murmur2: 4-byte
// little-endian blocks, then the 1-3 byte tail, then the final avalanche.
func murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}
