package protocol

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeServer is an in-process broker for Client tests: it reads frames with ReadFrame, parses them with
// ParseRequest and lets the test answer each request with raw bytes (nil: no answer).
type fakeServer struct {
	ln     net.Listener
	answer func(hdr RequestHeader, req kmsg.Request) []byte
	wg     sync.WaitGroup
	// closeAfterAnswer: close the connection after each answer (partial frames end in EOF).
	closeAfterAnswer atomic.Bool

	mu   sync.Mutex
	hdrs []RequestHeader // guarded by mu
}

func startFakeServer(t *testing.T, answer func(hdr RequestHeader, req kmsg.Request) []byte) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, answer: answer}
	var conns []net.Conn
	var connsMu sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	for {
		frame, err := ReadFrame(c, 1<<20, buf)
		if err != nil {
			return
		}
		hdr, req, err := ParseRequest(frame, nil)
		if err != nil && !(errors.Is(err, ErrUnsupportedVersion) && hdr.APIKey == apiVersionsKey) {
			return
		}
		s.mu.Lock()
		s.hdrs = append(s.hdrs, hdr)
		s.mu.Unlock()
		if out := s.answer(hdr, req); out != nil {
			if _, err := c.Write(out); err != nil || s.closeAfterAnswer.Load() {
				return
			}
		}
		buf = frame
	}
}

func (s *fakeServer) headers() []RequestHeader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestHeader(nil), s.hdrs...)
}

// echoOK answers every request with its response kind, error codes zero, through AppendResponse.
func echoOK(hdr RequestHeader, req kmsg.Request) []byte {
	resp := req.ResponseKind()
	if r, ok := resp.(*kmsg.LeaderAndISRResponse); ok {
		lr := req.(*kmsg.LeaderAndISRRequest)
		for _, ts := range lr.TopicStates {
			rt := kmsg.LeaderAndISRResponseTopic{TopicID: ts.TopicID}
			for _, p := range ts.PartitionStates {
				rt.Partitions = append(rt.Partitions, kmsg.LeaderAndISRResponseTopicPartition{Partition: p.Partition})
			}
			r.Topics = append(r.Topics, rt)
		}
	}
	return AppendResponse(nil, hdr, resp)
}

func dialFake(t *testing.T, s *fakeServer) *Client {
	t.Helper()
	c, err := Dial(context.Background(), s.ln.Addr().String(), "controller-1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// The controller's three requests at IBP 2.8-IV1 versions (flexible: request header v2, response header v1),
// older non-flexible versions (header v1 / v0), and ApiVersions, whose response header is always v0.
func TestClientRequestHeaderVersions(t *testing.T) {
	s := startFakeServer(t, echoOK)
	c := dialFake(t, s)
	topicID := [16]byte{1, 2, 3}
	for _, tc := range []struct {
		name       string
		req        kmsg.Request
		wantHeader int
	}{
		{"LeaderAndIsr v5", &kmsg.LeaderAndISRRequest{Version: 5, ControllerID: 1, ControllerEpoch: 3, BrokerEpoch: 42,
			TopicStates: []kmsg.LeaderAndISRRequestTopicState{{Topic: "t", TopicID: topicID,
				PartitionStates: []kmsg.LeaderAndISRRequestTopicPartition{{Partition: 0, Leader: 1, ISR: []int32{1}}}}}}, 2},
		{"UpdateMetadata v7", &kmsg.UpdateMetadataRequest{Version: 7, ControllerID: 1, ControllerEpoch: 3}, 2},
		{"StopReplica v3", &kmsg.StopReplicaRequest{Version: 3, ControllerID: 1}, 2},
		{"UpdateMetadata v5 (6-byte response)", &kmsg.UpdateMetadataRequest{Version: 5}, 1},
		{"LeaderAndIsr v1", &kmsg.LeaderAndISRRequest{Version: 1}, 1},
		{"ControlledShutdown v0", &kmsg.ControlledShutdownRequest{Version: 0, BrokerID: 2}, 0},
		{"ApiVersions v3", &kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "samsa", ClientSoftwareVersion: "1"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(s.headers())
			resp, err := c.Request(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Key() != tc.req.Key() || resp.GetVersion() != tc.req.GetVersion() {
				t.Fatalf("response key %d v%d", resp.Key(), resp.GetVersion())
			}
			h := s.headers()[n]
			if h.HeaderVersion != tc.wantHeader || h.APIVersion != tc.req.GetVersion() {
				t.Fatalf("header v%d api v%d, want header v%d", h.HeaderVersion, h.APIVersion, tc.wantHeader)
			}
			if tc.wantHeader > 0 && (h.ClientID == nil || *h.ClientID != "controller-1") {
				t.Fatalf("client id %v", h.ClientID)
			}
			if lr, ok := resp.(*kmsg.LeaderAndISRResponse); ok && tc.req.GetVersion() == 5 {
				if len(lr.Topics) != 1 || lr.Topics[0].TopicID != topicID || len(lr.Topics[0].Partitions) != 1 {
					t.Fatalf("LeaderAndIsr response %+v", lr)
				}
			}
		})
	}
}

// Correlation ids start at 0 and increase by one per request on a connection.
func TestClientCorrelationIDsIncrease(t *testing.T) {
	s := startFakeServer(t, echoOK)
	c := dialFake(t, s)
	for i := 0; i < 3; i++ {
		if _, err := c.Request(context.Background(), &kmsg.UpdateMetadataRequest{Version: 7}); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range s.headers() {
		if h.CorrelationID != int32(i) {
			t.Fatalf("request %d has correlation id %d", i, h.CorrelationID)
		}
	}
}

// KIP-511: a broker that does not support the ApiVersions version asked answers UNSUPPORTED_VERSION in the
// v0 layout; the client reads it as v0 (Kafka's ApiVersionsResponse.parse fallback).
func TestClientAPIVersionsUnsupportedFallsBackToV0(t *testing.T) {
	s := startFakeServer(t, func(hdr RequestHeader, req kmsg.Request) []byte {
		return AppendUnsupportedVersionAPIVersions(nil, hdr, []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MaxVersion: 3}})
	})
	c := dialFake(t, s)
	resp, err := c.Request(context.Background(), &kmsg.ApiVersionsRequest{Version: 3})
	if err != nil {
		t.Fatal(err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.Version != 0 || av.ErrorCode != unsupportedVersion || len(av.ApiKeys) != 1 || av.ApiKeys[0].MaxVersion != 3 {
		t.Fatalf("got %+v", av)
	}
}

// A response for another request (wrong correlation id) or a truncated body means the stream can no longer be
// trusted: the request fails and the connection is closed for good.
func TestClientBadResponseBreaksConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(hdr RequestHeader, req kmsg.Request) []byte
		want   error
	}{
		{"wrong correlation id", func(hdr RequestHeader, req kmsg.Request) []byte {
			hdr.CorrelationID += 7
			return echoOK(hdr, req)
		}, ErrBadResponse},
		{"body too short", func(hdr RequestHeader, req kmsg.Request) []byte {
			out := binary.BigEndian.AppendUint32(nil, 5)
			out = binary.BigEndian.AppendUint32(out, uint32(hdr.CorrelationID))
			return append(out, 0) // v5 StopReplica: error code needs two bytes
		}, ErrBadResponse},
		{"frame shorter than a correlation id", func(hdr RequestHeader, req kmsg.Request) []byte {
			return []byte{0, 0, 0, 2, 0, 0}
		}, ErrInvalidFrame},
		{"frame over the limit", func(hdr RequestHeader, req kmsg.Request) []byte {
			return binary.BigEndian.AppendUint32(nil, DefaultMaxResponseSize+1)
		}, ErrFrameTooLarge},
		{"connection closed mid-frame", func(hdr RequestHeader, req kmsg.Request) []byte {
			return []byte{0, 0, 0, 100, 0}
		}, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFakeServer(t, tc.answer)
			s.closeAfterAnswer.Store(true)
			c := dialFake(t, s)
			_, err := c.Request(context.Background(), &kmsg.StopReplicaRequest{Version: 1})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, err := c.Request(context.Background(), &kmsg.StopReplicaRequest{Version: 1}); !errors.Is(err, ErrClientClosed) {
				t.Fatalf("second request: %v, want ErrClientClosed", err)
			}
		})
	}
}

