package controller

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/zkregistry"
)

// Everything the controller reacts to arrives on one channel and is handled by the event loop, in order
// (Kafka's ControllerEventManager). Watch callbacks and sender goroutines only post.

type event interface{}

// termed is embedded by events that belong to one controller term (the watches and channels of one
// election). The loop drops them when the term is over, so a late callback of a previous term cannot act on
// the state of the next one.
type termed struct{ term uint64 }

func (t termed) eventTerm() uint64 { return t.term }

type termedEvent interface{ eventTerm() uint64 }

// controllerChange: /controller was created, changed or deleted (exists-watch, every broker). The handler
// reads the znode itself.
type controllerChange struct{}

// electionRetry: an election attempt failed on a ZooKeeper error; try again.
type electionRetry struct{}

// sessionEvent: forwarded by the broker from zkregistry.Client.Events.
type sessionEvent struct{ ev zkregistry.SessionEvent }

// brokerChange: /brokers/ids children or one broker's data changed. The handler re-reads the registrations.
type brokerChange struct{ termed }

// topicChange: /brokers/topics children changed.
type topicChange struct {
	termed
	children []string
}

// partitionModification: /brokers/topics/<topic> data changed (new partitions).
type partitionModification struct {
	termed
	topic string
	data  []byte
	gone  bool
}

// topicDeletionChange: /admin/delete_topics children changed.
type topicDeletionChange struct {
	termed
	children []string
}

// autoRebalance: the leader imbalance check is due (Kafka's AutoPreferredReplicaLeaderElection).
type autoRebalance struct{ termed }

// preferredElectionZnode: /admin/preferred_replica_election was created, changed or deleted.
type preferredElectionZnode struct {
	termed
	data   []byte
	exists bool
}

// reassignmentZnode: /admin/reassign_partitions was created, changed or deleted. czxid tells a new znode
// from a rewrite of the one already handled.
type reassignmentZnode struct {
	termed
	data   []byte
	exists bool
	czxid  int64
}

// callEvent runs fn on the loop (Controller.call).
type callEvent struct{ fn func() }

// brokerResponse: a broker answered a request of this term.
type brokerResponse struct {
	termed
	broker int32
	req    kmsg.Request
	resp   kmsg.Response
}

// post hands ev to the loop. It gives up when the caller's ctx (a watch or sender being stopped) or the loop
// ends, so that stopping a producer from the loop cannot deadlock on a full channel.
func (c *Controller) post(ctx context.Context, ev event) {
	select {
	case c.events <- ev:
	case <-ctx.Done():
	case <-c.loopCtx.Done():
	}
}
