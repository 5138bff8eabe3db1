package config

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownKey marks a property name that is not a known broker (or topic) config.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrInvalidValue marks a value that does not parse or is out of range, alone or with another key.
	ErrInvalidValue = errors.New("config: invalid value")

	errUnknown = errors.New("unknown key") // schema.set's reason for an unknown key
)

// Error is one configuration problem. Load, Validate, TopicConfig and ValidateTopicConfigs return every
// problem found, joined with errors.Join; errors.As finds the first *Error, errors.Is matches ErrUnknownKey or
// ErrInvalidValue.
type Error struct {
	Source string // where the value came from: "broker.yaml:12", "--override"; "" for checks across keys
	Key    string // the Kafka property name
	Value  string // the offending value as written ("" when the key is missing)
	Reason string
	kind   error
}

func (e *Error) Error() string {
	prefix := ""
	if e.Source != "" {
		prefix = e.Source + ": "
	}
	if e.kind == ErrUnknownKey {
		return fmt.Sprintf("%sunknown config key %q%s", prefix, e.Key, e.Reason)
	}
	return fmt.Sprintf("%s%s: %s", prefix, e.Key, e.Reason)
}

func (e *Error) Unwrap() error { return e.kind }

func unknownKey(source, key, hint string) *Error {
	return &Error{Source: source, Key: key, Reason: hint, kind: ErrUnknownKey}
}

// invalid reports a bad value of one key; the message quotes the value.
func invalid(key, value, format string, args ...any) *Error {
	return &Error{Key: key, Value: value, kind: ErrInvalidValue,
		Reason: fmt.Sprintf("invalid value %q: %s", value, fmt.Sprintf(format, args...))}
}

// problem reports a key whose setting is wrong without a single bad value to quote (missing, conflicting).
func problem(key, format string, args ...any) *Error {
	return &Error{Key: key, kind: ErrInvalidValue, Reason: fmt.Sprintf(format, args...)}
}
