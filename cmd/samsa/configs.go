package main

// samsa configs: Kafka 2.8's kafka-configs with --bootstrap-server (ConfigCommand's AdminClient path):
//
//	--describe --entity-type topics|brokers [--entity-name N | --entity-default] [--all]
//	    "Dynamic configs for topic demo are:" (or "All configs for broker 1 are:", "Default configs for
//	    brokers in the cluster are:"), then "  key=value sensitive=false synonyms={SOURCE:key=value, ...}"
//	    per entry sorted by name; without --all only entries whose source is the entity's own dynamic
//	    level. Without a name: every topic, or every broker and then the cluster default.  (DescribeConfigs)
//	--describe --entity-type users|clients [...]
//	    "Quota configs for user-principal 'alice', client-id 'app' are producer_byte_rate=1048576.0"
//	    per entity that has quotas; a type without a name matches every entity of that type.
//	                                                                          (DescribeClientQuotas, strict)
//	--alter --add-config k1=v1,k2=[a,b] --delete-config k
//	    "Completed updating config for topic demo." / "Completed updating default config for brokers in
//	    the cluster."; a key to delete that is not set fails with "Invalid config(s): k".
//	    (IncrementalAlterConfigs SET/DELETE for topics and brokers; AlterClientQuotas for users/clients,
//	    one entry with every op so the change is atomic)
//
// --entity-type users --entity-name alice --entity-type clients --entity-name app names the <user, client>
// pair, as in Kafka; --entity-default stands for a name and means the default entity. Values of
// --add-config are split at commas outside [...] and the brackets removed (ConfigCommand.parseConfigsToBeAdded).
// Quota values print as Java prints doubles (1048576.0, 1.0E7). Failures print "Error while executing config
// command : ..." and exit 1; usage errors exit 2.
// Deviations: broker configs are changed with IncrementalAlterConfigs (Kafka 2.8 reads the broker's
// dynamic configs and writes them back whole with AlterConfigs, which needs every sensitive value
// resupplied); no --zookeeper, --add-config-file, broker-loggers, ips or SCRAM credentials.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

type configsOptions struct {
	bootstrap []string
	action    string   // describe or alter
	types     []string // topics, brokers, users or clients, in command-line order
	names     []string // one per --entity-name/--entity-default in order; "" is the default entity
	all       bool
	add       map[string]string
	addOrder  []string // keys of add as given, for stable requests
	del       []string
}

const configsUsage = "usage: samsa configs --bootstrap-server HOST:PORT --entity-type topics|brokers|users|clients " +
	"[--entity-name N | --entity-default]... (--describe [--all] | --alter [--add-config k=v,k2=[a,b]] [--delete-config k,k2])"

// entityNames records --entity-name and --entity-default in the order given, as ConfigCommandOptions.entityNames
// does, so each pairs with the --entity-type at the same position.
type entityNames struct {
	names     *[]string
	isDefault bool
}

func (e entityNames) String() string { return "" }

func (e entityNames) IsBoolFlag() bool { return e.isDefault }

func (e entityNames) Set(v string) error {
	if e.isDefault {
		if v != "true" {
			return fmt.Errorf("--entity-default takes no value")
		}
		*e.names = append(*e.names, "")
		return nil
	}
	if v == "" {
		return errors.New("--entity-name must not be empty (use --entity-default for the default entity)")
	}
	*e.names = append(*e.names, v)
	return nil
}

