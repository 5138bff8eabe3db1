package group

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/samsa-broker/samsa/storage/record"
)

// logRecord is one record read back from an offsets partition.
type logRecord struct {
	key   Key
	value []byte // nil: tombstone
}

// readLog returns every record of the group's offsets partition, in log order.
func (h *harness) readLog(groupID string) []logRecord {
	h.t.Helper()
	l := h.parts.log(h.c.PartitionFor(groupID))
	res, err := l.Read(l.LogStartOffset(), 1<<20, -1, true)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []logRecord
	for _, fr := range res.Ranges {
		data, err := fr.Bytes()
		fr.Release()
		if err != nil {
			h.t.Fatal(err)
		}
		for len(data) > 0 {
			b, rest, err := record.Next(data)
			if err != nil {
				h.t.Fatal(err)
			}
			data = rest
			if err := b.Records(0, func(r record.Record) error {
				k, err := DecodeKey(r.Key)
				if err != nil {
					return err
				}
				if k.Group == groupID {
					out = append(out, logRecord{key: k, value: r.Value})
				}
				return nil
			}); err != nil {
				h.t.Fatal(err)
			}
		}
	}
	return out
}

func TestCommitOffsetFromUnknownGroup(t *testing.T) {
	h := newHarness(t)
	wantCodes(t, "commit", h.commit(testGroup, "member", 1, map[TopicPartition]int64{tp("t", 0): 1}), kerr.IllegalGeneration.Code)
}

func TestCommitAndFetchOffsetsWithEmptyGroup(t *testing.T) {
	h := newHarness(t)
	wantCodes(t, "commit", h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 10, tp("t", 1): 20}), 0)
	got := h.fetched(testGroup, tp("t", 0), tp("t", 1), tp("t", 2))
	if got[tp("t", 0)] != 10 || got[tp("t", 1)] != 20 || got[tp("t", 2)] != -1 {
		t.Fatalf("fetched %v", got)
	}
	if s := h.state(testGroup); s != "Empty" {
		t.Fatalf("state %s", s)
	}
	// The records are Kafka's: an offset commit key v1 and a value v3 per partition.
	recs := h.readLog(testGroup)
	if len(recs) != 2 || recs[0].key.Version != 1 || recs[0].value[1] != 3 {
		t.Fatalf("log records: %+v", recs)
	}
	v, err := DecodeOffsetValue(recs[0].value)
	if err != nil || v.Offset != 10 || v.LeaderEpoch != -1 {
		t.Fatalf("value %+v %v", v, err)
	}
}

func TestFetchOffsetsOfUnknownGroupAndAllPartitions(t *testing.T) {
	h := newHarness(t)
	if got := h.fetched("nobody", tp("t", 0)); got[tp("t", 0)] != -1 {
		t.Fatalf("unknown group: %v", got)
	}
	h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("b", 0): 1, tp("a", 1): 2, tp("a", 0): 3})
	_, all := h.c.FetchOffsets(h.ctx, testGroup, nil, false)
	if len(all) != 3 || all[0].TopicPartition != tp("a", 0) || all[2].TopicPartition != tp("b", 0) || all[0].Offset != 3 {
		t.Fatalf("all partitions: %+v", all)
	}
}

func TestCommitOffsetsAfterGroupIsEmpty(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	wantCodes(t, "commit", h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 5}), 0)
	h.leave(LeaveMember{MemberID: m})
	if got := h.fetched(testGroup, tp("topic", 0)); got[tp("topic", 0)] != 5 {
		t.Fatalf("after leaving: %v", got)
	}
	wantCodes(t, "member commit to the Empty group", h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 6}),
		kerr.UnknownMemberID.Code)
	wantCodes(t, "simple commit to the Empty group", h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("topic", 0): 7}), 0)
}

func TestCommitOffsetInPreparingRebalanceIsAllowed(t *testing.T) {
	h := newHarness(t)
	leader, follower, gen := h.twoMembers()
	a := h.joinAsync(joinReq(leader))
	notAnswered(t, h, a, "leader's rejoin")
	wantCodes(t, "follower commit", h.commit(testGroup, follower, gen, map[TopicPartition]int64{tp("topic", 0): 1}), 0)
	await1(t, h.joinAsync(joinReq(follower)))
	await1(t, a)
}

