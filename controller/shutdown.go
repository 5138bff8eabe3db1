package controller

import (
	"context"
	"errors"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Controlled shutdown on the controller (Kafka's doControlledShutdown, reference 02 §12). A stopping broker
// asks the controller to move everything away from it before it closes its listeners. From then on it is
// "shutting down": registered (it still gets requests and appears in UpdateMetadata) but not live, so no
// election, ISR expansion or preferred-replica election picks it. The set is cleared when its registration
// goes (the normal broker-failure path then runs) or a new controller takes over (the broker retries).

// ControlledShutdown handles broker brokerID's request (brokerEpoch -1: not checked, as requests v0-v1 carry
// none) on the event loop and returns the partitions it still leads (replication factor > 1, not being
// deleted): empty means done. Errors: kerr.NotController, kerr.BrokerNotAvailable (not registered),
// kerr.StaleBrokerEpoch (an older incarnation), or ctx's error.
//
// For each partition with more than one replica and a leader, of a topic not being deleted:
//   - led by the broker: the ControlledShutdown election (first ISR member in assignment order that is not
//     shutting down; ISR minus the shutting-down brokers), LeaderAndIsr to the registered replicas,
//     UpdateMetadata to every broker;
//   - followed by it: it leaves the ISR in ZooKeeper (leader epoch + 1, LeaderAndIsr to the other replicas),
//     and gets StopReplica(delete=false). Deviation: Kafka queues that StopReplica before the ISR write,
//     with the old leader epoch, which the broker then ignores (an equal epoch is fenced); here it carries
//     the epoch after the write, so the follower really stops fetching.
func (c *Controller) ControlledShutdown(ctx context.Context, brokerID int32, brokerEpoch int64) ([]TopicPartition, error) {
	var remaining []TopicPartition
	var rerr error
	err := c.call(ctx, func() { remaining, rerr = c.controlledShutdown(brokerID, brokerEpoch) })
	if errors.Is(err, errStopped) {
		return nil, kerr.NotController
	}
	if err != nil {
		return nil, err
	}
	return remaining, rerr
}

func (c *Controller) controlledShutdown(id int32, brokerEpoch int64) ([]TopicPartition, error) {
	if !c.active.Load() {
		return nil, kerr.NotController
	}
	info, ok := c.cc.brokers[id]
	if !ok {
		return nil, kerr.BrokerNotAvailable
	}
	if brokerEpoch != -1 && brokerEpoch < info.Epoch {
		c.log.WithFields(logrus.Fields{"requester": id, "request_broker_epoch": brokerEpoch, "broker_epoch": info.Epoch}).
			Info("controlled shutdown from an old broker epoch")
		return nil, kerr.StaleBrokerEpoch
	}
	c.cc.shuttingDown[id] = true
	var led, followed []TopicPartition
	for _, tp := range c.cc.partitionsOnBroker(id) {
		st, ok := c.cc.leadership[tp]
		if !ok || len(c.cc.assignment(tp)) < 2 || c.cc.isDeleting(tp.Topic) {
			continue
		}
		if st.Leader == id {
			led = append(led, tp)
		} else {
			followed = append(followed, tp)
		}
	}
	c.log.WithFields(logrus.Fields{"shutting_down_broker": id, "led": len(led), "followed": len(followed)}).
		Info("controlled shutdown")
	if err := c.moveAwayFrom(id, led, followed); err != nil {
		c.afterError(err)
		return nil, kerr.NotController
	}
	remaining := c.cc.partitionsLedBy(id)
	if len(remaining) > 0 {
		c.log.WithFields(logrus.Fields{"shutting_down_broker": id, "remaining": len(remaining)}).
			Info("controlled shutdown: partitions still led by the broker")
	}
	return remaining, nil
}

// moveAwayFrom elects new leaders for the partitions broker id leads and takes it out of the ISRs of those it
// follows.
func (c *Controller) moveAwayFrom(id int32, led, followed []TopicPartition) error {
	b := newBatch()
	if _, _, err := c.electPartitions(led, controlledShutdownElection, b); err != nil {
		return err
	}
	c.sendBatch(b)
	if len(followed) == 0 {
		return nil
	}
	b = newBatch()
	gone := make(map[TopicPartition][]int32, len(followed))
	for _, tp := range followed {
		gone[tp] = []int32{id}
	}
	if err := c.removeReplicasFromISR(gone, b); err != nil {
		return err
	}
	for _, tp := range followed {
		c.addStopReplica(b, id, tp, false)
	}
	c.sendBatch(b)
	return nil
}
