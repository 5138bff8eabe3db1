package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/samsa-broker/samsa/storage/index"
)

// AbortedTxn is one aborted transaction as a read_committed fetch reports it (FetchResponse
// AbortedTransactions): the consumer drops the producer's records from FirstOffset up to the
// producer's ABORT marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// txnEntry is one .txnindex entry (Kafka's AbortedTxn): the aborted transaction's first offset,
// the offset of its ABORT marker (lastOffset) and the last stable offset when the marker was
// written (the first offset of the earliest other open transaction, else lastOffset+1), which lets
// a search stop early.
type txnEntry struct {
	producerID       int64
	firstOffset      int64
	lastOffset       int64
	lastStableOffset int64
}

// txnEntrySize is TransactionIndex's AbortedTxn.TotalSize: version int16 + 4 int64s.
const txnEntrySize = 34

// txnIndexVersion is AbortedTxn.CurrentVersion.
const txnIndexVersion = 0

func (e txnEntry) encode(dst []byte) {
	binary.BigEndian.PutUint16(dst[0:], txnIndexVersion)
	binary.BigEndian.PutUint64(dst[2:], uint64(e.producerID))
	binary.BigEndian.PutUint64(dst[10:], uint64(e.firstOffset))
	binary.BigEndian.PutUint64(dst[18:], uint64(e.lastOffset))
	binary.BigEndian.PutUint64(dst[26:], uint64(e.lastStableOffset))
}

func decodeTxnEntry(b []byte) (txnEntry, error) {
	if v := int16(binary.BigEndian.Uint16(b)); v != txnIndexVersion {
		return txnEntry{}, fmt.Errorf("%w: transaction index entry version %d", index.ErrCorrupt, v)
	}
	return txnEntry{
		producerID:       int64(binary.BigEndian.Uint64(b[2:])),
		firstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
		lastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
		lastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
	}, nil
}

// txnIndex is a segment's .txnindex (Kafka's TransactionIndex): a plain file of 34-byte entries,
// one per transaction aborted by a marker in the segment, in marker order. The file is created on
// the first entry (most segments never have one).
//
// The Log's writer appends (under Log.mu) with a pwrite at the published size and then publishes
// the new size, so readers (fetches collecting aborted transactions) read with pread up to the
// size they loaded and never see a partial entry. Truncate, reset, rename and close run under the
// segment's idxMu held exclusively; readers hold it shared.
type txnIndex struct {
	path string                  // guarded by segment.idxMu (rename)
	f    atomic.Pointer[os.File] // nil until the file exists and is opened
	size atomic.Int64            // bytes of whole entries
	last int64                   // marker offset of the last entry, -1 when empty; writer state
}

// openTxnIndex opens the index at path if the file exists. A trailing partial entry (a torn
// write) is ignored here and reported by sanityCheck.
func openTxnIndex(path string) (*txnIndex, error) {
	t := &txnIndex{path: path, last: -1}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, ioErr("open transaction index %s: %v", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, ioErr("stat transaction index %s: %v", path, err)
	}
	t.f.Store(f)
	t.size.Store(st.Size() - st.Size()%txnEntrySize)
	if n := t.size.Load(); n > 0 {
		var b [txnEntrySize]byte
		if _, err := f.ReadAt(b[:], n-txnEntrySize); err != nil {
			f.Close()
			return nil, ioErr("read transaction index %s: %v", path, err)
		}
		if e, err := decodeTxnEntry(b[:]); err == nil {
			t.last = e.lastOffset
		}
	}
	return t, nil
}

// append adds an entry; marker offsets must increase (TransactionIndex.append).
func (t *txnIndex) append(e txnEntry) error {
	if t.last >= 0 && e.lastOffset <= t.last {
		return fmt.Errorf("transaction index %s: entry with marker offset %d after %d", t.path, e.lastOffset, t.last)
	}
	f := t.f.Load()
	if f == nil {
		var err error
		if f, err = os.OpenFile(t.path, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return ioErr("create transaction index %s: %v", t.path, err)
		}
		t.f.Store(f)
	}
	var b [txnEntrySize]byte
	e.encode(b[:])
	pos := t.size.Load()
	if _, err := f.WriteAt(b[:], pos); err != nil {
		_ = f.Truncate(pos)
		return ioErr("append to transaction index %s: %v", t.path, err)
	}
	t.size.Store(pos + txnEntrySize)
	t.last = e.lastOffset
	return nil
}

