package protocol

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkFrame checks a response frame's size and correlation id and returns what follows them.
func checkFrame(t *testing.T, frame []byte, correlationID int32) []byte {
	t.Helper()
	if int(binary.BigEndian.Uint32(frame)) != len(frame)-4 {
		t.Fatalf("size %d for %d bytes", binary.BigEndian.Uint32(frame), len(frame)-4)
	}
	if got := int32(binary.BigEndian.Uint32(frame[4:])); got != correlationID {
		t.Fatalf("correlation id %d, want %d", got, correlationID)
	}
	return frame[8:]
}

// 08 §3: response header v1 (tagged fields) for flexible versions, v0 otherwise, and v0 for ApiVersions
// whatever the version, since the client cannot know the broker's version before the answer.
func TestAppendResponseHeaderVersions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     int16
		version int16
		tagByte bool
	}{
		{"ApiVersions v3 is flexible but uses header v0", 18, 3, false},
		{"ApiVersions v0", 18, 0, false},
		{"Metadata v9 uses header v1", 3, 9, true},
		{"Metadata v8 uses header v0", 3, 8, false},
		{"Fetch v12 uses header v1", 1, 12, true},
		{"Produce v8 uses header v0", 0, 8, false},
		{"Produce v9 uses header v1", 0, 9, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := RequestHeader{APIKey: tc.key, APIVersion: tc.version, CorrelationID: 41}
			resp := kmsg.ResponseForKey(tc.key)
			prefix := []byte("previous response")
			frame := AppendResponse(prefix, hdr, resp)
			if !bytes.HasPrefix(frame, prefix) {
				t.Fatal("dst clobbered")
			}
			rest := checkFrame(t, frame[len(prefix):], 41)
			if resp.GetVersion() != tc.version {
				t.Fatalf("response version %d", resp.GetVersion())
			}
			if tc.tagByte {
				if rest[0] != 0 {
					t.Fatalf("tag byte %#x", rest[0])
				}
				rest = rest[1:]
			}
			if !bytes.Equal(rest, resp.AppendTo(nil)) {
				t.Fatal("body differs")
			}
			again := kmsg.ResponseForKey(tc.key)
			again.SetVersion(tc.version)
			if err := again.ReadFrom(rest); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// KIP-511: the answer to an unknown ApiVersions version is a v0 body with UNSUPPORTED_VERSION (35) and, in
// Kafka 2.8, ApiVersions' own range only.
func TestAppendUnsupportedVersionAPIVersionsIsV0Layout(t *testing.T) {
	hdr := RequestHeader{APIKey: 18, APIVersion: 4, CorrelationID: 99, HeaderVersion: 2}
	frame := AppendUnsupportedVersionAPIVersions(nil, hdr, APIVersionsKeys([]APIRange{{18, 0, 3}}))
	body := checkFrame(t, frame, 99)
	want := []byte{0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3}
	if !bytes.Equal(body, want) {
		t.Fatalf("body % x, want % x", body, want)
	}
}

// A Fetch response whose records are sent from log files: header and body in memory, SetSize counting the
// file bytes that follow.
func TestBeginResponseWithFileBytes(t *testing.T) {
	hdr := RequestHeader{APIKey: 1, APIVersion: 12, CorrelationID: 3}
	frame := BeginResponse(nil, hdr)
	frame = append(frame, "body"...)
	SetSize(frame, 4096)
	if got := binary.BigEndian.Uint32(frame); got != 4+1+4+4096 {
		t.Fatalf("size %d", got)
	}
	if frame[8] != 0 {
		t.Fatal("no response header tags for Fetch v12")
	}
}

func TestResponseFlexibleMatchesKmsg(t *testing.T) {
	for key := int16(-1); key <= kmsg.MaxKey+1; key++ {
		resp := kmsg.ResponseForKey(key)
		for v := int16(-1); v <= 20; v++ {
			want := false
			if resp != nil {
				resp.SetVersion(v)
				want = v >= 0 && resp.IsFlexible()
			}
			if got := responseFlexible(key, v); got != want {
				t.Fatalf("key %d v%d: %v, kmsg says %v", key, v, got, want)
			}
		}
	}
}
