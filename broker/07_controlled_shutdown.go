package broker

// ControlledShutdown, v0–v3 (Kafka 2.8's range; v0 uses request header v0, which protocol handles).
// Inter-broker: a stopping broker → the active controller (reference 02 §12).
//
// Server side: only the active controller serves it (NOT_CONTROLLER elsewhere). The controller marks the
// broker as shutting down, moves the leadership of its partitions, takes it out of the ISRs it follows, and
// answers with the partitions it still leads (replication factor > 1); see
// controller.Controller.ControlledShutdown. v0-v1 carry no broker epoch (not checked).
//
// Client side (Broker.Shutdown, KafkaServer.controlledShutdown): with controlled.shutdown.enable and a
// completed startup, up to controlled.shutdown.max.retries attempts, controlled.shutdown.retry.backoff.ms
// apart: find the controller (the metadata cache's controller id and its inter-broker endpoint, else
// /controller and its registration in ZooKeeper), send v3 with our id and epoch, succeed when the answer
// has no error and no remaining partitions. After the last failed attempt the shutdown goes on uncleanly,
// as in Kafka. Connect and request are bounded by controller.socket.timeout.ms and request.timeout.ms.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/protocol"
	"github.com/samsa-broker/samsa/zkregistry"
)

func handleControlledShutdown(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.ControlledShutdownRequest)
	resp := req.ResponseKind().(*kmsg.ControlledShutdownResponse)
	if !b.isController() {
		resp.ErrorCode = kerr.NotController.Code
		return Response{Msg: resp}, nil
	}
	epoch := req.BrokerEpoch
	if req.Version < 2 {
		epoch = -1 // the field does not exist before v2
	}
	remaining, err := b.ctrl.ControlledShutdown(ctx, req.BrokerID, epoch)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Response{}, err
		}
		resp.ErrorCode = errorCode(b.log, err)
		return Response{Msg: resp}, nil
	}
	for _, tp := range remaining {
		resp.PartitionsRemaining = append(resp.PartitionsRemaining,
			kmsg.ControlledShutdownResponsePartitionsRemaining{Topic: tp.Topic, Partition: tp.Partition})
	}
	return Response{Msg: resp}, nil
}

// controlledShutdownVersion is what Kafka 2.8 sends at inter.broker.protocol.version >= 2.4-IV1.
const controlledShutdownVersion = 3

// controlledShutdown asks the controller to move leadership away before the broker stops serving
// (KafkaServer.controlledShutdown). It reports whether the controller confirmed that nothing is left.
func (b *Broker) controlledShutdown() bool {
	if !b.cfg.ControlledShutdownEnable || !b.started.Load() {
		return false
	}
	start := time.Now()
	backoff := time.Duration(b.cfg.ControlledShutdownRetryBackoffMs) * time.Millisecond
	for attempt := int32(1); attempt <= b.cfg.ControlledShutdownMaxRetries; attempt++ {
		remaining, err := b.controlledShutdownOnce()
		lg := b.log.WithFields(logrus.Fields{"attempt": attempt, "elapsed_ms": time.Since(start).Milliseconds()})
		if err == nil && len(remaining) == 0 {
			lg.Info("controlled shutdown succeeded")
			return true
		}
		if err != nil {
			lg = lg.WithError(err)
		} else {
			lg = lg.WithField("remaining_partitions", remaining)
		}
		if attempt == b.cfg.ControlledShutdownMaxRetries {
			lg.Warn("controlled shutdown failed; proceeding with an unclean shutdown")
			break
		}
		lg.WithField("retry_backoff_ms", backoff.Milliseconds()).Warn("controlled shutdown incomplete; retrying")
		time.Sleep(backoff) // controlled.shutdown.retry.backoff.ms, Kafka's Thread.sleep between attempts
	}
	return false
}

// controlledShutdownOnce is one attempt: the partitions the controller says are still led here, or why the
// attempt failed.
func (b *Broker) controlledShutdownOnce() ([]string, error) {
	id, addr, err := b.controllerEndpoint()
	if err != nil {
		return nil, err
	}
	timeout := time.Duration(b.cfg.ControllerSocketTimeoutMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Duration(b.cfg.RequestTimeoutMs)*time.Millisecond)
	defer cancel()
	conn, err := protocol.Dial(ctx, addr, strconv.Itoa(int(b.id)), timeout)
	if err != nil {
		return nil, fmt.Errorf("connect to controller %d: %w", id, err)
	}
	defer conn.Close()
	req := kmsg.NewPtrControlledShutdownRequest()
	req.Version = controlledShutdownVersion
	req.BrokerID = b.id
	req.BrokerEpoch = b.epoch
	kresp, err := conn.Request(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("controlled shutdown request to controller %d: %w", id, err)
	}
	resp := kresp.(*kmsg.ControlledShutdownResponse)
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("controller %d answered %w", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	var remaining []string
	for _, p := range resp.PartitionsRemaining {
		remaining = append(remaining, zkregistry.TopicPartition{Topic: p.Topic, Partition: p.Partition}.String())
	}
	return remaining, nil
}

// controllerEndpoint finds the active controller's inter-broker endpoint: from the metadata cache as Kafka
// 2.8 does, else from /controller and the controller's registration (the cache may not have heard from a
// controller yet).
func (b *Broker) controllerEndpoint() (int32, string, error) {
	listener := b.cfg.InterBrokerListener()
	snap := b.meta.Snapshot()
	if id := snap.ControllerID; id >= 0 {
		if br, ok := snap.Broker(id); ok {
			if ep, ok := br.Endpoint(listener); ok {
				return id, net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), nil
			}
		}
	}
	info, found, err := b.zk.GetController()
	if err != nil {
		return -1, "", fmt.Errorf("read /controller: %w", err)
	}
	if !found {
		return -1, "", errors.New("no controller elected")
	}
	reg, err := b.zk.GetBroker(info.BrokerID)
	if err != nil {
		return info.BrokerID, "", fmt.Errorf("read registration of controller %d: %w", info.BrokerID, err)
	}
	ep, ok := reg.Endpoint(listener)
	if !ok {
		return info.BrokerID, "", fmt.Errorf("controller %d has no %s endpoint", info.BrokerID, listener)
	}
	return info.BrokerID, net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port))), nil
}
