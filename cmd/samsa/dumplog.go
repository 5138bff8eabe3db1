package main

// samsa dump-log: Kafka 2.8's kafka-dump-log (kafka.tools.DumpLogSegments) for Samsa's files, with the same
// field labels so tutorials written for Kafka read the same. Index files are read directly (never opened
// through storage/index, which would preallocate them): a dump tool must not change what it looks at.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/samsa-broker/samsa/storage/record"
)

// kafkaMaxMessageSize is kafka-dump-log's --max-message-size default (5 MiB): the largest batch it reads.
const kafkaMaxMessageSize = 5 * 1024 * 1024

type dumpOptions struct {
	printData   bool
	verify      bool
	sanityOnly  bool
	maxMsgBytes int
}

func runDumpLog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dump-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o dumpOptions
	var files string
	fs.StringVar(&files, "files", "", "comma-separated files to dump (positional arguments work too)")
	fs.BoolVar(&o.printData, "print-data-log", false, "print the records of each batch (keys and payloads)")
	deep := fs.Bool("deep-iteration", false, "print each record's line without its key and payload")
	fs.BoolVar(&o.verify, "verify", false, "check index entries against the log; exit 1 on a mismatch")
	verifyOnly := fs.Bool("verify-index-only", false, "same as --verify (kafka-dump-log's name)")
	fs.BoolVar(&o.sanityOnly, "index-sanity-check", false, "only run the index sanity check")
	fs.IntVar(&o.maxMsgBytes, "max-message-size", kafkaMaxMessageSize, "largest batch to read")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.verify = o.verify || *verifyOnly
	paths := fs.Args()
	if files != "" {
		paths = append(strings.Split(files, ","), paths...)
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "usage: samsa dump-log [--print-data-log] [--verify] FILE...")
		return 2
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	status := 0
	for _, p := range paths {
		fmt.Fprintf(w, "Dumping %s\n", p)
		var err error
		switch filepath.Ext(p) {
		case ".log":
			err = dumpLogFile(w, p, o.printData || *deep, o.printData, o.maxMsgBytes)
		case ".index":
			err = dumpOffsetIndex(w, stderr, p, o)
		case ".timeindex":
			err = dumpTimeIndex(w, stderr, p, o)
		default:
			fmt.Fprintf(stderr, "Ignoring unknown file %s\n", p)
			continue
		}
		if err != nil {
			w.Flush()
			fmt.Fprintf(stderr, "dump-log: %s: %v\n", p, err)
			status = 1
		}
	}
	return status
}

// segmentBase parses the 20-digit base offset a segment's files are named by.
func segmentBase(path string) (int64, error) {
	name := filepath.Base(path)
	base, err := strconv.ParseInt(strings.TrimSuffix(name, filepath.Ext(name)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("file name %q is not <base offset>.<suffix>", name)
	}
	return base, nil
}

// batchScanner walks the batches of a .log file from the start, like Kafka's FileRecords.batches.
type batchScanner struct {
	r        *bufio.Reader
	position int64
	maxBytes int
	buf      []byte
	err      error // why the scan stopped early (nil at a clean end of file)
}

func newBatchScanner(f *os.File, maxBytes int) *batchScanner {
	return &batchScanner{r: bufio.NewReaderSize(f, 256<<10), maxBytes: maxBytes}
}

// next returns the next whole batch, or nil at the end of valid data.
func (s *batchScanner) next() record.Batch {
	head, err := s.r.Peek(record.LogOverhead + 5)
	if err != nil {
		if !errors.Is(err, io.EOF) || len(head) > 0 {
			s.err = fmt.Errorf("incomplete batch header at position %d", s.position)
		}
		return nil
	}
	_, size, magic, err := record.PeekHeader(head)
	if err != nil {
		s.err = fmt.Errorf("position %d: %w", s.position, err)
		return nil
	}
	if magic != 2 {
		s.err = fmt.Errorf("position %d: magic %d is not supported (only v2 batches)", s.position, magic)
		return nil
	}
	if size > s.maxBytes {
		s.err = fmt.Errorf("position %d: batch of %d bytes exceeds --max-message-size %d", s.position, size, s.maxBytes)
		return nil
	}
	if cap(s.buf) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		s.err = fmt.Errorf("position %d: incomplete batch of %d bytes", s.position, size)
		return nil
	}
	s.position += int64(size)
	return record.Batch(s.buf)
}

