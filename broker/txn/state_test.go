package txn

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TransactionState.validPreviousStates (reference 06 §4.3), checked for every pair.
func TestTransactionStateValidPreviousStates(t *testing.T) {
	allowed := map[State][]State{
		Empty:             {Empty, CompleteCommit, CompleteAbort},
		Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
		PrepareCommit:     {Ongoing},
		PrepareAbort:      {Ongoing, PrepareEpochFence},
		CompleteCommit:    {PrepareCommit},
		CompleteAbort:     {PrepareAbort},
		Dead:              {Empty, CompleteAbort, CompleteCommit},
		PrepareEpochFence: {Ongoing},
	}
	for to := Empty; to <= PrepareEpochFence; to++ {
		for from := Empty; from <= PrepareEpochFence; from++ {
			want := false
			for _, s := range allowed[to] {
				want = want || s == from
			}
			if got := CanTransition(from, to); got != want {
				t.Errorf("%s -> %s: %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestTransactionStateBytes(t *testing.T) {
	for b, name := range []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"} {
		s, err := stateFromByte(int8(b))
		if err != nil || s.String() != name {
			t.Errorf("byte %d: %v %v, want %s", b, s, err, name)
		}
	}
	if _, err := stateFromByte(8); !errors.Is(err, ErrMalformed) {
		t.Fatalf("byte 8: %v", err)
	}
}

// Epochs may not reach Short.MaxValue: 32766 and 32767 count as exhausted.
func TestProducerEpochExhaustedAtShortMaxMinusOne(t *testing.T) {
	for epoch, want := range map[int16]bool{0: false, 32765: false, 32766: true, 32767: true} {
		if got := IsEpochExhausted(epoch); got != want {
			t.Errorf("epoch %d: %v, want %v", epoch, got, want)
		}
	}
}

// TransactionMetadata's prepare/complete rules: one pending change at a time; completion checks the
// transit against the current state.
func TestTransactionMetadataTransitions(t *testing.T) {
	md := newMetadata("x", 10, 1000, 1)
	lock := func() func() { md.mu.Lock(); return md.mu.Unlock }

	unlock := lock()
	tr, err := md.prepareIncrementProducerEpochLocked(1000, nil, 2)
	if err != nil || tr.producerEpoch != 0 || tr.state != Empty {
		t.Fatalf("first epoch: %+v %v", tr, err)
	}
	if _, err := md.prepareAddPartitionsLocked([]TopicPartition{{"a", 0}}, 3); !errors.Is(err, errIllegalState) {
		t.Fatalf("second prepare while pending: %v", err)
	}
	if err := md.completeTransitionLocked(tr); err != nil {
		t.Fatal(err)
	}
	add, err := md.prepareAddPartitionsLocked([]TopicPartition{{"a", 0}}, 3)
	if err != nil || add.startMs != 3 || add.state != Ongoing {
		t.Fatalf("add: %+v %v", add, err)
	}
	if err := md.completeTransitionLocked(add); err != nil {
		t.Fatal(err)
	}
	more, _ := md.prepareAddPartitionsLocked([]TopicPartition{{"b", 1}}, 4)
	if more.startMs != 3 || len(more.partitions) != 2 {
		t.Fatalf("adding to an open transaction keeps its start: %+v", more)
	}
	_ = md.completeTransitionLocked(more)
	commit, _ := md.prepareAbortOrCommitLocked(PrepareCommit, 5)
	wrong := commit
	wrong.producerEpoch++
	if err := md.completeTransitionLocked(wrong); !errors.Is(err, errIllegalState) {
		t.Fatalf("completing with another epoch: %v", err)
	}
	if err := md.completeTransitionLocked(commit); err != nil {
		t.Fatal(err)
	}
	if _, err := md.prepareAddPartitionsLocked(nil, 6); !errors.Is(err, errIllegalState) {
		t.Fatalf("Ongoing cannot follow PrepareCommit: %v", err)
	}
	done, _ := md.prepareCompleteLocked(6)
	if done.state != CompleteCommit || len(done.partitions) != 0 {
		t.Fatalf("complete: %+v", done)
	}
	if err := md.completeTransitionLocked(done); err != nil || len(md.partitions) != 0 || md.state != CompleteCommit {
		t.Fatalf("after complete: %v %+v", err, md.snapshotLocked())
	}
	unlock()
}

// KIP-360: InitProducerId naming the current epoch bumps it and remembers the old one; naming the
// remembered epoch (a retry of a bump that succeeded) returns the current one; anything else is fenced.
func TestInitProducerIDEpochBumpRulesKIP360(t *testing.T) {
	md := newMetadata("x", 10, 1000, 1)
	md.mu.Lock()
	defer md.mu.Unlock()
	md.producerEpoch, md.lastProducerEpoch = 4, 3
	cases := []struct {
		name      string
		expected  *int16
		wantEpoch int16
		wantLast  int16
		wantErr   error
	}{
		{"no epoch given", nil, 5, NoProducerEpoch, nil},
		{"current epoch", ptr(int16(4)), 5, 4, nil},
		{"last epoch: retry", ptr(int16(3)), 4, 3, nil},
		{"stale epoch", ptr(int16(2)), 0, 0, kerr.ProducerFenced},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := md.prepareIncrementProducerEpochLocked(1000, c.expected, 2)
			md.hasPending = false
			if c.wantErr != nil {
				wantErr(t, err, c.wantErr)
				return
			}
			if err != nil || tr.producerEpoch != c.wantEpoch || tr.lastProducerEpoch != c.wantLast {
				t.Fatalf("%+v %v", tr, err)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
