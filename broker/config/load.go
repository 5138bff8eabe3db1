package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load builds the broker configuration: defaults, then the YAML file at path, then overrides ("key=value", the
// same key space), then Validate. Every problem of all three steps comes back at once, joined (see Error).
//
// With path == "" (no --config) the base is RunDefaults (ZooKeeper at 127.0.0.1:2181, data under ./data);
// with a file it is Default, Kafka's own defaults, so zookeeper.connect must be given as in Kafka.
func Load(path string, overrides []string) (*Config, error) {
	if path == "" {
		return build(RunDefaults(), nil, "", overrides)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return build(Default(), data, path, overrides)
}

// Parse is Load for YAML already in memory; source names it in messages.
func Parse(data []byte, source string, overrides []string) (*Config, error) {
	return build(Default(), data, source, overrides)
}

func build(c *Config, data []byte, source string, overrides []string) (*Config, error) {
	var errs []error
	if data != nil {
		yerrs, err := c.decodeYAML(data, source)
		if err != nil {
			return nil, err
		}
		errs = append(errs, yerrs...)
	}
	for _, o := range overrides {
		key, value, ok := strings.Cut(o, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, &Error{Source: "--override", Key: o, Value: o, kind: ErrInvalidValue,
				Reason: "expected key=value"})
			continue
		}
		if err := c.Set(key, value); err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Source = "--override"
			}
			errs = append(errs, err)
			continue
		}
		c.setOrigin(key, "--override")
	}
	// A key that failed to parse keeps its default; checks naming that key again would only repeat the problem.
	failed := map[string]bool{}
	for _, err := range errs {
		var e *Error
		if errors.As(err, &e) {
			failed[e.Key] = true
		}
	}
	for _, err := range c.problems() {
		if !failed[err.Key] {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Set parses value into key as a file or --override entry would, and records the key as explicitly set.
// Lists are comma-separated. It does not run Validate.
func (c *Config) Set(key, value string) error {
	if err := brokerSchema.set(c, key, value); err != nil {
		if err == errUnknown {
			return unknownKey("", key, hintFor(key))
		}
		return invalid(key, value, "%v", err)
	}
	c.markSet(key, value)
	return nil
}

func (c *Config) setOrigin(key, where string) {
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	c.origin[key] = where
}

func (c *Config) markSet(key, value string) {
	if c.raw == nil {
		c.raw = map[string]string{}
	}
	c.raw[key] = strings.TrimSpace(value)
	delete(c.origin, key) // the caller records a new origin, if any
}

// decodeYAML applies a YAML mapping of flat Kafka property names. It walks yaml.Node itself rather than
// decoding into the struct with KnownFields(true): yaml.v3's type errors name a line but not the key, stop at
// nothing for us to report per key, and cannot accept "a list or a comma-separated string". A YAML syntax
// error is returned as err; per-key problems as errs.
func (c *Config) decodeYAML(data []byte, source string) (errs []error, err error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF { // empty file: all defaults
			return nil, nil
		}
		return nil, fmt.Errorf("parse %s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, fmt.Errorf("parse %s: expected a single YAML document", source)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse %s: line %d: expected a mapping of Kafka property names to values", source, root.Line)
	}
	defaults := Default()
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		where := fmt.Sprintf("%s:%d", source, k.Line)
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, &Error{Source: where, kind: ErrInvalidValue, Reason: "keys must be plain Kafka property names"})
			continue
		}
		key := k.Value
		if line, dup := seen[key]; dup {
			errs = append(errs, &Error{Source: where, Key: key, kind: ErrInvalidValue,
				Reason: fmt.Sprintf("set twice (first at line %d)", line)})
			continue
		}
		seen[key] = k.Line
		if _, ok := brokerSchema.lookup(key); !ok {
			hint := hintFor(key)
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 { // nested: "log:\n  dirs: x"
				hint = fmt.Sprintf(" (Kafka property names are flat: write \"%s.%s: ...\")", key, v.Content[0].Value)
			}
			errs = append(errs, unknownKey(where, key, hint))
			continue
		}
		if err := c.setNode(key, v, defaults); err != nil {
			err.Source = where
			errs = append(errs, err)
			continue
		}
		c.setOrigin(key, where)
	}
	return errs, nil
}

// setNode accepts a scalar (any YAML type: Kafka properties are text), null for nullable keys, and for list keys
// a sequence of scalars as well as a comma-separated string.
func (c *Config) setNode(key string, v *yaml.Node, defaults *Config) *Error {
	switch {
	case v.Kind == yaml.AliasNode:
		return c.setNode(key, v.Alias, defaults)
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		if err := brokerSchema.setNull(c, key, defaults); err != nil {
			return problem(key, "%v", err)
		}
		delete(c.raw, key)
		return nil
	case v.Kind == yaml.ScalarNode:
		if err := c.Set(key, v.Value); err != nil {
			return err.(*Error)
		}
		return nil
	case v.Kind == yaml.SequenceNode && brokerSchema.isList(key):
		items := make([]string, 0, len(v.Content))
		for _, it := range v.Content {
			if it.Kind != yaml.ScalarNode {
				return problem(key, "list items must be plain values (line %d)", it.Line)
			}
			items = append(items, it.Value)
		}
		if err := c.Set(key, strings.Join(items, ",")); err != nil {
			return err.(*Error)
		}
		return nil
	case v.Kind == yaml.SequenceNode:
		return problem(key, "expected a single value, not a list")
	default:
		return problem(key, "expected a single value, not a mapping")
	}
}

// hintFor helps with the two usual mistakes: nesting ("log:\n  dirs: x") and a near-miss spelling.
func hintFor(key string) string {
	for _, k := range brokerSchema.keys {
		if strings.HasPrefix(k, key+".") {
			return " (Kafka property names are flat: write e.g. \"" + k + ": ...\")"
		}
	}
	if b := TopicConfigSynonym(key); b != "" {
		return " (that is a topic config; set it per topic, or its broker default " + b + ")"
	}
	return ""
}
