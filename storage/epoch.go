package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sirupsen/logrus"
)

// LeaderEpochCheckpointFile is the per-partition file of the leader-epoch cache (reference 04 §11.2).
const LeaderEpochCheckpointFile = "leader-epoch-checkpoint"

// UndefinedEpoch and UndefinedEpochOffset are OffsetsForLeaderEpochResponse's UNDEFINED_EPOCH and
// UNDEFINED_EPOCH_OFFSET: the answer for an epoch the cache cannot place.
const (
	UndefinedEpoch       = -1
	UndefinedEpochOffset = -1
)

// EpochEntry is one leader epoch and the first offset written in it (Kafka's EpochEntry).
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is Kafka's LeaderEpochFileCache: the (epoch, start offset) pairs of a log, strictly
// increasing in both, persisted to leader-epoch-checkpoint after every change.
//
// Writers (assign, truncateFromEnd, truncateFromStart, clear) run under Log.mu, so they are
// serialised and the file is rewritten in the order of the changes. Readers (latest, endOffsetFor,
// entries) load an immutable slice published with an atomic pointer and never lock, like the
// Log's own view.
type epochCache struct {
	path    string
	lg      *logrus.Entry
	entries atomic.Pointer[[]EpochEntry] // immutable once published
}

// newEpochCache returns an empty cache writing to path; load fills it from the file.
func newEpochCache(path string, lg *logrus.Entry) *epochCache {
	c := &epochCache{path: path, lg: lg}
	c.entries.Store(&[]EpochEntry{})
	return c
}

func (c *epochCache) list() []EpochEntry { return *c.entries.Load() }

// load reads the checkpoint file. found is false when the file is missing; a file that does not
// parse is reported as an error (the caller rebuilds the cache from the segments). Entries are
// re-assigned one by one, so a file that is not monotonic loads as the monotonic cache assign
// would have kept (Kafka's constructor: checkpoint.read().foreach(assign)).
func (c *epochCache) load() (found bool, err error) {
	data, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, ioErr("read %s: %v", c.path, err)
	}
	read, err := parseEpochCheckpoint(data)
	if err != nil {
		return true, fmt.Errorf("%s: %w", c.path, err)
	}
	var out []EpochEntry
	for _, e := range read {
		out, _ = assignEntry(out, e)
	}
	c.entries.Store(&out)
	return true, nil
}

// parseEpochCheckpoint parses
//
//	0            version
//	2            number of entries
//	0 0          epoch start-offset, separated by whitespace
//	3 15230
//
// An empty file reads as no entries (CheckpointFile creates it empty).
func parseEpochCheckpoint(data []byte) ([]EpochEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	if v, err := strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || v != 0 {
		return nil, fmt.Errorf("malformed leader epoch checkpoint: unrecognized version %q", lines[0])
	}
	if len(lines) < 2 {
		return nil, errors.New("malformed leader epoch checkpoint: missing entry count")
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("malformed leader epoch checkpoint: entry count %q for %d lines", lines[1], len(lines)-2)
	}
	out := make([]EpochEntry, 0, n)
	for _, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("malformed leader epoch checkpoint: line %q", line)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || o < 0 {
			return nil, fmt.Errorf("malformed leader epoch checkpoint: line %q", line)
		}
		out = append(out, EpochEntry{Epoch: int32(e), StartOffset: o})
	}
	return out, nil
}

