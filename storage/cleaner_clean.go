package storage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/samsa-broker/samsa/storage/record"
	"github.com/sirupsen/logrus"
)

// cleanerWorker is one cleaner goroutine's state (Kafka's Cleaner): its offset map, allocated on
// first use, and reusable buffers.
type cleanerWorker struct {
	id         int
	lg         *logrus.Entry
	memory     int64
	loadFactor float64
	ioBuf      int // read buffer and write chunk size
	omap       *offsetMap
	kept       []record.Record
}

func newCleanerWorker(id int, cfg CleanerConfig, lg *logrus.Entry) *cleanerWorker {
	// Kafka: ioBufferSize / numThreads / 2 for each of the read and the write buffer.
	ioBuf := max(cfg.IOBufferSize/max(cfg.Threads, 1)/2, 64<<10)
	return &cleanerWorker{id: id, lg: lg.WithField("cleaner", id), memory: cfg.perThreadMemory(),
		loadFactor: cfg.DedupeBufferLoadFactor, ioBuf: ioBuf}
}

// cleanerStats describes one cleaning (Kafka's CleanerStats).
type cleanerStats struct {
	endOffset                            int64 // the next first dirty offset
	bytesRead, bytesWritten              int64
	messagesRead, messagesWritten        int64
	mapBytesRead, mapMessagesRead        int64
	invalidMessages                      int64 // records without a key, which compaction drops
	segments, groups                     int
	bufferUtilization                    float64
	start, mapDone, end                  time.Time
	deleteHorizonMs, firstUncleanable    int64
	firstDirty                           int64
	mapFull                              bool
	retainedEmptyBatches, droppedBatches int64
}

func (s cleanerStats) log(lg *logrus.Entry) {
	secs := s.end.Sub(s.start).Seconds()
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	lg.WithFields(logrus.Fields{
		"dirty_start":        s.firstDirty,
		"dirty_end":          s.endOffset,
		"segments":           s.segments,
		"groups":             s.groups,
		"mb_read":            fmt.Sprintf("%.1f", mb(s.bytesRead)),
		"mb_written":         fmt.Sprintf("%.1f", mb(s.bytesWritten)),
		"messages_read":      s.messagesRead,
		"messages_written":   s.messagesWritten,
		"invalid_messages":   s.invalidMessages,
		"seconds":            fmt.Sprintf("%.3f", secs),
		"mb_per_sec":         fmt.Sprintf("%.1f", mb(s.bytesRead)/max(secs, 1e-9)),
		"index_seconds":      fmt.Sprintf("%.3f", s.mapDone.Sub(s.start).Seconds()),
		"buffer_utilization": fmt.Sprintf("%.3f", s.bufferUtilization),
	}).Info("cleaned log")
}

// clean compacts ltc.log from its start up to the end of what the offset map covers
// (Cleaner.clean/doClean): map the dirty range [firstDirty, firstUncleanable), then rewrite every
// segment below the map's end in groups of up to segment.bytes, each group into one new segment
// swapped in for it. It returns the stats, whose endOffset is the next first dirty offset.
// errCleaningAborted means nothing went wrong but the work was abandoned.
func (w *cleanerWorker) clean(ctx context.Context, ltc *logToClean) (cleanerStats, error) {
	st := cleanerStats{start: time.Now(), firstDirty: ltc.firstDirty, firstUncleanable: ltc.firstUncleanable}
	l := ltc.log
	checkDone := func() error {
		if ctx.Err() != nil || (ltc.state != nil && ltc.state.aborted.Load()) {
			return errCleaningAborted
		}
		return nil
	}
	snap, err := l.cleaningSnapshot()
	if err != nil {
		return st, err
	}
	defer snap.release()
	v := snap.view

	// Tombstones survive in segments modified after the last already-clean segment's time minus
	// delete.retention.ms: a consumer that read up to the clean point within that window still
	// sees them.
	if clean := v.segsBetween(math.MinInt64, ltc.firstDirty); len(clean) > 0 {
		st.deleteHorizonMs = clean[len(clean)-1].lastModified() - ltc.cc.DeleteRetentionMs
	}

	if w.omap == nil {
		w.omap = newOffsetMap(w.memory, w.loadFactor)
	}
	full, err := w.buildOffsetMap(v, ltc.firstDirty, ltc.firstUncleanable, &st, checkDone)
	if err != nil {
		return st, err
	}
	st.mapFull = full
	st.mapDone = time.Now()
	if w.omap.latest < ltc.firstDirty {
		if full {
			return st, fmt.Errorf("clean %s: the offset map cannot hold the keys of one batch: raise log.cleaner.dedupe.buffer.size", l.tp)
		}
		// No batch in the range (a checkpoint at the end of a segment after a truncation):
		// nothing is dirty, the range only has to be stepped over.
		st.endOffset, st.end = ltc.firstUncleanable, time.Now()
		return st, nil
	}
	st.endOffset = w.omap.latest + 1

	cfg := l.config()
	groups := groupSegmentsBySize(v.segsBetween(math.MinInt64, st.endOffset), cfg.SegmentBytes, int64(cfg.SegmentIndexBytes), ltc.firstUncleanable)
	pc := &producerLastBatches{view: v}
	for _, g := range groups {
		if err := w.cleanSegments(l, g, cfg, st.deleteHorizonMs, snap.gen, pc, &st, checkDone); err != nil {
			return st, err
		}
		st.segments += len(g)
		st.groups++
	}
	st.bufferUtilization = w.omap.utilization()
	st.end = time.Now()
	return st, nil
}