func timestampType(b record.Batch) string {
	if b.LogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// codecName prints CompressionType as Kafka 2.8 did (the Java enum's name; Kafka 3.0 switched to lower case).
func codecName(c record.Codec) string { return strings.ToUpper(c.String()) }

func dumpLogFile(w io.Writer, path string, deep, printData bool, maxBytes int) error {
	base, err := segmentBase(path)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(w, "Starting offset: %d\n", base)
	s := newBatchScanner(f, maxBytes)
	for b := s.next(); b != nil; b = s.next() {
		pos := s.position - int64(b.Size())
		fmt.Fprintf(w, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d "+
			"producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t position: %d %s: %d "+
			"size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
			b.BaseOffset(), b.LastOffset(), b.NumRecords(), b.BaseSequence(), b.LastSequence(), b.ProducerID(),
			b.ProducerEpoch(), b.PartitionLeaderEpoch(), b.IsTransactional(), b.IsControl(), pos, timestampType(b),
			b.MaxTimestamp(), b.Size(), b.Magic(), codecName(b.Compression()), b.CRC(), b.CRCValid())
		if deep {
			if err := dumpRecords(w, b, printData, maxBytes); err != nil {
				fmt.Fprintf(w, "| records unreadable: %v\n", err)
			}
		}
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if trailing := st.Size() - s.position; trailing > 0 {
		fmt.Fprintf(w, "Found %d invalid bytes at the end of %s\n", trailing, filepath.Base(path))
	}
	return nil
}

func dumpRecords(w io.Writer, b record.Batch, printData bool, maxBytes int) error {
	return b.Records(maxBytes*4, func(r record.Record) error {
		ts := b.FirstTimestamp() + r.TimestampDelta
		if b.LogAppendTime() {
			ts = b.MaxTimestamp()
		}
		seq := int32(-1)
		if b.BaseSequence() >= 0 {
			seq = b.BaseSequence() + r.OffsetDelta
		}
		keys := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			keys[i] = h.Key
		}
		fmt.Fprintf(w, "| offset: %d %s: %d keysize: %d valuesize: %d sequence: %d headerKeys: [%s]",
			b.BaseOffset()+int64(r.OffsetDelta), timestampType(b), ts, byteLen(r.Key), byteLen(r.Value), seq,
			strings.Join(keys, ","))
		switch {
		case b.IsControl():
			fmt.Fprint(w, controlDescription(r))
		case printData:
			if r.Key != nil {
				fmt.Fprintf(w, " key: %s", r.Key)
			}
			if r.Value != nil {
				fmt.Fprintf(w, " payload: %s", r.Value)
			}
		}
		fmt.Fprintln(w)
		return nil
	})
}

func byteLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// controlDescription decodes a transaction marker (key: version int16, type int16; value: version int16,
// coordinatorEpoch int32) the way kafka-dump-log prints it.
func controlDescription(r record.Record) string {
	if len(r.Key) < 4 {
		return " controlType: UNKNOWN(-1)"
	}
	typ := int16(binary.BigEndian.Uint16(r.Key[2:4]))
	name := map[int16]string{0: "ABORT", 1: "COMMIT"}[typ]
	if name == "" || len(r.Value) < 6 {
		return fmt.Sprintf(" controlType: UNKNOWN(%d)", typ)
	}
	return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: %d", name, int32(binary.BigEndian.Uint32(r.Value[2:6])))
}
