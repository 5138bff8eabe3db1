package zkregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Kafka writes znode JSON with Jackson: compact, keys in the order the Scala
// code builds its maps, no HTML escaping. encoding/json sorts map keys
// (numerically-keyed maps as strings: "10" < "2") and escapes <>&, so the
// encoders here write bytes directly with a tiny object builder. Maps inside
// values (configs, listener maps) have no meaningful order in Kafka (hash
// maps); we write them sorted so output is deterministic.

// jsonObject appends "key":value pairs in call order.
type jsonObject struct {
	b []byte
	n int
}

func newObject() *jsonObject { return &jsonObject{b: []byte{'{'}} }

func (o *jsonObject) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = appendString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *jsonObject) int(k string, v int64) *jsonObject {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
	return o
}

func (o *jsonObject) str(k, v string) *jsonObject {
	o.key(k)
	o.b = appendString(o.b, v)
	return o
}

// intStr writes a number as a JSON string, as Kafka does for timestamps and
// producer-id block bounds.
func (o *jsonObject) intStr(k string, v int64) *jsonObject {
	return o.str(k, strconv.FormatInt(v, 10))
}

func (o *jsonObject) null(k string) *jsonObject {
	o.key(k)
	o.b = append(o.b, "null"...)
	return o
}

func (o *jsonObject) raw(k string, v []byte) *jsonObject {
	o.key(k)
	o.b = append(o.b, v...)
	return o
}

func (o *jsonObject) bytes() []byte { return append(o.b, '}') }

// appendString writes s as a JSON string the way Jackson does: only '"',
// '\\' and control characters are escaped (short forms where JSON has them,
// else \u00XX in upper-case hex); invalid UTF-8 becomes U+FFFD so the output
// is always valid JSON.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, "\uFFFD"...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
		i++
	}
	return append(b, '"')
}

func appendInts(b []byte, v []int32) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

func appendStrings(b []byte, v []string) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// stringMap encodes map[string]string with sorted keys.
func stringMap(m map[string]string) []byte {
	o := newObject()
	for _, k := range sortedKeys(m) {
		o.str(k, m[k])
	}
	return o.bytes()
}

// partitionMap encodes {"<partition>":[replicas]} in numeric partition order.
func partitionMap(m map[int32][]int32) []byte {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := newObject()
	for _, k := range keys {
		o.key(strconv.FormatInt(int64(k), 10))
		o.b = appendInts(o.b, m[k])
	}
	return o.bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeJSON unmarshals a znode's JSON; empty or null data is an error here
// (callers that accept "no content" check before calling). Unknown fields are
// ignored, as Kafka's readers do.
func decodeJSON(what string, data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("decode %s: %w", what, ErrNoData)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w: %v", what, ErrMalformed, err)
	}
	return nil
}

// flexInt accepts a JSON number or a string holding a decimal integer:
// Kafka writes several numbers as strings (timestamps, producer-id blocks,
// /cluster/id's version) and readers must accept both forms.
type flexInt struct {
	v   int64
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = str
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	f.v, f.set = v, true
	return nil
}

// int32Field checks a required flexInt fits in int32.
func int32Field(what, name string, f flexInt) (int32, error) {
	if !f.set {
		return 0, fmt.Errorf("decode %s: %w: missing %q", what, ErrMalformed, name)
	}
	if f.v < -1<<31 || f.v > 1<<31-1 {
		return 0, fmt.Errorf("decode %s: %w: %q out of range: %d", what, ErrMalformed, name, f.v)
	}
	return int32(f.v), nil
}

func int64Field(what, name string, f flexInt) (int64, error) {
	if !f.set {
		return 0, fmt.Errorf("decode %s: %w: missing %q", what, ErrMalformed, name)
	}
	return f.v, nil
}
