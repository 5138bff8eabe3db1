package storage

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/samsa-broker/samsa/storage/index"
)

// Tests named after Kafka's TransactionIndexTest.

func openTestTxnIndex(t *testing.T) *txnIndex {
	t.Helper()
	ti, err := openTxnIndex(filepath.Join(t.TempDir(), "00000000000000000000.txnindex"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ti.close)
	return ti
}

func mustAppendTxn(t *testing.T, ti *txnIndex, es ...txnEntry) {
	t.Helper()
	for _, e := range es {
		if err := ti.append(e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTransactionIndex_AbortedTxnSerde(t *testing.T) {
	// 34 bytes: version 0, producer id, first offset, last offset, last stable offset (reference 04 §2.4).
	ti := openTestTxnIndex(t)
	if ti.exists() || fileExists(ti.path) {
		t.Fatal("the file exists before the first entry")
	}
	mustAppendTxn(t, ti, txnEntry{producerID: 0x0102030405060708, firstOffset: 5, lastOffset: 9, lastStableOffset: 10})
	got, err := os.ReadFile(ti.path)
	if err != nil {
		t.Fatal(err)
	}
	want := "0000" + "0102030405060708" + "0000000000000005" + "0000000000000009" + "000000000000000a"
	if hex.EncodeToString(got) != want {
		t.Fatalf("bytes %x, want %s", got, want)
	}
}

func TestTransactionIndex_PositionSetCorrectlyWhenOpened(t *testing.T) {
	ti := openTestTxnIndex(t)
	es := []txnEntry{{0, 0, 2, 3}, {1, 5, 6, 7}, {2, 8, 11, 13}}
	mustAppendTxn(t, ti, es...)
	ti.close()
	re, err := openTxnIndex(ti.path)
	if err != nil {
		t.Fatal(err)
	}
	defer re.close()
	mustAppendTxn(t, re, txnEntry{3, 12, 15, 16})
	got, err := re.entries()
	if err != nil {
		t.Fatal(err)
	}
	if want := append(es, txnEntry{3, 12, 15, 16}); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestTransactionIndex_LastOffsetMustIncrease(t *testing.T) {
	ti := openTestTxnIndex(t)
	mustAppendTxn(t, ti, txnEntry{1, 5, 15, 13})
	if err := ti.append(txnEntry{0, 0, 15, 11}); err == nil {
		t.Fatal("an entry with the same marker offset was accepted")
	}
	if err := ti.append(txnEntry{0, 0, 14, 11}); err == nil {
		t.Fatal("an entry with a lower marker offset was accepted")
	}
}

func TestTransactionIndex_CollectAbortedTransactions(t *testing.T) {
	ti := openTestTxnIndex(t)
	es := []txnEntry{{0, 0, 10, 11}, {1, 5, 15, 13}, {2, 18, 35, 25}, {3, 32, 50, 40}}
	mustAppendTxn(t, ti, es...)
	collect := func(from, upper int64) ([]int64, bool) {
		out, done, err := ti.collect(from, upper, nil)
		if err != nil {
			t.Fatal(err)
		}
		var pids []int64
		for _, a := range out {
			pids = append(pids, a.ProducerID)
		}
		return pids, done
	}
	for _, tc := range []struct {
		from, upper int64
		want        []int64
		done        bool
	}{
		{0, 0, nil, true},              // the first entry's LSO 11 >= 0: complete at once
		{0, 12, []int64{0, 1}, true},   // complete at producer 1's LSO 13
		{11, 15, []int64{1}, true},     // producer 0's marker (10) is before the fetch
		{16, 31, []int64{2}, true},     // producer 3 starts at 32
		{16, 60, []int64{2, 3}, false}, // no entry's LSO reaches 60: later segments may add more
		{51, 60, nil, false},
	} {
		got, done := collect(tc.from, tc.upper)
		if !slices.Equal(got, tc.want) || done != tc.done {
			t.Errorf("collect(%d, %d) = %v %v, want %v %v", tc.from, tc.upper, got, done, tc.want, tc.done)
		}
	}
}

func TestTransactionIndex_Truncate(t *testing.T) {
	ti := openTestTxnIndex(t)
	es := []txnEntry{{0, 0, 2, 3}, {1, 5, 6, 7}, {2, 8, 11, 13}, {3, 12, 15, 16}}
	mustAppendTxn(t, ti, es...)
	if err := ti.truncateTo(11); err != nil {
		t.Fatal(err)
	}
	got, _ := ti.entries()
	if !slices.Equal(got, es[:2]) {
		t.Fatalf("after truncateTo(11): %v", got)
	}
	if st, _ := os.Stat(ti.path); st.Size() != 2*txnEntrySize {
		t.Fatalf("file size %d", st.Size())
	}
	// Appends continue after the cut.
	mustAppendTxn(t, ti, txnEntry{4, 9, 10, 11})
	if err := ti.truncateTo(0); err != nil {
		t.Fatal(err)
	}
	if got, _ := ti.entries(); len(got) != 0 {
		t.Fatalf("after truncateTo(0): %v", got)
	}
}

func TestTransactionIndex_SanityCheck(t *testing.T) {
	ti := openTestTxnIndex(t)
	mustAppendTxn(t, ti, txnEntry{0, 0, 10, 11}, txnEntry{1, 5, 15, 13})
	if err := ti.sanityCheck(0); err != nil {
		t.Fatal(err)
	}
	// Entries whose marker lies below the segment's base offset do not belong to it.
	if err := ti.sanityCheck(12); !errors.Is(err, index.ErrCorrupt) {
		t.Fatalf("got %v", err)
	}
	ti.close()
	f, _ := os.OpenFile(ti.path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 1})
	f.Close()
	re, err := openTxnIndex(ti.path)
	if err != nil {
		t.Fatal(err)
	}
	defer re.close()
	if err := re.sanityCheck(0); !errors.Is(err, index.ErrCorrupt) {
		t.Fatalf("torn entry: got %v", err)
	}
}

func TestTransactionIndex_RenameIndex(t *testing.T) {
	ti := openTestTxnIndex(t)
	mustAppendTxn(t, ti, txnEntry{0, 0, 2, 3})
	renamed := ti.path + ".deleted"
	if err := ti.rename(renamed); err != nil {
		t.Fatal(err)
	}
	mustAppendTxn(t, ti, txnEntry{1, 5, 6, 7})
	got, _ := ti.entries()
	if len(got) != 2 || !fileExists(renamed) {
		t.Fatalf("entries %v, renamed file exists %v", got, fileExists(renamed))
	}
}
