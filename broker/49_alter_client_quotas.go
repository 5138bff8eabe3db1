package broker

// AlterClientQuotas, v0–v1 (KIP-546; v1 is the flexible encoding).
//
// Behaviour (ZkAdminManager.alterClientQuotas, Kafka 2.8), per entry, each with its own error:
//   - The entity's components become a map, so a type given twice keeps its last name, as Kafka's
//     AlterClientQuotasRequest.entries does. An empty entity, a type other than user / client-id / ip and
//     an empty (not null) name are INVALID_REQUEST; null names the <default> entity. user, user +
//     client-id, client-id and ip alone are the valid combinations (ip with anything else, or anything else,
//     INVALID_REQUEST); an ip must parse or resolve.
//   - The entity's current config is read from ZooKeeper (/config/users/<u>, /config/users/<u>/clients/<c>,
//     /config/clients/<c>, /config/ips/<ip>, sanitized names) and the ops applied in order: remove deletes
//     the key (any key); otherwise the key must be a quota key of the entity (INVALID_REQUEST), and
//     producer_byte_rate / consumer_byte_rate (LONG) and connection_creation_rate (INT) must be whole
//     numbers within 1e-6 (INVALID_REQUEST "must be a LONG value"; Kafka's check also rejects negative
//     ones), request_percentage / controller_mutation_rate (DOUBLE) are stored as Java prints doubles.
//   - Unless validate_only, the whole config is written back with a /config/changes notification
//     (AdminZkClient.changeConfigs) even when it became empty: Kafka 2.8 never deletes the znode, and
//     describe leaves out entities without quota keys. This broker applies users/clients changes at once;
//     the others on the notification.
//
// Deviations: entries are answered in request order (Kafka: hash map order). A SCRAM key of a user entity
// is INVALID_REQUEST (Kafka: UNKNOWN_SERVER_ERROR, an IllegalStateException). No authorization (no
// authorizer).

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/zkregistry"
)

// quotaKeyType is a quota key's ConfigDef type.
type quotaKeyType int

const (
	quotaLong quotaKeyType = iota
	quotaInt
	quotaDouble
)

// clientQuotaKeys are DynamicConfig.Client's (and User's quota) keys; ipQuotaKeys DynamicConfig.Ip's.
var (
	clientQuotaKeys = map[string]quotaKeyType{
		quota.ProducerByteRate:       quotaLong,
		quota.ConsumerByteRate:       quotaLong,
		quota.RequestPercentage:      quotaDouble,
		quota.ControllerMutationRate: quotaDouble,
	}
	ipQuotaKeys = map[string]quotaKeyType{ipConnectionCreationRate: quotaInt}
)

// quotaTarget is where an entity's config lives.
type quotaTarget struct {
	entityType string // zkregistry.ConfigUsers, ConfigClients or ConfigIPs
	entity     string // sanitized, "<u>/clients/<c>" for a user's client id
	keys       map[string]quotaKeyType
}

