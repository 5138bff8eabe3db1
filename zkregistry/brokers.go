package zkregistry

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// DefaultReservedBrokerMaxID is reserved.broker.max.id's default.
const DefaultReservedBrokerMaxID = 1000

// EnsurePersistentPaths creates the znodes every Kafka broker creates at
// startup (PersistentPaths), ignoring those that exist.
func (c *Client) EnsurePersistentPaths() error {
	for _, p := range PersistentPaths {
		if _, err := c.CreateRecursive(p, nil, Persistent); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	return nil
}

// GetClusterID returns /cluster/id's id; found is false when it is absent.
func (c *Client) GetClusterID() (id string, found bool, err error) {
	data, _, err := c.Get(ClusterIDPath)
	if errors.Is(err, zk.ErrNoNode) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	id, err = DecodeClusterID(data)
	return id, err == nil, err
}

// GetOrCreateClusterID returns the cluster id, creating /cluster/id with a
// fresh random id if it does not exist yet. Racing brokers all end up with
// the id of whoever created it first.
func (c *Client) GetOrCreateClusterID() (string, error) {
	if id, found, err := c.GetClusterID(); err != nil || found {
		return id, err
	}
	_, err := c.CreateRecursive(ClusterIDPath, EncodeClusterID(NewUUID().String()), Persistent)
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return "", fmt.Errorf("create %s: %w", ClusterIDPath, err)
	}
	id, found, err := c.GetClusterID()
	if err == nil && !found {
		err = fmt.Errorf("%s vanished after creation", ClusterIDPath)
	}
	return id, err
}

// GenerateBrokerID returns a new broker id: bumping /brokers/seqid's data
// version (setData with any version) and adding reservedMaxID, so ids are
// reservedMaxID+1, +2, ... (Kafka's generateBrokerSequenceId).
func (c *Client) GenerateBrokerID(reservedMaxID int32) (int32, error) {
	stat, err := c.Set(BrokerSeqIDPath, nil, MatchAnyVersion)
	if errors.Is(err, zk.ErrNoNode) {
		if _, err = c.CreateRecursive(BrokerSeqIDPath, nil, Persistent); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return 0, fmt.Errorf("create %s: %w", BrokerSeqIDPath, err)
		}
		stat, err = c.Set(BrokerSeqIDPath, nil, MatchAnyVersion)
	}
	if err != nil {
		return 0, fmt.Errorf("generate broker id: %w", err)
	}
	return stat.Version + reservedMaxID, nil
}

// RegisterBroker creates the ephemeral /brokers/ids/<id> znode and returns
// the broker epoch (its czxid). As in Kafka it is one multi — create with
// null data, then setData at version 0 — so the node's data version is 1.
// It fails with ErrEndpointInUse when another registered broker advertises
// one of our host:port pairs, and with ErrBrokerIDInUse when another live
// session holds the id. Call it again after a SessionConnected event with
// NewSession: the new znode gets a new czxid, i.e. a new broker epoch.
func (c *Client) RegisterBroker(info BrokerInfo) (epoch int64, err error) {
	if err := c.checkEndpointConflicts(info); err != nil {
		return 0, err
	}
	if info.Timestamp == 0 {
		info.Timestamp = time.Now().UnixMilli()
	}
	path, data := BrokerPath(info.ID), info.Encode()
	for attempt := 0; ; attempt++ {
		res, err := c.Multi(CreateOp(path, nil, Ephemeral), SetDataOp(path, data, 0))
		if err == nil {
			epoch = res[1].Stat.Czxid
			c.log.WithFields(logrus.Fields{"broker_id": info.ID, "broker_epoch": epoch}).Info("registered broker")
			return epoch, nil
		}
		if !errors.Is(err, zk.ErrNodeExists) || attempt > 0 {
			return 0, fmt.Errorf("register broker %d: %w", info.ID, err)
		}
		epoch, reuse, err := c.takeOverRegistration(info.ID, path, data)
		if err != nil || reuse {
			return epoch, err
		}
	}
}

