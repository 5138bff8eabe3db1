package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Listener is one endpoint of listeners or advertised.listeners ("NAME://host:port", Kafka's EndPoint).
type Listener struct {
	Name             string // listener name, upper-cased as Kafka's ListenerName.normalised
	Host             string // "" binds all interfaces; advertised, it stands for the canonical host name
	Port             int32  // 0 binds an ephemeral port
	SecurityProtocol string // from listener.security.protocol.map; "" when parsed by ParseListeners alone
}

// Addr is the host:port to listen on or dial (IPv6 hosts bracketed).
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port))) }

// String renders the listener as written in the config: NAME://host:port.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Security protocols Kafka 2.8 knows (SecurityProtocol.java). Samsa implements PLAINTEXT only; Validate rejects
// a listener mapped to any other.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// ParseListeners parses a comma-separated listener list, e.g. "PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093".
// It checks syntax and that names are distinct; SecurityProtocol is left empty (see Config.Endpoints).
func ParseListeners(s string) ([]Listener, error) {
	return parseListenerList(splitList(s), false)
}

// parseListenerList follows CoreUtils.listenerListToEndPoints: names must be distinct, and for the bound
// listeners (distinctPorts) ports too, except port 0 which the OS assigns.
func parseListenerList(entries []string, distinctPorts bool) ([]Listener, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("no listener given")
	}
	ls := make([]Listener, 0, len(entries))
	for _, e := range entries {
		l, err := parseListener(e)
		if err != nil {
			return nil, err
		}
		for _, prev := range ls {
			if prev.Name == l.Name {
				return nil, fmt.Errorf("listener name %s appears twice: each listener needs its own name", l.Name)
			}
			if distinctPorts && l.Port != 0 && prev.Port == l.Port {
				return nil, fmt.Errorf("listeners %s and %s share port %d: each listener needs its own port", prev.Name, l.Name, l.Port)
			}
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func parseListener(s string) (Listener, error) {
	name, hostport, ok := strings.Cut(strings.TrimSpace(s), "://")
	if !ok || name == "" {
		return Listener{}, fmt.Errorf("%q is not NAME://host:port", s)
	}
	for _, r := range name {
		if !(r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return Listener{}, fmt.Errorf("listener name %q: only letters, digits, '_', '-' and '.' are allowed", name)
		}
	}
	var host, port string
	if strings.HasPrefix(hostport, "[") { // [IPv6]:port
		end := strings.Index(hostport, "]:")
		if end < 0 {
			return Listener{}, fmt.Errorf("%q is not NAME://[ipv6]:port", s)
		}
		host, port = hostport[1:end], hostport[end+2:]
	} else {
		i := strings.LastIndex(hostport, ":")
		if i < 0 {
			return Listener{}, fmt.Errorf("%q has no port (NAME://host:port)", s)
		}
		host, port = hostport[:i], hostport[i+1:]
		if strings.Contains(host, ":") {
			return Listener{}, fmt.Errorf("%q: write IPv6 addresses in brackets, NAME://[::1]:9092", s)
		}
	}
	// The host characters Kafka's EndPoint regex accepts.
	for _, r := range host {
		if !(r == '-' || r == '%' || r == '.' || r == '_' || r == ':' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return Listener{}, fmt.Errorf("%q: invalid character %q in host", s, r)
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Listener{}, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: int32(p)}, nil
}

// ParseSecurityProtocolMap parses listener.security.protocol.map ("NAME:PROTOCOL,..."), names upper-cased.
func ParseSecurityProtocolMap(s string) (map[string]string, error) {
	return parseProtocolMap(splitList(s))
}

func parseProtocolMap(entries []string) (map[string]string, error) {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		name, proto, ok := strings.Cut(e, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || proto == "" {
			return nil, fmt.Errorf("entry %q is not NAME:PROTOCOL", e)
		}
		known := false
		for _, p := range securityProtocols {
			known = known || p == proto
		}
		if !known {
			return nil, fmt.Errorf("entry %q: unknown security protocol %s (want one of %s)", e, proto, strings.Join(securityProtocols, ", "))
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener %s is mapped twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

// listenerList is listeners, or when unset Kafka's fallback PLAINTEXT://host.name:port.
func (c *Config) listenerList() []string {
	if c.Listeners != nil {
		return c.Listeners
	}
	return []string{"PLAINTEXT://" + bracket(c.HostName) + ":" + strconv.Itoa(int(c.Port))}
}

// advertisedList is advertised.listeners; else the legacy advertised.host.name/advertised.port (defaulting to
// host.name/port) when either is set; else listeners (KafkaConfig.advertisedListeners). The key names the
// setting to blame in messages.
func (c *Config) advertisedList() (key string, list []string) {
	switch {
	case c.AdvertisedListeners != nil:
		return "advertised.listeners", c.AdvertisedListeners
	case c.AdvertisedHostName != nil || c.AdvertisedPort != nil:
		host, port := c.HostName, c.Port
		if c.AdvertisedHostName != nil {
			host = *c.AdvertisedHostName
		}
		if c.AdvertisedPort != nil {
			port = *c.AdvertisedPort
		}
		return "advertised.host.name", []string{"PLAINTEXT://" + bracket(host) + ":" + strconv.Itoa(int(port))}
	}
	return "advertised.listeners", c.listenerList()
}

func bracket(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// Endpoints returns the listeners to bind, with their security protocols. After a successful Load it does not
// fail.
func (c *Config) Endpoints() ([]Listener, error) {
	return c.resolve(c.listenerList(), true)
}

// AdvertisedEndpoints returns the endpoints to register in ZooKeeper (/brokers/ids/<id>). An empty Host means
// "this machine's canonical host name", which the registration fills in, as Kafka does.
func (c *Config) AdvertisedEndpoints() ([]Listener, error) {
	_, list := c.advertisedList()
	return c.resolve(list, false)
}

func (c *Config) resolve(list []string, distinctPorts bool) ([]Listener, error) {
	m, err := parseProtocolMap(c.ListenerSecurityProtocolMap)
	if err != nil {
		return nil, fmt.Errorf("listener.security.protocol.map: %w", err)
	}
	ls, err := parseListenerList(list, distinctPorts)
	if err != nil {
		return nil, err
	}
	for i := range ls {
		p, ok := m[ls[i].Name]
		if !ok {
			return nil, fmt.Errorf("no security protocol for listener %s in listener.security.protocol.map", ls[i].Name)
		}
		ls[i].SecurityProtocol = p
	}
	return ls, nil
}

func listenerNames(ls []Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}

// ZookeeperDefaultPort is added to zookeeper.connect hosts given without a port (ZooKeeper's ConnectStringParser).
const ZookeeperDefaultPort = 2181

// ParseZookeeperConnect splits zookeeper.connect ("h1:2181,h2:2181/chroot") into host:port servers and a chroot
// ("" for none). The chroot follows ZooKeeper's path rules: absolute, no trailing "/", no empty, "." or ".."
// segments.
func ParseZookeeperConnect(s string) (servers []string, chroot string, err error) {
	s = strings.TrimSpace(s)
	hosts := s
	if i := strings.Index(s, "/"); i >= 0 {
		hosts, chroot = s[:i], s[i:]
	}
	if chroot == "/" {
		chroot = ""
	}
	if chroot != "" {
		for _, seg := range strings.Split(chroot[1:], "/") {
			if seg == "" || seg == "." || seg == ".." {
				return nil, "", fmt.Errorf("chroot %q is not a valid ZooKeeper path", chroot)
			}
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", fmt.Errorf("empty host in %q", s)
		}
		if !strings.Contains(h, ":") || strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
			h = net.JoinHostPort(strings.Trim(h, "[]"), strconv.Itoa(ZookeeperDefaultPort))
		}
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return nil, "", fmt.Errorf("%q is not host:port", h)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return nil, "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", h, port)
		}
		servers = append(servers, h)
	}
	return servers, chroot, nil
}