// entries reads every entry. Readers hold segment.idxMu shared.
func (t *txnIndex) entries() ([]txnEntry, error) {
	f := t.f.Load()
	n := t.size.Load()
	if f == nil || n == 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, ioErr("read transaction index %s: %v", t.path, err)
	}
	out := make([]txnEntry, 0, n/txnEntrySize)
	for p := int64(0); p < n; p += txnEntrySize {
		e, err := decodeTxnEntry(buf[p:])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// collect is TransactionIndex.collectAbortedTxns: the entries whose transaction overlaps
// [fetchOffset, upperBound) — marker at or after fetchOffset, first offset below upperBound —
// and whether the search is complete (an entry's last stable offset reached upperBound, so no
// later segment can hold a transaction that started below it).
func (t *txnIndex) collect(fetchOffset, upperBound int64, out []AbortedTxn) ([]AbortedTxn, bool, error) {
	es, err := t.entries()
	if err != nil {
		return out, false, err
	}
	for _, e := range es {
		if e.lastOffset >= fetchOffset && e.firstOffset < upperBound {
			out = append(out, AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset})
		}
		if e.lastStableOffset >= upperBound {
			return out, true, nil
		}
	}
	return out, false, nil
}

// truncateTo drops the entries whose marker is at or after offset (TransactionIndex.truncateTo).
// Caller holds segment.idxMu exclusively.
func (t *txnIndex) truncateTo(offset int64) error {
	es, err := t.entries()
	if err != nil {
		// An unreadable tail: drop everything, the caller rebuilds what it needs.
		return t.reset()
	}
	keep := 0
	for keep < len(es) && es[keep].lastOffset < offset {
		keep++
	}
	if keep == len(es) {
		return nil
	}
	n := int64(keep) * txnEntrySize
	if f := t.f.Load(); f != nil {
		if err := f.Truncate(n); err != nil {
			return ioErr("truncate transaction index %s: %v", t.path, err)
		}
	}
	t.size.Store(n)
	t.last = -1
	if keep > 0 {
		t.last = es[keep-1].lastOffset
	}
	return nil
}

// reset empties the index (TransactionIndex.reset, before a segment is recovered). Caller holds
// segment.idxMu exclusively.
func (t *txnIndex) reset() error {
	if f := t.f.Load(); f != nil {
		if err := f.Truncate(0); err != nil {
			return ioErr("reset transaction index %s: %v", t.path, err)
		}
	}
	t.size.Store(0)
	t.last = -1
	return nil
}

// sanityCheck is TransactionIndex.sanityCheck: whole entries of a known version whose markers lie
// in the segment (at or after its base offset) and increase.
func (t *txnIndex) sanityCheck(base int64) error {
	f := t.f.Load()
	if f == nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return ioErr("stat transaction index %s: %v", t.path, err)
	}
	if st.Size()%txnEntrySize != 0 {
		return fmt.Errorf("%w: transaction index %s has %d bytes, not a multiple of %d", index.ErrCorrupt, t.path, st.Size(), txnEntrySize)
	}
	es, err := t.entries()
	if err != nil {
		return err
	}
	prev := int64(-1)
	for _, e := range es {
		if e.lastOffset < base || e.lastOffset <= prev || e.firstOffset > e.lastOffset {
			return fmt.Errorf("%w: transaction index %s: entry (producer %d, first %d, marker %d) does not fit segment %d",
				index.ErrCorrupt, t.path, e.producerID, e.firstOffset, e.lastOffset, base)
		}
		prev = e.lastOffset
	}
	return nil
}

// rename moves the file (if it exists) to newPath; later appends create newPath. Caller holds
// segment.idxMu exclusively.
func (t *txnIndex) rename(newPath string) error {
	if err := os.Rename(t.path, newPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ioErr("rename transaction index %s: %v", t.path, err)
	}
	t.path = newPath
	return nil
}

// exists reports whether the file exists (has been created).
func (t *txnIndex) exists() bool { return t.f.Load() != nil }

func (t *txnIndex) flush() error {
	if f := t.f.Load(); f != nil {
		if err := f.Sync(); err != nil {
			return ioErr("fsync transaction index %s: %v", t.path, err)
		}
	}
	return nil
}

func (t *txnIndex) close() {
	if f := t.f.Load(); f != nil {
		_ = f.Close()
	}
}
