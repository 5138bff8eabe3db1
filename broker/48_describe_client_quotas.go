package broker

// DescribeClientQuotas, v0–v1 (KIP-546; v1 is the flexible encoding).
//
// Behaviour (ZkAdminManager.describeClientQuotas, Kafka 2.8): read from ZooKeeper, so any broker answers
// the same. Each filter component names an entity type (user, client-id, ip) and matches an exact name
// (match type 0, name required), the default entity (1, no name) or any specified entity, the default
// included (2, no name); a wrong name/match-type pairing or an unknown match type is Kafka's
// IllegalArgumentException, UNKNOWN_SERVER_ERROR. A type given twice or "" is INVALID_REQUEST, any other
// type UNSUPPORTED_VERSION, ip together with user or client-id INVALID_REQUEST. Entity types without a
// component match anything unless strict, which then requires them absent. Only quota keys are listed
// (producer_byte_rate, consumer_byte_rate, request_percentage, controller_mutation_rate; for ips
// connection_creation_rate), and entities without any are left out. Errors fail the whole request with
// ErrorMessage and null entries.
//
// Deviations: entries are sorted by entity (Kafka: hash map order); no authorization (DESCRIBE_CONFIGS on
// the cluster in Kafka) since Samsa has no authorizer.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/samsa-broker/samsa/broker/quota"
	"github.com/samsa-broker/samsa/zkregistry"
)

// Client quota entity types (ClientQuotaEntity) and match types (DescribeClientQuotasRequest).
const (
	quotaEntityUser     = "user"
	quotaEntityClientID = "client-id"
	quotaEntityIP       = "ip"

	quotaMatchExact     = 0
	quotaMatchDefault   = 1
	quotaMatchSpecified = 2

	ipConnectionCreationRate = "connection_creation_rate"
)

// quotaError is a Kafka error with the message Kafka sends for it.
type quotaError struct {
	code *kerr.Error
	msg  string
}

func (e *quotaError) Error() string { return e.msg }
func (e *quotaError) Unwrap() error { return e.code }

func newQuotaError(code *kerr.Error, format string, args ...any) error {
	return &quotaError{code: code, msg: fmt.Sprintf(format, args...)}
}

// quotaErrorMessage is the ErrorMessage for err: ours verbatim, anything else (ZooKeeper) as text.
func quotaErrorMessage(err error) *string {
	msg := err.Error()
	var qe *quotaError
	if errors.As(err, &qe) {
		msg = qe.msg
	}
	return &msg
}

// quotaConfigReader is what describing needs from ZooKeeper (*zkregistry.Client).
type quotaConfigReader interface {
	GetEntityConfig(entityType, entity string) (map[string]string, error)
	ReadAllEntityConfigs(entityType string) (map[string]map[string]string, error)
	ReadAllUserClientConfigs() (map[string]map[string]string, error)
}

// quotaFilter is one entity type's filter component: absent (set false), any specified (any), or an
// exact name or the default (name).
type quotaFilter struct {
	set  bool
	any  bool
	name quota.Name
}

func (f quotaFilter) exact() bool { return f.set && !f.any }

// matches is ZkAdminManager's matches: name is the entity's component (absent, default or a name).
func (f quotaFilter) matches(name quota.Name, strict bool) bool {
	switch {
	case !f.set:
		return !name.IsSet() || !strict
	case f.any:
		return name.IsSet()
	}
	return name == f.name
}

// quotaEntry is one described entity and its quota values.
type quotaEntry struct {
	user, clientID, ip quota.Name
	cfg                map[string]string  // the entity's whole config in ZooKeeper
	values             map[string]float64 // its quota keys
}

