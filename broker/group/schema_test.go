package group

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strp(s string) *string { return &s }

// Byte layouts of Kafka 2.8's OffsetCommitKey/Value and GroupMetadataKey/Value, written out by hand from
// the message definitions (reference 05 §2).
func TestSchemaBytesMatchKafkaLayouts(t *testing.T) {
	for _, c := range []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"offset commit key v1", func() ([]byte, error) { return OffsetKeyBytes("g", "t", 1), nil },
			"0001" + "0001" + "67" + "0001" + "74" + "00000001"},
		{"group metadata key v2", func() ([]byte, error) { return GroupKeyBytes("grp"), nil },
			"0002" + "0003" + "677270"},
		{"offset commit value v3", func() ([]byte, error) {
			return OffsetValueBytes(OffsetValue{Offset: 5, LeaderEpoch: 7, Metadata: "m", CommitTimestamp: 1000, ExpireTimestamp: -1}, 3)
		}, "0003" + "0000000000000005" + "00000007" + "0001" + "6d" + "00000000000003e8"},
		{"offset commit value v1 with expire timestamp", func() ([]byte, error) {
			return OffsetValueBytes(OffsetValue{Offset: 5, LeaderEpoch: 7, Metadata: "", CommitTimestamp: 1000, ExpireTimestamp: 2000}, 1)
		}, "0001" + "0000000000000005" + "0000" + "00000000000003e8" + "00000000000007d0"},
		{"offset commit value v2", func() ([]byte, error) {
			return OffsetValueBytes(OffsetValue{Offset: 5, Metadata: "", CommitTimestamp: 1000, ExpireTimestamp: -1}, 2)
		}, "0002" + "0000000000000005" + "0000" + "00000000000003e8"},
		{"empty group value v3", func() ([]byte, error) {
			return GroupValueBytes(GroupValue{ProtocolType: "consumer", Generation: 2, CurrentStateTimestamp: 9}, 3)
		}, "0003" + "0008" + hex.EncodeToString([]byte("consumer")) + "00000002" + "ffff" + "ffff" + "0000000000000009" + "00000000"},
		{"group value v3 with a static member", func() ([]byte, error) {
			return GroupValueBytes(GroupValue{ProtocolType: "c", Generation: 1, Protocol: strp("r"), Leader: strp("m"),
				CurrentStateTimestamp: -1, Members: []MemberValue{{MemberID: "m", InstanceID: strp("i"), ClientID: "c",
					ClientHost: "/h", RebalanceTimeout: 300, SessionTimeout: 100, Subscription: []byte{1}, Assignment: []byte{2, 3}}}}, 3)
		}, "0003" + "0001" + "63" + "00000001" + "0001" + "72" + "0001" + "6d" + "ffffffffffffffff" + "00000001" +
			"0001" + "6d" + "0001" + "69" + "0001" + "63" + "0002" + "2f68" + "0000012c" + "00000064" +
			"00000001" + "01" + "00000002" + "0203"},
		{"group value v0 without rebalance timeout or instance id", func() ([]byte, error) {
			return GroupValueBytes(GroupValue{ProtocolType: "c", Generation: 1, Protocol: strp("r"), Leader: strp("m"),
				Members: []MemberValue{{MemberID: "m", InstanceID: strp("i"), ClientID: "c", ClientHost: "/h",
					RebalanceTimeout: 300, SessionTimeout: 100}}}, 0)
		}, "0000" + "0001" + "63" + "00000001" + "0001" + "72" + "0001" + "6d" + "00000001" +
			"0001" + "6d" + "0001" + "63" + "0002" + "2f68" + "00000064" + "00000000" + "00000000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.got()
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, c.want); !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
		})
	}
}

func TestSchemaRoundTrips(t *testing.T) {
	key, err := DecodeKey(OffsetKeyBytes("group", "topic", 3))
	if err != nil || !key.IsOffset() || key.Group != "group" || key.Topic != "topic" || key.Partition != 3 {
		t.Fatalf("offset key: %+v %v", key, err)
	}
	// Kafka's older brokers wrote offset keys as version 0, same layout.
	v0 := OffsetKeyBytes("group", "topic", 3)
	v0[1] = 0
	if key, err = DecodeKey(v0); err != nil || !key.IsOffset() || key.Version != 0 {
		t.Fatalf("offset key v0: %+v %v", key, err)
	}
	if key, err = DecodeKey(GroupKeyBytes("group")); err != nil || key.IsOffset() || key.Group != "group" {
		t.Fatalf("group key: %+v %v", key, err)
	}
	for v := int16(0); v <= 3; v++ {
		in := OffsetValue{Offset: 42, LeaderEpoch: 3, Metadata: "meta", CommitTimestamp: 10, ExpireTimestamp: 20}
		b, err := OffsetValueBytes(in, v)
		if err != nil {
			t.Fatal(err)
		}
		out, err := DecodeOffsetValue(b)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if v < 3 {
			in.LeaderEpoch = -1
		}
		if v != 1 {
			in.ExpireTimestamp = -1
		}
		if out != in {
			t.Fatalf("offset value v%d: got %+v want %+v", v, out, in)
		}
		g := GroupValue{ProtocolType: "consumer", Generation: 4, Protocol: strp("range"), Leader: strp("a"), CurrentStateTimestamp: 77,
			Members: []MemberValue{{MemberID: "a", InstanceID: strp("i"), ClientID: "c", ClientHost: "/1.2.3.4",
				RebalanceTimeout: 9, SessionTimeout: 8, Subscription: []byte("s"), Assignment: []byte("as")}}}
		b, err = GroupValueBytes(g, v)
		if err != nil {
			t.Fatal(err)
		}
		back, version, err := DecodeGroupValue(b)
		if err != nil || version != v {
			t.Fatalf("group value v%d: version %d, %v", v, version, err)
		}
		m := back.Members[0]
		switch {
		case v < 2 && back.CurrentStateTimestamp != -1, v >= 2 && back.CurrentStateTimestamp != 77:
			t.Fatalf("v%d state timestamp %d", v, back.CurrentStateTimestamp)
		case v < 3 && m.InstanceID != nil, v >= 3 && (m.InstanceID == nil || *m.InstanceID != "i"):
			t.Fatalf("v%d instance id %v", v, m.InstanceID)
		case v == 0 && m.RebalanceTimeout != 8, v > 0 && m.RebalanceTimeout != 9:
			t.Fatalf("v%d rebalance timeout %d (v0 reads the session timeout)", v, m.RebalanceTimeout)
		case string(m.Assignment) != "as" || string(m.Subscription) != "s" || *back.Protocol != "range" || *back.Leader != "a":
			t.Fatalf("v%d: %+v", v, back)
		}
	}
}

