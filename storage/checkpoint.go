package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Checkpoint file names in each log dir (§11.1) and the clean shutdown marker (§11.4).
const (
	RecoveryPointCheckpointFile  = "recovery-point-offset-checkpoint"
	LogStartOffsetCheckpointFile = "log-start-offset-checkpoint"
	ReplicationCheckpointFile    = "replication-offset-checkpoint"
	CleanShutdownFile            = ".kafka_cleanshutdown"
	LockFile                     = ".lock"
)

// ReadOffsetCheckpoint reads an offset checkpoint file (Kafka's OffsetCheckpointFile):
//
//	0                     version
//	2                     number of entries
//	my-topic 0 1234       topic partition offset, separated by whitespace
//	my-topic 1 0
//
// A missing or empty file reads as no entries. A wrong version, an entry count that does not
// match, or a line that does not parse is an error.
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, ioErr("read checkpoint %s: %v", path, err)
	}
	m := make(map[TopicPartition]int64)
	if len(data) == 0 {
		return m, nil
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	malformed := func(what string) error {
		return fmt.Errorf("malformed checkpoint file %s: %s", path, what)
	}
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if v, err := strconv.Atoi(lines[0]); err != nil || v != 0 {
		return nil, malformed(fmt.Sprintf("unrecognized version %q", lines[0]))
	}
	if len(lines) < 2 {
		return nil, malformed("missing entry count")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 {
		return nil, malformed(fmt.Sprintf("bad entry count %q", lines[1]))
	}
	if len(lines)-2 != n {
		return nil, malformed(fmt.Sprintf("expected %d entries, found %d", n, len(lines)-2))
	}
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, malformed(fmt.Sprintf("line %q", line))
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, malformed(fmt.Sprintf("line %q", line))
		}
		m[TopicPartition{Topic: f[0], Partition: int32(p)}] = off
	}
	return m, nil
}

// WriteOffsetCheckpoint writes m in the format ReadOffsetCheckpoint reads, entries sorted by
// topic and partition, atomically: <path>.tmp is written and fsynced, renamed over path, and the
// directory fsynced (CheckpointFile.write).
func WriteOffsetCheckpoint(path string, m map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, m[tp])
	}
	return writeFileAtomic(path, b.Bytes())
}

// writeFileAtomic replaces path with data so that a crash leaves either the old or the new
// contents: tmp file, fsync, rename, fsync of the directory.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioErr("write %s: %v", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return ioErr("write %s: %v", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
