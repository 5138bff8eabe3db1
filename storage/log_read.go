package storage

import (
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/samsa-broker/samsa/storage/record"
	"golang.org/x/sys/unix"
)

// Read returns the file range of the batches from the one containing offset (Log.read, §12): it
// starts at a batch boundary (possibly before offset; clients skip the earlier records), holds at
// most maxBytes (the last batch may be cut, as in Kafka) and nothing from the batch containing
// maxOffset on (the exclusive upper bound: HW, LSO, or LEO when -1). With minOneMessage the whole
// first batch is returned even when larger than maxBytes (KIP-74). offset outside [log start, LEO]
// is ErrOffsetOutOfRange; offset at or above the bound gives an empty result. The range stays
// readable until Release even if the segment is deleted meanwhile. Read never blocks on writers.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOneMessage bool) (ReadResult, error) {
	for {
		v := l.view.Load()
		if v.closed {
			return ReadResult{}, fmt.Errorf("%w: %s", ErrLogClosed, l.tp)
		}
		res := ReadResult{LogStartOffset: v.logStart, LogEndOffset: v.leo}
		if offset < v.logStart || offset > v.leo {
			return res, fmt.Errorf("%w: offset %d of %s, log covers [%d, %d]", ErrOffsetOutOfRange, offset, l.tp, v.logStart, v.leo)
		}
		bound := v.leo
		if maxOffset >= 0 && maxOffset < bound {
			bound = maxOffset
		}
		if offset >= bound || (maxBytes <= 0 && !minOneMessage) {
			return res, nil
		}
		fr, retry, err := l.readFrom(v, offset, bound, max(maxBytes, 0), minOneMessage)
		if retry {
			continue // a segment went away between loading the view and taking it: look again
		}
		if err != nil {
			return res, fmt.Errorf("read %s at offset %d: %w", l.tp, offset, err)
		}
		if fr.Length > 0 {
			res.Ranges = []FileRange{fr}
		}
		return res, nil
	}
}

func (l *Log) readFrom(v *logView, offset, bound int64, maxBytes int, minOneMessage bool) (FileRange, bool, error) {
	for i := max(v.floor(offset), 0); i < len(v.segs); i++ {
		s := v.segs[i]
		if !s.acquire() {
			return FileRange{}, true, nil
		}
		end := s.size.Load()
		boundHere := i == len(v.segs)-1 || bound < v.segs[i+1].base
		start, found, err := s.findBatch(offset, end)
		if err != nil || !found {
			s.release()
			if err != nil || boundHere {
				return FileRange{}, false, err
			}
			continue // nothing at or after offset in this segment: the next one
		}
		maxPos := end
		if boundHere && bound < v.leo {
			b, ok, err := s.findBatch(bound, end)
			if err != nil {
				s.release()
				return FileRange{}, false, err
			}
			if ok {
				maxPos = b.pos
			}
		}
		adjusted := int64(maxBytes)
		if minOneMessage {
			adjusted = max(adjusted, start.size)
		}
		length := min(maxPos-start.pos, adjusted)
		if length <= 0 {
			s.release()
			return FileRange{}, false, nil
		}
		return FileRange{File: s.log, Position: start.pos, Length: length, Release: once(s.release)}, false, nil
	}
	return FileRange{}, false, nil
}

// Bytes reads the range into memory (for paths that cannot use sendfile, such as TLS).
func (r FileRange) Bytes() ([]byte, error) {
	buf := make([]byte, r.Length)
	n, err := r.File.ReadAt(buf, r.Position)
	if n == len(buf) {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF // the file was truncated under the range
	}
	return buf[:n], err
}

// WriteTo copies the range to w. When w exposes a raw descriptor (a *net.TCPConn) it uses
// sendfile(2) with an explicit file offset: the *os.File is shared by all readers, so its seek
// offset (which io.Copy/net's own sendfile would use) must not be touched. Otherwise it copies
// through an io.SectionReader. A range cut short by a concurrent truncation returns
// io.ErrUnexpectedEOF.
func (r FileRange) WriteTo(w io.Writer) (int64, error) {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return io.Copy(w, io.NewSectionReader(r.File, r.Position, r.Length))
	}
	dst, err := sc.SyscallConn()
	if err != nil {
		return io.Copy(w, io.NewSectionReader(r.File, r.Position, r.Length))
	}
	src, err := r.File.SyscallConn()
	if err != nil {
		return 0, err
	}
	var written int64
	var serr error
	cerr := src.Control(func(srcFd uintptr) {
		off, remain := r.Position, r.Length
		werr := dst.Write(func(dstFd uintptr) bool {
			for remain > 0 {
				n, err := unix.Sendfile(int(dstFd), int(srcFd), &off, int(min(remain, 1<<30)))
				if n > 0 {
					written += int64(n)
					remain -= int64(n)
				}
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket is writable
				case err == unix.EINTR:
				case err != nil:
					serr = err
					return true
				case n == 0:
					serr = io.ErrUnexpectedEOF
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return written, serr
}

// OffsetForTimestamp answers ListOffsets: ts -2 gives the log start offset, -1 the LEO (both with
// timestamp -1); otherwise the first record with timestamp >= ts (and offset >= log start), found
// through the time index (Log.fetchOffsetByTimestamp, §2.3). found is false when no record
// qualifies. The caller hides offsets at or above the HW/LSO, as Kafka's Partition does.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, found bool, err error) {
	v := l.view.Load()
	if v.closed {
		return 0, 0, false, fmt.Errorf("%w: %s", ErrLogClosed, l.tp)
	}
	switch ts {
	case -2:
		return v.logStart, -1, true, nil
	case -1:
		return v.leo, -1, true, nil
	}
	for _, s := range v.segs {
		if s.largestTimestamp() < ts {
			continue
		}
		if !s.acquire() {
			return l.OffsetForTimestamp(ts) // deleted meanwhile: start over with a fresh view
		}
		defer s.release()
		return s.findOffsetByTimestamp(ts, v.logStart)
	}
	return 0, 0, false, nil
}

// findOffsetByTimestamp is LogSegment.findOffsetByTimestamp: time index, then offset index, then a
// scan of batches whose max timestamp reaches ts, record by record.
func (s *segment) findOffsetByTimestamp(ts, logStart int64) (int64, int64, bool, error) {
	s.idxMu.RLock()
	_, tOff := s.tidx.Lookup(ts)
	_, pos := s.oidx.Lookup(max(tOff, logStart))
	s.idxMu.RUnlock()
	var (
		offset, timestamp int64
		found             bool
		rerr              error
	)
	err := s.scan(int64(pos), s.size.Load(), func(b batchPos) bool {
		if b.maxTs < ts || b.last < logStart {
			return false
		}
		buf := make([]byte, b.size)
		if _, err := s.log.ReadAt(buf, b.pos); err != nil {
			rerr = ioErr("read segment %d at %d: %v", s.base, b.pos, err)
			return true
		}
		rerr = record.Batch(buf).Records(0, func(r record.Record) error {
			if r.Timestamp >= ts && r.Offset >= logStart {
				offset, timestamp, found = r.Offset, r.Timestamp, true
				return errStop
			}
			return nil
		})
		if errors.Is(rerr, errStop) {
			rerr = nil
		}
		return found || rerr != nil
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("offset for timestamp %d in segment %d: %w", ts, s.base, err)
	}
	return offset, timestamp, found, nil
}

var errStop = errors.New("stop")
