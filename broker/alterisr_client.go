package broker

// The broker's AlterIsr channel to the active controller (KIP-497; Kafka 2.8's BrokerToControllerChannelManager
// as used by DefaultAlterIsrManager). The replica manager decides what to send and retries; this only
// finds the controller and carries one request at a time.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
	"github.com/samsa-broker/samsa/protocol"
)

// errNoController: the metadata cache names no live controller (yet), or no endpoint on the inter-broker
// listener for it. The replica manager retries after a backoff.
var errNoController = errors.New("broker: no active controller known")

// alterISRClient sends AlterIsr to the controller the metadata cache names, on its inter-broker listener.
// The connection is kept between requests and dropped on any failure, on NOT_CONTROLLER, and when the cache
// names another controller or endpoint.
type alterISRClient struct {
	brokerID int32
	listener string                    // inter-broker listener name
	snapshot func() *metadata.Snapshot // the metadata cache
	timeout  time.Duration             // controller.socket.timeout.ms: connect and request
	dial     func(ctx context.Context, addr string) (*protocol.Client, error)

	mu     sync.Mutex // one request at a time (the replica manager never sends two anyway)
	conn   *protocol.Client
	connTo string // "<controller id>@<addr>" of conn
}

func newAlterISRClient(brokerID int32, listener string, snapshot func() *metadata.Snapshot, timeout time.Duration) *alterISRClient {
	c := &alterISRClient{brokerID: brokerID, listener: listener, snapshot: snapshot, timeout: timeout}
	c.dial = func(ctx context.Context, addr string) (*protocol.Client, error) {
		return protocol.Dial(ctx, addr, fmt.Sprintf("broker-%d-alter-isr", brokerID), timeout)
	}
	return c
}

// controllerAddr resolves the active controller's inter-broker endpoint.
func (c *alterISRClient) controllerAddr() (id int32, addr string, err error) {
	snap := c.snapshot()
	id = snap.ControllerID
	if id < 0 {
		return id, "", errNoController
	}
	b, ok := snap.Broker(id)
	if !ok {
		return id, "", fmt.Errorf("%w: controller %d is not a live broker in the metadata cache", errNoController, id)
	}
	ep, ok := b.Endpoint(c.listener)
	if !ok {
		return id, "", fmt.Errorf("%w: controller %d has no %s endpoint", errNoController, id, c.listener)
	}
	return id, net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), nil
}

// send is replica.Config.AlterISR: one AlterIsr exchange with the active controller. A NOT_CONTROLLER answer
// is returned as is (the replica manager retries) after dropping the connection.
func (c *alterISRClient) send(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	id, addr, err := c.controllerAddr()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	target := fmt.Sprintf("%d@%s", id, addr)
	if c.conn != nil && c.connTo != target {
		_ = c.conn.Close()
		c.conn = nil
	}
	if c.conn == nil {
		dctx, cancel := context.WithTimeout(ctx, c.timeout)
		conn, err := c.dial(dctx, addr)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("connect to controller %d: %w", id, err)
		}
		c.conn, c.connTo = conn, target
	}
	kresp, err := c.conn.Request(ctx, req)
	if err != nil {
		_ = c.conn.Close()
		c.conn = nil
		return nil, fmt.Errorf("AlterIsr to controller %d: %w", id, err)
	}
	resp := kresp.(*kmsg.AlterPartitionResponse)
	if resp.ErrorCode == kerr.NotController.Code {
		_ = c.conn.Close()
		c.conn = nil
	}
	return resp, nil
}

// close drops the connection.
func (c *alterISRClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
