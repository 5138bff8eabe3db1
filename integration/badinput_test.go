//go:build integration

package integration

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// Kafka's SocketServer and RequestContext: a frame whose size is negative or above socket.request.max.bytes
// is refused before anything is allocated, and a frame that does not parse as a request (unknown API key,
// garbage) is an InvalidRequestException; either way that connection is closed without an answer. The broker
// stays healthy for everyone else.
func TestGarbageFramesCloseOnlyThatConnection(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	const topic = "after-garbage"
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1})

	// A well-sized frame of random bytes; redrawn (fixed seed) until its API key is none that exists, so
	// the case is deterministic and does not depend on how a random valid key's body fails.
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64)
	for {
		for i := range random {
			random[i] = byte(rng.UintN(256))
		}
		if k := int16(binary.BigEndian.Uint16(random)); k < 0 || k > 100 {
			break
		}
	}
	// A request header v1 with API key 9999 (none exists), version 0, correlation id 1, client id "x".
	unknownKey := []byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0, 1, 'x'}

	cases := []struct {
		name  string
		bytes []byte
	}{
		{"random bytes", frame(random)},
		{"size 2^31-1", binary.BigEndian.AppendUint32(nil, 1<<31-1)},
		{"negative size", binary.BigEndian.AppendUint32(nil, 0xffffffff)},
		{"zero size", binary.BigEndian.AppendUint32(nil, 0)},
		{"unknown api key", frame(unknownKey)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", c.Addr(1), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The broker may close as soon as it has read the size, so a failing write is fine.
			_, _ = conn.Write(tc.bytes)
			expectClosed(t, conn)
		})
	}

	// A fresh client still gets metadata, produces and consumes.
	md, err := c.MetadataFrom(c.Addr(1), nil)
	if err != nil {
		t.Fatalf("metadata after garbage: %v", err)
	}
	if len(md.Brokers) != 1 {
		t.Fatalf("metadata after garbage lists %d brokers", len(md.Brokers))
	}
	if _, _, err := sendToPartition(c, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder("still-here")}); err != nil {
		t.Fatalf("produce after garbage: %v", err)
	}
	if got := consumePartition(t, c, topic, 0, 1); string(got[0].Value) != "still-here" {
		t.Fatalf("read %q", got[0].Value)
	}
}

// KIP-511: an ApiVersions request at a version the broker does not know is answered, not dropped: error
// UNSUPPORTED_VERSION in the v0 layout (so any client can read it) with the ApiVersions range, and the
// connection stays usable for the client's retry at a version it supports.
func TestApiVersionsUnsupportedVersionAnswersInV0Layout(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 1})
	conn, err := net.DialTimeout("tcp", c.Addr(1), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// ApiVersions v4 (newer than any 2.8 broker knows): flexible header v2 and a v3-shaped body, as a
	// newer client would send it.
	req := []byte{0, 18, 0, 4}                  // api key 18, version 4
	req = binary.BigEndian.AppendUint32(req, 7) // correlation id
	req = append(req, 0, 8)                     // client id length
	req = append(req, "samsa-it"...)            // client id
	req = append(req, 0)                        // header tagged fields
	req = append(req, 9)                        // compact string: length 8 + 1
	req = append(req, "samsa-it"...)            // client_software_name
	req = append(req, 4, '0', '.', '1', 0)      // client_software_version "0.1", tagged fields
	body := roundTrip(t, conn, frame(req))

	corr, errCode, keys := parseAPIVersionsV0(t, body)
	if corr != 7 {
		t.Errorf("correlation id %d, want 7", corr)
	}
	if errCode != 35 {
		t.Fatalf("error code %d, want 35 (UNSUPPORTED_VERSION)", errCode)
	}
	if r, ok := keys[18]; !ok || r[0] != 0 || r[1] < 3 {
		t.Errorf("answer lists ApiVersions as %v (present %v), want 0..3 or more", r, ok)
	}

	// The same connection answers a supported version normally (v0: header v1, empty body).
	req = []byte{0, 18, 0, 0}
	req = binary.BigEndian.AppendUint32(req, 8)
	req = append(req, 0, 8)
	req = append(req, "samsa-it"...)
	corr, errCode, keys = parseAPIVersionsV0(t, roundTrip(t, conn, frame(req)))
	if corr != 8 || errCode != 0 {
		t.Fatalf("ApiVersions v0 after the unsupported one: correlation %d error %d", corr, errCode)
	}
	for _, k := range []int16{0, 1, 2, 3, 18, 19, 20, 37} { // produce, fetch, list offsets, metadata, ..., create partitions
		if _, ok := keys[k]; !ok {
			t.Errorf("ApiVersions does not advertise API key %d", k)
		}
	}
}

// parseAPIVersionsV0 reads a response in ApiVersions v0's exact layout (header v0): correlation id, error
// code, and an array of (key, min, max) with nothing after it.
func parseAPIVersionsV0(t *testing.T, b []byte) (corr int32, errCode int16, keys map[int16][2]int16) {
	t.Helper()
	if len(b) < 10 {
		t.Fatalf("response of %d bytes", len(b))
	}
	corr = int32(binary.BigEndian.Uint32(b))
	errCode = int16(binary.BigEndian.Uint16(b[4:]))
	n := int(int32(binary.BigEndian.Uint32(b[6:])))
	if n < 0 || len(b) != 10+6*n {
		t.Fatalf("response of %d bytes with %d api keys: not the v0 layout (want %d bytes)", len(b), n, 10+6*n)
	}
	keys = map[int16][2]int16{}
	for i := 0; i < n; i++ {
		e := b[10+6*i:]
		keys[int16(binary.BigEndian.Uint16(e))] = [2]int16{int16(binary.BigEndian.Uint16(e[2:])), int16(binary.BigEndian.Uint16(e[4:]))}
	}
	return corr, errCode, keys
}

// frame prefixes b with its size.
func frame(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// roundTrip writes one frame and reads one size-prefixed response body.
func roundTrip(t *testing.T, conn net.Conn, req []byte) []byte {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		t.Fatalf("read response size: %v", err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > 1<<20 {
		t.Fatalf("response size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return body
}

// expectClosed waits up to 10 s for the broker to close conn without sending anything.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	switch {
	case n > 0:
		t.Fatalf("broker answered %d bytes (%x) instead of closing", n, buf[:n])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatal("connection still open after 10s")
	case err == nil:
		t.Fatal("empty read without error")
	}
	// io.EOF or a reset: closed, as wanted.
}
