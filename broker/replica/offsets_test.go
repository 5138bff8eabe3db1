package replica

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestListOffsets_EarliestLatestAndTimestamp(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 7, []int32{1}, []int32{1}, x))
	f.mustProduce(x, 3, 10) // timestamps base+0..2 at offsets 0..2
	f.mustProduce(x, 3, 10) // the same timestamps again at offsets 3..5
	for _, c := range []struct {
		name string
		ts   int64
		want OffsetLookup
	}{
		{"earliest: the epoch that wrote the log start", EarliestTimestamp, OffsetLookup{Found: true, Offset: 0, Timestamp: -1, LeaderEpoch: 7}},
		{"latest", LatestTimestamp, OffsetLookup{Found: true, Offset: 6, Timestamp: -1, LeaderEpoch: 7}},
		{"first record at or after ts, with the epoch that wrote it", 1_700_000_000_001, OffsetLookup{Found: true, Offset: 1, Timestamp: 1_700_000_000_001, LeaderEpoch: 7}},
		{"beyond every record", 1_800_000_000_000, OffsetLookup{Offset: -1, Timestamp: -1, LeaderEpoch: -1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := f.m.FetchOffsetForTimestamp(x, c.ts, IsolationHighWatermark, -1, true)
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
	if _, err := f.m.FetchOffsetForTimestamp(x, LatestTimestamp, IsolationHighWatermark, 6, true); code(err) != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("fenced: %v", err)
	}
	if _, err := f.m.FetchOffsetForTimestamp(tp("zz", 0), LatestTimestamp, IsolationHighWatermark, -1, true); code(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown: %v", err)
	}
}

func TestListOffsets_LatestIsHighWatermarkForClientsAndLogEndForReplicas(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 1, 0, []int32{1, 2}, []int32{1, 2}, x))
	f.mustProduce(x, 4, 10)
	for _, iso := range []Isolation{IsolationHighWatermark, IsolationCommitted} {
		got, err := f.m.FetchOffsetForTimestamp(x, LatestTimestamp, iso, -1, true)
		if err != nil || got.Offset != 0 {
			t.Fatalf("isolation %d: %+v %v", iso, got, err)
		}
	}
	got, err := f.m.FetchOffsetForTimestamp(x, LatestTimestamp, IsolationLogEnd, -1, true)
	if err != nil || got.Offset != 4 {
		t.Fatalf("replica: %+v %v", got, err)
	}
	// A timestamp whose first offset is not yet below the HW is not found for clients.
	got, err = f.m.FetchOffsetForTimestamp(x, 1_700_000_000_000, IsolationHighWatermark, -1, true)
	if err != nil || got.Found {
		t.Fatalf("above HW: %+v %v", got, err)
	}
}

func TestListOffsets_OffsetNotAvailableWhileNewLeaderHighWatermarkLags(t *testing.T) {
	f := newFixture(t, Config{})
	x := tp("a", 0)
	f.apply(lair(1, 2, 0, []int32{2, 1}, []int32{2, 1}, x)) // follower of 2
	p, _ := f.m.Partition(x)
	b := batch(t, 3, 10)
	if _, err := p.Log().AppendAsFollower(b); err != nil { // replicated data, not yet committed here
		t.Fatal(err)
	}
	// Elected with the old leader still in the ISR: its LEO is unknown, so the HW stays 0 < epoch start 3.
	f.apply(lair(1, 1, 1, []int32{1, 2}, []int32{1, 2}, x))
	if _, err := f.m.FetchOffsetForTimestamp(x, LatestTimestamp, IsolationHighWatermark, -1, true); code(err) != kerr.OffsetNotAvailable.Code {
		t.Fatalf("latest: %v", err)
	}
	if _, err := f.m.FetchOffsetForTimestamp(x, 0, IsolationHighWatermark, -1, true); code(err) != kerr.OffsetNotAvailable.Code {
		t.Fatalf("by time: %v", err)
	}
	if got, err := f.m.FetchOffsetForTimestamp(x, EarliestTimestamp, IsolationHighWatermark, -1, true); err != nil || got.Offset != 0 {
		t.Fatalf("earliest: %+v %v", got, err)
	}
	if got, err := f.m.FetchOffsetForTimestamp(x, LatestTimestamp, IsolationLogEnd, -1, true); err != nil || got.Offset != 3 {
		t.Fatalf("replica latest: %+v %v", got, err)
	}
}
