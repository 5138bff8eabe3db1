package zkregistry

import (
	"fmt"
	"net/url"
	"strings"
)

// EncodeConfig writes /config/<type>/<entity>:
// {"version":1,"config":{"k":"v",...}} (all values strings, keys sorted —
// Kafka's key order is a java.util.Properties hash order readers ignore).
func EncodeConfig(config map[string]string) []byte {
	return newObject().int("version", 1).raw("config", stringMap(config)).bytes()
}

type configJSON struct {
	Version flexInt            `json:"version"`
	Config  map[string]*string `json:"config"`
}

// DecodeConfig parses a config entity znode. Null or empty data means "no
// overrides" (Kafka treats a missing node the same way).
func DecodeConfig(data []byte) (map[string]string, error) {
	if isEmpty(data) {
		return map[string]string{}, nil
	}
	var j configJSON
	if err := decodeJSON("config entity", data, &j); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(j.Config))
	for k, v := range j.Config {
		if v == nil {
			return nil, fmt.Errorf("decode config entity: %w: %q is null", ErrMalformed, k)
		}
		out[k] = *v
	}
	return out, nil
}

// ConfigChange is a /config/changes/config_change_<seq> notification; it
// only triggers a re-read of the entity znode.
type ConfigChange struct {
	// EntityPath is "<entityType>/<sanitized name>", possibly hierarchical
	// ("users/alice/clients/app1").
	EntityPath string
}

// Encode writes the version 2 form {"version":2,"entity_path":"topics/t"}.
func (c ConfigChange) Encode() []byte {
	return newObject().int("version", 2).str("entity_path", c.EntityPath).bytes()
}

type configChangeJSON struct {
	Version    flexInt `json:"version"`
	EntityPath *string `json:"entity_path"`
	EntityType *string `json:"entity_type"`
	EntityName *string `json:"entity_name"`
}

// DecodeConfigChange accepts version 2 and the legacy version 1
// ({"version":1,"entity_type":"topics","entity_name":"t"}, topics/clients only).
func DecodeConfigChange(data []byte) (ConfigChange, error) {
	const what = "config change notification"
	var j configChangeJSON
	if err := decodeJSON(what, data, &j); err != nil {
		return ConfigChange{}, err
	}
	v, err := int32Field(what, "version", j.Version)
	if err != nil {
		return ConfigChange{}, err
	}
	switch {
	case v == 2 && j.EntityPath != nil:
		return ConfigChange{EntityPath: *j.EntityPath}, nil
	case v == 1 && j.EntityType != nil && j.EntityName != nil:
		if *j.EntityType != ConfigTopics && *j.EntityType != ConfigClients {
			return ConfigChange{}, fmt.Errorf("decode %s: %w: version 1 entity type %q", what, ErrMalformed, *j.EntityType)
		}
		return ConfigChange{EntityPath: *j.EntityType + "/" + *j.EntityName}, nil
	}
	return ConfigChange{}, fmt.Errorf("decode %s: %w: unsupported content for version %d", what, ErrMalformed, v)
}

// Sanitize encodes a user principal or client id for use as a znode name
// (Kafka's Sanitizer): java.net.URLEncoder UTF-8 encoding, then '*' -> %2A
// and '+' (an encoded space) -> %20.
func Sanitize(name string) string {
	var b strings.Builder
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-', c == '_':
			b.WriteByte(c)
		default: // includes '*' and ' ', which URLEncoder would keep or turn into '+'
			b.WriteString("%" + string(hex[c>>4]) + string(hex[c&0xF]))
		}
	}
	return b.String()
}

// Desanitize reverses Sanitize (java.net.URLDecoder: '+' is a space).
func Desanitize(name string) (string, error) {
	s, err := url.QueryUnescape(name)
	if err != nil {
		return "", fmt.Errorf("%w: bad sanitized name %q", ErrMalformed, name)
	}
	return s, nil
}

func isEmpty(data []byte) bool {
	return len(strings.TrimSpace(string(data))) == 0 || string(data) == "null"
}
