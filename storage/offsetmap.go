package storage

import (
	"hash/maphash"
	"math/bits"
)

// offsetMap is the cleaner's key -> latest offset map over the dirty section of a log (Kafka's
// SkimpyOffsetMap): open addressing with linear probing over fixed-size slots that store a
// 127-bit hash of the key instead of the key, so memory is bounded by the slot count whatever the
// key sizes. Two keys with the same hash would be taken for one (Kafka accepts the same risk with
// MD5); at 2^-127 per pair that never happens in practice.
//
// Memory: 24 bytes per slot, at most maxSlots of them (log.cleaner.dedupe.buffer.size divided
// by the cleaner threads). Unlike Kafka the table starts small and doubles up to that bound, so a
// broker whose compacted logs are small never allocates the whole buffer. The map is "full" when
// it holds loadFactor * maxSlots keys (log.cleaner.io.buffer.load.factor, 0.9): the cleaner then
// stops mapping and cleans only up to the last offset it mapped.
//
// Not safe for concurrent use: each cleaner goroutine owns one.
type offsetMap struct {
	slots      []mapSlot
	maxSlots   int
	loadFactor float64
	used       int
	latest     int64 // largest offset recorded with updateLatest; -1 when none
	seed1      maphash.Seed
	seed2      maphash.Seed
}

// mapSlot is empty when h1 is 0; used slots have h1's low bit set.
type mapSlot struct {
	h1, h2 uint64
	offset int64
}

const (
	mapSlotSize     = 24
	initialMapSlots = 1 << 12
)

// newOffsetMap makes a map bounded to memory bytes.
func newOffsetMap(memory int64, loadFactor float64) *offsetMap {
	maxSlots := int(min(memory/mapSlotSize, int64(1<<40)))
	m := &offsetMap{
		maxSlots:   maxSlots,
		loadFactor: loadFactor,
		latest:     -1,
		seed1:      maphash.MakeSeed(),
		seed2:      maphash.MakeSeed(),
	}
	m.slots = make([]mapSlot, min(initialMapSlots, maxSlots))
	return m
}

// capacity is the number of keys the map takes before it is full; one slot always stays empty
// so that probing ends.
func (m *offsetMap) capacity() int { return min(int(float64(m.maxSlots)*m.loadFactor), m.maxSlots-1) }

// full reports whether a new key would exceed the capacity.
func (m *offsetMap) full() bool { return m.used >= m.capacity() }

// size is the number of distinct keys.
func (m *offsetMap) size() int { return m.used }

// utilization is size over capacity in slots (Kafka's buffer utilization).
func (m *offsetMap) utilization() float64 { return float64(m.used) / float64(m.maxSlots) }

// clear empties the map, keeping the table it grew to.
func (m *offsetMap) clear() {
	clear(m.slots)
	m.used = 0
	m.latest = -1
}

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seed1, key) | 1, maphash.Bytes(m.seed2, key)
}

// find returns the slot holding (h1, h2) or the empty slot where it would go.
func (m *offsetMap) find(h1, h2 uint64) int {
	n := uint64(len(m.slots))
	i, _ := bits.Mul64(h2, n) // h2 scaled to [0, n): any table size works
	for {
		s := &m.slots[i]
		if s.h1 == 0 || (s.h1 == h1 && s.h2 == h2) {
			return int(i)
		}
		if i++; i == n {
			i = 0
		}
	}
}

// put records offset as the latest offset of key. It returns false, changing nothing, when key
// is new and the map is full. Offsets are put in increasing order, so the last put wins.
func (m *offsetMap) put(key []byte, offset int64) bool {
	h1, h2 := m.hash(key)
	i := m.find(h1, h2)
	if m.slots[i].h1 == 0 {
		if m.full() {
			return false
		}
		if float64(m.used+1) > float64(len(m.slots))*m.loadFactor && len(m.slots) < m.maxSlots {
			m.grow()
			i = m.find(h1, h2)
		}
		m.used++
		m.slots[i].h1, m.slots[i].h2 = h1, h2
	}
	m.slots[i].offset = offset
	return true
}

// get returns the latest offset recorded for key, or -1.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	s := &m.slots[m.find(h1, h2)]
	if s.h1 == 0 {
		return -1
	}
	return s.offset
}

// updateLatest raises the largest offset the map covers (batches without keys count too).
func (m *offsetMap) updateLatest(offset int64) { m.latest = max(m.latest, offset) }

// grow doubles the table (up to maxSlots) and re-inserts every key.
func (m *offsetMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, min(2*len(old), m.maxSlots))
	for _, s := range old {
		if s.h1 != 0 {
			m.slots[m.find(s.h1, s.h2)] = s
		}
	}
}
