package zkregistry

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// BrokerJSONVersion is the /brokers/ids/<id> JSON version Kafka 2.8 writes
// (IBP >= 2.7-IV0).
const BrokerJSONVersion = 5

// Endpoint is one advertised listener.
type Endpoint struct {
	Listener         string // listener name, upper case: PLAINTEXT, INTERNAL, ...
	SecurityProtocol string // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	Host             string
	Port             int32
}

// String is Kafka's EndPoint.connectionString: LISTENER://host:port with an
// IPv6 host in brackets.
func (e Endpoint) String() string {
	hostport := ":" + itoa(e.Port)
	if e.Host != "" {
		hostport = net.JoinHostPort(e.Host, itoa(e.Port))
	}
	return e.Listener + "://" + hostport
}

// ParseEndpoint parses "LISTENER://host:port" ("[v6]:port" and an empty host
// allowed). The security protocol is left empty: it comes from the
// listener_security_protocol_map.
func ParseEndpoint(s string) (Endpoint, error) {
	i := strings.Index(s, "://")
	if i <= 0 {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q is not LISTENER://host:port", ErrMalformed, s)
	}
	host, port, err := net.SplitHostPort(s[i+3:])
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: %v", ErrMalformed, s, err)
	}
	p, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return Endpoint{}, fmt.Errorf("%w: endpoint %q: bad port", ErrMalformed, s)
	}
	return Endpoint{Listener: strings.ToUpper(s[:i]), Host: host, Port: int32(p)}, nil
}

// VersionRange is a feature's [min, max] version (KIP-584).
type VersionRange struct{ Min, Max int16 }

// BrokerInfo is the content of the ephemeral /brokers/ids/<id> znode.
type BrokerInfo struct {
	ID        int32      // from the znode name, not the JSON
	Endpoints []Endpoint // advertised listeners, in configuration order
	Rack      string     // "" when broker.rack is unset (then no "rack" key)
	JMXPort   int32      // -1 when JMX is off
	Timestamp int64      // registration time in ms (written as a string)
	// Features are the supported features; empty in Kafka 2.8.
	Features map[string]VersionRange
	Version  int   // JSON version read; Encode always writes BrokerJSONVersion
	Epoch    int64 // broker epoch = the znode's czxid; set by readers, not JSON
}

// Encode writes Kafka 2.8's version 5 JSON, in the key order of the
// reference example. host/port are the legacy fields: the first PLAINTEXT
// endpoint, else null/-1.
func (b BrokerInfo) Encode() []byte {
	host, port := (*string)(nil), int32(-1)
	protocols := make(map[string]string, len(b.Endpoints))
	endpoints := make([]string, len(b.Endpoints))
	for i, e := range b.Endpoints {
		protocols[e.Listener] = e.SecurityProtocol
		endpoints[i] = e.String()
		if host == nil && e.SecurityProtocol == "PLAINTEXT" {
			h := e.Host
			host, port = &h, e.Port
		}
	}
	o := newObject()
	o.raw("features", featureMap(b.Features, "min_version", "max_version"))
	o.raw("listener_security_protocol_map", stringMap(protocols))
	o.raw("endpoints", appendStrings(nil, endpoints))
	o.int("jmx_port", int64(b.JMXPort)).int("port", int64(port))
	if host != nil {
		o.str("host", *host)
	} else {
		o.null("host")
	}
	o.int("version", BrokerJSONVersion).intStr("timestamp", b.Timestamp)
	if b.Rack != "" {
		o.str("rack", b.Rack)
	}
	return o.bytes()
}

func featureMap(m map[string]VersionRange, minKey, maxKey string) []byte {
	o := newObject()
	for _, k := range sortedKeys(m) {
		o.raw(k, newObject().int(minKey, int64(m[k].Min)).int(maxKey, int64(m[k].Max)).bytes())
	}
	return o.bytes()
}

type brokerJSON struct {
	Version   flexInt           `json:"version"`
	Host      *string           `json:"host"`
	Port      flexInt           `json:"port"`
	Endpoints []string          `json:"endpoints"`
	JMXPort   flexInt           `json:"jmx_port"`
	Timestamp flexInt           `json:"timestamp"`
	Rack      *string           `json:"rack"`
	Protocols map[string]string `json:"listener_security_protocol_map"`
	Features  map[string]struct {
		Min flexInt `json:"min_version"`
		Max flexInt `json:"max_version"`
	} `json:"features"`
}

// DecodeBrokerInfo parses any version (1-5) of /brokers/ids/<id>.
func DecodeBrokerInfo(id int32, data []byte) (BrokerInfo, error) {
	const what = "broker registration"
	var j brokerJSON
	if err := decodeJSON(what, data, &j); err != nil {
		return BrokerInfo{}, err
	}
	version, err := int32Field(what, "version", j.Version)
	if err != nil {
		return BrokerInfo{}, err
	}
	b := BrokerInfo{ID: id, Version: int(version), JMXPort: -1, Timestamp: j.Timestamp.v}
	if j.JMXPort.set {
		b.JMXPort = int32(j.JMXPort.v)
	}
	if j.Rack != nil {
		b.Rack = *j.Rack
	}
	if b.Endpoints, err = decodeEndpoints(j); err != nil {
		return BrokerInfo{}, err
	}
	b.Features = make(map[string]VersionRange, len(j.Features))
	for name, f := range j.Features {
		b.Features[name] = VersionRange{Min: int16(f.Min.v), Max: int16(f.Max.v)}
	}
	return b, nil
}

// decodeEndpoints follows BrokerIdZNode.decode: version 1 (or no endpoints)
// means a single PLAINTEXT host:port; without a listener map the listener
// names are security protocol names.
func decodeEndpoints(j brokerJSON) ([]Endpoint, error) {
	if j.Endpoints == nil {
		if j.Host == nil || !j.Port.set {
			return nil, fmt.Errorf("decode broker registration: %w: no endpoints and no host/port", ErrMalformed)
		}
		return []Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: *j.Host,
			Port: int32(j.Port.v)}}, nil
	}
	eps := make([]Endpoint, 0, len(j.Endpoints))
	for _, s := range j.Endpoints {
		e, err := ParseEndpoint(s)
		if err != nil {
			return nil, fmt.Errorf("decode broker registration: %w", err)
		}
		e.SecurityProtocol = e.Listener
		if j.Protocols != nil {
			p, ok := j.Protocols[e.Listener]
			if !ok {
				return nil, fmt.Errorf("decode broker registration: %w: no security protocol for listener %s",
					ErrMalformed, e.Listener)
			}
			e.SecurityProtocol = p
		}
		eps = append(eps, e)
	}
	return eps, nil
}

// Endpoint returns the endpoint of the named listener.
func (b BrokerInfo) Endpoint(listener string) (Endpoint, bool) {
	for _, e := range b.Endpoints {
		if e.Listener == listener {
			return e, true
		}
	}
	return Endpoint{}, false
}
