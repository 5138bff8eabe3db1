package zkregistry

import (
	"fmt"
	"strings"
)

// ACL is one entry of a /kafka-acl/<ResourceType>/<name> znode. Operation
// and permission type use Kafka's PascalCase names (Read, Allow, ...).
type ACL struct {
	Principal      string // "User:alice"
	PermissionType string // Allow | Deny
	Operation      string // Read, Write, ClusterAction, IdempotentWrite, ...
	Host           string // "*" for any
}

// EncodeACLs writes {"version":1,"acls":[{"principal":..,"permissionType":..,"operation":..,"host":..}]}.
func EncodeACLs(acls []ACL) []byte {
	list := []byte{'['}
	for i, a := range acls {
		if i > 0 {
			list = append(list, ',')
		}
		o := newObject().str("principal", a.Principal).str("permissionType", a.PermissionType)
		list = append(list, o.str("operation", a.Operation).str("host", a.Host).bytes()...)
	}
	list = append(list, ']')
	return newObject().int("version", 1).raw("acls", list).bytes()
}

// DecodeACLs parses an ACL resource znode.
func DecodeACLs(data []byte) ([]ACL, error) {
	const what = "acls"
	var j struct {
		ACLs []struct {
			Principal, PermissionType, Operation, Host *string
		} `json:"acls"`
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return nil, err
	}
	if j.ACLs == nil {
		return nil, fmt.Errorf("decode %s: %w: missing \"acls\"", what, ErrMalformed)
	}
	out := make([]ACL, 0, len(j.ACLs))
	for _, a := range j.ACLs {
		if a.Principal == nil || a.PermissionType == nil || a.Operation == nil || a.Host == nil {
			return nil, fmt.Errorf("decode %s: %w: incomplete entry", what, ErrMalformed)
		}
		out = append(out, ACL{Principal: *a.Principal, PermissionType: *a.PermissionType,
			Operation: *a.Operation, Host: *a.Host})
	}
	return out, nil
}

// EncodeACLChange writes a /kafka-acl-changes notification: the UTF-8 string
// "<RESOURCE_TYPE enum name>:<name>", e.g. "TOPIC:orders".
func EncodeACLChange(resourceType, name string) []byte { return []byte(resourceType + ":" + name) }

// DecodeACLChange splits a literal ACL change notification.
func DecodeACLChange(data []byte) (resourceType, name string, err error) {
	rt, n, ok := strings.Cut(string(data), ":")
	if !ok || rt == "" {
		return "", "", fmt.Errorf("decode acl change: %w: %q", ErrMalformed, data)
	}
	return rt, n, nil
}

// ExtendedACLChange is a /kafka-acl-extended-changes notification (enum names).
type ExtendedACLChange struct {
	ResourceType string // TOPIC, GROUP, ...
	Name         string
	PatternType  string // PREFIXED
}

// Encode writes {"version":1,"resourceType":..,"name":..,"patternType":..}.
func (c ExtendedACLChange) Encode() []byte {
	o := newObject().int("version", 1).str("resourceType", c.ResourceType)
	return o.str("name", c.Name).str("patternType", c.PatternType).bytes()
}

// DecodeExtendedACLChange parses an extended ACL change notification.
func DecodeExtendedACLChange(data []byte) (ExtendedACLChange, error) {
	var j struct {
		ResourceType, Name, PatternType *string
	}
	if err := decodeJSON("extended acl change", data, &j); err != nil {
		return ExtendedACLChange{}, err
	}
	if j.ResourceType == nil || j.Name == nil || j.PatternType == nil {
		return ExtendedACLChange{}, fmt.Errorf("decode extended acl change: %w: incomplete", ErrMalformed)
	}
	return ExtendedACLChange{ResourceType: *j.ResourceType, Name: *j.Name, PatternType: *j.PatternType}, nil
}

// DelegationToken is /delegation_token/tokens/<tokenId>. Principals are
// stored sanitized ("User%3Ax").
type DelegationToken struct {
	Owner           string
	Renewers        []string
	IssueTimestamp  int64
	MaxTimestamp    int64
	ExpiryTimestamp int64
	TokenID         string
}

// Encode writes {"version":1,"owner":..,"renewers":[..],"issueTimestamp":..,
// "maxTimestamp":..,"expiryTimestamp":..,"tokenId":..}.
func (t DelegationToken) Encode() []byte {
	o := newObject().int("version", 1).str("owner", t.Owner).raw("renewers", appendStrings(nil, t.Renewers))
	o.int("issueTimestamp", t.IssueTimestamp).int("maxTimestamp", t.MaxTimestamp)
	return o.int("expiryTimestamp", t.ExpiryTimestamp).str("tokenId", t.TokenID).bytes()
}

// DecodeDelegationToken parses a token znode.
func DecodeDelegationToken(data []byte) (DelegationToken, error) {
	const what = "delegation token"
	var j struct {
		Owner, TokenID                                *string
		Renewers                                      []string
		IssueTimestamp, MaxTimestamp, ExpiryTimestamp flexInt
	}
	if err := decodeJSON(what, data, &j); err != nil {
		return DelegationToken{}, err
	}
	if j.Owner == nil || j.TokenID == nil {
		return DelegationToken{}, fmt.Errorf("decode %s: %w: missing owner or tokenId", what, ErrMalformed)
	}
	t := DelegationToken{Owner: *j.Owner, TokenID: *j.TokenID, Renewers: j.Renewers}
	var err error
	if t.IssueTimestamp, err = int64Field(what, "issueTimestamp", j.IssueTimestamp); err != nil {
		return t, err
	}
	if t.MaxTimestamp, err = int64Field(what, "maxTimestamp", j.MaxTimestamp); err != nil {
		return t, err
	}
	if t.ExpiryTimestamp, err = int64Field(what, "expiryTimestamp", j.ExpiryTimestamp); err != nil {
		return t, err
	}
	return t, nil
}