func TestSchemaRejectsMalformedInput(t *testing.T) {
	for name, b := range map[string][]byte{
		"unknown key version":   {0, 3, 0, 0},
		"truncated offset key":  OffsetKeyBytes("group", "topic", 3)[:10],
		"negative string":       {0, 2, 0xff, 0xfe},
		"empty":                 nil,
		"huge member count":     append(unhex(t, "0003"+"0000"+"00000000"+"ffff"+"ffff"+"0000000000000000"), 0x7f, 0xff, 0xff, 0xff),
		"value version too new": {0, 4, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		_, err1 := DecodeKey(b)
		_, _, err2 := DecodeGroupValue(b)
		_, err3 := DecodeOffsetValue(b)
		if name == "unknown key version" || name == "truncated offset key" || name == "empty" {
			if !errors.Is(err1, ErrMalformed) {
				t.Errorf("%s: DecodeKey error %v", name, err1)
			}
		}
		if !errors.Is(err2, ErrMalformed) {
			t.Errorf("%s: group value %v", name, err2)
		}
		if name != "huge member count" && !errors.Is(err3, ErrMalformed) { // those bytes are a valid offset value
			t.Errorf("%s: offset value %v", name, err3)
		}
	}
}

func TestSubscribedTopics(t *testing.T) {
	topics, err := SubscribedTopics(subscription("a", "b"))
	if err != nil || len(topics) != 2 || topics[0] != "a" || topics[1] != "b" {
		t.Fatalf("%v %v", topics, err)
	}
	if _, err := SubscribedTopics([]byte{0, 1, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
}

// Group ids land on the partition Kafka's clients and brokers compute: Java's String.hashCode.
func TestPartitionForMatchesJavaStringHashCode(t *testing.T) {
	for _, c := range []struct {
		s    string
		hash int32
	}{
		{"", 0},
		{"a", 97},
		{"hello", 99162322},
		{"polygenelubricants", math.MinInt32}, // Kafka's Utils.abs maps it to 0
		{"😀", 0xD83D*31 + 0xDE00},             // a surrogate pair counts as two UTF-16 units
	} {
		if got := javaStringHash(c.s); got != c.hash {
			t.Errorf("hash(%q) = %d, want %d", c.s, got, c.hash)
		}
	}
	if p := PartitionFor("polygenelubricants", 50); p != 0 {
		t.Errorf("abs(MinInt32) partition %d, want 0", p)
	}
	if p := PartitionFor("hello", 50); p != 22 {
		t.Errorf("partition of hello %d, want 22", p)
	}
	for _, s := range []string{"console-consumer-12345", "x", "group-with-a-longer-name-than-usual"} {
		if p := PartitionFor(s, 50); p < 0 || p >= 50 {
			t.Errorf("partition of %q = %d", s, p)
		}
	}
}

func FuzzDecodeKey(f *testing.F) {
	f.Add(OffsetKeyBytes("g", "t", 1))
	f.Add(GroupKeyBytes("g"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := DecodeKey(b)
		if err != nil || !k.IsOffset() {
			return
		}
		enc := OffsetKeyBytes(k.Group, k.Topic, k.Partition)
		if len(b) < len(enc) || !bytes.Equal(enc[2:], b[2:len(enc)]) {
			t.Fatalf("re-encoding %x gives %x", b, enc)
		}
	})
}

func FuzzDecodeValues(f *testing.F) {
	v3, _ := OffsetValueBytes(OffsetValue{Offset: 1, Metadata: "m"}, 3)
	g3, _ := GroupValueBytes(GroupValue{ProtocolType: "consumer", Protocol: strp("r"), Leader: strp("m"),
		Members: []MemberValue{{MemberID: "m", Subscription: []byte{1}}}}, 3)
	f.Add(v3)
	f.Add(g3)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeOffsetValue(b)
		if g, v, err := DecodeGroupValue(b); err == nil {
			if _, err := GroupValueBytes(g, v); err != nil {
				t.Fatalf("decoded value does not re-encode: %v", err)
			}
		}
		_, _ = SubscribedTopics(b)
	})
}
