package group

import (
	"fmt"
	"testing"
)

func BenchmarkDecodeGroupValue(b *testing.B) {
	v := GroupValue{ProtocolType: "consumer", Generation: 7, Protocol: strp("range"), Leader: strp("m-0"), CurrentStateTimestamp: 1}
	for i := range 10 {
		v.Members = append(v.Members, MemberValue{MemberID: fmt.Sprintf("m-%d", i), ClientID: "client", ClientHost: "/10.0.0.1",
			RebalanceTimeout: 60000, SessionTimeout: 10000, Subscription: make([]byte, 40), Assignment: make([]byte, 60)})
	}
	buf, err := GroupValueBytes(v, 3)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeGroupValue(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitOffsets is one OffsetCommit of 12 partitions through the coordinator: the group's
// goroutine, the batch build and the append to a real log.
func BenchmarkCommitOffsets(b *testing.B) {
	h := newHarness(b)
	offsets := map[TopicPartition]int64{}
	for p := range int32(12) {
		offsets[tp("topic", p)] = 0
	}
	parts := commitParts(offsets)
	b.ReportAllocs()
	for b.Loop() {
		for i := range parts {
			parts[i].Offset++
		}
		if codes := h.c.CommitOffsets(h.ctx, testGroup, "", nil, -1, parts); codes[0] != 0 {
			b.Fatal(errName(codes[0]))
		}
	}
}
