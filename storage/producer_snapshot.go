package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
)

// Producer-state snapshot files, <offset as %020d>.snapshot: the state of every producer after
// applying the log below offset (ProducerStateManager.writeSnapshot, reference 04 §7). Big-endian:
//
//	version int16 = 1 | crc uint32 (CRC-32C of every byte after it) | count int32 |
//	count x [ producer_id int64 | epoch int16 | last_sequence int32 | last_offset int64 (-1: no data
//	          batch) | offset_delta int32 | timestamp int64 | coordinator_epoch int32 |
//	          current_txn_first_offset int64 (-1: none) ]
//
// Only each producer's last batch is stored, so after a restart duplicates are detected against
// one batch per producer, as in Kafka.

const (
	snapshotSuffix       = ".snapshot"
	snapshotVersion      = 1
	snapshotCRCOffset    = 2
	snapshotHeaderSize   = 10 // version, crc, count
	snapshotEntrySize    = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
	snapshotEntriesStart = snapshotCRCOffset + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptSnapshot: a snapshot that does not parse or whose CRC does not match
// (CorruptSnapshotException); it is deleted and an older one used.
var errCorruptSnapshot = errors.New("storage: corrupt producer snapshot")

func snapshotFile(dir string, offset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", offset, snapshotSuffix))
}

// encodeSnapshot lays out entries in producer id order (Kafka writes its map's order, which no
// reader depends on; a fixed order makes files reproducible).
func encodeSnapshot(producers map[int64]*producerEntry) []byte {
	ids := make([]int64, 0, len(producers))
	for id := range producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	buf := make([]byte, snapshotHeaderSize+len(ids)*snapshotEntrySize)
	binary.BigEndian.PutUint16(buf[0:], snapshotVersion)
	binary.BigEndian.PutUint32(buf[6:], uint32(len(ids)))
	p := buf[snapshotHeaderSize:]
	for _, id := range ids {
		e := producers[id]
		binary.BigEndian.PutUint64(p[0:], uint64(id))
		binary.BigEndian.PutUint16(p[8:], uint16(e.epoch))
		binary.BigEndian.PutUint32(p[10:], uint32(e.lastSeq()))
		binary.BigEndian.PutUint64(p[14:], uint64(e.lastDataOffset()))
		binary.BigEndian.PutUint32(p[22:], uint32(e.lastOffsetDelta()))
		binary.BigEndian.PutUint64(p[26:], uint64(e.lastTimestamp))
		binary.BigEndian.PutUint32(p[34:], uint32(e.coordinatorEpoch))
		binary.BigEndian.PutUint64(p[38:], uint64(e.currentTxnFirstOffset))
		p = p[snapshotEntrySize:]
	}
	binary.BigEndian.PutUint32(buf[snapshotCRCOffset:], crc32.Checksum(buf[snapshotEntriesStart:], castagnoli))
	return buf
}

// decodeSnapshot is ProducerStateManager.readSnapshot.
func decodeSnapshot(buf []byte) ([]*producerEntry, error) {
	if len(buf) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, len(buf))
	}
	if v := int16(binary.BigEndian.Uint16(buf)); v != snapshotVersion {
		return nil, fmt.Errorf("%w: unknown file version %d", errCorruptSnapshot, v)
	}
	if stored, computed := binary.BigEndian.Uint32(buf[snapshotCRCOffset:]), crc32.Checksum(buf[snapshotEntriesStart:], castagnoli); stored != computed {
		return nil, fmt.Errorf("%w: CRC is no longer valid: stored %d, computed %d", errCorruptSnapshot, stored, computed)
	}
	n := int32(binary.BigEndian.Uint32(buf[6:]))
	if n < 0 || int64(len(buf)-snapshotHeaderSize) != int64(n)*snapshotEntrySize {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errCorruptSnapshot, n, len(buf))
	}
	out := make([]*producerEntry, 0, n)
	for p := buf[snapshotHeaderSize:]; len(p) > 0; p = p[snapshotEntrySize:] {
		e := newProducerEntry(int64(binary.BigEndian.Uint64(p[0:])))
		e.epoch = int16(binary.BigEndian.Uint16(p[8:]))
		seq := int32(binary.BigEndian.Uint32(p[10:]))
		last := int64(binary.BigEndian.Uint64(p[14:]))
		delta := int32(binary.BigEndian.Uint32(p[22:]))
		e.lastTimestamp = int64(binary.BigEndian.Uint64(p[26:]))
		e.coordinatorEpoch = int32(binary.BigEndian.Uint32(p[34:]))
		if first := int64(binary.BigEndian.Uint64(p[38:])); first >= 0 {
			e.currentTxnFirstOffset = first
		}
		if last >= 0 {
			e.batches = append(e.batches, batchMetadata{lastSeq: seq, lastOffset: last, offsetDelta: delta, timestamp: e.lastTimestamp})
		}
		out = append(out, e)
	}
	return out, nil
}

