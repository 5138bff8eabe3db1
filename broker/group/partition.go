package group

import (
	"math"
	"unicode/utf16"
)

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units with int32
// wrap-around. Invalid UTF-8 decodes to U+FFFD per bad byte, as Kafka's UTF-8 reader replaces it.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// PartitionFor is GroupMetadataManager.partitionFor: abs(hash(groupID)) % n, where Kafka's Utils.abs maps
// Integer.MIN_VALUE to 0. Kafka clients and brokers agree on a group's coordinator only through this.
func PartitionFor(groupID string, n int32) int32 {
	h := javaStringHash(groupID)
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}