// buildOffsetMap maps every key in [start, end) to its latest offset (Cleaner.buildOffsetMap).
// Control batches and transactional batches are not mapped (see doc.go: transactional data is
// kept as it is). It reports whether the map filled up; the map's latest offset then ends at the
// last batch it covers wholly.
func (w *cleanerWorker) buildOffsetMap(v *logView, start, end int64, st *cleanerStats, checkDone func() error) (bool, error) {
	w.omap.clear()
	for _, s := range v.segsBetween(start, end) {
		if err := checkDone(); err != nil {
			return false, err
		}
		s.idxMu.RLock()
		_, pos := s.oidx.Lookup(start)
		s.idxMu.RUnlock()
		full, err := w.mapSegment(s, int64(pos), start, st, checkDone)
		if err != nil || full {
			return full, err
		}
	}
	return false, nil
}

func (w *cleanerWorker) mapSegment(s *segment, pos, start int64, st *cleanerStats, checkDone func() error) (bool, error) {
	it := newBatchIter(s, pos, w.ioBuf)
	for {
		b, _, err := it.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if err := checkDone(); err != nil {
			return false, err
		}
		st.mapBytesRead += int64(len(b))
		if b.LastOffset() < start {
			continue
		}
		if !b.IsControl() && !b.IsTransactional() {
			full := false
			err := b.Records(0, func(r record.Record) error {
				st.mapMessagesRead++
				if r.Key != nil && r.Offset >= start && !w.omap.put(r.Key, r.Offset) {
					full = true
					return errStop
				}
				return nil
			})
			if full {
				return true, nil
			}
			if err != nil {
				return false, fmt.Errorf("segment %d: batch at offset %d: %w", s.base, b.BaseOffset(), err)
			}
		}
		w.omap.updateLatest(b.LastOffset())
	}
}

// groupSegmentsBySize groups consecutive segments whose .log sizes add up to at most maxSize and
// index sizes to at most maxIndexSize, and whose offsets fit one segment's int32 relative offsets
// (Cleaner.groupSegmentsBySize): repeated cleanings would otherwise leave ever smaller segments.
func groupSegmentsBySize(segs []*segment, maxSize, maxIndexSize, firstUncleanable int64) [][]*segment {
	var groups [][]*segment
	for len(segs) > 0 {
		g := []*segment{segs[0]}
		logSize, idxSize, timeSize := segs[0].size.Load(), int64(segs[0].oidx.SizeInBytes()), int64(segs[0].tidx.SizeInBytes())
		segs = segs[1:]
		for len(segs) > 0 {
			s := segs[0]
			// The last offset of s is estimated by the next segment's base offset (or the first
			// uncleanable offset): reading it exactly would need a scan.
			lastOffset := firstUncleanable - 1
			if len(segs) > 1 {
				lastOffset = segs[1].base - 1
			}
			if logSize+s.size.Load() > maxSize || idxSize+int64(s.oidx.SizeInBytes()) > maxIndexSize ||
				timeSize+int64(s.tidx.SizeInBytes()) > maxIndexSize || lastOffset-g[0].base > math.MaxInt32 {
				break
			}
			g = append(g, s)
			logSize += s.size.Load()
			idxSize += int64(s.oidx.SizeInBytes())
			timeSize += int64(s.tidx.SizeInBytes())
			segs = segs[1:]
		}
		groups = append(groups, g)
	}
	return groups
}