func TestFetchOffsetsRequireStable(t *testing.T) {
	h := newHarness(t)
	hold := make(chan struct{})
	h.parts.mu.Lock()
	h.parts.hold = hold
	h.parts.mu.Unlock()
	done := startAsync(h, func() []int16 {
		return h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 9})
	})
	h.flush()
	code, offs := h.c.FetchOffsets(h.ctx, testGroup, []TopicPartition{tp("t", 0)}, true)
	wantCode(t, "fetch", code, 0)
	wantCode(t, "require stable", offs[0].Err, kerr.UnstableOffsetCommit.Code)
	if got := h.fetched(testGroup, tp("t", 0)); got[tp("t", 0)] != -1 {
		t.Fatalf("pending commit visible before its append completed: %v", got)
	}
	close(hold)
	wantCodes(t, "commit", await1(t, done), 0)
	_, offs = h.c.FetchOffsets(h.ctx, testGroup, []TopicPartition{tp("t", 0)}, true)
	if offs[0].Err != 0 || offs[0].Offset != 9 {
		t.Fatalf("after the append: %+v", offs[0])
	}
}

func TestOffsetMetadataTooLarge(t *testing.T) {
	h := newHarness(t)
	parts := commitParts(map[TopicPartition]int64{tp("t", 0): 1, tp("t", 1): 2})
	parts[0].Metadata = strings.Repeat("x", 4097)
	codes := h.c.CommitOffsets(h.ctx, testGroup, "", nil, -1, parts)
	wantCode(t, "too large", codes[0], kerr.OffsetMetadataTooLarge.Code)
	wantCode(t, "other partition", codes[1], 0)
	if got := h.fetched(testGroup, tp("t", 0), tp("t", 1)); got[tp("t", 0)] != -1 || got[tp("t", 1)] != 2 {
		t.Fatalf("fetched %v", got)
	}
}

func TestCommitOffsetAppendErrorsAreMapped(t *testing.T) {
	for _, c := range []struct {
		append *kerr.Error
		want   *kerr.Error
	}{
		{kerr.NotLeaderForPartition, kerr.NotCoordinator},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable},
		{kerr.MessageTooLarge, kerr.InvalidCommitOffsetSize},
		{kerr.RequestTimedOut, kerr.RequestTimedOut},
	} {
		t.Run(c.append.Message, func(t *testing.T) {
			h := newHarness(t)
			h.parts.fail = func(int32, int16) error { return c.append }
			wantCodes(t, "commit", h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 1}), c.want.Code)
			if got := h.fetched(testGroup, tp("t", 0)); got[tp("t", 0)] != -1 {
				t.Fatalf("failed commit cached: %v", got)
			}
		})
	}
}

func retention(c *Config) {
	c.Retention = time.Minute
	c.RetentionCheckInterval = 10 * time.Second
}

func TestOffsetExpirationOfSimpleConsumerGroup(t *testing.T) {
	h := newHarness(t, retention)
	h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 1})
	h.advance(50 * time.Second)
	if got := h.fetched(testGroup, tp("t", 0)); got[tp("t", 0)] != 1 {
		t.Fatalf("expired early: %v", got)
	}
	h.advance(20 * time.Second)
	if s := h.state(testGroup); s != "" {
		t.Fatalf("group still present in state %s", s)
	}
	// The group is gone from the index; its goroutine writes the tombstones on its way out.
	eventually(t, 5*time.Second, "offset tombstone", func() bool {
		recs := h.readLog(testGroup)
		last := recs[len(recs)-1]
		return last.key.IsOffset() && last.value == nil
	})
	for _, r := range h.readLog(testGroup) {
		if !r.key.IsOffset() {
			t.Fatalf("group tombstone written for a group that never had a generation: %+v", r)
		}
	}
}

func TestOffsetExpirationOfActiveConsumerGroup(t *testing.T) {
	h := newHarness(t, retention)
	m, gen := h.stableGroup() // subscribed to "topic"
	h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1, tp("other", 0): 2})
	for range 8 { // 72 s: past the retention, heartbeating within the 10 s session
		h.advance(9 * time.Second)
		wantCode(t, "heartbeat", h.heartbeat(m, gen, nil), 0)
	}
	got := h.fetched(testGroup, tp("topic", 0), tp("other", 0))
	if got[tp("topic", 0)] != 1 || got[tp("other", 0)] != -1 {
		t.Fatalf("after retention: %v (only the unsubscribed topic's offsets expire)", got)
	}
}

