package protocol

import (
	"encoding/binary"
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// MaxDecodeAlloc bounds what decoding one request body may allocate. kmsg sizes each array with one
// make(count) before reading the elements, trusting any count up to the number of bytes left, so an array
// count of n with n bytes of padding behind it costs n times the element struct size (up to ~150 bytes for
// LeaderAndIsr partition states), and nested arrays add up: unchecked, a 100 MiB frame could ask for tens of
// GiB. Kafka's Java decoders have the same shape at about 8 bytes per element (ArrayList of references).
//
// Produce is checked exactly (scanProduce walks its structure without allocating, so only real partitions are
// counted). Every other key is checked with a worst-case factor per body byte, derived from kmsg's own types
// (see decodeFactor), which caps bodies at MaxDecodeAlloc/factor: about 0.9 MB for LeaderAndIsr,
// 1 MB for UpdateMetadata, 1.3 MB for Fetch, 1.4 MB for CreateTopics and 2.7 MB for Metadata (logged by
// TestLargeBodyOverDecodeBudgetRefused). Bodies above that get ErrMalformed (the connection closes) even
// when well-formed.
const MaxDecodeAlloc = 256 << 20

// tagSlack covers kmsg allocations not in array element structs: copied strings (1 byte per byte) and the map
// unknown tagged fields are collected in (about 60 bytes per 2-byte tag, including map growth).
const tagSlack = 64

// decodeFactor[key] bounds the bytes kmsg allocates per body byte: the largest sum of element struct sizes
// along a path of nested arrays, plus tagSlack. Along such a path each array either holds elements that each
// consumed at least one byte, or fails after one make bounded by the bytes left, so allocation per level is
// at most that level's element size times the body length.
var decodeFactor = func() (t [kmsg.MaxKey + 1]int64) {
	for key := range t {
		if req := kmsg.RequestForKey(int16(key)); req != nil {
			t[key] = int64(arrayPathSize(reflect.TypeOf(req))) + tagSlack
		}
	}
	return t
}()

// arrayPathSize returns the largest sum of element sizes along a chain of nested slices reachable from t
// (byte slices excluded: kmsg returns them as views of the input).
func arrayPathSize(t reflect.Type) uintptr {
	switch t.Kind() {
	case reflect.Pointer:
		return arrayPathSize(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0
		}
		return t.Elem().Size() + arrayPathSize(t.Elem())
	case reflect.Struct:
		var m uintptr
		for i := range t.NumField() {
			m = max(m, arrayPathSize(t.Field(i).Type))
		}
		return m
	}
	return 0
}

// guardAllocation refuses a body whose decoding could allocate more than MaxDecodeAlloc. exact reports that
// the body's whole structure was checked and fills it exactly, so no trailing-bytes check is needed.
func guardAllocation(req kmsg.Request, body []byte) (exact bool, err error) {
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Version <= 9 {
		need, err := scanProduce(body, p.Version)
		if err != nil {
			return false, err
		}
		if need > MaxDecodeAlloc {
			return false, fmt.Errorf("produce decode needs %d bytes > %d", need, MaxDecodeAlloc)
		}
		return true, nil
	}
	if need := int64(len(body)) * decodeFactor[req.Key()]; need > MaxDecodeAlloc {
		return false, fmt.Errorf("%d-byte body may need %d bytes to decode > %d", len(body), need, MaxDecodeAlloc)
	}
	return false, nil
}

// Sizes of kmsg's Produce element structs, for scanProduce's count of what decoding will allocate.
var (
	produceTopicSize     = int64(reflect.TypeFor[kmsg.ProduceRequestTopic]().Size())
	producePartitionSize = int64(reflect.TypeFor[kmsg.ProduceRequestTopicPartition]().Size())
)

// scanProduce walks a Produce request body (v0-v9, 09-message-schemas) without allocating. It is stricter
// than kmsg: a null (negative) topics or partitions array is malformed, as in Kafka. On success the body is
// exactly one request and need is what kmsg will allocate decoding it (element structs, topic names, tags).
func scanProduce(body []byte, version int16) (need int64, err error) {
	s := scanner{b: body, flexible: version >= 9}
	if version >= 3 {
		s.string(true) // transactional id
	}
	s.skip(2 + 4) // acks, timeout
	topics := s.arrayLen()
	need += allocSize(int64(topics) * produceTopicSize)
	for range topics {
		need += allocSize(int64(s.string(false)))
		parts := s.arrayLen()
		need += allocSize(int64(parts) * producePartitionSize)
		for range parts {
			s.skip(4) // partition index
			s.bytes() // records
			need += s.tags()
		}
		need += s.tags()
	}
	need += s.tags()
	switch {
	case s.err != nil:
		return 0, s.err
	case len(s.b) != 0:
		return 0, fmt.Errorf("%d trailing bytes after the body", len(s.b))
	}
	return need, nil
}

// allocSize over-approximates the heap an n-byte allocation takes, with Go's size-class rounding (at most
// 25% for small sizes, 12.5% above 1 KiB).
func allocSize(n int64) int64 {
	if n == 0 {
		return 0
	}
	return n + n/4 + 16
}

// scanner reads Kafka primitives in the classic or compact (flexible) encoding. The first failure sticks
// in err and turns every later read into a no-op, so callers check once at the end.
type scanner struct {
	b        []byte
	flexible bool
	err      error
}

func (s *scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, args...)
	}
	s.b = nil
}