// takeOverRegistration handles NODEEXISTS: a node of our current session is
// reused (a retried create whose first attempt succeeded); one left by an
// earlier session of this client is deleted so the caller retries; any
// other owner is a live broker with the same id.
func (c *Client) takeOverRegistration(id int32, path string, data []byte) (epoch int64, reuse bool, err error) {
	_, stat, err := c.Get(path)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, false, nil // its session just ended: retry the create
	}
	if err != nil {
		return 0, false, fmt.Errorf("register broker %d: %w", id, err)
	}
	switch owner := stat.EphemeralOwner; {
	case owner == c.SessionID():
		if _, err := c.Set(path, data, MatchAnyVersion); err != nil {
			return 0, false, fmt.Errorf("register broker %d: %w", id, err)
		}
		return stat.Czxid, true, nil
	case c.sess.ownedSession(owner):
		if err := c.Delete(path, stat.Version); err != nil && !errors.Is(err, zk.ErrNoNode) {
			return 0, false, fmt.Errorf("register broker %d: delete stale registration: %w", id, err)
		}
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("broker id %d is already registered (znode %s owned by live session 0x%x): %w",
			id, path, owner, ErrBrokerIDInUse)
	}
}

// checkEndpointConflicts refuses to register when another broker already
// advertises one of our host:port pairs (Kafka checks before registering).
func (c *Client) checkEndpointConflicts(info BrokerInfo) error {
	others, err := c.GetBrokers()
	if err != nil {
		return fmt.Errorf("register broker %d: %w", info.ID, err)
	}
	for _, o := range others {
		if o.ID == info.ID {
			continue
		}
		for _, mine := range info.Endpoints {
			for _, theirs := range o.Endpoints {
				if mine.Host == theirs.Host && mine.Port == theirs.Port {
					return fmt.Errorf("register broker %d: %s is advertised by broker %d: %w", info.ID,
						net.JoinHostPort(mine.Host, itoa(mine.Port)), o.ID, ErrEndpointInUse)
				}
			}
		}
	}
	return nil
}

// UpdateBrokerInfo rewrites our registration (dynamic listener changes:
// setData with any version).
func (c *Client) UpdateBrokerInfo(info BrokerInfo) error {
	if info.Timestamp == 0 {
		info.Timestamp = time.Now().UnixMilli()
	}
	_, err := c.Set(BrokerPath(info.ID), info.Encode(), MatchAnyVersion)
	return err
}

// DeregisterBroker deletes our registration (clean shutdown; closing the
// session would remove it too).
func (c *Client) DeregisterBroker(id int32) error {
	err := c.Delete(BrokerPath(id), MatchAnyVersion)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return err
}

// GetBrokerIDs returns the registered broker ids, ascending.
func (c *Client) GetBrokerIDs() ([]int32, error) {
	names, err := c.Children(BrokerIDsPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids := make([]int32, 0, len(names))
	for _, n := range names {
		id, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue // not a broker (Kafka ignores such children too)
		}
		ids = append(ids, int32(id))
	}
	slices.Sort(ids)
	return ids, nil
}

// GetBroker returns a registration with Epoch set to the znode's czxid.
func (c *Client) GetBroker(id int32) (BrokerInfo, error) {
	data, stat, err := c.Get(BrokerPath(id))
	if err != nil {
		return BrokerInfo{}, err
	}
	b, err := DecodeBrokerInfo(id, data)
	if err != nil {
		return BrokerInfo{}, fmt.Errorf("broker %d: %w", id, err)
	}
	b.Epoch = stat.Czxid
	return b, nil
}

// GetBrokers returns every registered broker (ascending id) with its epoch.
// Brokers that vanish between listing and reading are skipped.
func (c *Client) GetBrokers() ([]BrokerInfo, error) {
	ids, err := c.GetBrokerIDs()
	if err != nil {
		return nil, err
	}
	out := make([]BrokerInfo, 0, len(ids))
	for _, id := range ids {
		b, err := c.GetBroker(id)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
