package controller

import (
	"context"

	"github.com/sirupsen/logrus"
)

// SetUncleanLeaderElection applies a dynamic change of the broker-wide unclean.leader.election.enable
// default. Turning it on makes the active controller run the offline election at once (Kafka's
// UncleanLeaderElectionEnable event), so partitions that have been offline for want of an ISR member get
// an out-of-sync leader now rather than at the next broker change; topics overriding the setting keep
// their own (uncleanEnabled reads the override first).
func (c *Controller) SetUncleanLeaderElection(ctx context.Context, enabled bool) error {
	return c.call(ctx, func() {
		was := c.cfg.UncleanLeaderElection
		c.cfg.UncleanLeaderElection = enabled
		if enabled && !was {
			c.electOfflineAfterUncleanEnabled("")
		}
	})
}

// TopicUncleanLeaderElectionEnabled is called when a topic's unclean.leader.election.enable override has
// been set to true (Kafka's TopicUncleanLeaderElectionEnable event): the active controller runs the
// offline election, which now may pick an out-of-sync replica for that topic's offline partitions.
func (c *Controller) TopicUncleanLeaderElectionEnabled(ctx context.Context, topic string) error {
	return c.call(ctx, func() { c.electOfflineAfterUncleanEnabled(topic) })
}

// electOfflineAfterUncleanEnabled runs on the event loop. The election covers every offline partition:
// each topic's own setting still decides whether its partitions may take an unclean leader, so the
// other topics come out as they would at any broker change.
func (c *Controller) electOfflineAfterUncleanEnabled(topic string) {
	if !c.active.Load() {
		return
	}
	n, err := c.triggerOnlinePartitionStateChange()
	c.log.WithFields(logrus.Fields{"topic": topic, "online": n}).Info("unclean leader election enabled: offline partitions elected")
	c.afterError(err)
}