// cleanSegments rewrites one group into a new segment with the group's first base offset and
// swaps it in (Cleaner.cleanSegments). The new segment is written as .cleaned files, fsynced,
// given the group's last modification time, then Log.replaceSegments renames it into place.
func (w *cleanerWorker) cleanSegments(l *Log, group []*segment, cfg Config, horizon int64, gen uint64, pc *producerLastBatches,
	st *cleanerStats, checkDone func() error) error {
	var total int64
	for _, s := range group {
		total += s.size.Load()
	}
	out, err := createCleanedSegment(l.dir, group[0].base, cleanedIndexSize(cfg, total))
	if err != nil {
		return err
	}
	swapped := false
	defer func() {
		if !swapped {
			out.discard()
		}
	}()
	ow := &cleanedWriter{s: out.seg, interval: cfg.IndexIntervalBytes, chunk: w.ioBuf}
	for _, s := range group {
		retainDeletes := s.lastModified() > horizon
		if err := w.cleanInto(s, ow, retainDeletes, pc, st, checkDone); err != nil {
			return err
		}
	}
	if err := ow.flush(); err != nil {
		return err
	}
	if err := copyTxnIndexes(group, out.seg); err != nil {
		return err
	}
	if err := out.finish(group[len(group)-1].lastModified()); err != nil {
		return err
	}
	ok, err := l.replaceSegments(out.seg, group, gen)
	swapped = ok
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the log changed during cleaning", errCleaningAborted)
	}
	return nil
}

// cleanedIndexSize is segment.index.bytes, or more when the group could need more entries (each
// entry needs more than index.interval.bytes of batches, and a batch is at least 61 bytes).
func cleanedIndexSize(cfg Config, total int64) int {
	per := max(int64(cfg.IndexIntervalBytes)+1, record.HeaderSize)
	need := (total/per + 2) * 12
	return int(max(int64(cfg.SegmentIndexBytes), min(need, math.MaxInt32)))
}

// cleanInto copies what survives of one segment into the cleaned segment (Cleaner.cleanInto with
// MemoryRecords.filterTo). Per batch:
//   - control and transactional batches are copied as they are;
//   - otherwise a record stays when its offset is beyond the map, or it has a key, no later offset
//     of that key is mapped, and it is not a tombstone in a segment past the delete horizon;
//     records without a key go (Kafka counts them invalid);
//   - a batch keeping every record is copied byte for byte, one keeping some is rebuilt with the
//     same base offset and last offset delta, one keeping none is dropped, except that the last
//     data batch of an idempotent producer stays as an empty header so that the producer's last
//     sequence number survives.
func (w *cleanerWorker) cleanInto(s *segment, ow *cleanedWriter, retainDeletes bool, pc *producerLastBatches, st *cleanerStats, checkDone func() error) error {
	it := newBatchIter(s, 0, w.ioBuf)
	for {
		b, _, err := it.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := checkDone(); err != nil {
			return err
		}
		st.bytesRead += int64(len(b))
		if !b.CRCValid() {
			return fmt.Errorf("%w: segment %d: batch at offset %d: CRC mismatch", record.ErrCorrupt, s.base, b.BaseOffset())
		}
		if b.IsControl() || b.IsTransactional() {
			st.messagesRead += int64(b.NumRecords())
			st.messagesWritten += int64(b.NumRecords())
			st.bytesWritten += int64(len(b))
			if err := ow.add(b); err != nil {
				return err
			}
			continue
		}
		out, err := w.filterBatch(b, retainDeletes, st)
		if err != nil {
			return fmt.Errorf("segment %d: batch at offset %d: %w", s.base, b.BaseOffset(), err)
		}
		if out == nil && b.ProducerID() >= 0 {
			last, err := pc.lastDataBatch(b.ProducerID(), checkDone)
			if err != nil {
				return err
			}
			if last == b.LastOffset() {
				out = b.EmptyCopy()
				st.retainedEmptyBatches++
			}
		}
		if out == nil {
			st.droppedBatches++
			continue
		}
		st.bytesWritten += int64(len(out))
		if err := ow.add(out); err != nil {
			return err
		}
	}
}