// writeSnapshotFile writes and fsyncs a snapshot (Kafka forces it to disk before going on). A torn
// file from a crash fails its CRC at the next load and is replaced by an older snapshot.
func writeSnapshotFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioErr("create producer snapshot %s: %v", path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close()); err != nil {
		return ioErr("write producer snapshot %s: %v", path, err)
	}
	return nil
}

// listSnapshots returns the offsets of the dir's .snapshot files, increasing.
func listSnapshots(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, ioErr("list %s: %v", dir, err)
	}
	var out []int64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, snapshotSuffix) {
			continue
		}
		off, err := strconv.ParseInt(strings.TrimSuffix(name, snapshotSuffix), 10, 64)
		if err != nil || off < 0 {
			continue
		}
		out = append(out, off)
	}
	slices.Sort(out)
	return out, nil
}

// takeSnapshot writes the state at mapEndOffset unless a snapshot already reflects it
// (ProducerStateManager.takeSnapshot).
func (ps *producerState) takeSnapshot() error {
	if ps.mapEndOffset <= ps.lastSnap {
		return nil
	}
	off := ps.mapEndOffset
	if err := writeSnapshotFile(snapshotFile(ps.dir, off), encodeSnapshot(ps.producers)); err != nil {
		return err
	}
	i := sort.Search(len(ps.snapshots), func(i int) bool { return ps.snapshots[i] >= off })
	if i == len(ps.snapshots) || ps.snapshots[i] != off {
		ps.snapshots = slices.Insert(ps.snapshots, i, off)
	}
	ps.lastSnap = off
	ps.lg.WithFields(logrus.Fields{"offset": off, "producers": len(ps.producers)}).Debug("wrote producer snapshot")
	return nil
}

// removeSnapshot deletes the snapshot at offset, if there is one.
func (ps *producerState) removeSnapshot(off int64) error {
	i := sort.Search(len(ps.snapshots), func(i int) bool { return ps.snapshots[i] >= off })
	if i == len(ps.snapshots) || ps.snapshots[i] != off {
		return nil
	}
	ps.snapshots = slices.Delete(ps.snapshots, i, i+1)
	if err := os.Remove(snapshotFile(ps.dir, off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("delete producer snapshot %d: %v", off, err)
	}
	return nil
}

// removeSnapshotsIf deletes the snapshots whose offset satisfies drop.
func (ps *producerState) removeSnapshotsIf(drop func(off int64) bool) error {
	var errs []error
	for _, off := range slices.Clone(ps.snapshots) {
		if drop(off) {
			errs = append(errs, ps.removeSnapshot(off))
		}
	}
	return errors.Join(errs...)
}

// removeStraySnapshots deletes snapshots with no segment of that base offset, except the largest
// one if it lies above every segment base (the snapshot a clean shutdown writes at the LEO)
// (ProducerStateManager.removeStraySnapshots).
func (ps *producerState) removeStraySnapshots(bases []int64) error {
	have := make(map[int64]bool, len(bases))
	maxBase := int64(-1)
	for _, b := range bases {
		have[b] = true
		maxBase = max(maxBase, b)
	}
	stray := int64(-1)
	var errs []error
	for _, off := range slices.Clone(ps.snapshots) {
		if have[off] {
			continue
		}
		if stray >= 0 {
			errs = append(errs, ps.removeSnapshot(stray))
		}
		stray = off
	}
	if stray >= 0 && stray < maxBase {
		errs = append(errs, ps.removeSnapshot(stray))
	}
	return errors.Join(errs...)
}

// loadLatestSnapshot loads the newest snapshot at or below limit, deleting corrupt ones on the way
// (loadFromSnapshot); without one the state is empty at logStart. Producers expired at now are
// skipped.
func (ps *producerState) loadLatestSnapshot(limit, logStart, now int64) error {
	for {
		i := sort.Search(len(ps.snapshots), func(i int) bool { return ps.snapshots[i] > limit }) - 1
		if i < 0 {
			ps.lastSnap, ps.mapEndOffset = logStart, logStart
			return nil
		}
		off := ps.snapshots[i]
		path := snapshotFile(ps.dir, off)
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ioErr("read producer snapshot %s: %v", path, err)
		}
		var entries []*producerEntry
		if err == nil {
			entries, err = decodeSnapshot(data)
		}
		if err != nil {
			ps.lg.WithError(err).WithField("offset", off).Warn("deleting unusable producer snapshot")
			if rerr := ps.removeSnapshot(off); rerr != nil {
				return rerr
			}
			continue
		}
		for _, e := range entries {
			if !ps.isExpired(now, e) {
				ps.loadEntry(e)
			}
		}
		ps.lastSnap, ps.mapEndOffset = off, off
		ps.lg.WithFields(logrus.Fields{"offset": off, "producers": len(ps.producers)}).Info("loaded producer state from snapshot")
		return nil
	}
}
