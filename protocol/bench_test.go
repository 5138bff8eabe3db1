package protocol

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func BenchmarkParseProduceRequest(b *testing.B) {
	ok := SupportedFunc([]APIRange{{0, 3, 9}})
	for _, payload := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", payload>>10), func(b *testing.B) {
			frame := seedFrame(produceRequest(9, payload), 1)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ParseRequest(frame, ok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseFetchRequest covers the generic path: kmsg decode plus the trailing-bytes decode.
func BenchmarkParseFetchRequest(b *testing.B) {
	frame := seedFrame(fetchRequest(12), 1)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(frame, supported28); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			in := sized(int32(size), recordsOf(size))
			r := bytes.NewReader(in)
			buf := make([]byte, 0, size)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(in)
				frame, err := ReadFrame(r, 100<<20, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = frame
			}
		})
	}
	// A frame larger than the connection's buffer: staged through chunks, then copied once.
	b.Run("1MiB-unbuffered", func(b *testing.B) {
		in := sized(1<<20, recordsOf(1<<20))
		r := bytes.NewReader(in)
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(in)
			if _, err := ReadFrame(r, 100<<20, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendResponse(b *testing.B) {
	resp := kmsg.NewPtrMetadataResponse()
	for i := range 10 {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr(fmt.Sprintf("topic-%d", i))
		for p := range 8 {
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition, mp.Replicas, mp.ISR = int32(p), []int32{1, 2, 3}, []int32{1, 2, 3}
			t.Partitions = append(t.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, t)
	}
	hdr := RequestHeader{APIKey: 3, APIVersion: 11, CorrelationID: 1}
	buf := AppendResponse(nil, hdr, resp)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendResponse(buf[:0], hdr, resp)
	}
}