func TestOffsetExpirationOfEmptyGroupCountsFromWhenItBecameEmpty(t *testing.T) {
	h := newHarness(t, retention)
	m, gen := h.stableGroup()
	h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1})
	for range 5 { // 45 s of a live group: its offsets do not expire
		h.advance(9 * time.Second)
		wantCode(t, "heartbeat", h.heartbeat(m, gen, nil), 0)
	}
	h.leave(LeaveMember{MemberID: m})
	h.advance(50 * time.Second)
	if got := h.fetched(testGroup, tp("topic", 0)); got[tp("topic", 0)] != 1 {
		t.Fatalf("expired less than the retention after the group became empty: %v", got)
	}
	h.advance(20 * time.Second)
	if s := h.state(testGroup); s != "" {
		t.Fatalf("group in state %s, want removed", s)
	}
	eventually(t, 5*time.Second, "group tombstone", func() bool {
		recs := h.readLog(testGroup)
		last := recs[len(recs)-1]
		return !last.key.IsOffset() && last.value == nil
	})
}

func TestDeleteGroups(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1})
	codes := h.c.DeleteGroups(h.ctx, []string{testGroup, "nobody"})
	wantCode(t, "non-empty group", codes[0], kerr.NonEmptyGroup.Code)
	wantCode(t, "unknown group", codes[1], kerr.GroupIDNotFound.Code)
	h.leave(LeaveMember{MemberID: m})
	wantCode(t, "empty group", h.c.DeleteGroups(h.ctx, []string{testGroup})[0], 0)
	if got := h.fetched(testGroup, tp("topic", 0)); got[tp("topic", 0)] != -1 {
		t.Fatalf("offsets survived the deletion: %v", got)
	}
	recs := h.readLog(testGroup)
	n := len(recs)
	if recs[n-1].key.IsOffset() || recs[n-1].value != nil || !recs[n-2].key.IsOffset() || recs[n-2].value != nil {
		t.Fatalf("last records %+v %+v, want offset then group tombstones", recs[n-2], recs[n-1])
	}
	wantCode(t, "deleted group", h.c.DeleteGroups(h.ctx, []string{testGroup})[0], kerr.GroupIDNotFound.Code)
}

func TestDeleteOffsets(t *testing.T) {
	h := newHarness(t)
	code, _ := h.c.DeleteOffsets(h.ctx, testGroup, []TopicPartition{tp("topic", 0)})
	wantCode(t, "unknown group", code, kerr.GroupIDNotFound.Code)
	m, gen := h.stableGroup()
	h.commit(testGroup, m, gen, map[TopicPartition]int64{tp("topic", 0): 1, tp("other", 0): 2})
	code, codes := h.c.DeleteOffsets(h.ctx, testGroup, []TopicPartition{tp("topic", 0), tp("other", 0)})
	wantCode(t, "stable consumer group", code, 0)
	wantCode(t, "subscribed topic", codes[0], kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "other topic", codes[1], 0)
	if got := h.fetched(testGroup, tp("topic", 0), tp("other", 0)); got[tp("topic", 0)] != 1 || got[tp("other", 0)] != -1 {
		t.Fatalf("after deleting: %v", got)
	}
	h.leave(LeaveMember{MemberID: m})
	code, codes = h.c.DeleteOffsets(h.ctx, testGroup, []TopicPartition{tp("topic", 0)})
	if code != 0 || codes[0] != 0 {
		t.Fatalf("empty group: %s %v", errName(code), codes)
	}
	if s := h.state(testGroup); s != "" {
		t.Fatalf("an Empty group without offsets stays in state %s", s)
	}
}

func TestHandleDeletedPartitions(t *testing.T) {
	h := newHarness(t)
	h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("gone", 0): 1, tp("kept", 0): 2})
	h.c.HandleDeletedPartitions([]TopicPartition{tp("gone", 0)})
	if got := h.fetched(testGroup, tp("gone", 0), tp("kept", 0)); got[tp("gone", 0)] != -1 || got[tp("kept", 0)] != 2 {
		t.Fatalf("after deletion: %v", got)
	}
}