func (s *scanner) skip(n int) {
	if s.err != nil {
		return
	}
	if n < 0 || n > len(s.b) {
		s.fail("%d-byte field with %d bytes left", n, len(s.b))
		return
	}
	s.b = s.b[n:]
}

func (s *scanner) int16() int16 {
	if s.err != nil || len(s.b) < 2 {
		s.fail("truncated int16")
		return 0
	}
	v := int16(binary.BigEndian.Uint16(s.b))
	s.b = s.b[2:]
	return v
}

func (s *scanner) int32() int32 {
	if s.err != nil || len(s.b) < 4 {
		s.fail("truncated int32")
		return 0
	}
	v := int32(binary.BigEndian.Uint32(s.b))
	s.b = s.b[4:]
	return v
}

func (s *scanner) uvarint() uint32 {
	if s.err != nil {
		return 0
	}
	v, rest, ok := uvarint(s.b)
	if !ok {
		s.fail("bad unsigned varint")
		return 0
	}
	s.b = rest
	return v
}

// length reads a string, bytes or array length: int16 or int32 classic, uvarint(n+1) compact; -1 is null.
func (s *scanner) length(classic16 bool) int64 {
	switch {
	case s.flexible:
		return int64(s.uvarint()) - 1
	case classic16:
		return int64(s.int16())
	default:
		return int64(s.int32())
	}
}

// string skips a string and returns its length; null is legal only when nullable.
func (s *scanner) string(nullable bool) int {
	n := s.length(true)
	if n == -1 && nullable {
		return 0
	}
	if n < 0 {
		s.fail("string length %d", n)
		return 0
	}
	s.skip(int(min(n, int64(len(s.b))+1)))
	return int(n)
}

// bytes skips nullable bytes.
func (s *scanner) bytes() {
	if n := s.length(false); n >= 0 {
		s.skip(int(min(n, int64(len(s.b))+1)))
	} else if n != -1 {
		s.fail("bytes length %d", n)
	}
}

// arrayLen reads a non-nullable array length; each element needs at least one byte, so a count above the
// bytes left is malformed before any element is looked at.
func (s *scanner) arrayLen() int {
	n := s.length(false)
	if s.err == nil && (n < 0 || n > int64(len(s.b))) {
		s.fail("array length %d with %d bytes left", n, len(s.b))
	}
	if s.err != nil {
		return 0
	}
	return int(n)
}

// tags skips a tagged-field section in flexible versions and returns what kmsg allocates keeping them.
func (s *scanner) tags() int64 {
	if !s.flexible {
		return 0
	}
	n := s.uvarint()
	if s.err == nil && uint64(n) > uint64(len(s.b))/2 {
		s.fail("%d tagged fields with %d bytes left", n, len(s.b))
	}
	var need int64
	for i := uint32(0); i < n && s.err == nil; i++ {
		s.uvarint() // tag
		size := s.uvarint()
		s.skip(int(min(uint64(size), uint64(len(s.b))+1)))
		need += tagSlack + int64(size)
	}
	return need
}
