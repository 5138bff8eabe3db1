package main

// Shared pieces of the client tools (topics, produce, consume): Kafka-style repeatable flags, --property
// parsing, and the Sarama configuration they all use. The tools speak only the Kafka protocol (Sarama at
// V2_8_0_0), never ZooKeeper, so they work against Kafka 2.8 brokers too.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// multiFlag collects a repeatable flag (--config k=v --config k2=v2), as Kafka's tools accept.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// parseProperties turns "k=v" entries into a map, refusing keys outside known: a typo in --property must not
// pass silently (Kafka's formatters ignore unknown keys; we do not).
func parseProperties(flagName string, entries []string, known []string) (map[string]string, error) {
	out := map[string]string{}
	var errs []error
	for _, e := range entries {
		k, v, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("--%s %q: expected key=value", flagName, e))
			continue
		}
		if known != nil && !contains(known, k) {
			errs = append(errs, fmt.Errorf("--%s %q: unknown key (known: %s)", flagName, k, strings.Join(known, ", ")))
			continue
		}
		out[k] = v
	}
	return out, errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// parseBool reads a property's boolean value the way Kafka's tools do (case-insensitive "true").
func parseBool(props map[string]string, key string, def bool) bool {
	v, ok := props[key]
	if !ok {
		return def
	}
	return strings.EqualFold(strings.TrimSpace(v), "true")
}

// splitBootstrap splits --bootstrap-server's comma-separated HOST:PORT list.
func splitBootstrap(s string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--bootstrap-server is required (HOST:PORT[,HOST:PORT...])")
	}
	return out, nil
}

// toolConfig is the Sarama configuration of every tool: Kafka 2.8's protocol versions, a client id naming
// the tool, and no topic auto-creation by the client (a typo in --topic must not create a topic).
func toolConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = clientID
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Metadata.Retry.Max = 5
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	cfg.Admin.Timeout = 30 * time.Second
	return cfg
}

// toolFlags is the flag set every client tool starts with: errors and usage to stderr, and the
// --bootstrap-server flag.
func toolFlags(name, usage string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, usage); fs.PrintDefaults() }
	return fs, fs.String("bootstrap-server", "", "REQUIRED: the server(s) to connect to, HOST:PORT[,HOST:PORT]")
}

// oneAction returns the one action flag set among actions (Kafka's tools accept exactly one), else an error
// with msg.
func oneAction(actions map[string]*bool, msg string) (string, error) {
	var chosen []string
	for name, set := range actions {
		if *set {
			chosen = append(chosen, name)
		}
	}
	if len(chosen) != 1 {
		return "", errors.New(msg)
	}
	return chosen[0], nil
}

// openAdmin connects a tool's client and admin (toolConfig); closing the client closes both.
func openAdmin(bootstrap []string, clientID string) (sarama.Client, sarama.ClusterAdmin, error) {
	client, err := sarama.NewClient(bootstrap, toolConfig(clientID))
	if err != nil {
		return nil, nil, err
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, admin, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
