package config

import (
	"slices"
	"strings"
	"testing"
)

func TestParseListeners(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []Listener
		wantErr string
	}{
		{in: "PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093", want: []Listener{
			{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092}, {Name: "INTERNAL", Host: "", Port: 9093}}},
		{in: " plaintext://localhost:0 ", want: []Listener{{Name: "PLAINTEXT", Host: "localhost", Port: 0}}},
		{in: "PLAINTEXT://[::1]:9092", want: []Listener{{Name: "PLAINTEXT", Host: "::1", Port: 9092}}},
		{in: "PLAINTEXT://[fe80::1%eth0]:9092", want: []Listener{{Name: "PLAINTEXT", Host: "fe80::1%eth0", Port: 9092}}},
		{in: "A://h:1,B://h:1", want: []Listener{{Name: "A", Host: "h", Port: 1}, {Name: "B", Host: "h", Port: 1}}},
		{in: "", wantErr: "no listener"},
		{in: "127.0.0.1:9092", wantErr: "not NAME://host:port"},
		{in: "PLAINTEXT://127.0.0.1", wantErr: "no port"},
		{in: "PLAINTEXT://h:65536", wantErr: "0 to 65535"},
		{in: "PLAINTEXT://h:-1", wantErr: "0 to 65535"},
		{in: "PLAINTEXT://::1:9092", wantErr: "brackets"},
		{in: "PLAINTEXT://h/x:9092", wantErr: "invalid character"},
		{in: "PLAIN TEXT://h:1", wantErr: "listener name"},
		{in: "PLAINTEXT://a:1,plaintext://b:2", wantErr: "appears twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseListeners(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestListenerAddrAndString(t *testing.T) {
	l := Listener{Name: "PLAINTEXT", Host: "::1", Port: 9092}
	if l.Addr() != "[::1]:9092" || l.String() != "PLAINTEXT://[::1]:9092" {
		t.Fatal(l.Addr(), l.String())
	}
}

// Kafka's rules tying listeners, advertised.listeners, the protocol map and the inter-broker listener together.
func TestListenerRules(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		wantKey string // "" = valid
		wantMsg string
	}{
		{name: "two plaintext listeners with a map",
			yaml: "listeners: INTERNAL://:9093,EXTERNAL://:9092\nlistener.security.protocol.map: INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT\n" +
				"inter.broker.listener.name: INTERNAL\n"},
		{name: "each bound listener needs its own port",
			yaml:    "listeners: A://:9092,B://:9092\nlistener.security.protocol.map: A:PLAINTEXT,B:PLAINTEXT\ninter.broker.listener.name: A\n",
			wantKey: "listeners", wantMsg: "share port 9092"},
		{name: "port 0 may repeat (ephemeral)",
			yaml: "listeners: A://:0,B://:0\nlistener.security.protocol.map: A:PLAINTEXT,B:PLAINTEXT\ninter.broker.listener.name: A\n" +
				"advertised.listeners: A://h:1,B://h:2\n"},
		{name: "advertised listeners may share a port",
			yaml: "listeners: A://:9092,B://:9093\nlistener.security.protocol.map: A:PLAINTEXT,B:PLAINTEXT\ninter.broker.listener.name: A\n" +
				"advertised.listeners: A://h:9092,B://h:9092\n"},
		{name: "only PLAINTEXT is implemented",
			yaml:    "listeners: PLAINTEXT://:9092,SSL://:9093\n",
			wantKey: "listeners", wantMsg: "only PLAINTEXT is implemented"},
		{name: "listener name needs a protocol",
			yaml:    "listeners: PLAINTEXT://:9092,INTERNAL://:9093\n",
			wantKey: "listeners", wantMsg: "no security protocol for listener INTERNAL"},
		{name: "advertised names must be listeners",
			yaml:    "advertised.listeners: PLAINTEXT://h:9092,OTHER://h:9093\nlistener.security.protocol.map: PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT\n",
			wantKey: "advertised.listeners", wantMsg: "OTHER is not in listeners"},
		{name: "0.0.0.0 is not advertisable",
			yaml:    "listeners: PLAINTEXT://0.0.0.0:9092\n",
			wantKey: "advertised.listeners", wantMsg: "non-routable"},
		{name: "0.0.0.0 bound and a routable address advertised",
			yaml: "listeners: PLAINTEXT://0.0.0.0:9092\nadvertised.listeners: PLAINTEXT://broker1:9092\n"},
		{name: "inter-broker listener must be advertised",
			yaml:    "listeners: INTERNAL://:9093\nlistener.security.protocol.map: INTERNAL:PLAINTEXT\n",
			wantKey: "security.inter.broker.protocol", wantMsg: "(INTERNAL)"},
		{name: "not both inter-broker settings",
			yaml:    "inter.broker.listener.name: PLAINTEXT\nsecurity.inter.broker.protocol: PLAINTEXT\n",
			wantKey: "inter.broker.listener.name", wantMsg: "only one"},
		{name: "bad protocol map",
			yaml:    "listener.security.protocol.map: PLAINTEXT:TLS\n",
			wantKey: "listener.security.protocol.map", wantMsg: "unknown security protocol TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(minimalYAML+tc.yaml), "b.yaml", nil)
			if tc.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if keys := keysOf(err); !slices.Contains(keys, tc.wantKey) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("want %s: ...%s..., got %v", tc.wantKey, tc.wantMsg, err)
			}
		})
	}
}

