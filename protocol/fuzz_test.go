package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fuzz targets 1-3 of the reliability plan (10 §8.3). Seeds: kmsg-built requests at Sarama V2_8_0_0's and
// the controller's versions, frames captured from a real Sarama client (testdata/sarama), and edge cases.

// FuzzFrameReader: frames read from arbitrary bytes with a 1 MiB limit are never longer than the input and
// never hold more than the input plus 64 KiB.
func FuzzFrameReader(f *testing.F) {
	var stream []byte
	for _, frame := range allSeedFrames(f) {
		one := sized(int32(len(frame)), frame)
		f.Add(one)
		stream = append(stream, one...)
	}
	f.Add(stream)
	f.Add(sized(-1, nil))
	f.Add(sized(7, make([]byte, 7)))
	f.Add(sized(1<<20, make([]byte, 100)))
	f.Add(sized(1<<20+1, nil))
	f.Add(sized(0x7fffffff, make([]byte, 10)))
	f.Add(sized(100<<10, make([]byte, 70<<10)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		off := 0
		for {
			frame, err := ReadFrame(r, 1<<20, buf)
			if err != nil {
				if frame != nil {
					t.Fatal("frame returned with an error")
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrInvalidFrame) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(frame) > len(data) || cap(frame) > len(data)+chunkSize {
				t.Fatalf("frame len %d cap %d from %d bytes", len(frame), cap(frame), len(data))
			}
			off += 4
			if !bytes.Equal(frame, data[off:off+len(frame)]) {
				t.Fatal("frame content differs from the input")
			}
			off += len(frame)
			buf = frame
		}
	})
}

// FuzzRequestHeader: key, version, then the rest of the frame (correlation id onwards). If the header
// parses, encoding it again gives the same bytes (when it carried no tagged fields, which are dropped), and
// a frame re-encoded from what was parsed parses to the same header and request.
func FuzzRequestHeader(f *testing.F) {
	for _, frame := range allSeedFrames(f) {
		f.Add(int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:])), frame[4:])
	}
	f.Add(int16(3), int16(9), cat([]byte{0, 0, 0, 1}, clientID("c"), []byte{1, 7, 2, 'h', 'i'}, metadataRequest(9).AppendTo(nil)))
	f.Add(int16(18), int16(4), cat([]byte{0, 0, 0, 1}, clientID("c"), []byte{0}))
	f.Add(int16(7), int16(0), []byte{0, 0, 0, 1, 0, 0, 0, 2})
	f.Add(int16(3), int16(8), []byte{0, 0, 0, 1, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, apiKey, version int16, rest []byte) {
		frame := binary.BigEndian.AppendUint16(nil, uint16(apiKey))
		frame = binary.BigEndian.AppendUint16(frame, uint16(version))
		frame = append(frame, rest...)
		hdr, req, err := ParseRequest(frame, nil)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownAPIKey) &&
			!errors.Is(err, ErrUnsupportedVersion) {
			t.Fatalf("unexpected error %v", err)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedVersion) {
			return
		}
		if hdr.APIKey != apiKey || hdr.APIVersion != version ||
			(len(frame) >= MinRequestSize && hdr.CorrelationID != int32(binary.BigEndian.Uint32(frame[4:]))) {
			t.Fatalf("header %+v from % x", hdr, frame[:8])
		}
		enc := AppendRequestHeader(nil, hdr)
		tagsAt := len(enc) - 1
		if hdr.HeaderVersion < 2 || frame[tagsAt] == 0 {
			if !bytes.HasPrefix(frame, enc) {
				t.Fatalf("header re-encodes to % x, input % x", enc, frame[:len(enc)])
			}
		}
		if req == nil {
			return
		}
		frame2 := append(enc, req.AppendTo(nil)...)
		hdr2, req2, err := ParseRequest(frame2, nil)
		if err != nil {
			t.Fatalf("re-encoded frame: %v", err)
		}
		if hdr2.APIKey != hdr.APIKey || hdr2.APIVersion != hdr.APIVersion || hdr2.CorrelationID != hdr.CorrelationID ||
			hdr2.HeaderVersion != hdr.HeaderVersion || !equalID(hdr2.ClientID, hdr.ClientID) || !sameRequest(req, req2) {
			t.Fatalf("re-parse differs: %+v vs %+v", hdr2, hdr)
		}
	})
}

// pairFor maps fuzzer integers onto a (key, version) pair Kafka 2.8 serves: used as they are when they are
// one, otherwise folded into the table so no input is wasted.
func pairFor(apiKey, version int16) (int16, int16) {
	if supported28(apiKey, version) {
		return apiKey, version
	}
	r := kafka28Ranges[int(uint16(apiKey))%len(kafka28Ranges)]
	return r.Key, r.Min + int16(int(uint16(version))%int(r.Max-r.Min+1))
}

// FuzzDecodeRequest: for every pair Kafka 2.8 serves, decoding never panics (ParseRequest recovers, but a
// panic here would show as ErrMalformed with "decoder panic", which is checked), and decode -> encode ->
// decode is a fixed point.
func FuzzDecodeRequest(f *testing.F) {
	for _, frame := range allSeedFrames(f) {
		hdr, req, err := ParseRequest(frame, supported28)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(hdr.APIKey, hdr.APIVersion, req.AppendTo(nil))
	}
	f.Fuzz(func(t *testing.T, apiKey, version int16, body []byte) {
		key, v := pairFor(apiKey, version)
		hdr := RequestHeader{APIKey: key, APIVersion: v, CorrelationID: 1, ClientID: kmsg.StringPtr("fuzz")}
		probe := kmsg.RequestForKey(key)
		probe.SetVersion(v)
		hdr.HeaderVersion = requestHeaderVersion(key, v, probe.IsFlexible())
		frame := append(AppendRequestHeader(nil, hdr), body...)
		_, req, err := ParseRequest(frame, supported28)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if bytes.Contains([]byte(err.Error()), []byte("decoder panic")) {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			return
		}
		enc1 := req.AppendTo(nil)
		_, req2, err := ParseRequest(append(AppendRequestHeader(nil, hdr), enc1...), supported28)
		if err != nil {
			t.Fatalf("%s v%d: re-encoded body does not parse: %v", kmsg.NameForKey(key), v, err)
		}
		if enc2 := req2.AppendTo(nil); !bytes.Equal(enc1, enc2) {
			t.Fatalf("%s v%d: not a fixed point", kmsg.NameForKey(key), v)
		}
	})
}