func TestDescribeAndListGroups(t *testing.T) {
	h := newHarness(t)
	if s := h.c.DescribeGroup(h.ctx, "nobody"); s.Err != 0 || s.State != "Dead" {
		t.Fatalf("unknown group: %+v", s)
	}
	leader, follower, _ := h.twoMembers()
	s := h.c.DescribeGroup(h.ctx, testGroup)
	if s.State != "Stable" || s.Protocol != "range" || s.ProtocolType != protoType || len(s.Members) != 2 ||
		s.Members[0].MemberID != leader || string(s.Members[0].Assignment) != "a" || string(s.Members[1].Assignment) != "b" ||
		s.Members[1].MemberID != follower || s.Members[0].ClientHost != "/127.0.0.1" || len(s.Members[0].Metadata) == 0 {
		t.Fatalf("stable: %+v", s)
	}
	h.commit("offsets-only", "", -1, map[TopicPartition]int64{tp("t", 0): 1})
	a := h.joinAsync(joinReq(leader))
	s = h.c.DescribeGroup(h.ctx, testGroup)
	if s.State != "PreparingRebalance" || s.Protocol != "" || len(s.Members) != 2 || len(s.Members[0].Assignment) != 0 {
		t.Fatalf("rebalancing: %+v", s)
	}
	code, all := h.c.ListGroups(nil)
	if code != 0 || len(all) != 2 || all[0].GroupID != testGroup || all[0].ProtocolType != protoType || all[1].ProtocolType != "" {
		t.Fatalf("list: %s %+v", errName(code), all)
	}
	if _, empty := h.c.ListGroups([]string{"Empty"}); len(empty) != 1 || empty[0].GroupID != "offsets-only" {
		t.Fatalf("list Empty: %+v", empty)
	}
	await1(t, h.joinAsync(joinReq(follower)))
	await1(t, a)
}

func (h *harness) txnCommit(groupID string, pid int64, memberID string, gen int32, offsets map[TopicPartition]int64) []int16 {
	return h.c.CommitTxnOffsets(h.ctx, groupID, pid, 0, memberID, nil, gen, commitParts(offsets))
}

func TestTxnOffsetCommitIsPendingUntilItsMarker(t *testing.T) {
	h := newHarness(t)
	h.commit(testGroup, "", -1, map[TopicPartition]int64{tp("t", 0): 1, tp("t", 1): 1})
	wantCodes(t, "txn commit", h.txnCommit(testGroup, 7, "", -1, map[TopicPartition]int64{tp("t", 0): 70}), 0)
	wantCodes(t, "txn commit", h.txnCommit(testGroup, 8, "", -1, map[TopicPartition]int64{tp("t", 1): 80}), 0)
	if got := h.fetched(testGroup, tp("t", 0), tp("t", 1)); got[tp("t", 0)] != 1 || got[tp("t", 1)] != 1 {
		t.Fatalf("pending transactional offsets visible: %v", got)
	}
	_, offs := h.c.FetchOffsets(h.ctx, testGroup, []TopicPartition{tp("t", 0)}, true)
	wantCode(t, "require stable", offs[0].Err, kerr.UnstableOffsetCommit.Code)
	p := h.c.PartitionFor(testGroup)
	h.c.CompleteTxn(7, []int32{p}, true)
	h.c.CompleteTxn(8, []int32{p}, false)
	h.flush()
	if got := h.fetched(testGroup, tp("t", 0), tp("t", 1)); got[tp("t", 0)] != 70 || got[tp("t", 1)] != 1 {
		t.Fatalf("after the markers: %v (committed transaction visible, aborted one dropped)", got)
	}
	// The log holds the transactional batches; with markers written, a new coordinator agrees.
	h.appendMarker(7, testGroup, true)
	h.appendMarker(8, testGroup, false)
	h.restart()
	if got := h.fetched(testGroup, tp("t", 0), tp("t", 1)); got[tp("t", 0)] != 70 || got[tp("t", 1)] != 1 {
		t.Fatalf("after reloading: %v", got)
	}
}

func TestTxnOffsetCommitChecksMemberAndGenerationWhenSet(t *testing.T) {
	h := newHarness(t)
	m, gen := h.stableGroup()
	wantCodes(t, "unknown member", h.txnCommit(testGroup, 7, "nobody", gen, map[TopicPartition]int64{tp("t", 0): 1}), kerr.UnknownMemberID.Code)
	wantCodes(t, "illegal generation", h.txnCommit(testGroup, 7, m, gen+1, map[TopicPartition]int64{tp("t", 0): 1}), kerr.IllegalGeneration.Code)
	wantCodes(t, "member of the current generation", h.txnCommit(testGroup, 7, m, gen, map[TopicPartition]int64{tp("t", 0): 1}), 0)
	wantCodes(t, "unchecked (before v3)", h.txnCommit("other-group", 9, "", -1, map[TopicPartition]int64{tp("t", 0): 1}), 0)
}
