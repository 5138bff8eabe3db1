package storage

import "fmt"

// Flush fsyncs every segment holding offsets between the recovery point and the LEO (log and
// both indexes), then moves the recovery point to the LEO. Appends continue meanwhile.
func (l *Log) Flush() error { return l.flushTo(l.LogEndOffset(), false) }

// FlushIfDue flushes when flush.ms has passed since the last flush (LogManager.flushDirtyLogs).
func (l *Log) FlushIfDue(nowMs int64) error {
	if nowMs-l.lastFlushMs.Load() < l.config().FlushMs {
		return nil
	}
	return l.Flush()
}

// flushTo fsyncs the segments overlapping [recovery point, upTo) without holding mu, then raises
// the recovery point to upTo unless a truncation happened meanwhile (Log.flush(offset)).
func (l *Log) flushTo(upTo int64, closing bool) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if l.closed && !closing {
		l.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrLogClosed, l.tp)
	}
	v := l.view.Load()
	gen := l.truncGen
	rp := l.recoveryPoint.Load()
	upTo = min(upTo, v.leo)
	var segs []*segment
	if upTo > rp {
		for i, s := range v.segs {
			if s.base >= upTo {
				break
			}
			if i+1 < len(v.segs) && v.segs[i+1].base <= rp {
				continue
			}
			if s.acquire() {
				segs = append(segs, s)
			}
		}
	}
	l.mu.Unlock()
	var err error
	for _, s := range segs {
		if err == nil {
			err = s.flush()
		}
		s.release()
	}
	if err != nil {
		return fmt.Errorf("flush %s: %w", l.tp, err)
	}
	l.mu.Lock()
	if l.truncGen == gen && upTo > l.recoveryPoint.Load() {
		l.recoveryPoint.Store(upTo)
	}
	l.mu.Unlock()
	l.lastFlushMs.Store(l.clock())
	return nil
}