// formatEpochCheckpoint is the file content for entries.
func formatEpochCheckpoint(entries []EpochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

// publish stores next and rewrites the file (tmp, fsync, rename: writeFileAtomic).
func (c *epochCache) publish(next []EpochEntry) error {
	c.entries.Store(&next)
	return writeFileAtomic(c.path, formatEpochCheckpoint(next))
}

// latest is the newest entry; ok is false when the cache is empty.
func (c *epochCache) latest() (EpochEntry, bool) {
	l := c.list()
	if len(l) == 0 {
		return EpochEntry{}, false
	}
	return l[len(l)-1], true
}

// assignEntry is LeaderEpochFileCache.assign on a slice: nothing happens when e repeats the latest
// epoch at or after its start offset; otherwise every entry from the end whose epoch or start
// offset is not below e's is dropped and e appended. It reports whether anything changed.
func assignEntry(l []EpochEntry, e EpochEntry) ([]EpochEntry, bool) {
	if n := len(l); n > 0 && l[n-1].Epoch == e.Epoch && e.StartOffset >= l[n-1].StartOffset {
		return l, false
	}
	keep := len(l)
	for keep > 0 && (l[keep-1].Epoch >= e.Epoch || l[keep-1].StartOffset >= e.StartOffset) {
		keep--
	}
	out := append(slices.Clone(l[:keep]), e)
	return out, true
}

// assign records that epoch starts at startOffset (a v2 batch appended, or a leader elected at
// the LEO). Negative values are ignored: producers stamp -1 and only the leader's epoch counts.
// Entries conflicting with the new one (a later or equal epoch, or a start offset not below it)
// are dropped first; a non-trivial drop is logged, as Kafka warns.
func (c *epochCache) assign(epoch int32, startOffset int64) error {
	if epoch < 0 || startOffset < 0 {
		return nil
	}
	cur := c.list()
	next, changed := assignEntry(cur, EpochEntry{Epoch: epoch, StartOffset: startOffset})
	if !changed {
		return nil
	}
	if removed := cur[len(next)-1:]; len(removed) > 1 || (len(removed) == 1 && removed[0].StartOffset != startOffset) {
		c.lg.WithFields(logrus.Fields{"leader_epoch": epoch, "start_offset": startOffset, "removed": removed}).
			Warn("new leader epoch entry truncated conflicting entries")
	}
	return c.publish(next)
}

// endOffsetFor is LeaderEpochFileCache.endOffsetFor (KIP-279): the largest epoch <= requested and
// the offset where it ended, i.e. the start of the next known epoch, or leo for the latest epoch.
// An epoch before every entry answers (requested, first start offset); -1, an empty cache, or an
// epoch above the latest answer (UndefinedEpoch, UndefinedEpochOffset).
func (c *epochCache) endOffsetFor(requested int32, leo int64) (int32, int64) {
	l := c.list()
	if requested == UndefinedEpoch || len(l) == 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if l[len(l)-1].Epoch == requested {
		return requested, leo
	}
	// higher: the first entry with an epoch above requested.
	higher, _ := slices.BinarySearchFunc(l, requested+1, func(e EpochEntry, t int32) int {
		switch {
		case e.Epoch < t:
			return -1
		case e.Epoch > t:
			return 1
		}
		return 0
	})
	switch {
	case higher == len(l):
		return UndefinedEpoch, UndefinedEpochOffset
	case higher == 0:
		return requested, l[0].StartOffset
	}
	return l[higher-1].Epoch, l[higher].StartOffset
}

// truncateFromEnd drops the entries starting at or after endOffset (log truncation).
func (c *epochCache) truncateFromEnd(endOffset int64) error {
	l := c.list()
	keep := len(l)
	for keep > 0 && l[keep-1].StartOffset >= endOffset {
		keep--
	}
	if endOffset < 0 || keep == len(l) {
		return nil
	}
	return c.publish(slices.Clone(l[:keep]))
}

// truncateFromStart drops the entries starting at or before startOffset and puts the last of them
// back with startOffset as its start (the log start moved: retention, DeleteRecords, a leader's
// log start learned by a follower). truncateFromStart(6) keeps an entry starting at 6.
func (c *epochCache) truncateFromStart(startOffset int64) error {
	l := c.list()
	n := 0
	for n < len(l) && l[n].StartOffset <= startOffset {
		n++
	}
	if n == 0 || (n == 1 && l[0].StartOffset == startOffset) {
		return nil // nothing to drop, or the first entry already starts there
	}
	next := make([]EpochEntry, 0, len(l)-n+1)
	next = append(next, EpochEntry{Epoch: l[n-1].Epoch, StartOffset: startOffset})
	next = append(next, l[n:]...)
	return c.publish(next)
}

// clear drops every entry (the log restarted empty: truncateFullyAndStartAt).
func (c *epochCache) clear() error {
	return c.publish([]EpochEntry{})
}
