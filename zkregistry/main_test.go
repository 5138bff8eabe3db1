package zkregistry

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// One real ZooKeeper serves the whole package; every test works under its
// own chroot so tests cannot see each other's znodes.
var zkServer *zktest.Server

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run() // fuzz workers only run FuzzZkJSON: no ZooKeeper needed
	}
	dir, err := os.MkdirTemp("", "zkregistry-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	zkServer, err = zktest.StartProcessWithOptions(dir, 0, zktest.Options{TickTime: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // includes how to install ZooKeeper
		return 1
	}
	defer zkServer.Kill()
	code := m.Run()
	if code == 0 {
		if err := checkNoLeakedGoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

// checkNoLeakedGoroutines polls until no goroutine of ours or of
// go-zookeeper remains (etcd's leak check, simplified).
func checkNoLeakedGoroutines() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if (strings.Contains(g, "go-zookeeper/zk") || strings.Contains(g, "zkregistry.(*")) &&
				!strings.Contains(g, "checkNoLeakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leaked goroutines:\n%s", strings.Join(leaked, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

func testLog(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	if testing.Verbose() {
		l.SetOutput(os.Stderr)
		l.SetLevel(logrus.DebugLevel)
	}
	return logrus.NewEntry(l).WithField("test", t.Name())
}

// chrootFor gives each test its own chroot.
func chrootFor(t testing.TB) string {
	return "/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}

// newClient connects under the test's chroot and closes at cleanup.
func newClient(t testing.TB) *Client {
	t.Helper()
	return newClientWith(t, Config{Connect: zkServer.Addr() + chrootFor(t)})
}

func newClientWith(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	c, err := Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// sessionSniffer is a Dialer that records the session id and password from
// each ConnectResponse, so tests can expire the session from outside the
// way Kafka's tests do (zktest.ExpireSession).
type sessionSniffer struct {
	mu     sync.Mutex
	id     int64
	passwd []byte
}

func (s *sessionSniffer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, s: s}, nil
}

func (s *sessionSniffer) session() (int64, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.passwd
}

type sniffConn struct {
	net.Conn
	s    *sessionSniffer
	buf  []byte
	done bool
}

// Read parses the first frame the server sends: ConnectResponse
// {protocolVersion int32, timeOut int32, sessionId int64, passwd buffer}.
func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.done {
		c.buf = append(c.buf, p[:n]...)
		if len(c.buf) >= 4 {
			size := int(binary.BigEndian.Uint32(c.buf))
			if len(c.buf) >= 4+size && size >= 20 {
				body := c.buf[4 : 4+size]
				plen := int(binary.BigEndian.Uint32(body[16:20]))
				if 20+plen <= len(body) {
					c.s.mu.Lock()
					c.s.id = int64(binary.BigEndian.Uint64(body[8:16]))
					c.s.passwd = append([]byte(nil), body[20:20+plen]...)
					c.s.mu.Unlock()
				}
				c.done = true
			}
		}
	}
	return n, err
}
