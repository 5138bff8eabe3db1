package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

func TestTopicsArgs(t *testing.T) {
	cases := []parseCase[topicsOptions]{
		{name: "create", args: "--bootstrap-server a:1,b:2 --create --topic t --partitions 3 --replication-factor 2 --config retention.ms=5 --config cleanup.policy=compact",
			check: func(t *testing.T, o topicsOptions) {
				if o.action != "create" || o.topic != "t" || o.partitions != 3 || o.replication != 2 {
					t.Fatalf("%+v", o)
				}
				if len(o.bootstrap) != 2 || *o.configs["retention.ms"] != "5" || *o.configs["cleanup.policy"] != "compact" {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "create with broker defaults (KIP-464)", args: "--bootstrap-server a:1 --create --topic t",
			check: func(t *testing.T, o topicsOptions) {
				if o.partitions != -1 || o.replication != -1 {
					t.Fatalf("%+v", o)
				}
			}},
		{name: "create with assignment", args: "--bootstrap-server a:1 --create --topic t --replica-assignment 1:2,2:3",
			check: func(t *testing.T, o topicsOptions) {
				if len(o.assignment) != 2 || o.assignment[1][0] != 2 || o.assignment[1][1] != 3 {
					t.Fatalf("%+v", o.assignment)
				}
			}},
		{name: "list", args: "--bootstrap-server a:1 --list"},
		{name: "describe all", args: "--bootstrap-server a:1 --describe"},
		{name: "alter", args: "--bootstrap-server a:1 --alter --topic t --partitions 4"},
		{name: "no action", args: "--bootstrap-server a:1 --topic t", wantErr: "exactly one action"},
		{name: "two actions", args: "--bootstrap-server a:1 --list --describe", wantErr: "exactly one action"},
		{name: "no bootstrap", args: "--list", wantErr: "--bootstrap-server is required"},
		{name: "create without topic", args: "--bootstrap-server a:1 --create", wantErr: "--create requires --topic"},
		{name: "delete without topic", args: "--bootstrap-server a:1 --delete", wantErr: "--delete requires --topic"},
		{name: "alter without partitions", args: "--bootstrap-server a:1 --alter --topic t", wantErr: "--alter requires --partitions"},
		{name: "zero partitions", args: "--bootstrap-server a:1 --create --topic t --partitions 0", wantErr: "at least 1"},
		{name: "replication factor with describe", args: "--bootstrap-server a:1 --describe --replication-factor 2", wantErr: "--replication-factor can only be used with --create"},
		{name: "config with alter", args: "--bootstrap-server a:1 --alter --topic t --partitions 2 --config a=b", wantErr: "--config can only be used with --create"},
		{name: "config without value", args: "--bootstrap-server a:1 --create --topic t --config retention.ms", wantErr: "expected key=value"},
		{name: "assignment and replication factor", args: "--bootstrap-server a:1 --create --topic t --replica-assignment 1 --replication-factor 1", wantErr: "cannot be used with --replication-factor"},
		{name: "uneven assignment", args: "--bootstrap-server a:1 --create --topic t --replica-assignment 1:2,3", wantErr: "different replication factor"},
		{name: "duplicate replica", args: "--bootstrap-server a:1 --create --topic t --replica-assignment 1:1", wantErr: "twice"},
		{name: "stray argument", args: "--bootstrap-server a:1 --list extra", wantErr: "unexpected argument"},
	}
	runParseCases(t, cases, parseTopicsArgs)
}

func TestTopicMatcherIsAWholeNameRegexp(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"", "anything", true},
		{"orders", "orders", true},
		{"orders", "orders-v2", false},
		{"orders.*", "orders-v2", true},
		{"a.c", "abc", true}, // '.' is a regexp metacharacter in Kafka too
		{"bad[", "bad[", true},
		{"bad[", "bad", false},
	}
	for _, c := range cases {
		m, err := topicMatcher(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := m(c.name); got != c.want {
			t.Errorf("topicMatcher(%q)(%q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
}

func TestProduceArgs(t *testing.T) {
	o, err := parseProduceArgs(strings.Fields("--bootstrap-server a:1 --topic t --property parse.key=true --property key.separator=: --acks all --compression-type zstd"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.parseKey || o.keySep != ":" || o.acks != sarama.WaitForAll || o.codec != sarama.CompressionZSTD {
		t.Fatalf("%+v", o)
	}
	o, err = parseProduceArgs(strings.Fields("--broker-list a:1 --topic t --request-required-acks 0 --compression-codec gzip"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.acks != sarama.NoResponse || o.codec != sarama.CompressionGZIP || o.keySep != "\t" || o.parseKey {
		t.Fatalf("Kafka's option names: %+v", o)
	}
	o, err = parseProduceArgs(strings.Fields("--bootstrap-server a:1 --topic t"), io.Discard)
	if err != nil || o.acks != sarama.WaitForLocal || o.codec != sarama.CompressionNone {
		t.Fatalf("defaults (acks 1 as 2.8's console producer, no compression): %+v %v", o, err)
	}
	for args, want := range map[string]string{
		"--bootstrap-server a:1": "--topic is required",
		"--topic t":              "--bootstrap-server is required",
		"--bootstrap-server a:1 --topic t --acks 2":                  "want all, -1, 1 or 0",
		"--bootstrap-server a:1 --topic t --compression-type xz":     "want none, gzip",
		"--bootstrap-server a:1 --topic t --property parse.kye=true": "unknown key",
	} {
		if _, err := parseProduceArgs(strings.Fields(args), io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// LineMessageReader: the key is the text before the first separator; a line without one is an error unless
// ignore.error; lines keep everything after the first separator, and an empty line is an empty value.
func TestProduceLinesAsKafkaLineMessageReader(t *testing.T) {
	o := produceOptions{topic: "t", parseKey: true, keySep: ":"}
	var got []*sarama.ProducerMessage
	send := func(m *sarama.ProducerMessage) error { got = append(got, m); return nil }
	var stderr bytes.Buffer
	if status := o.produce(strings.NewReader("k1:v1\r\nk2:v:2\n:empty-key\nk3:"), &stderr, send, nil); status != 0 {
		t.Fatalf("status %d: %s", status, stderr.String())
	}
	want := [][2]string{{"k1", "v1"}, {"k2", "v:2"}, {"", "empty-key"}, {"k3", ""}}
	if len(got) != len(want) {
		t.Fatalf("%d records", len(got))
	}
	for i, w := range want {
		if string(got[i].Key.(sarama.StringEncoder)) != w[0] || string(got[i].Value.(sarama.StringEncoder)) != w[1] {
			t.Errorf("record %d: %q/%q, want %q/%q", i, got[i].Key, got[i].Value, w[0], w[1])
		}
	}

	got = nil
	finished := false
	status := o.produce(strings.NewReader("k:v\nno-separator\nk:w\n"), &stderr, send, func() { finished = true })
	if status != 1 || len(got) != 1 || !finished || !strings.Contains(stderr.String(), "no key found on line 2") {
		t.Fatalf("status %d, %d records, finished %v, stderr %q", status, len(got), finished, stderr.String())
	}

	o.ignoreError = true
	got = nil
	if status := o.produce(strings.NewReader("no-separator\n"), io.Discard, send, nil); status != 0 || got[0].Key != nil {
		t.Fatalf("ignore.error: status %d, %+v", status, got)
	}

	o = produceOptions{topic: "t"}
	got = nil
	if status := o.produce(strings.NewReader("a\n\nb"), io.Discard, send, nil); status != 0 || len(got) != 3 || got[1].Value.Length() != 0 || got[0].Key != nil {
		t.Fatalf("plain lines: status %d, %+v", status, got)
	}
}

// Golden values of Kafka's UtilsTest.testMurmur2, so keys land where Kafka's Java producer puts them.
func TestMurmur2MatchesKafka(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	// toPositive masks the sign bit rather than negating: (-973932308 & 0x7fffffff) % 7 = 3 (|h| % 7 would be 6).
	if got := kafkaPartition([]byte("21"), 7); got != 3 {
		t.Errorf("kafkaPartition(\"21\", 7) = %d, want 3", got)
	}
}

func TestConsumeArgs(t *testing.T) {
	o, err := parseConsumeArgs(strings.Fields("--bootstrap-server a:1 --topic t --from-beginning --max-messages 10 --property print.key=true --property key.separator=\\t --timeout-ms 500"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.offset != sarama.OffsetOldest || o.maxMessages != 10 || !o.format.printKey || o.format.keySep != "\t" || o.timeout.Milliseconds() != 500 || o.partition != -1 {
		t.Fatalf("%+v", o)
	}
	o, err = parseConsumeArgs(strings.Fields("--bootstrap-server a:1 --topic t --partition 2 --offset 17"), io.Discard)
	if err != nil || o.partition != 2 || o.offset != 17 {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = parseConsumeArgs(strings.Fields("--bootstrap-server a:1 --topic t"), io.Discard)
	if err != nil || o.offset != sarama.OffsetNewest || o.maxMessages > 0 || o.timeout != 0 {
		t.Fatalf("defaults (latest, no limit, no timeout): %+v %v", o, err)
	}
	for args, want := range map[string]string{
		"--bootstrap-server a:1 --topic t --offset 5":                                "--offset requires --partition",
		"--bootstrap-server a:1 --topic t --partition 0 --offset soon":               "want earliest, latest",
		"--bootstrap-server a:1 --topic t --partition 0 --offset 1 --from-beginning": "cannot be combined",
		"--bootstrap-server a:1 --topic t --property print.timestamp=true":           "unknown key",
		"--bootstrap-server a:1": "--topic is required",
	} {
		if _, err := parseConsumeArgs(strings.Fields(args), io.Discard); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// DefaultMessageFormatter: Partition:, Offset:, key and value joined by key.separator, null as "null".
func TestConsumeFormatAsKafkaDefaultMessageFormatter(t *testing.T) {
	m := &sarama.ConsumerMessage{Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("v")}
	cases := []struct {
		f    recordFormat
		msg  *sarama.ConsumerMessage
		want string
	}{
		{recordFormat{printValue: true, keySep: "\t", lineSep: "\n"}, m, "v\n"},
		{recordFormat{printKey: true, printValue: true, keySep: "\t", lineSep: "\n"}, m, "k\tv\n"},
		{recordFormat{printKey: true, printValue: true, keySep: "\t", lineSep: "\n"}, &sarama.ConsumerMessage{Value: []byte("v")}, "null\tv\n"},
		{recordFormat{printPartition: true, printOffset: true, printKey: true, printValue: true, keySep: " | ", lineSep: "\n"}, m, "Partition:3 | Offset:42 | k | v\n"},
		{recordFormat{printKey: true, keySep: "\t", lineSep: "\n"}, m, "k\n"},
		{recordFormat{printValue: true, keySep: "\t", lineSep: "\n"}, &sarama.ConsumerMessage{}, "null\n"},
	}
	for i, c := range cases {
		var b bytes.Buffer
		c.f.write(&b, c.msg)
		if b.String() != c.want {
			t.Errorf("case %d: %q, want %q", i, b.String(), c.want)
		}
	}
}

// parseCase is one command line of a tool's argument-parsing table: the error it must give (a substring),
// or checks on the options it parses to.
type parseCase[O any] struct {
	name    string
	args    string
	wantErr string
	check   func(t *testing.T, o O)
}

func runParseCases[O any](t *testing.T, cases []parseCase[O], parse func([]string, io.Writer) (O, error)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parse(strings.Fields(c.args), io.Discard)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, o)
			}
		})
	}
}