func handleAlterClientQuotas(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	for _, e := range req.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		names, order := quotaEntityMap(e.Entity)
		for _, typ := range order {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = typ, names[typ]
			out.Entity = append(out.Entity, ent)
		}
		if err := b.alterEntityQuotas(ctx, names, e.Ops, req.ValidateOnly); err != nil {
			out.ErrorCode = errorCode(b.log, err)
			out.ErrorMessage = quotaErrorMessage(err)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return Response{Msg: resp}, nil
}

// quotaEntityMap is ClientQuotaEntity's map (last name wins) and its types in first-seen order.
func quotaEntityMap(comps []kmsg.AlterClientQuotasRequestEntryEntity) (map[string]*string, []string) {
	names := make(map[string]*string, len(comps))
	var order []string
	for _, c := range comps {
		if _, seen := names[c.Type]; !seen {
			order = append(order, c.Type)
		}
		names[c.Type] = c.Name
	}
	return names, order
}

// alterEntityQuotas is ZkAdminManager.alterClientQuotas' alterEntityQuotas for one entry.
func (b *Broker) alterEntityQuotas(ctx context.Context, names map[string]*string, ops []kmsg.AlterClientQuotasRequestEntryOp, validateOnly bool) error {
	target, err := quotaTargetOf(ctx, names)
	if err != nil {
		return err
	}
	cfg, err := b.zk.GetEntityConfig(target.entityType, target.entity)
	if err != nil {
		return err
	}
	if err := applyQuotaOps(cfg, target.keys, ops); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := b.zk.ChangeEntityConfig(target.entityType, target.entity, cfg); err != nil {
		return err
	}
	if target.entityType != zkregistry.ConfigIPs {
		b.quotaEntityChanged(target.entityType + "/" + target.entity)
	}
	return nil
}

// quotaTargetOf is parseAndSanitizeQuotaEntity and the combination rules.
func quotaTargetOf(ctx context.Context, names map[string]*string) (quotaTarget, error) {
	if len(names) == 0 {
		return quotaTarget{}, newQuotaError(kerr.InvalidRequest, "Invalid empty client quota entity")
	}
	var user, client, ip quota.Name
	for _, typ := range sortedKeys(names) {
		n := quota.Default
		if p := names[typ]; p != nil {
			n = quota.Named(*p)
		}
		switch typ {
		case quotaEntityUser:
			user = n
		case quotaEntityClientID:
			client = n
		case quotaEntityIP:
			ip = n
		default:
			return quotaTarget{}, newQuotaError(kerr.InvalidRequest, "Unhandled client quota entity type: %s", typ)
		}
		if p := names[typ]; p != nil && *p == "" {
			return quotaTarget{}, newQuotaError(kerr.InvalidRequest, "Empty %s not supported", typ)
		}
	}
	switch {
	case ip.IsSet() && (user.IsSet() || client.IsSet()):
		return quotaTarget{}, newQuotaError(kerr.InvalidRequest, "Invalid quota entity combination, IP entity should not be used with user/client ID entity.")
	case ip.IsSet():
		if !validIPEntity(ctx, ip) {
			return quotaTarget{}, newQuotaError(kerr.InvalidRequest, "%s is not a valid IP or resolvable host.", sanitizeQuotaName(ip))
		}
		return quotaTarget{zkregistry.ConfigIPs, sanitizeQuotaName(ip), ipQuotaKeys}, nil
	case user.IsSet() && client.IsSet():
		return quotaTarget{zkregistry.ConfigUsers, sanitizeQuotaName(user) + "/" + zkregistry.ConfigClients + "/" + sanitizeQuotaName(client), clientQuotaKeys}, nil
	case user.IsSet():
		return quotaTarget{zkregistry.ConfigUsers, sanitizeQuotaName(user), clientQuotaKeys}, nil
	}
	return quotaTarget{zkregistry.ConfigClients, sanitizeQuotaName(client), clientQuotaKeys}, nil
}

// applyQuotaOps applies ops to cfg in order, validating as Kafka does.
func applyQuotaOps(cfg map[string]string, keys map[string]quotaKeyType, ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	for _, op := range ops {
		if op.Remove {
			delete(cfg, op.Key)
			continue
		}
		typ, ok := keys[op.Key]
		if !ok {
			return newQuotaError(kerr.InvalidRequest, "Invalid configuration key %s", op.Key)
		}
		v, ok := quotaValueString(typ, op.Value)
		if !ok {
			return newQuotaError(kerr.InvalidRequest, "Configuration %s must be a %s value", op.Key, map[quotaKeyType]string{quotaLong: "LONG", quotaInt: "INT"}[typ])
		}
		cfg[op.Key] = v
	}
	return nil
}

// quotaValueString is the stored form of v: whole numbers within 1e-6 for LONG and INT (truncated toward
// zero after adding the epsilon, as Scala's toLong does, so negative values fail), Java's
// Double.toString for DOUBLE.
func quotaValueString(typ quotaKeyType, v float64) (string, bool) {
	const epsilon = 1e-6
	lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
	switch typ {
	case quotaDouble:
		return javaDoubleString(v), true
	case quotaInt:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	w := v + epsilon
	if math.IsNaN(w) || w >= hi+1 || w <= lo-1 || math.Abs(math.Trunc(w)-v) > epsilon {
		return "", false
	}
	return strconv.FormatInt(int64(w), 10), true
}

// javaDoubleString formats v as Java's Double.toString: plain with at least one decimal for
// 1e-3 <= |v| < 1e7, otherwise d.dddE<exp>.
func javaDoubleString(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if a := math.Abs(v); a == 0 || (a >= 1e-3 && a < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // 1.5E+07
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}