// A broker that never answers: cancelling ctx (or its deadline) unblocks the request at once.
func TestClientContextCancelUnblocksRequest(t *testing.T) {
	s := startFakeServer(t, func(RequestHeader, kmsg.Request) []byte { return nil })
	c := dialFake(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, &kmsg.UpdateMetadataRequest{Version: 7})
		errc <- err
	}()
	eventually(t, 5*time.Second, func() bool { return len(s.headers()) == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still blocked after cancel")
	}

	c2 := dialFake(t, s)
	start := time.Now()
	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	if _, err := c2.Request(dctx, &kmsg.UpdateMetadataRequest{Version: 7}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("deadline honoured after %v", el)
	}
}

// The client timeout bounds a request when ctx has no deadline (request.timeout.ms).
func TestClientTimeoutWithoutContextDeadline(t *testing.T) {
	s := startFakeServer(t, func(RequestHeader, kmsg.Request) []byte { return nil })
	c, err := Dial(context.Background(), s.ln.Addr().String(), "x", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ne net.Error
	if _, err := c.Request(context.Background(), &kmsg.UpdateMetadataRequest{Version: 7}); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a timeout", err)
	}
}

// Concurrent callers are serialised: every response matches its request.
func TestClientConcurrentRequestsSerialised(t *testing.T) {
	s := startFakeServer(t, echoOK)
	c := dialFake(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := kmsg.Request(&kmsg.UpdateMetadataRequest{Version: 7})
			if i%2 == 1 {
				req = &kmsg.StopReplicaRequest{Version: 3}
			}
			resp, err := c.Request(context.Background(), req)
			if err == nil && resp.Key() != req.Key() {
				err = errors.New("response of another request")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Close does not wait behind a request in flight: the request fails with ErrClientClosed at once.
func TestClientCloseInterruptsRequestInFlight(t *testing.T) {
	s := startFakeServer(t, func(RequestHeader, kmsg.Request) []byte { return nil })
	c := dialFake(t, s)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), &kmsg.UpdateMetadataRequest{Version: 7})
		errc <- err
	}()
	eventually(t, 5*time.Second, func() bool { return len(s.headers()) == 1 })
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClientClosed) {
			t.Fatalf("got %v, want ErrClientClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request still blocked after Close")
	}
}

func TestClientCloseThenRequest(t *testing.T) {
	s := startFakeServer(t, echoOK)
	c := dialFake(t, s)
	c.Close()
	c.Close()
	if _, err := c.Request(context.Background(), &kmsg.UpdateMetadataRequest{Version: 7}); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("got %v", err)
	}
}

func TestClientDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, "x", time.Second); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
