package zkregistry

import (
	"errors"

	"github.com/go-zookeeper/zk"
)

// ZooKeeper result codes callers test with errors.Is. They are the
// go-zookeeper values themselves, so callers need not import that package.
var (
	ErrNoNode     = zk.ErrNoNode     // NONODE
	ErrNodeExists = zk.ErrNodeExists // NODEEXISTS
	ErrBadVersion = zk.ErrBadVersion // BADVERSION: conditional write lost a race
	ErrNotEmpty   = zk.ErrNotEmpty   // NOTEMPTY: delete of a znode with children
	// ErrSessionExpired: the session ended; ephemerals and watches are gone.
	ErrSessionExpired = zk.ErrSessionExpired
)

var (
	// ErrControllerMoved: the /controller_epoch version check of a fenced
	// write failed, so another broker became controller since our election
	// (Kafka's ControllerMovedException). The controller must resign.
	ErrControllerMoved = errors.New("zkregistry: controller moved")
	// ErrNotElected: another broker is controller, or won the race.
	ErrNotElected = errors.New("zkregistry: another broker is controller")
	// ErrBrokerIDInUse: /brokers/ids/<id> is held by another live session.
	ErrBrokerIDInUse = errors.New("zkregistry: broker id in use")
	// ErrEndpointInUse: another registered broker advertises the same host:port.
	ErrEndpointInUse = errors.New("zkregistry: endpoint already advertised by another broker")
	// ErrTopicExists: /brokers/topics/<topic> already exists (TOPIC_ALREADY_EXISTS).
	ErrTopicExists = errors.New("zkregistry: topic already exists")
	// ErrMalformed: a znode's content does not parse.
	ErrMalformed = errors.New("zkregistry: malformed znode data")
	// ErrNoData: the znode exists but holds no data (null or empty).
	ErrNoData = errors.New("zkregistry: znode has no data")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("zkregistry: client closed")
)
