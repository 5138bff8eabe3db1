package broker

// UpdateMetadata, v0–v7 (Kafka 2.8's range; a 2.8 controller sends v7). Inter-broker: controller → broker.
//
// Stale broker epoch (KIP-380) → STALE_BROKER_EPOCH; a request from an older controller epoch than the
// cache has seen → STALE_CONTROLLER_EPOCH and no change. Otherwise the metadata cache takes the new live
// brokers and partition states (partitions with leader -2 are being deleted and leave the cache).

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/metadata"
)

func handleUpdateMetadata(b *Broker, _ context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.UpdateMetadataRequest)
	resp := req.ResponseKind().(*kmsg.UpdateMetadataResponse)
	if b.brokerEpochStale(req.BrokerEpoch) {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return Response{Msg: resp}, nil
	}
	deleted, err := b.meta.Update(req)
	if errors.Is(err, metadata.ErrStaleControllerEpoch) {
		b.log.WithError(err).Warn("ignoring UpdateMetadata from an old controller")
		resp.ErrorCode = kerr.StaleControllerEpoch.Code
		return Response{Msg: resp}, nil
	}
	if err != nil {
		return Response{}, err
	}
	if len(deleted) > 0 {
		b.groupsOnDeletedPartitions(deleted) // committed offsets of deleted partitions go too
		b.log.WithFields(logrus.Fields{"partitions": len(deleted), "controller_epoch": req.ControllerEpoch}).
			Debug("metadata: partitions of deleted topics removed")
	}
	return Response{Msg: resp}, nil
}
