package broker

// Client quotas (KIP-13, KIP-55, KIP-219): the broker side of broker/quota.
//
// Configs come from ZooKeeper's users/... and clients/... entities through quotaEntityChanged, called by
// the dynamic config watcher at startup and on every /config/changes notification (and by AlterClientQuotas
// on the broker that wrote, so a change applies there before the notification round trip). Produce and
// consumer Fetch record their bytes per (user principal, client id); without SASL every client is the
// principal User:ANONYMOUS, so the user name is always "ANONYMOUS" (Kafka's KafkaPrincipal.ANONYMOUS), and
// users/<default> quotas apply to everyone.
//
// Throttling: the response carries the throttle time; the connection then reads nothing more from the
// client until it has passed. KIP-219 versions (Produce v6+, Fetch v8+: kmsg's Throttle() second result)
// get their response at once and the client waits too; older versions get the response only after the
// throttle time (Kafka's server-side throttling), see Conn.
//
// The rate samples are quota.window.num × quota.window.size.seconds (Kafka's defaults 11 × 1 s).
//
// Controller mutations (KIP-599): CreateTopics, CreatePartitions and DeleteTopics charge the partitions
// they create, add or delete to the client's controller_mutation_rate token bucket (mutationQuota). Strict
// versions (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) refuse a topic with
// THROTTLING_QUOTA_EXCEEDED while the bucket is in debt; older versions are always served and throttled.
// Either way the response carries the throttle and the connection is muted for it.
//
// Deviations: request_percentage is stored and described but not enforced (see broker/quota's doc); IP
// entities (connection_creation_rate) are stored and described but not enforced.

import (
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/zkregistry"
)

// anonymousUser is the principal name of every unauthenticated client (KafkaPrincipal.ANONYMOUS).
const anonymousUser = "ANONYMOUS"

// quotaManager returns the broker's manager, nil until the first quota entity is seen: the produce and
// fetch paths then cost one atomic load.
func (b *Broker) quotaManager() *quota.Manager { return b.quotas.Load() }

// quotaEntityChanged is called by the dynamic config watcher for every users/... or clients/... entity
// path (sanitized, as in /config/changes' entity_path, e.g. "users/<default>" or "users/alice/clients/app"),
// once per existing entity at startup and again after each change notification. It re-reads the entity
// from ZooKeeper, so a deleted znode removes the quotas.
func (b *Broker) quotaEntityChanged(entityPath string) {
	log := b.log.WithField("entity_path", entityPath)
	entity, entityType, name, err := parseQuotaEntityPath(entityPath)
	if err != nil {
		log.WithError(err).Warn("ignoring quota entity")
		return
	}
	cfg, err := b.zk.GetEntityConfig(entityType, name)
	if err != nil {
		log.WithError(err).Warn("read quota entity")
		return
	}
	mgr := b.quotas.Load()
	if mgr == nil {
		cfg := b.currentConfig()
		qc := quota.Config{Samples: int(cfg.QuotaWindowNum), Window: time.Duration(cfg.QuotaWindowSizeSeconds) * time.Second}
		b.quotas.CompareAndSwap(nil, quota.NewManager(qc, time.Now))
		mgr = b.quotas.Load()
	}
	if err := mgr.Update(entity, cfg); err != nil {
		log.WithError(err).Warn("bad quota config")
	}
	// Not the config itself: a user entity also holds SCRAM credentials.
	log.Info("quota entity updated")
}

// parseQuotaEntityPath splits a sanitized entity path into the quota entity and the (entity type,
// entity) pair GetEntityConfig takes.
func parseQuotaEntityPath(path string) (e quota.Entity, entityType, entity string, err error) {
	parts := strings.Split(path, "/")
	switch {
	case len(parts) == 2 && parts[0] == zkregistry.ConfigUsers:
		e.User, err = quotaName(parts[1])
	case len(parts) == 4 && parts[0] == zkregistry.ConfigUsers && parts[2] == zkregistry.ConfigClients:
		if e.User, err = quotaName(parts[1]); err == nil {
			e.ClientID, err = quotaName(parts[3])
		}
	case len(parts) == 2 && parts[0] == zkregistry.ConfigClients:
		e.ClientID, err = quotaName(parts[1])
	default:
		return e, "", "", errBadQuotaPath
	}
	return e, parts[0], strings.Join(parts[1:], "/"), err
}

var errBadQuotaPath = errors.New("not a users/... or clients/... entity path")

// quotaName turns a sanitized znode name into a quota entity component.
func quotaName(sanitized string) (quota.Name, error) {
	if sanitized == zkregistry.DefaultEntity {
		return quota.Default, nil
	}
	name, err := zkregistry.Desanitize(sanitized)
	if err != nil {
		return quota.Name{}, err
	}
	return quota.Named(name), nil
}

// recordQuota records value against the client's quota of type t and returns the throttle time; zero
// at the cost of one atomic load when no quota is configured.
func (b *Broker) recordQuota(t quota.Type, r *Request, value int64) time.Duration {
	m := b.quotaManager()
	if m == nil || !m.Enabled() {
		return 0
	}
	return m.Record(t, anonymousUser, r.ClientID(), float64(value))
}

// mutationQuota is the controller mutation quota of a CreateTopics, CreatePartitions or DeleteTopics
// request (ControllerMutationQuotaManager.newQuotaFor): strict for the versions that know
// THROTTLING_QUOTA_EXCEEDED. It is nil, which accepts everything, when no controller_mutation_rate is
// configured, at the cost of two atomic loads.
func (b *Broker) mutationQuota(r *Request, strict bool) *quota.MutationQuota {
	return b.quotaManager().NewMutationQuota(anonymousUser, r.ClientID(), strict)
}

// errThrottlingQuotaExceeded answers a topic refused by a strict mutation quota, with Kafka's message
// (StrictControllerMutationQuota throws Errors.THROTTLING_QUOTA_EXCEEDED.message).
var errThrottlingQuotaExceeded = kafkaError(kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded.")

// mutationResponse answers msg with the throttle the mutation quota earned
// (sendResponseMaybeThrottleWithControllerQuota): KIP-219 versions get the response at once and the
// client waits too, older ones get it after the throttle.
func mutationResponse(msg throttledResponse, q *quota.MutationQuota) Response {
	throttle := q.Throttle()
	if throttle <= 0 {
		return Response{Msg: msg}
	}
	msg.SetThrottle(throttleMillis(throttle))
	_, clientThrottles := msg.Throttle()
	return Response{Msg: msg, Throttle: throttle, ClientThrottles: clientThrottles}
}

// throttledResponse is a response with a ThrottleMillis field.
type throttledResponse interface {
	kmsg.Response
	kmsg.ThrottleResponse
	kmsg.SetThrottleResponse
}

// unrecordQuota takes back what recordQuota recorded (a throttled fetch answers no data).
func (b *Broker) unrecordQuota(t quota.Type, r *Request, value int64) {
	if m := b.quotaManager(); m != nil {
		m.Unrecord(t, anonymousUser, r.ClientID(), float64(value))
	}
}

// throttleMillis is d as a response's ThrottleMillis.
func throttleMillis(d time.Duration) int32 {
	return int32(min(d.Milliseconds(), int64(1<<31-1)))
}