func parseConfigsArgs(args []string, stderr io.Writer) (configsOptions, error) {
	fs, bootstrap := toolFlags("configs", configsUsage, stderr)
	describe := fs.Bool("describe", false, "list configs for the given entity")
	alter := fs.Bool("alter", false, "alter the configuration for the entity")
	all := fs.Bool("all", false, "with --describe of topics or brokers: list all configs, defaults included")
	var types multiFlag
	fs.Var(&types, "entity-type", "type of entity: topics, brokers, users or clients (repeatable for a user, client pair)")
	var names []string
	fs.Var(entityNames{names: &names}, "entity-name", "name of the entity: topic name, broker id, user principal or client id")
	fs.Var(entityNames{names: &names, isDefault: true}, "entity-default", "the default entity of users, clients or brokers")
	addConfig := fs.String("add-config", "", "key=value pairs to set, comma-separated; a list value in brackets: k=[a,b]")
	var delConfig multiFlag
	fs.Var(&delConfig, "delete-config", "config keys to remove, comma-separated (repeatable)")
	if err := fs.Parse(args); err != nil {
		return configsOptions{}, err
	}
	if fs.NArg() > 0 {
		return configsOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := configsOptions{types: types, names: names, all: *all}
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	if *describe == *alter {
		return o, errors.New("command must include exactly one action: --describe, --alter")
	}
	o.action = "describe"
	if *alter {
		o.action = "alter"
	}
	if *addConfig != "" {
		if o.add, o.addOrder, err = parseAddConfig(*addConfig); err != nil {
			return o, err
		}
	}
	for _, d := range delConfig {
		for _, k := range strings.Split(d, ",") {
			if k = strings.TrimSpace(k); k != "" {
				o.del = append(o.del, k)
			}
		}
	}
	return o, o.check()
}

// check applies ConfigCommandOptions.checkArgs' rules for the --bootstrap-server path.
func (o configsOptions) check() error {
	if len(o.types) == 0 {
		return errors.New("at least one --entity-type must be specified")
	}
	seen := map[string]bool{}
	for _, t := range o.types {
		switch t {
		case "topics", "brokers", "users", "clients":
		default:
			return fmt.Errorf("--entity-type %q: must be one of topics, brokers, users, clients", t)
		}
		if seen[t] {
			return fmt.Errorf("duplicate entity type: %s", t)
		}
		seen[t] = true
	}
	if len(o.types) > 1 && !(len(o.types) == 2 && seen["users"] && seen["clients"]) {
		return errors.New("only a <users, clients> pair may be given as two --entity-type options")
	}
	if len(o.names) > len(o.types) {
		return errors.New("more entity names specified than entity types")
	}
	quota := o.isQuota()
	if o.types[0] == "topics" && len(o.names) == 1 && o.names[0] == "" {
		return errors.New("--entity-default is not valid for topics")
	}
	if o.all && (o.action != "describe" || quota) {
		return errors.New("--all can only be used with --describe of topics or brokers")
	}
	if o.action == "describe" && (o.add != nil || o.del != nil) {
		return errors.New("--add-config and --delete-config can only be used with --alter")
	}
	if o.action == "alter" {
		if len(o.names) != len(o.types) {
			return fmt.Errorf("an --entity-name or --entity-default must be given for every --entity-type with --alter")
		}
		if o.add == nil && o.del == nil {
			return errors.New("at least one of --add-config or --delete-config must be specified with --alter")
		}
		for _, k := range o.del {
			if _, ok := o.add[k]; ok {
				return fmt.Errorf("config %s is both added and deleted", k)
			}
		}
	}
	if o.types[0] == "brokers" && len(o.names) == 1 && o.names[0] != "" {
		if _, err := strconv.ParseInt(o.names[0], 10, 32); err != nil {
			return fmt.Errorf("the entity name for brokers must be a valid integer broker id, found: %s", o.names[0])
		}
	}
	return nil
}

func (o configsOptions) isQuota() bool { return o.types[0] == "users" || o.types[0] == "clients" }

// parseAddConfig reads --add-config as ConfigCommand.parseConfigsToBeAdded does: pairs split at commas
// outside brackets, each at the one '=' outside brackets, brackets then dropped from the value
// ("k=[a,b]" sets "a,b"), keys and values trimmed. An empty value is allowed.
func parseAddConfig(s string) (map[string]string, []string, error) {
	out := map[string]string{}
	var order []string
	for _, pair := range splitOutsideBrackets(s, ',') {
		kv := splitOutsideBrackets(pair, '=')
		if len(kv) != 2 || strings.TrimSpace(kv[0]) == "" {
			return nil, nil, fmt.Errorf("invalid entity config %q: all configs to be added must be in the format \"key=val\"", pair)
		}
		k := strings.TrimSpace(kv[0])
		v := strings.TrimSpace(strings.NewReplacer("[", "", "]", "").Replace(kv[1]))
		if _, dup := out[k]; !dup {
			order = append(order, k)
		}
		out[k] = v
	}
	return out, order, nil
}

func splitOutsideBrackets(s string, sep byte) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			if depth > 0 {
				depth--
			}
		case sep:
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func runConfigs(args []string, stdout, stderr io.Writer) int {
	o, err := parseConfigsArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa configs: %v\n%s\n", err, configsUsage)
		return 2
	}
	client, admin, err := openAdmin(o.bootstrap, "samsa-configs")
	if err != nil {
		fmt.Fprintf(stderr, "Error while executing config command : %v\n", err)
		return 1
	}
	defer client.Close()
	switch {
	case o.action == "describe" && o.isQuota():
		err = o.describeQuotas(admin, stdout)
	case o.action == "describe":
		err = o.describeConfigs(client, admin, stdout)
	case o.isQuota():
		err = o.alterQuotas(client, admin, stdout)
	default:
		err = o.alterConfigs(admin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error while executing config command : %v\n", err)
		return 1
	}
	return 0
}

// resourceType is the DescribeConfigs/IncrementalAlterConfigs resource of topics and brokers.
func (o configsOptions) resourceType() sarama.ConfigResourceType {
	if o.types[0] == "topics" {
		return sarama.TopicResource
	}
	return sarama.BrokerResource
}

// dynamicSource is the source whose entries --describe shows without --all: the entity's own level.
func dynamicSource(entityType, name string) sarama.ConfigSource {
	switch {
	case entityType == "topics":
		return sarama.SourceTopic
	case name == "":
		return sarama.SourceDynamicDefaultBroker
	}
	return sarama.SourceDynamicBroker
}

func (o configsOptions) describeConfigs(client sarama.Client, admin sarama.ClusterAdmin, stdout io.Writer) error {
	entities := o.names
	if len(entities) == 0 {
		if o.types[0] == "topics" {
			topics, err := client.Topics()
			if err != nil {
				return err
			}
			sort.Strings(topics)
			entities = topics
		} else {
			ids := brokerIDs(client.Brokers())
			for _, id := range ids {
				entities = append(entities, strconv.Itoa(int(id)))
			}
			entities = append(entities, "")
		}
	}
	for _, name := range entities {
		res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: o.resourceType(), Name: name}},
			sarama.DescribeConfigsOptions{IncludeSynonyms: true})
		if err != nil {
			return err
		}
		var entries []sarama.ConfigEntry
		for _, r := range res {
			if r.ErrorCode != sarama.ErrNoError {
				return &sarama.DescribeConfigError{Err: r.ErrorCode, ErrMsg: r.ErrorMsg}
			}
			entries = append(entries, r.Configs...)
		}
		writeConfigEntries(stdout, o.types[0], name, o.all, entries)
	}
	return nil
}

