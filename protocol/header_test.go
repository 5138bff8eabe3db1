package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// header builds the start of a request frame by hand: key, version, correlation id, then raw.
func header(key, version int16, correlationID int32, raw ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	return append(b, raw...)
}

func clientID(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// 08 §3: request header v1 for non-flexible versions, v2 (plus tagged fields, client id still classic) for
// flexible ones, v0 for ControlledShutdown v0 only.
func TestParseRequestHeaderVersions(t *testing.T) {
	cs := kmsg.NewPtrControlledShutdownRequest()
	cs.BrokerID = 3
	for _, tc := range []struct {
		name     string
		frame    []byte
		wantHV   int
		wantID   *string
		wantBody kmsg.Request
	}{
		{"Metadata v8 uses header v1", cat(header(3, 8, 7), clientID("sarama"), metadataRequest(8).AppendTo(nil)),
			1, kmsg.StringPtr("sarama"), metadataRequest(8)},
		{"Metadata v9 uses header v2 and unknown header tags are skipped",
			cat(header(3, 9, 7), clientID("c"), []byte{2, 5, 3, 'x', 'y', 'z', 9, 0}, metadataRequest(9).AppendTo(nil)),
			2, kmsg.StringPtr("c"), metadataRequest(9)},
		{"header v2 accepts a non-minimal tag count as Kafka does",
			cat(header(3, 9, 7), clientID("c"), []byte{0x80, 0x00}, metadataRequest(9).AppendTo(nil)),
			2, kmsg.StringPtr("c"), metadataRequest(9)},
		{"null client id", cat(header(3, 8, 7), []byte{0xff, 0xff}, metadataRequest(8).AppendTo(nil)),
			1, nil, metadataRequest(8)},
		{"ApiVersions v3 uses header v2", cat(header(18, 3, 7), clientID("sarama"), []byte{0}, apiVersionsRequest(3).AppendTo(nil)),
			2, kmsg.StringPtr("sarama"), apiVersionsRequest(3)},
		{"ControlledShutdown v0 uses header v0", cat(header(7, 0, 7), cs.AppendTo(nil)), 0, nil, cs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, req, err := ParseRequest(tc.frame, supported28)
			if err != nil {
				t.Fatal(err)
			}
			if hdr.CorrelationID != 7 || hdr.HeaderVersion != tc.wantHV || !equalID(hdr.ClientID, tc.wantID) {
				t.Fatalf("header %+v", hdr)
			}
			if !sameRequest(req, tc.wantBody) {
				t.Fatalf("body %+v", req)
			}
		})
	}
}

func equalID(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// 10 §8.1-8.2: unknown keys, unsupported versions and anything that fails to parse close the connection.
func TestParseRequestErrors(t *testing.T) {
	md9 := metadataRequest(9).AppendTo(nil)
	for _, tc := range []struct {
		name       string
		frame      []byte
		want       error
		headerDone bool // the whole header is returned
	}{
		{"frame shorter than a header", []byte{0, 3, 0, 9, 0, 0, 0}, ErrMalformed, false},
		{"unknown api key", header(kmsg.MaxKey+1, 0, 7, 0, 0), ErrUnknownAPIKey, false},
		{"negative api key", header(-1, 0, 7, 0, 0), ErrUnknownAPIKey, false},
		{"client id length -2", header(3, 8, 7, 0xff, 0xfe), ErrMalformed, false},
		{"client id past the end", header(3, 8, 7, 0, 10, 'a'), ErrMalformed, false},
		{"client id length cut", header(3, 8, 7, 0), ErrMalformed, false},
		{"header tags missing", cat(header(3, 9, 7), clientID("c")), ErrMalformed, false},
		{"header tag count beyond the input", cat(header(3, 9, 7), clientID("c"), []byte{3, 1, 0}), ErrMalformed, false},
		{"header tag size beyond the input", cat(header(3, 9, 7), clientID("c"), []byte{1, 1, 9, 'x'}), ErrMalformed, false},
		{"header tag count varint longer than 5 bytes", cat(header(3, 9, 7), clientID("c"), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}), ErrMalformed, false},
		{"header tag count above 32 bits", cat(header(3, 9, 7), clientID("c"), []byte{0xff, 0xff, 0xff, 0xff, 0x1f}), ErrMalformed, false},
		{"version the broker does not serve", cat(header(0, 10, 7), clientID("c"), []byte{0}, produceRequest(10, 10).AppendTo(nil)), ErrUnsupportedVersion, true},
		{"version beyond the 2.8 range", cat(header(3, 12, 7), clientID("c"), []byte{0}, md9), ErrUnsupportedVersion, true},
		{"negative version", cat(header(3, -1, 7), clientID("c"), md9), ErrUnsupportedVersion, true},
		{"KRaft-only api", cat(header(52, 0, 7), clientID("c"), []byte{0}), ErrUnsupportedVersion, true},
		{"trailing byte after the body", cat(header(3, 9, 7), clientID("c"), []byte{0}, md9, []byte{0}), ErrMalformed, true},
		{"truncated body", cat(header(3, 9, 7), clientID("c"), []byte{0}, md9[:len(md9)-1]), ErrMalformed, true},
		{"produce trailing byte", cat(header(0, 9, 7), clientID("c"), []byte{0}, produceRequest(9, 10).AppendTo(nil), []byte{0}), ErrMalformed, true},
		{"produce null topics array", cat(header(0, 8, 7), clientID("c"), []byte{0xff, 0xff, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}), ErrMalformed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, req, err := ParseRequest(tc.frame, supported28)
			if !errors.Is(err, tc.want) || req != nil {
				t.Fatalf("err %v, req %v; want %v", err, req, tc.want)
			}
			if len(tc.frame) >= MinRequestSize && hdr.CorrelationID != 7 {
				t.Fatalf("correlation id %d", hdr.CorrelationID)
			}
			if tc.headerDone && (hdr.ClientID == nil || *hdr.ClientID != "c") {
				t.Fatalf("header not complete: %+v", hdr)
			}
		})
	}
}

