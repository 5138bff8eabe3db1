package storage

// LegacyOffsetsBefore is Kafka's Log.legacyFetchOffsetsBefore, what ListOffsets v0 answers: up to maxNum
// offsets "before" ts, newest first. The candidates are every segment's base offset (raised to the log start
// offset) with the segment file's last-modified time, plus the log end offset at nowMs when the active segment
// holds data. ts -1 (latest) starts from the last candidate, -2 (earliest) from the first, any other value from
// the last candidate modified at or before ts (none: an empty answer); the answer walks back from there.
func (l *Log) LegacyOffsetsBefore(ts, nowMs int64, maxNum int) []int64 {
	v := l.view.Load()
	type offsetTime struct{ offset, ms int64 }
	cands := make([]offsetTime, 0, len(v.segs)+1)
	for _, s := range v.segs {
		cands = append(cands, offsetTime{max(s.base, v.logStart), s.lastModified()})
	}
	if v.active().size.Load() > 0 {
		cands = append(cands, offsetTime{v.leo, nowMs})
	}
	start := len(cands) - 1
	switch ts {
	case -1:
	case -2:
		start = 0
	default:
		for start >= 0 && cands[start].ms > ts {
			start--
		}
	}
	n := max(min(maxNum, start+1), 0)
	out := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, cands[start-i].offset)
	}
	return out
}
