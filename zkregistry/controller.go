package zkregistry

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// GetController returns the active controller; found is false when none.
func (c *Client) GetController() (info ControllerInfo, found bool, err error) {
	data, _, err := c.Get(ControllerPath)
	if errors.Is(err, zk.ErrNoNode) {
		return ControllerInfo{}, false, nil
	}
	if err != nil {
		return ControllerInfo{}, false, err
	}
	info, err = DecodeController(data)
	return info, err == nil, err
}

// GetControllerEpoch returns /controller_epoch and its data version;
// found is false when the znode does not exist yet.
func (c *Client) GetControllerEpoch() (epoch, zkVersion int32, found bool, err error) {
	data, stat, err := c.Get(ControllerEpochPath)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	epoch, err = DecodeControllerEpoch(data)
	if err != nil {
		return 0, 0, false, err
	}
	return epoch, stat.Version, true, nil
}

// getOrCreateControllerEpoch reads /controller_epoch, creating it with "0"
// when absent ((0, 0) for a new cluster).
func (c *Client) getOrCreateControllerEpoch() (epoch, zkVersion int32, err error) {
	epoch, zkVersion, found, err := c.GetControllerEpoch()
	if err != nil || found {
		return epoch, zkVersion, err
	}
	_, err = c.Create(ControllerEpochPath, EncodeControllerEpoch(0), Persistent)
	if err == nil {
		return 0, 0, nil
	}
	if !errors.Is(err, zk.ErrNodeExists) {
		return 0, 0, fmt.Errorf("create %s: %w", ControllerEpochPath, err)
	}
	epoch, zkVersion, _, err = c.GetControllerEpoch()
	return epoch, zkVersion, err
}

// TryElectController runs one Kafka 2.8 election attempt for brokerID:
// if /controller is free, one multi creates it (ephemeral) and bumps
// /controller_epoch conditionally on the version just read. It returns the
// new epoch (the first controller of a cluster gets 1) and the epoch znode's
// new data version, which every later controller write must be fenced with
// (FencedMulti). ErrNotElected (wrapped, naming the winner when known) when
// another broker is or became controller.
func (c *Client) TryElectController(brokerID int32) (epoch, epochZkVersion int32, err error) {
	if cur, found, err := c.GetController(); err != nil {
		return 0, 0, fmt.Errorf("elect controller: %w", err)
	} else if found {
		return 0, 0, fmt.Errorf("controller is broker %d: %w", cur.BrokerID, ErrNotElected)
	}
	prev, prevVersion, err := c.getOrCreateControllerEpoch()
	if err != nil {
		return 0, 0, fmt.Errorf("elect controller: %w", err)
	}
	epoch = prev + 1
	info := ControllerInfo{BrokerID: brokerID, Timestamp: time.Now().UnixMilli()}
	res, err := c.Multi(CreateOp(ControllerPath, info.Encode(), Ephemeral),
		SetDataOp(ControllerEpochPath, EncodeControllerEpoch(epoch), prevVersion))
	if err == nil {
		c.log.WithFields(logrus.Fields{"broker_id": brokerID, "controller_epoch": epoch,
			"epoch_zk_version": res[1].Stat.Version}).Info("elected controller")
		return epoch, res[1].Stat.Version, nil
	}
	if errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrBadVersion) {
		return c.checkElectionRace(brokerID, epoch)
	}
	return 0, 0, fmt.Errorf("elect controller: %w", err)
}

// checkElectionRace: after NODEEXISTS/BADVERSION, we still won if
// /controller names us and the epoch is ours — a retried multi whose first
// attempt succeeded before the connection dropped.
func (c *Client) checkElectionRace(brokerID, epoch int32) (int32, int32, error) {
	cur, found, err := c.GetController()
	if err != nil {
		return 0, 0, fmt.Errorf("elect controller: %w", err)
	}
	gotEpoch, version, _, err := c.GetControllerEpoch()
	if err != nil {
		return 0, 0, fmt.Errorf("elect controller: %w", err)
	}
	if found && cur.BrokerID == brokerID && gotEpoch == epoch {
		return epoch, version, nil
	}
	if found {
		return 0, 0, fmt.Errorf("controller is broker %d: %w", cur.BrokerID, ErrNotElected)
	}
	return 0, 0, fmt.Errorf("lost election race for epoch %d: %w", epoch, ErrNotElected)
}

// ResignController deletes /controller fenced by our epoch version, so a
// new election starts (Kafka's resign path). A missing /controller is fine;
// ErrControllerMoved when another controller was elected meanwhile.
func (c *Client) ResignController(epochZkVersion int32) error {
	_, err := c.Write(epochZkVersion, DeleteOp(ControllerPath, MatchAnyVersion))
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return err
}
