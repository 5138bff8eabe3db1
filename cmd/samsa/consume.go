package main

// samsa consume: Kafka 2.8's kafka-console-consumer on Sarama, without consumer groups (they come with the
// group coordinator): it reads the partitions directly, like the console consumer with --partition.
//
//	start: --offset earliest|latest|N with --partition P; else --from-beginning (earliest); else latest
//	stop:  after --max-messages records, after --timeout-ms with no record, or on SIGINT/SIGTERM
//	print: DefaultMessageFormatter's layout: [Partition:P<sep>][Offset:O<sep>][key<sep>]value<line.separator>,
//	       sep = key.separator (TAB), null keys and values as "null"; the line separator ends every record
//	       (Kafka's omits it when print.value=false, running records together)
//	end:   "Processed a total of N messages" on stderr, exit 0 (also on timeout, as Kafka's)
//
// Properties: print.key, print.value, print.partition, print.offset, key.separator, line.separator; others are
// refused (Kafka's formatter ignores unknown ones). Without --partition the partitions are read concurrently,
// so the order across partitions is the order of arrival.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

type consumeOptions struct {
	bootstrap   []string
	topic       string
	partition   int32 // -1: all
	offset      int64 // sarama.OffsetOldest, sarama.OffsetNewest or an offset
	maxMessages int   // <= 0: unlimited
	timeout     time.Duration
	format      recordFormat
}

// recordFormat is DefaultMessageFormatter's configuration.
type recordFormat struct {
	printKey, printValue, printPartition, printOffset bool
	keySep, lineSep                                   string
}

var consumeProperties = []string{"print.key", "print.value", "print.partition", "print.offset", "key.separator", "line.separator"}

const consumeUsage = "usage: samsa consume --bootstrap-server HOST:PORT --topic T [--from-beginning] [--max-messages N] " +
	"[--partition P [--offset earliest|latest|N]] [--timeout-ms MS] [--property print.key=true]..."

func parseConsumeArgs(args []string, stderr io.Writer) (consumeOptions, error) {
	fs, bootstrap := toolFlags("consume", consumeUsage, stderr)
	topic := fs.String("topic", "", "REQUIRED: the topic to consume")
	fromBeginning := fs.Bool("from-beginning", false, "start with the earliest record instead of the latest")
	maxMessages := fs.Int("max-messages", -1, "exit after this many records (default: no limit)")
	partition := fs.Int("partition", -1, "read only this partition (default: all)")
	offset := fs.String("offset", "", "with --partition: earliest, latest or an offset (default latest, or earliest with --from-beginning)")
	timeoutMs := fs.Int("timeout-ms", -1, "exit when no record arrived for this long (default: wait forever)")
	var props multiFlag
	fs.Var(&props, "property", "formatter property, e.g. print.key=true (repeatable)")
	if err := fs.Parse(args); err != nil {
		return consumeOptions{}, err
	}
	if fs.NArg() > 0 {
		return consumeOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := consumeOptions{topic: *topic, partition: -1, offset: sarama.OffsetNewest, maxMessages: *maxMessages}
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	if o.topic == "" {
		return o, errors.New("--topic is required")
	}
	if *partition < -1 || *partition > 1<<31-1 {
		return o, fmt.Errorf("--partition %d: not a partition", *partition)
	}
	o.partition = int32(*partition)
	if *fromBeginning {
		o.offset = sarama.OffsetOldest
	}
	if *offset != "" {
		if o.partition < 0 {
			return o, errors.New("--offset requires --partition (as in kafka-console-consumer)")
		}
		if *fromBeginning {
			return o, errors.New("--from-beginning cannot be combined with --offset")
		}
		if o.offset, err = parseStartOffset(*offset); err != nil {
			return o, err
		}
	}
	if *timeoutMs >= 0 {
		o.timeout = time.Duration(*timeoutMs) * time.Millisecond
	}
	p, err := parseProperties("property", props, consumeProperties)
	if err != nil {
		return o, err
	}
	o.format = recordFormat{
		printKey: parseBool(p, "print.key", false), printValue: parseBool(p, "print.value", true),
		printPartition: parseBool(p, "print.partition", false), printOffset: parseBool(p, "print.offset", false),
		keySep: "\t", lineSep: "\n",
	}
	if v, ok := p["key.separator"]; ok {
		o.format.keySep = unescape(v)
	}
	if v, ok := p["line.separator"]; ok {
		o.format.lineSep = unescape(v)
	}
	return o, nil
}

func parseStartOffset(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "earliest":
		return sarama.OffsetOldest, nil
	case "latest":
		return sarama.OffsetNewest, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--offset %q: want earliest, latest or a non-negative offset", s)
	}
	return n, nil
}

