package txn

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TransactionLogKey v0: version int16 0, transactionalId as int16 length + UTF-8.
func TestTransactionLogKeyBytesMatchKafkaSchema(t *testing.T) {
	want := unhex(t, "0000 0005 74786e2d31") // "txn-1"
	if got := KeyBytes("txn-1"); !bytes.Equal(got, want) {
		t.Fatalf("key %x, want %x", got, want)
	}
	id, err := DecodeKey(want)
	if err != nil || id != "txn-1" {
		t.Fatalf("decode: %q %v", id, err)
	}
	for name, b := range map[string][]byte{
		"version 1":      unhex(t, "0001 0005 74786e2d31"),
		"short string":   unhex(t, "0000 0009 74786e2d31"),
		"trailing bytes": unhex(t, "0000 0005 74786e2d31 00"),
		"empty":          nil,
	} {
		if _, err := DecodeKey(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TransactionLogValue v0: producerId, producerEpoch, timeout, status byte, partitions grouped per topic
// (nullable array), last update and start timestamps.
func TestTransactionLogValueBytesMatchKafkaSchema(t *testing.T) {
	v := Value{ProducerID: 1000, ProducerEpoch: 2, TimeoutMs: 60000, State: Ongoing,
		Partitions:   []TopicPartition{{"a", 0}, {"a", 2}, {"b", 1}},
		LastUpdateMs: 1700000000000, StartMs: 1699999999000}
	want := unhex(t, `0000 00000000000003e8 0002 0000ea60 01
		00000002 0001 61 00000002 00000000 00000002 0001 62 00000001 00000001
		0000018bcfe56800 0000018bcfe56418`)
	got, err := ValueBytes(v)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("value %x (%v)\nwant  %x", got, err, want)
	}
	back, err := DecodeValue(want)
	if err != nil || !reflect.DeepEqual(back, v) {
		t.Fatalf("decode: %+v %v", back, err)
	}
}

// Kafka writes TransactionPartitions as null in state Empty and as an empty array after completion.
func TestTransactionLogValuePartitionsNullOnlyWhenEmpty(t *testing.T) {
	empty, err := ValueBytes(Value{ProducerID: 7, ProducerEpoch: 0, TimeoutMs: 1000, State: Empty, LastUpdateMs: 5, StartMs: -1})
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0000 0000000000000007 0000 000003e8 00 ffffffff 0000000000000005 ffffffffffffffff"); !bytes.Equal(empty, want) {
		t.Fatalf("Empty: %x\nwant   %x", empty, want)
	}
	v, err := DecodeValue(empty)
	if err != nil || v.Partitions != nil || v.State != Empty {
		t.Fatalf("decode Empty: %+v %v", v, err)
	}
	done := transit{producerID: 7, timeoutMs: 1000, state: CompleteCommit, startMs: 3, lastUpdateMs: 5}.value()
	b, err := ValueBytes(done)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0000 0000000000000007 0000 000003e8 04 00000000 0000000000000005 0000000000000003"); !bytes.Equal(b, want) {
		t.Fatalf("CompleteCommit: %x\nwant            %x", b, want)
	}
	if _, err := ValueBytes(Value{State: Empty, Partitions: []TopicPartition{{"a", 0}}}); err == nil {
		t.Fatal("Empty with partitions must not encode")
	}
}

func TestTransactionLogValueRejectsMalformed(t *testing.T) {
	good, _ := ValueBytes(Value{ProducerID: 1, State: Ongoing, Partitions: []TopicPartition{{"a", 0}}})
	for name, b := range map[string][]byte{
		"version 1":     append([]byte{0, 1}, good[2:]...),
		"truncated":     good[:len(good)-3],
		"trailing":      append(append([]byte{}, good...), 0),
		"unknown state": func() []byte { c := append([]byte{}, good...); c[16] = 9; return c }(),
	} {
		if _, err := DecodeValue(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	good, _ := ValueBytes(Value{ProducerID: 1, State: Ongoing, Partitions: []TopicPartition{{"a", 0}, {"b", 3}}})
	f.Add(good)
	empty, _ := ValueBytes(Value{ProducerID: 1, State: Empty})
	f.Add(empty)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeValue(b)
		if err != nil {
			return
		}
		again, err := ValueBytes(v)
		if err != nil {
			return // a decoded Empty with partitions cannot be written back; fine
		}
		v2, err := DecodeValue(again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if third, _ := ValueBytes(v2); !bytes.Equal(third, again) {
			t.Fatalf("round trip: %x vs %x", third, again)
		}
	})
}
