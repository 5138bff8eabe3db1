package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The .log is the wire batches back to back; .index entries are 4-byte big-endian relative offset
// + 4-byte position; .timeindex entries 8-byte timestamp + 4-byte relative offset; file names are
// the base offset in 20 digits (§2). Checked byte for byte against hand-computed files.
func TestFormat_SegmentFilesAreByteExactKafkaFormats(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 100
	cfg.SegmentBytes = 1 << 20
	l, _, dir := newTestLog(t, cfg)
	var logBytes []byte
	var wantIdx, wantTime []byte
	since := 0
	maxTs := int64(-1)
	var offMax int64
	for i := 0; i < 6; i++ {
		ts := testNow + int64(i)*1000
		if i == 3 {
			ts = testNow // a timestamp going backwards adds no time entry
		}
		ai, b := mustAppend(t, l, 2, 40, ts)
		if ai.MaxTimestamp > maxTs {
			maxTs, offMax = ai.MaxTimestamp, ai.OffsetOfMaxTimestamp
		}
		if since > 100 {
			wantIdx = binary.BigEndian.AppendUint32(wantIdx, uint32(ai.LastOffset))
			wantIdx = binary.BigEndian.AppendUint32(wantIdx, uint32(len(logBytes)))
			if n := len(wantTime); n == 0 || int64(binary.BigEndian.Uint64(wantTime[n-12:])) < maxTs {
				wantTime = binary.BigEndian.AppendUint64(wantTime, uint64(maxTs))
				wantTime = binary.BigEndian.AppendUint32(wantTime, uint32(offMax))
			}
			since = 0
		}
		since += len(b)
		logBytes = append(logBytes, b...)
	}
	if n := len(wantTime); n == 0 || int64(binary.BigEndian.Uint64(wantTime[n-12:])) < maxTs {
		wantTime = binary.BigEndian.AppendUint64(wantTime, uint64(maxTs)) // final entry at close
		wantTime = binary.BigEndian.AppendUint32(wantTime, uint32(offMax))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "test-topic-3")
	for name, want := range map[string][]byte{
		"00000000000000000000.log":       logBytes,
		"00000000000000000000.index":     wantIdx,
		"00000000000000000000.timeindex": wantTime,
	} {
		got, err := os.ReadFile(filepath.Join(pdir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %x (%v), want %x", name, got, err, want)
		}
	}
	if len(wantIdx) == 0 {
		t.Fatal("test wrote no index entries")
	}
}

// §11.1: "0\n<count>\n<topic> <partition> <offset>\n..."; readers split on any whitespace.
func TestCheckpoint_TextFormatMatchesKafka(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, RecoveryPointCheckpointFile)
	m := map[TopicPartition]int64{
		{"my-topic", 1}: 0, {"my-topic", 0}: 1234, {"__consumer_offsets", 17}: 98765,
	}
	if err := WriteOffsetCheckpoint(p, m); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "0\n3\n__consumer_offsets 17 98765\nmy-topic 0 1234\nmy-topic 1 0\n"
	if string(got) != want {
		t.Fatalf("checkpoint text %q, want %q", got, want)
	}
	if fileExists(p + ".tmp") {
		t.Fatal("tmp file left")
	}
	// As Kafka may write it: any order, and readers accept any whitespace.
	os.WriteFile(p, []byte("0\n3\nmy-topic 1 0\n__consumer_offsets\t17   98765\nmy-topic 0 1234\n"), 0o644)
	back, err := ReadOffsetCheckpoint(p)
	if err != nil || len(back) != 3 || back[TopicPartition{"__consumer_offsets", 17}] != 98765 || back[TopicPartition{"my-topic", 0}] != 1234 {
		t.Fatalf("read %v %v", back, err)
	}
	for name, text := range map[string]string{
		"bad version":    "1\n0\n",
		"count mismatch": "0\n2\nt 0 1\n",
		"bad line":       "0\n1\nt 0\n",
		"bad offset":     "0\n1\nt 0 x\n",
		"garbage":        "\x00\x13garbage",
	} {
		os.WriteFile(p, []byte(text), 0o644)
		if _, err := ReadOffsetCheckpoint(p); err == nil {
			t.Fatalf("%s: no error", name)
		}
	}
	os.WriteFile(p, nil, 0o644)
	if m, err := ReadOffsetCheckpoint(p); err != nil || len(m) != 0 {
		t.Fatalf("empty file: %v %v", m, err)
	}
	if m, err := ReadOffsetCheckpoint(filepath.Join(dir, "missing")); err != nil || len(m) != 0 {
		t.Fatalf("missing file: %v %v", m, err)
	}
	if err := WriteOffsetCheckpoint(p, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "0\n0\n" {
		t.Fatalf("empty checkpoint %q", got)
	}
}

// §11.5: Properties.store output: "#", a java.util.Date comment, key=value lines.
func TestMetaProperties_JavaPropertiesFormat(t *testing.T) {
	at := time.Date(2021, 7, 21, 14, 19, 49, 0, time.UTC)
	got := string(formatMetaProperties(BrokerMetadata{BrokerID: 1, ClusterID: "7rbKWmT9SjGqfNLf0ZkA4Q"}, at))
	want := "#\n#Wed Jul 21 14:19:49 UTC 2021\ncluster.id=7rbKWmT9SjGqfNLf0ZkA4Q\nversion=0\nbroker.id=1\n"
	if got != want {
		t.Fatalf("meta.properties %q, want %q", got, want)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, MetaPropertiesFile)
	if _, err := ReadMetaProperties(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if err := WriteMetaProperties(p, BrokerMetadata{BrokerID: 3, ClusterID: "abc"}); err != nil {
		t.Fatal(err)
	}
	if m, err := ReadMetaProperties(p); err != nil || m != (BrokerMetadata{BrokerID: 3, ClusterID: "abc"}) {
		t.Fatalf("round trip %+v %v", m, err)
	}
	cases := map[string]struct {
		text string
		want BrokerMetadata
		ok   bool
	}{
		"kafka order":       {"#\n#Wed Jul 21 14:19:49 UTC 2021\nbroker.id=1\nversion=0\ncluster.id=x-Y_z\n", BrokerMetadata{1, "x-Y_z", 0}, true},
		"no version":        {"broker.id=5\n", BrokerMetadata{5, "", 0}, true},
		"colon and spaces":  {"! comment\n  broker.id : 7\ncluster.id   c\\=d\\u0041\n", BrokerMetadata{7, "c=dA", 0}, true},
		"continuation":      {"cluster.id=ab\\\n    cd\nbroker.id=2\r\n", BrokerMetadata{2, "abcd", 0}, true},
		"kraft version":     {"version=1\nnode.id=1\ncluster.id=x\n", BrokerMetadata{}, false},
		"no broker id":      {"version=0\ncluster.id=x\n", BrokerMetadata{}, false},
		"bad broker id":     {"broker.id=one\n", BrokerMetadata{}, false},
		"bad unicode":       {"broker.id=1\ncluster.id=\\u12\n", BrokerMetadata{}, false},
		"escaped key space": {"broker\\ id=1\nbroker.id=4\n", BrokerMetadata{4, "", 0}, true},
	}
	for name, c := range cases {
		os.WriteFile(p, []byte(c.text), 0o644)
		m, err := ReadMetaProperties(p)
		if (err == nil) != c.ok || (c.ok && m != c.want) {
			t.Fatalf("%s: %+v %v", name, m, err)
		}
	}
	if s := escapeProperty(" a=b:c#d!\té", false); s != `\ a\=b\:c\#d\!\t\u00E9` {
		t.Fatalf("escape %q", s)
	}
	if !strings.HasPrefix(string(formatMetaProperties(BrokerMetadata{BrokerID: 1}, at)), "#\n#") {
		t.Fatal("header")
	}
}
