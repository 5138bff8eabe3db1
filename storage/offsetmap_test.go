package storage

import (
	"fmt"
	"testing"
)

// SkimpyOffsetMap: the last put of a key wins, unknown keys read -1, the map grows up to its
// memory bound and then refuses new keys (but still updates known ones).
func TestOffsetMap_LatestOffsetPerKeyWithinMemoryBound(t *testing.T) {
	const maxSlots = 10000
	m := newOffsetMap(maxSlots*mapSlotSize, 0.9)
	if len(m.slots) >= maxSlots {
		t.Fatalf("table starts at %d slots: should grow on demand", len(m.slots))
	}
	n := 0
	for ; !m.full(); n++ {
		if !m.put([]byte(fmt.Sprint("key-", n)), int64(n)) {
			t.Fatalf("put %d refused before full", n)
		}
	}
	if n != 9000 || len(m.slots) != maxSlots || m.size() != n {
		t.Fatalf("took %d keys in %d slots (size %d), want 9000 in %d", n, len(m.slots), m.size(), maxSlots)
	}
	if m.put([]byte("one more"), 1) {
		t.Fatal("new key accepted by a full map")
	}
	if !m.put([]byte("key-7"), 100000) {
		t.Fatal("update of a known key refused by a full map")
	}
	for i := 0; i < n; i++ {
		want := int64(i)
		if i == 7 {
			want = 100000
		}
		if got := m.get([]byte(fmt.Sprint("key-", i))); got != want {
			t.Fatalf("key-%d: %d, want %d", i, got, want)
		}
	}
	if m.get([]byte("absent")) != -1 {
		t.Fatal("absent key found")
	}
	m.updateLatest(5)
	m.updateLatest(3)
	if m.latest != 5 {
		t.Fatalf("latest %d", m.latest)
	}
	m.clear()
	if m.size() != 0 || m.latest != -1 || m.get([]byte("key-1")) != -1 {
		t.Fatal("clear left entries")
	}
}

// The empty key is a key like any other; one slot always stays free so probing ends even with
// load factor 1.
func TestOffsetMap_EmptyKeyAndFullLoadFactor(t *testing.T) {
	m := newOffsetMap(4*mapSlotSize, 1)
	if m.capacity() != 3 {
		t.Fatalf("capacity %d", m.capacity())
	}
	for i, k := range []string{"", "a", "b"} {
		if !m.put([]byte(k), int64(i)) {
			t.Fatalf("put %q refused", k)
		}
	}
	if m.put([]byte("c"), 3) || m.get([]byte("c")) != -1 || m.get([]byte("")) != 0 {
		t.Fatal("full map misbehaves")
	}
}

func BenchmarkOffsetMapPut(b *testing.B) {
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("consumer-group-%d/topic-%d/%d", i%100, i%7, i))
	}
	m := newOffsetMap(int64(len(keys))*4*mapSlotSize, 0.9)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.put(keys[i%len(keys)], int64(i))
	}
}