func TestEndpointsResolveProtocols(t *testing.T) {
	c := mustParse(t, "listeners: INTERNAL://127.0.0.1:9093,EXTERNAL://:9092\n"+
		"advertised.listeners: INTERNAL://10.0.0.1:9093,EXTERNAL://broker.example.com:9092\n"+
		"listener.security.protocol.map: INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT\ninter.broker.listener.name: internal\n")
	eps, err := c.Endpoints()
	if err != nil || len(eps) != 2 || eps[0].Addr() != "127.0.0.1:9093" || eps[1].SecurityProtocol != "PLAINTEXT" {
		t.Fatalf("%v %v", eps, err)
	}
	adv, err := c.AdvertisedEndpoints()
	if err != nil || adv[1].String() != "EXTERNAL://broker.example.com:9092" {
		t.Fatalf("%v %v", adv, err)
	}
	if c.InterBrokerListener() != "INTERNAL" {
		t.Fatal(c.InterBrokerListener())
	}
}

// Deprecated host.name/port and advertised.host.name/advertised.port, honoured when listeners are unset.
func TestLegacyHostAndPort(t *testing.T) {
	c := mustParse(t, "host.name: 127.0.0.1\nport: 9099\n")
	eps, _ := c.Endpoints()
	adv, _ := c.AdvertisedEndpoints()
	if eps[0].String() != "PLAINTEXT://127.0.0.1:9099" || adv[0].String() != "PLAINTEXT://127.0.0.1:9099" {
		t.Fatal(eps, adv)
	}
	c = mustParse(t, "port: 9099\nadvertised.host.name: broker1\n")
	adv, _ = c.AdvertisedEndpoints()
	if adv[0].String() != "PLAINTEXT://broker1:9099" {
		t.Fatal(adv)
	}
	c = mustParse(t, "listeners: PLAINTEXT://:9092\nport: 1234\n")
	eps, _ = c.Endpoints()
	if eps[0].Port != 9092 {
		t.Fatal("listeners must win over port")
	}
}

func TestParseZookeeperConnect(t *testing.T) {
	for _, tc := range []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{in: "127.0.0.1:2181", servers: []string{"127.0.0.1:2181"}},
		{in: "zk1:2181,zk2:2182/kafka/a", servers: []string{"zk1:2181", "zk2:2182"}, chroot: "/kafka/a"},
		{in: "zk1, zk2/", servers: []string{"zk1:2181", "zk2:2181"}},
		{in: "[::1]:2181", servers: []string{"[::1]:2181"}},
		{in: "[::1]", servers: []string{"[::1]:2181"}},
		{in: "zk1:2181/kafka/", bad: true},
		{in: "zk1:2181/a//b", bad: true},
		{in: "zk1:2181/a/../b", bad: true},
		{in: "zk1:2181,,zk2:2181", bad: true},
		{in: "zk1:port", bad: true},
		{in: "zk1:0", bad: true},
		{in: "/kafka", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			servers, chroot, err := ParseZookeeperConnect(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted: %v %q", servers, chroot)
				}
				return
			}
			if err != nil || !slices.Equal(servers, tc.servers) || chroot != tc.chroot {
				t.Fatalf("got %v %q %v", servers, chroot, err)
			}
		})
	}
}

func FuzzParseListeners(f *testing.F) {
	for _, s := range []string{"PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093", "A://[::1]:1", "x", "A://:0,B://h:65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseListeners(s)
		if err != nil {
			return
		}
		// What parses renders back to something that parses to the same listeners.
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = l.String()
		}
		again, err := ParseListeners(strings.Join(parts, ","))
		if err != nil || !slices.Equal(again, ls) {
			t.Fatalf("%q -> %v -> %v %v", s, ls, again, err)
		}
	})
}
