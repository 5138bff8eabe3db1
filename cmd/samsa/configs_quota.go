package main

// The users/clients half of samsa configs: client quotas (KIP-546) through DescribeClientQuotas and
// AlterClientQuotas, as ConfigCommand's describeClientQuotaAndUserScramCredentialConfigs and
// alterQuotaConfigs do with --bootstrap-server.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

// quotaKeys are QuotaConfigs' user and client-id keys, the only ones --add-config may set for them.
var quotaKeys = []string{"producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"}

func quotaEntityType(t string) sarama.QuotaEntityType {
	if t == "users" {
		return sarama.QuotaEntityUser
	}
	return sarama.QuotaEntityClientID
}

// quotaFilter pairs each --entity-type with the name at its position (ConfigCommand.getAllClientQuotasConfigs):
// a name matches exactly, --entity-default the default entity, no name any entity of the type.
func (o configsOptions) quotaFilter() []sarama.QuotaFilterComponent {
	out := make([]sarama.QuotaFilterComponent, 0, len(o.types))
	for i, t := range o.types {
		c := sarama.QuotaFilterComponent{EntityType: quotaEntityType(t), MatchType: sarama.QuotaMatchAny}
		if i < len(o.names) {
			if o.names[i] == "" {
				c.MatchType = sarama.QuotaMatchDefault
			} else {
				c.MatchType, c.Match = sarama.QuotaMatchExact, o.names[i]
			}
		}
		out = append(out, c)
	}
	return out
}

// quotaEntity is the entity --alter changes: every type has a name or --entity-default (checked).
func (o configsOptions) quotaEntity() []sarama.QuotaEntityComponent {
	out := make([]sarama.QuotaEntityComponent, 0, len(o.types))
	for i, t := range o.types {
		c := sarama.QuotaEntityComponent{EntityType: quotaEntityType(t), MatchType: sarama.QuotaMatchExact, Name: o.names[i]}
		if o.names[i] == "" {
			c.MatchType = sarama.QuotaMatchDefault
		}
		out = append(out, c)
	}
	return out
}

func (o configsOptions) describeQuotas(admin sarama.ClusterAdmin, stdout io.Writer) error {
	entries, err := admin.DescribeClientQuotas(o.quotaFilter(), true)
	if err != nil {
		return err
	}
	writeQuotaEntries(stdout, entries)
	return nil
}

// writeQuotaEntries prints "Quota configs for user-principal 'alice', client-id 'app' are k=v, k2=v2" per
// entity, entities and keys sorted (Kafka prints them in hash map order).
func writeQuotaEntries(w io.Writer, entries []sarama.DescribeClientQuotasEntry) {
	lines := make([]string, 0, len(entries))
	for _, e := range entries {
		var who []string
		for _, typ := range []sarama.QuotaEntityType{sarama.QuotaEntityUser, sarama.QuotaEntityClientID, sarama.QuotaEntityIP} {
			for _, c := range e.Entity {
				if c.EntityType != typ {
					continue
				}
				label := map[sarama.QuotaEntityType]string{sarama.QuotaEntityUser: "user-principal",
					sarama.QuotaEntityClientID: "client-id", sarama.QuotaEntityIP: "ip"}[typ]
				if c.MatchType == sarama.QuotaMatchDefault {
					who = append(who, "the default "+label)
				} else {
					who = append(who, fmt.Sprintf("%s '%s'", label, c.Name))
				}
			}
		}
		keys := make([]string, 0, len(e.Values))
		for k := range e.Values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		kv := make([]string, 0, len(keys))
		for _, k := range keys {
			kv = append(kv, k+"="+javaDouble(e.Values[k]))
		}
		lines = append(lines, fmt.Sprintf("Quota configs for %s are %s", strings.Join(who, ", "), strings.Join(kv, ", ")))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// javaDouble formats f as Java's Double.toString: plain with at least one decimal in [1e-3, 1e7), otherwise
// computerized scientific notation ("1.0E7", "1.5E-4"); both with the shortest digits that round-trip.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1.5e+07
	mant, exp, _ := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

// parseQuotaOps turns --add-config/--delete-config into AlterClientQuotas ops, refusing keys that are not
// quotas and values that are not numbers, as ConfigCommand.alterConfig does for users and clients.
func (o configsOptions) parseQuotaOps() ([]sarama.ClientQuotasOp, error) {
	var unknown []string
	for _, k := range o.addOrder {
		if !contains(quotaKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("only quota configs can be added for '%s' using --bootstrap-server. Unexpected config names: %s",
			o.types[0], strings.Join(unknown, ","))
	}
	var ops []sarama.ClientQuotasOp
	for _, k := range o.addOrder {
		v, err := strconv.ParseFloat(o.add[k], 64)
		if err != nil {
			return nil, fmt.Errorf("cannot parse quota configuration value for %s: %s", k, o.add[k])
		}
		ops = append(ops, sarama.ClientQuotasOp{Key: k, Value: v})
	}
	for _, k := range o.del {
		ops = append(ops, sarama.ClientQuotasOp{Key: k, Remove: true})
	}
	return ops, nil
}

func (o configsOptions) alterQuotas(client sarama.Client, admin sarama.ClusterAdmin, stdout io.Writer) error {
	ops, err := o.parseQuotaOps()
	if err != nil {
		return err
	}
	if len(o.del) > 0 {
		entries, err := admin.DescribeClientQuotas(o.quotaFilter(), true)
		if err != nil {
			return err
		}
		set := map[string]bool{}
		for _, e := range entries {
			for k := range e.Values {
				set[k] = true
			}
		}
		if err := missingKeys(o.del, set); err != nil {
			return err
		}
	}
	// One entry with every op, so the entity changes at once (Sarama's AlterClientQuotas sends one op).
	req := &sarama.AlterClientQuotasRequest{Version: 1,
		Entries: []sarama.AlterClientQuotasEntry{{Entity: o.quotaEntity(), Ops: ops}}}
	ctrl, err := client.Controller()
	if err != nil {
		return err
	}
	_ = ctrl.Open(client.Config()) // ErrAlreadyConnected when the client opened it; a real failure shows below
	resp, err := ctrl.AlterClientQuotas(req)
	if err != nil {
		return err
	}
	for _, e := range resp.Entries {
		if e.ErrorCode != sarama.ErrNoError {
			if e.ErrorMsg != nil && *e.ErrorMsg != "" {
				return fmt.Errorf("%w: %s", e.ErrorCode, *e.ErrorMsg)
			}
			return e.ErrorCode
		}
	}
	if len(resp.Entries) == 0 {
		return errors.New("AlterClientQuotas: empty response")
	}
	writeCompleted(stdout, o.types[0], o.names[0])
	return nil
}