// writeConfigEntries prints one entity as ConfigCommand.describeResourceConfig does.
func writeConfigEntries(w io.Writer, entityType, name string, all bool, entries []sarama.ConfigEntry) {
	switch {
	case name == "":
		fmt.Fprintf(w, "Default configs for %s in the cluster are:\n", entityType)
	case all:
		fmt.Fprintf(w, "All configs for %s %s are:\n", strings.TrimSuffix(entityType, "s"), name)
	default:
		fmt.Fprintf(w, "Dynamic configs for %s %s are:\n", strings.TrimSuffix(entityType, "s"), name)
	}
	want := dynamicSource(entityType, name)
	sorted := make([]sarama.ConfigEntry, 0, len(entries))
	for _, e := range entries {
		if all || e.Source == want {
			sorted = append(sorted, e)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, e := range sorted {
		syn := make([]string, 0, len(e.Synonyms))
		for _, s := range e.Synonyms {
			syn = append(syn, fmt.Sprintf("%s:%s=%s", sourceName(s.Source), s.ConfigName, sensitiveValue(s.ConfigValue, e.Sensitive)))
		}
		fmt.Fprintf(w, "  %s=%s sensitive=%t synonyms={%s}\n", e.Name, sensitiveValue(e.Value, e.Sensitive), e.Sensitive, strings.Join(syn, ", "))
	}
}

// sensitiveValue prints a sensitive value as Java prints the null the broker sent.
func sensitiveValue(v string, sensitive bool) string {
	if sensitive && v == "" {
		return "null"
	}
	return v
}

// sourceName is ConfigEntry.ConfigSource's Java enum name.
func sourceName(s sarama.ConfigSource) string {
	switch s {
	case sarama.SourceTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case sarama.SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case sarama.SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case sarama.SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case sarama.SourceDefault:
		return "DEFAULT_CONFIG"
	case 6:
		return "DYNAMIC_BROKER_LOGGER_CONFIG"
	}
	return "UNKNOWN"
}

func brokerIDs(brokers []*sarama.Broker) []int32 {
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, b.ID())
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (o configsOptions) alterConfigs(admin sarama.ClusterAdmin, stdout io.Writer) error {
	name := o.names[0]
	if len(o.del) > 0 {
		// Kafka refuses to delete what the entity does not set at its own level.
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: o.resourceType(), Name: name})
		if err != nil {
			return err
		}
		set := map[string]bool{}
		for _, e := range entries {
			if e.Source == dynamicSource(o.types[0], name) {
				set[e.Name] = true
			}
		}
		if err := missingKeys(o.del, set); err != nil {
			return err
		}
	}
	ops := map[string]sarama.IncrementalAlterConfigsEntry{}
	for _, k := range o.addOrder {
		v := o.add[k]
		ops[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	for _, k := range o.del {
		ops[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationDelete}
	}
	if err := admin.IncrementalAlterConfig(o.resourceType(), name, ops, false); err != nil {
		return err
	}
	writeCompleted(stdout, o.types[0], name)
	return nil
}

func missingKeys(del []string, set map[string]bool) error {
	var missing []string
	for _, k := range del {
		if !set[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Invalid config(s): %s", strings.Join(missing, ","))
	}
	return nil
}

func writeCompleted(w io.Writer, entityType, name string) {
	if name == "" {
		fmt.Fprintf(w, "Completed updating default config for %s in the cluster.\n", entityType)
		return
	}
	fmt.Fprintf(w, "Completed updating config for %s %s.\n", strings.TrimSuffix(entityType, "s"), name)
}