// unescape turns the escapes a shell user types (\t, \n, \r, \\) into characters, as Kafka's console
// consumer does for its separators.
func unescape(s string) string {
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\r`, "\r", `\\`, `\`).Replace(s)
}

// write prints one record in DefaultMessageFormatter's layout.
func (f recordFormat) write(w io.Writer, m *sarama.ConsumerMessage) {
	var b strings.Builder
	fields := 0
	sep := func() {
		if fields > 0 {
			b.WriteString(f.keySep)
		}
		fields++
	}
	if f.printPartition {
		sep()
		b.WriteString("Partition:" + strconv.Itoa(int(m.Partition)))
	}
	if f.printOffset {
		sep()
		b.WriteString("Offset:" + strconv.FormatInt(m.Offset, 10))
	}
	if f.printKey {
		sep()
		b.WriteString(nullable(m.Key))
	}
	if f.printValue {
		sep()
		b.WriteString(nullable(m.Value))
	}
	if fields > 0 {
		b.WriteString(f.lineSep)
	}
	io.WriteString(w, b.String())
}

func nullable(b []byte) string {
	if b == nil {
		return "null"
	}
	return string(b)
}

func runConsume(args []string, stdout, stderr io.Writer) int {
	o, err := parseConsumeArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa consume: %v\n%s\n", err, consumeUsage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := bufio.NewWriter(stdout)
	n, err := o.consume(ctx, out, stderr)
	out.Flush()
	fmt.Fprintf(stderr, "Processed a total of %d messages\n", n)
	if err != nil {
		fmt.Fprintf(stderr, "samsa consume: %v\n", err)
		return 1
	}
	return 0
}

// consume prints records until a stop condition and returns how many it printed.
func (o consumeOptions) consume(ctx context.Context, out *bufio.Writer, stderr io.Writer) (int, error) {
	cfg := toolConfig("samsa-consume")
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(o.bootstrap, cfg)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	partitions := []int32{o.partition}
	if o.partition < 0 {
		if partitions, err = client.Partitions(o.topic); err != nil {
			return 0, fmt.Errorf("topic %s: %w", o.topic, err)
		}
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()

	records := make(chan *sarama.ConsumerMessage)
	errs := make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(done); wg.Wait() }()
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(o.topic, p, o.offset)
		if err != nil {
			return 0, fmt.Errorf("partition %d: %w", p, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case m := <-pc.Messages():
					select {
					case records <- m:
					case <-done:
						return
					}
				case err := <-pc.Errors():
					select {
					case errs <- err:
					default:
					}
				case <-done:
					return
				}
			}
		}()
	}

	var idle <-chan time.Time
	var timer *time.Timer
	if o.timeout > 0 {
		timer = time.NewTimer(o.timeout)
		defer timer.Stop()
		idle = timer.C
	}
	n := 0
	for o.maxMessages <= 0 || n < o.maxMessages {
		select {
		case m := <-records:
			o.format.write(out, m)
			n++
			if o.maxMessages <= 0 || n < o.maxMessages {
				// Interactive use: show records as they arrive, not when the buffer fills.
				if err := out.Flush(); err != nil {
					return n, err
				}
			}
			if timer != nil {
				timer.Reset(o.timeout)
			}
		case err := <-errs:
			return n, err
		case <-idle:
			fmt.Fprintf(stderr, "ERROR Error processing message, terminating consumer process: no record for %v\n", o.timeout)
			return n, nil
		case <-ctx.Done():
			return n, nil
		}
	}
	return n, nil
}