// KIP-511 (10 §8.1): an ApiVersions request at a version the broker does not know is answered, so the
// header must come back complete even though the body is not parsed.
func TestParseRequestApiVersionsUnsupportedVersionKeepsHeader(t *testing.T) {
	v4 := kmsg.NewPtrApiVersionsRequest()
	v4.Version = 4
	v4.ClientSoftwareName, v4.ClientSoftwareVersion = "newclient", "9.0"
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"v4 (known to kmsg, not to 2.8)", cat(header(18, 4, 99), clientID("newclient"), []byte{0}, v4.AppendTo(nil))},
		{"v300 with a body nobody can parse", cat(header(18, 300, 99), clientID("newclient"), []byte{0}, []byte("future"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, req, err := ParseRequest(tc.frame, supported28)
			if !errors.Is(err, ErrUnsupportedVersion) || req != nil {
				t.Fatalf("err %v req %v", err, req)
			}
			if hdr.APIKey != 18 || hdr.CorrelationID != 99 || hdr.HeaderVersion != 2 || !equalID(hdr.ClientID, kmsg.StringPtr("newclient")) {
				t.Fatalf("header %+v", hdr)
			}
		})
	}
}

// Every seed request, kmsg-built at Sarama's and the controller's versions or captured from Sarama, parses
// to a request that encodes back to the same body; any byte added or removed at the end is malformed.
func TestParseRequestSeedsRoundTrip(t *testing.T) {
	for _, frame := range allSeedFrames(t) {
		hdr, req, err := ParseRequest(frame, supported28)
		if err != nil {
			t.Fatalf("%s: %v", describe(frame), err)
		}
		if again := AppendRequest(nil, hdr, req)[4:]; !bytes.Equal(again, frame) {
			t.Fatalf("%s: re-encoded frame differs", describe(frame))
		}
		for _, bad := range [][]byte{append(frame[:len(frame):len(frame)], 0), frame[:len(frame)-1]} {
			if _, _, err := ParseRequest(bad, supported28); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s with %d bytes instead of %d: %v", describe(frame), len(bad), len(frame), err)
			}
		}
	}
}

func describe(frame []byte) string {
	return fmt.Sprintf("%s v%d", kmsg.NameForKey(int16(binary.BigEndian.Uint16(frame))), int16(binary.BigEndian.Uint16(frame[2:])))
}

type panickyRequest struct{ *kmsg.MetadataRequest }

func (panickyRequest) ReadFrom([]byte) error { panic("decoder bug") }

// A panic inside the decoder must close one connection, not the broker.
func TestDecodeBodyRecoversPanic(t *testing.T) {
	err := decodeBody(panickyRequest{kmsg.NewPtrMetadataRequest()}, []byte{0})
	if err == nil || !strings.Contains(err.Error(), "decoder bug") {
		t.Fatalf("err %v", err)
	}
}

func TestAppendRequestHeaderMatchesKmsgFormatter(t *testing.T) {
	for _, req := range seedRequests() {
		hdr := RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 5, ClientID: kmsg.StringPtr("sarama")}
		ours := AppendRequest(nil, hdr, req)
		theirs := kmsg.NewRequestFormatter(kmsg.FormatterClientID("sarama")).AppendRequest(nil, req, 5)
		if !bytes.Equal(ours, theirs) {
			t.Fatalf("%s v%d: differs from kmsg's formatter", kmsg.NameForKey(req.Key()), req.GetVersion())
		}
	}
}
