package zkregistry

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// UUID is Kafka's Uuid (KIP-516 topic ids) and the cluster id's bytes: 16
// bytes, written as unpadded base64url (22 characters).
type UUID [16]byte

// ZeroUUID is Kafka's Uuid.ZERO_UUID ("AAAAAAAAAAAAAAAAAAAAAA"), meaning "no id".
var ZeroUUID UUID

// NewUUID returns a random version-4 UUID (java.util.UUID.randomUUID, as
// Kafka uses). Like Kafka's Uuid.randomUuid it never returns the zero UUID,
// and it avoids a leading '-', which command-line tools would take for a flag.
func NewUUID() UUID {
	for {
		var u UUID
		if _, err := rand.Read(u[:]); err != nil {
			panic("zkregistry: crypto/rand failed: " + err.Error())
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // IETF variant
		if s := u.String(); s[0] != '-' {
			return u
		}
	}
}

// String returns the unpadded base64url form.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// IsZero reports whether u is ZeroUUID.
func (u UUID) IsZero() bool { return u == ZeroUUID }

// ParseUUID parses the 22-character unpadded base64url form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(u) {
		return u, fmt.Errorf("%w: invalid uuid %q", ErrMalformed, s)
	}
	copy(u[:], b)
	return u, nil
}