func handleDescribeClientQuotas(b *Broker, ctx context.Context, r *Request) (Response, error) {
	req := r.Msg.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	entries, err := describeClientQuotas(b.zk, req.Components, req.Strict)
	if err != nil {
		resp.ErrorCode = errorCode(b.log, err)
		resp.ErrorMessage = quotaErrorMessage(err)
		return Response{Msg: resp}, nil
	}
	resp.Entries = make([]kmsg.DescribeClientQuotasResponseEntry, 0, len(entries))
	for _, e := range entries {
		out := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range []struct {
			typ  string
			name quota.Name
		}{{quotaEntityUser, e.user}, {quotaEntityClientID, e.clientID}, {quotaEntityIP, e.ip}} {
			if !c.name.IsSet() {
				continue
			}
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type = c.typ
			if !c.name.IsDefault() {
				ent.Name = kmsg.StringPtr(c.name.Value())
			}
			out.Entity = append(out.Entity, ent)
		}
		for _, k := range sortedKeys(e.values) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, e.values[k]
			out.Values = append(out.Values, v)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return Response{Msg: resp}, nil
}

// describeClientQuotas is ZkAdminManager.describeClientQuotas over src.
func describeClientQuotas(src quotaConfigReader, comps []kmsg.DescribeClientQuotasRequestComponent, strict bool) ([]quotaEntry, error) {
	filters, err := parseQuotaFilters(comps)
	if err != nil {
		return nil, err
	}
	user, client, ip := filters[quotaEntityUser], filters[quotaEntityClientID], filters[quotaEntityIP]
	if (user.set || client.set) && ip.set {
		return nil, newQuotaError(kerr.InvalidRequest, "Invalid entity filter component combination, IP filter component should not be used with user or clientId filter component.")
	}
	var out []quotaEntry
	if !ip.set {
		if out, err = describeUserClientQuotas(src, user, client, strict); err != nil {
			return nil, err
		}
	}
	if !user.set && !client.set {
		ips, err := describeIPQuotas(src, ip, strict)
		if err != nil {
			return nil, err
		}
		out = append(out, ips...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key() < out[j].key() })
	return out, nil
}

func (e quotaEntry) key() string {
	return e.user.String() + "\x00" + e.clientID.String() + "\x00" + e.ip.String()
}

// parseQuotaFilters is DescribeClientQuotasRequest.filter plus describeClientQuotas' type checks.
func parseQuotaFilters(comps []kmsg.DescribeClientQuotasRequestComponent) (map[string]quotaFilter, error) {
	filters := make(map[string]quotaFilter, 3)
	parsed := make([]quotaFilter, len(comps))
	for i, c := range comps {
		f := quotaFilter{set: true}
		switch c.MatchType {
		case quotaMatchExact:
			if c.Match == nil {
				return nil, newQuotaError(kerr.UnknownServerError, "Unexpected null match string for exact match type")
			}
			f.name = quota.Named(*c.Match)
		case quotaMatchDefault:
			if c.Match != nil {
				return nil, newQuotaError(kerr.UnknownServerError, "Unexpected match string for default match type")
			}
			f.name = quota.Default
		case quotaMatchSpecified:
			if c.Match != nil {
				return nil, newQuotaError(kerr.UnknownServerError, "Unexpected match string for specified match type")
			}
			f.any = true
		default:
			return nil, newQuotaError(kerr.UnknownServerError, "Unexpected match type: %d", c.MatchType)
		}
		parsed[i] = f
	}
	for i, c := range comps {
		switch c.EntityType {
		case quotaEntityUser, quotaEntityClientID, quotaEntityIP:
			if filters[c.EntityType].set {
				what := map[string]string{quotaEntityUser: "user", quotaEntityClientID: "client", quotaEntityIP: "ip"}[c.EntityType]
				return nil, newQuotaError(kerr.InvalidRequest, "Duplicate %s filter component entity type", what)
			}
			filters[c.EntityType] = parsed[i]
		case "":
			return nil, newQuotaError(kerr.InvalidRequest, "Unexpected empty filter component entity type")
		default:
			return nil, newQuotaError(kerr.UnsupportedVersion, "Custom entity type '%s' not supported", c.EntityType)
		}
	}
	return filters, nil
}

// describeUserClientQuotas is ZkAdminManager.handleDescribeClientQuotas: read only the znodes the
// filter can match, then filter.
func describeUserClientQuotas(src quotaConfigReader, user, client quotaFilter, strict bool) ([]quotaEntry, error) {
	excludeUser, excludeClient := strict && !user.set, strict && !client.set
	var found []quotaEntry
	add := func(u, c quota.Name, cfg map[string]string) {
		found = append(found, quotaEntry{user: u, clientID: c, cfg: cfg})
	}
	switch {
	case user.exact() && excludeClient:
		cfg, err := src.GetEntityConfig(zkregistry.ConfigUsers, sanitizeQuotaName(user.name))
		if err != nil {
			return nil, err
		}
		add(user.name, quota.Name{}, cfg)
	case !excludeUser && !client.exact():
		all, err := src.ReadAllEntityConfigs(zkregistry.ConfigUsers)
		if err != nil {
			return nil, err
		}
		for name, cfg := range all {
			u, err := quotaName(name)
			if err != nil {
				return nil, err
			}
			add(u, quota.Name{}, cfg)
		}
	}
	switch {
	case excludeUser && client.exact():
		cfg, err := src.GetEntityConfig(zkregistry.ConfigClients, sanitizeQuotaName(client.name))
		if err != nil {
			return nil, err
		}
		add(quota.Name{}, client.name, cfg)
	case !user.exact() && !excludeClient:
		all, err := src.ReadAllEntityConfigs(zkregistry.ConfigClients)
		if err != nil {
			return nil, err
		}
		for name, cfg := range all {
			c, err := quotaName(name)
			if err != nil {
				return nil, err
			}
			add(quota.Name{}, c, cfg)
		}
	}
	switch {
	case user.exact() && client.exact():
		cfg, err := src.GetEntityConfig(zkregistry.ConfigUsers, sanitizeQuotaName(user.name)+"/clients/"+sanitizeQuotaName(client.name))
		if err != nil {
			return nil, err
		}
		add(user.name, client.name, cfg)
	case !excludeUser && !excludeClient:
		all, err := src.ReadAllUserClientConfigs()
		if err != nil {
			return nil, err
		}
		for name, cfg := range all {
			parts := strings.Split(name, "/")
			if len(parts) != 3 || parts[1] != zkregistry.ConfigClients {
				return nil, fmt.Errorf("unexpected config path: %s", name)
			}
			u, err := quotaName(parts[0])
			if err != nil {
				return nil, err
			}
			c, err := quotaName(parts[2])
			if err != nil {
				return nil, err
			}
			add(u, c, cfg)
		}
	}
	out := found[:0]
	for _, e := range found {
		if err := keepQuotaValues(&e, quota.IsClientOrUserQuotaConfig); err != nil {
			return nil, err
		}
		if len(e.values) > 0 && user.matches(e.user, strict) && client.matches(e.clientID, strict) {
			out = append(out, e)
		}
	}
	return out, nil
}

// describeIPQuotas is ZkAdminManager.handleDescribeIpQuotas.
func describeIPQuotas(src quotaConfigReader, ip quotaFilter, strict bool) ([]quotaEntry, error) {
	var found []quotaEntry
	switch {
	case ip.exact():
		cfg, err := src.GetEntityConfig(zkregistry.ConfigIPs, sanitizeQuotaName(ip.name))
		if err != nil {
			return nil, err
		}
		found = append(found, quotaEntry{ip: ip.name, cfg: cfg})
	case ip.any || (!ip.set && !strict):
		all, err := src.ReadAllEntityConfigs(zkregistry.ConfigIPs)
		if err != nil {
			return nil, err
		}
		for name, cfg := range all {
			n, err := quotaName(name)
			if err != nil {
				return nil, err
			}
			found = append(found, quotaEntry{ip: n, cfg: cfg})
		}
	}
	out := found[:0]
	for _, e := range found {
		if err := keepQuotaValues(&e, func(k string) bool { return k == ipConnectionCreationRate }); err != nil {
			return nil, err
		}
		if len(e.values) > 0 {
			out = append(out, e)
		}
	}
	return out, nil
}

// keepQuotaValues parses e's quota keys into values (Kafka's fromProps), dropping the rest; a quota key
// whose value is not a number is Kafka's IllegalStateException (UNKNOWN_SERVER_ERROR).
func keepQuotaValues(e *quotaEntry, isQuota func(string) bool) error {
	e.values = make(map[string]float64, len(e.cfg))
	for k, v := range e.cfg {
		if !isQuota(k) {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return newQuotaError(kerr.UnknownServerError, "Unexpected client quota configuration value: %s -> %s", k, v)
		}
		e.values[k] = f
	}
	return nil
}

// sanitizeQuotaName is ZkAdminManager.sanitizeEntityName.
func sanitizeQuotaName(n quota.Name) string {
	if n.IsDefault() {
		return zkregistry.DefaultEntity
	}
	return zkregistry.Sanitize(n.Value())
}

// validIPEntity is DynamicConfig.Ip.isValidIpEntity: <default>, an IP address or a resolvable host.
func validIPEntity(ctx context.Context, n quota.Name) bool {
	if n.IsDefault() || net.ParseIP(n.Value()) != nil {
		return true
	}
	_, err := net.DefaultResolver.LookupHost(ctx, n.Value())
	return err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
