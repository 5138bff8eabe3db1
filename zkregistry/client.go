package zkregistry

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// Stat is a znode's metadata (czxid, version, ephemeralOwner, ...).
type Stat = zk.Stat

// Config configures a Client. Durations are Kafka's zookeeper.* settings.
type Config struct {
	// Connect is zookeeper.connect: "host1:2181,host2:2181[/chroot/path]".
	Connect string
	// SessionTimeout is zookeeper.session.timeout.ms (default 18s).
	SessionTimeout time.Duration
	// ConnectionTimeout is zookeeper.connection.timeout.ms (default: the
	// session timeout): how long Dial waits for a session, and how long an
	// operation interrupted by a connection loss waits for the connection to
	// come back before failing.
	ConnectionTimeout time.Duration
	Log               *logrus.Entry // nil: discard

	dialer zk.Dialer // tests: observe the raw connection
}

// Client is a ZooKeeper session rooted at the chroot of Config.Connect.
// Every path given to or returned by its methods is relative to the chroot.
// It is safe for concurrent use.
type Client struct {
	conn   *zk.Conn
	chroot string // "" or "/a/b"
	cfg    Config
	log    *logrus.Entry
	sess   *sessionTracker

	closeOnce sync.Once
	closeMu   sync.Mutex // orders wg.Add of new watches before Close's wg.Wait
	closed    chan struct{}
	wg        sync.WaitGroup // event pump and watch goroutines
}

// ParseConnect splits zookeeper.connect into servers and chroot ("" when
// none, or when the chroot is just "/").
func ParseConnect(connect string) (servers []string, chroot string, err error) {
	hosts := connect
	if i := strings.IndexByte(connect, '/'); i >= 0 {
		hosts, chroot = connect[:i], connect[i:]
	}
	if chroot == "/" {
		chroot = ""
	}
	if chroot != "" && (strings.HasSuffix(chroot, "/") || strings.Contains(chroot, "//")) {
		return nil, "", fmt.Errorf("zookeeper.connect %q: invalid chroot %q", connect, chroot)
	}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			servers = append(servers, h)
		}
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("zookeeper.connect %q: no servers", connect)
	}
	return servers, chroot, nil
}

// Connect is Dial with ConnectionTimeout = sessionTimeout.
func Connect(connect string, sessionTimeout time.Duration, lg *logrus.Entry) (*Client, error) {
	return Dial(Config{Connect: connect, SessionTimeout: sessionTimeout, Log: lg})
}

// Dial opens a session, waits until it is established, and creates the
// chroot (persistent, null data) if absent. Kafka does this over a separate
// chroot-less connection; ours prefixes every path, so one session does both.
func Dial(cfg Config) (*Client, error) {
	servers, chroot, err := ParseConnect(cfg.Connect)
	if err != nil {
		return nil, err
	}
	cfg = withDefaults(cfg)
	c := &Client{chroot: chroot, cfg: cfg, log: cfg.Log, closed: make(chan struct{})}
	c.sess = newSessionTracker(c.log)
	// go-zookeeper's option type is unexported, so the optional dialer
	// replaces a harmless duplicate option instead of extending a slice.
	dialOpt := zk.WithLogInfo(false)
	if cfg.dialer != nil {
		dialOpt = zk.WithDialer(cfg.dialer)
	}
	c.conn, _, err = zk.Connect(servers, cfg.SessionTimeout, zk.WithLogger(zkLogger{c.log}),
		zk.WithLogInfo(false), zk.WithEventCallback(c.sess.onEvent), dialOpt)
	if err != nil {
		return nil, fmt.Errorf("connect zookeeper %s: %w", cfg.Connect, err)
	}
	c.sess.start(c.conn, &c.wg, c.closed)
	if err := c.sess.waitConnected(c.closed, cfg.ConnectionTimeout); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect zookeeper %s: no session within %v: %w", cfg.Connect,
			cfg.ConnectionTimeout, err)
	}
	if err := c.ensureChroot(); err != nil {
		c.Close()
		return nil, err
	}
	c.log.WithFields(logrus.Fields{"zookeeper_connect": cfg.Connect,
		"session_id": fmt.Sprintf("0x%x", c.SessionID())}).Info("connected to zookeeper")
	return c, nil
}

func withDefaults(cfg Config) Config {
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 18 * time.Second
	}
	if cfg.ConnectionTimeout <= 0 {
		cfg.ConnectionTimeout = cfg.SessionTimeout
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		cfg.Log = logrus.NewEntry(l)
	}
	return cfg
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// zkLogger routes go-zookeeper's messages (errors only: connection
// failures) to logrus.
type zkLogger struct{ log *logrus.Entry }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.WithField("detail", fmt.Sprintf(format, args...)).Warn("zookeeper client")
}

func (c *Client) ensureChroot() error {
	if c.chroot == "" {
		return nil
	}
	err := c.createServerPath(c.chroot)
	if err == nil || errors.Is(err, zk.ErrNodeExists) {
		return nil
	}
	return fmt.Errorf("create chroot %s: %w", c.chroot, err)
}

// Close ends the session (its ephemeral znodes disappear at once) and stops
// the watches. Safe to call more than once.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.closeMu.Lock()
		close(c.closed)
		c.closeMu.Unlock()
		c.conn.Close()
		c.wg.Wait()
	})
}

// Chroot returns the chroot ("" when none).
func (c *Client) Chroot() string { return c.chroot }

// SessionID returns the current session id (0 while none is established).
func (c *Client) SessionID() int64 { return c.conn.SessionID() }

// SessionTimeout returns the configured session timeout.
func (c *Client) SessionTimeout() time.Duration { return c.cfg.SessionTimeout }

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// abs maps a chroot-relative path to the server path.
func (c *Client) abs(p string) string {
	if p == "/" && c.chroot != "" {
		return c.chroot
	}
	return c.chroot + p
}

// rel maps a server path back to a chroot-relative one.
func (c *Client) rel(p string) string {
	if c.chroot == "" {
		return p
	}
	if p == c.chroot {
		return "/"
	}
	return strings.TrimPrefix(p, c.chroot)
}

// retriable errors mean the request may not have reached the server, or its
// answer was lost: Kafka retries those once the connection is back.
func retriable(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer)
}

// do runs op, retrying it after a connection loss once a session is
// connected again, for at most ConnectionTimeout of disconnection. Callers
// of non-idempotent ops must cope with a retried op whose first attempt
// succeeded (Kafka's callers do the same: NODEEXISTS checks etc.).
func (c *Client) do(op func() error) error {
	deadline := time.Now().Add(c.cfg.ConnectionTimeout)
	for {
		err := op()
		if !retriable(err) {
			return err
		}
		if c.isClosed() {
			return ErrClosed
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return err
		}
		if werr := c.sess.waitConnected(c.closed, wait); werr != nil {
			if errors.Is(werr, ErrClosed) {
				return ErrClosed
			}
			return err
		}
	}
}