// filterBatch returns b itself when every record stays, a rebuilt batch when some do, nil when
// none does.
func (w *cleanerWorker) filterBatch(b record.Batch, retainDeletes bool, st *cleanerStats) (record.Batch, error) {
	m := w.omap
	kept := w.kept[:0]
	dropped := false
	err := b.Records(0, func(r record.Record) error {
		st.messagesRead++
		keep := true
		switch {
		case r.Offset > m.latest:
			// Beyond what the map covers (it filled up): not known to be obsolete.
		case r.Key == nil:
			st.invalidMessages++
			keep = false
		default:
			if found := m.get(r.Key); found >= 0 && r.Offset < found {
				keep = false
			} else if r.Value == nil && !retainDeletes {
				keep = false
			}
		}
		if keep {
			kept = append(kept, r)
		} else {
			dropped = true
		}
		return nil
	})
	w.kept = kept[:0]
	if err != nil {
		return nil, err
	}
	st.messagesWritten += int64(len(kept))
	switch {
	case !dropped:
		return b, nil
	case len(kept) == 0:
		return nil, nil
	}
	nb, err := b.Rebuild(kept)
	clear(kept) // drop references to the read buffer
	return nb, err
}

// producerLastBatches finds, for an idempotent producer, the last offset of its last data batch
// anywhere in the log (Kafka asks its producer state; this log has none, so the batch headers of
// every segment are scanned once, on first need).
type producerLastBatches struct {
	view *logView
	last map[int64]int64
}

func (p *producerLastBatches) lastDataBatch(pid int64, checkDone func() error) (int64, error) {
	if p.last == nil {
		p.last = make(map[int64]int64)
		for _, s := range p.view.segs {
			if err := checkDone(); err != nil {
				return 0, err
			}
			it := newBatchIter(s, 0, 64<<10)
			it.headersOnly = true
			for {
				b, _, err := it.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return 0, err
				}
				if id := b.ProducerID(); id >= 0 && !b.IsControl() {
					p.last[id] = b.LastOffset()
				}
			}
		}
	}
	if off, ok := p.last[pid]; ok {
		return off, nil
	}
	return -1, nil
}

// batchIter reads the batches of a segment in order from a position up to the size the segment
// had when the iterator was made, through a buffered reader (one large read for many batches).
type batchIter struct {
	s           *segment
	r           *bufio.Reader
	pos, end    int64
	buf         []byte
	headersOnly bool // next returns only the 61-byte header of each batch
}

func newBatchIter(s *segment, pos int64, bufSize int) *batchIter {
	end := s.size.Load()
	pos = min(pos, end)
	return &batchIter{s: s, pos: pos, end: end, r: bufio.NewReaderSize(io.NewSectionReader(s.log, pos, end-pos), bufSize)}
}

// next returns the next batch (valid until the next call) and its position; io.EOF at the end.
func (it *batchIter) next() (record.Batch, int64, error) {
	remaining := it.end - it.pos
	if remaining == 0 {
		return nil, 0, io.EOF
	}
	if remaining < record.HeaderSize {
		return nil, 0, fmt.Errorf("%w: segment %d: %d bytes at position %d cannot hold a batch", record.ErrCorrupt, it.s.base, remaining, it.pos)
	}
	if cap(it.buf) < record.HeaderSize {
		it.buf = make([]byte, 0, 64<<10)
	}
	it.buf = it.buf[:record.HeaderSize]
	if _, err := io.ReadFull(it.r, it.buf); err != nil {
		return nil, 0, ioErr("read segment %d at %d: %v", it.s.base, it.pos, err)
	}
	_, size, _, err := record.PeekHeader(it.buf)
	if err != nil {
		return nil, 0, fmt.Errorf("segment %d position %d: %w", it.s.base, it.pos, err)
	}
	if int64(size) > remaining {
		return nil, 0, fmt.Errorf("%w: segment %d position %d: batch of %d bytes runs past the end", record.ErrCorrupt, it.s.base, it.pos, size)
	}
	pos := it.pos
	it.pos += int64(size)
	if it.headersOnly {
		if _, err := it.r.Discard(size - record.HeaderSize); err != nil {
			return nil, 0, ioErr("read segment %d at %d: %v", it.s.base, pos, err)
		}
		return record.Batch(it.buf), pos, nil
	}
	if cap(it.buf) < size {
		nb := make([]byte, size, max(size, 2*cap(it.buf)))
		copy(nb, it.buf)
		it.buf = nb
	}
	it.buf = it.buf[:size]
	if _, err := io.ReadFull(it.r, it.buf[record.HeaderSize:]); err != nil {
		return nil, 0, ioErr("read segment %d at %d: %v", it.s.base, pos, err)
	}
	return record.Batch(it.buf), pos, nil
}
