package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/samsa-broker/samsa/storage/record"
)

// writeSegment writes n batches of 2 records each (offsets 0..2n-1) as a .log file in a temp dir and
// returns its path and the batches' positions.
func writeSegment(t *testing.T, n int, codec record.Codec) (string, []int) {
	t.Helper()
	dir := t.TempDir()
	var log bytes.Buffer
	var positions []int
	for i := 0; i < n; i++ {
		opt := record.DefaultBuildOptions()
		opt.BaseOffset = int64(2 * i)
		opt.Codec = codec
		opt.PartitionLeaderEpoch = 0
		b, err := record.Build([]record.BuildRecord{
			{Key: []byte("k"), Value: []byte("hello"), Timestamp: 1000 + int64(i)},
			{Value: []byte("world"), Timestamp: 1001 + int64(i), Headers: []record.Header{{Key: "h1", Value: []byte("v")}}},
		}, opt)
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, log.Len())
		log.Write(b)
	}
	path := filepath.Join(dir, "00000000000000000000.log")
	if err := os.WriteFile(path, log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, positions
}

func runDump(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(append([]string{"dump-log"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestDumpLog_BatchLinesUseKafkaDumpLogLabels(t *testing.T) {
	path, _ := writeSegment(t, 2, record.Codec(1))
	out, errOut, code := runDump(t, path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := []string{
		"Dumping " + path,
		"Starting offset: 0",
		"baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 " +
			"partitionLeaderEpoch: 0 isTransactional: false isControl: false position: 0 CreateTime: 1001",
		"magic: 2 compresscodec: GZIP crc: ",
		"isvalid: true",
		"baseOffset: 2 lastOffset: 3 count: 2",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "| offset:") {
		t.Errorf("records printed without --print-data-log:\n%s", out)
	}
}

func TestDumpLog_PrintDataLogShowsRecords(t *testing.T) {
	path, _ := writeSegment(t, 1, record.Codec(0))
	out, _, code := runDump(t, "--print-data-log", path)
	if code != 0 {
		t.Fatal(code)
	}
	for _, w := range []string{
		"| offset: 0 CreateTime: 1000 keysize: 1 valuesize: 5 sequence: -1 headerKeys: [] key: k payload: hello",
		"| offset: 1 CreateTime: 1001 keysize: -1 valuesize: 5 sequence: -1 headerKeys: [h1] payload: world",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestDumpLog_CorruptCRCIsReportedInvalid(t *testing.T) {
	path, _ := writeSegment(t, 1, record.Codec(0))
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 0xff
	_ = os.WriteFile(path, data, 0o644)
	out, _, _ := runDump(t, path)
	if !strings.Contains(out, "isvalid: false") {
		t.Fatalf("corrupt batch not flagged:\n%s", out)
	}
}

func TestDumpLog_TornTailReportsInvalidBytes(t *testing.T) {
	path, _ := writeSegment(t, 2, record.Codec(0))
	data, _ := os.ReadFile(path)
	_ = os.WriteFile(path, data[:len(data)-7], 0o644)
	out, _, _ := runDump(t, path)
	if !strings.Contains(out, "Found ") || !strings.Contains(out, "invalid bytes at the end of 00000000000000000000.log") {
		t.Fatalf("torn tail not reported:\n%s", out)
	}
	if strings.Count(out, "baseOffset:") != 1 {
		t.Fatalf("want exactly the whole first batch:\n%s", out)
	}
}

func writeIndex(t *testing.T, logPath string, entries [][2]int32) string {
	t.Helper()
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e[0]))
		b = binary.BigEndian.AppendUint32(b, uint32(e[1]))
	}
	p := strings.TrimSuffix(logPath, ".log") + ".index"
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDumpLog_IndexEntriesAndVerify(t *testing.T) {
	logPath, pos := writeSegment(t, 3, record.Codec(0))
	good := writeIndex(t, logPath, [][2]int32{{3, int32(pos[1])}, {5, int32(pos[2])}})
	out, errOut, code := runDump(t, good)
	if code != 0 || !strings.Contains(out, "offset: 3 position: "+itoa(pos[1])) {
		t.Fatalf("exit %d out:\n%s\nerr: %s", code, out, errOut)
	}
	if _, errOut, code := runDump(t, "--verify", good); code != 0 {
		t.Fatalf("valid index failed verification: %s", errOut)
	}
	bad := writeIndex(t, logPath, [][2]int32{{4, int32(pos[1])}})
	_, errOut, code = runDump(t, "--verify", bad)
	if code == 0 || !strings.Contains(errOut, "Index offset: 4, log offset: 3") {
		t.Fatalf("mismatch not reported (exit %d): %s", code, errOut)
	}
}

func TestDumpLog_TimeIndexEntries(t *testing.T) {
	logPath, _ := writeSegment(t, 2, record.Codec(0))
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 1002)
	b = binary.BigEndian.AppendUint32(b, 3)
	p := strings.TrimSuffix(logPath, ".log") + ".timeindex"
	_ = os.WriteFile(p, b, 0o644)
	out, errOut, code := runDump(t, "--verify", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	out, _, _ = runDump(t, p)
	if !strings.Contains(out, "timestamp: 1002 offset: 3") {
		t.Fatalf("time index line missing:\n%s", out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
