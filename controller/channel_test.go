package controller

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

// flakyConn fails the first failures requests (the connection then counts as broken) and answers the rest;
// block makes Request wait for ctx.
type flakyConn struct {
	net   *flakyNet
	block bool
}

type flakyNet struct {
	mu       sync.Mutex
	dials    int
	failures int      // requests still to fail
	sent     []string // successful requests, by api name
	block    bool
}

func (n *flakyNet) dial(ctx context.Context, addr string) (BrokerConn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dials++
	if n.dials == 1 {
		return nil, errors.New("connection refused") // the broker is not listening yet
	}
	return &flakyConn{net: n, block: n.block}, nil
}

func (c *flakyConn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if c.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.net.failures > 0 {
		c.net.failures--
		return nil, errors.New("connection reset")
	}
	c.net.sent = append(c.net.sent, kmsg.NameForKey(req.Key()))
	return req.ResponseKind(), nil
}

func (c *flakyConn) Close() error { return nil }

func testBroker(id int32) zkregistry.BrokerInfo {
	return zkregistry.BrokerInfo{ID: id, Endpoints: []zkregistry.Endpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: 1}}}
}

// ControllerChannelManager: a broker's requests go out in order, each retried (reconnecting) until answered;
// the answers come back to the event loop in the same order.
func TestChannelRetriesUntilAnsweredInOrder(t *testing.T) {
	n := &flakyNet{failures: 2}
	c := New(Config{BrokerID: 1, InterBrokerListener: "PLAINTEXT", RetryBackoff: time.Millisecond, Dial: n.dial}, nil, testLog(t))
	defer c.Stop()
	m := newChannelManager(c, 7)
	m.add(testBroker(2))
	reqs := []kmsg.Request{kmsg.NewPtrUpdateMetadataRequest(), kmsg.NewPtrLeaderAndISRRequest(), kmsg.NewPtrStopReplicaRequest()}
	for _, r := range reqs {
		m.send(2, r)
	}
	for i, want := range reqs {
		select {
		case ev := <-c.events:
			r, ok := ev.(brokerResponse)
			if !ok || r.req != want || r.broker != 2 || r.term != 7 || r.resp.Key() != want.Key() {
				t.Fatalf("event %d: %+v", i, ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer %d", i)
		}
	}
	m.stopAll()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.dials != 4 { // refused, then one connection per failed request, then the good one
		t.Fatalf("%d dials, want 4", n.dials)
	}
	if len(n.sent) != 3 || n.sent[0] != "UpdateMetadata" || n.sent[1] != "LeaderAndISR" || n.sent[2] != "StopReplica" {
		t.Fatalf("sent %v", n.sent)
	}
}

// Removing a broker (it died) aborts a request in flight and drops the queue.
func TestChannelRemoveAbortsRequestInFlight(t *testing.T) {
	n := &flakyNet{block: true}
	c := New(Config{BrokerID: 1, InterBrokerListener: "PLAINTEXT", RetryBackoff: time.Millisecond, Dial: n.dial}, nil, testLog(t))
	defer c.Stop()
	m := newChannelManager(c, 1)
	m.add(testBroker(2))
	m.send(2, kmsg.NewPtrUpdateMetadataRequest())
	m.send(2, kmsg.NewPtrUpdateMetadataRequest())
	eventually(t, 10*time.Second, "connected", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.dials == 2
	})
	done := make(chan struct{})
	go func() {
		m.remove(2)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("remove blocked on a request in flight")
	}
	m.send(2, kmsg.NewPtrUpdateMetadataRequest()) // no channel: dropped
	if len(c.events) != 0 {
		t.Fatalf("%d events after removal", len(c.events))
	}
}

// A broker without an endpoint for the inter-broker listener gets no channel; requests to it are dropped.
func TestChannelWithoutInterBrokerEndpointDropsRequests(t *testing.T) {
	n := &flakyNet{}
	c := New(Config{BrokerID: 1, InterBrokerListener: "INTERNAL", Dial: n.dial}, nil, testLog(t))
	defer c.Stop()
	m := newChannelManager(c, 1)
	m.add(testBroker(2))
	m.send(2, kmsg.NewPtrUpdateMetadataRequest())
	m.stopAll()
	if n.dials != 0 || len(c.events) != 0 {
		t.Fatalf("dials %d events %d", n.dials, len(c.events))
	}
}
