//go:build integration

package integration

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-zookeeper/zk"
	"gopkg.in/yaml.v3"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// Set by TestMain (main_test.go).
var (
	samsaBin string         // the broker binary under test
	sharedZK *zktest.Server // one ZooKeeper for the package; clusters differ by chroot
)

// Profile T (reference 10, section 1.3): the session timeout the harness waits out after a SIGKILL.
const sessionTimeout = 6 * time.Second

// Options shape a cluster. The zero value is three brokers with profile T settings.
type Options struct {
	Brokers int // default 3; ids are 1..Brokers
	// Overrides are Kafka property names written into every broker's YAML, after (so over) the harness's.
	Overrides map[string]string
	// PerBroker adds overrides for one broker id (broker.rack, ...), after Overrides.
	PerBroker map[int32]map[string]string
	// OwnZooKeeper starts a private ZooKeeper instead of sharing the package's (for tests that stop it).
	OwnZooKeeper bool
	// ReadyTimeout bounds each wait for readiness (default 60 s: -race brokers on a busy 2-core machine).
	ReadyTimeout time.Duration
	// Env adds KEY=value entries to the brokers' environment (bench_test.go: SAMSA_FETCH_SENDFILE=0).
	Env []string
	// ZooKeeperVia, when set, is asked once per broker for the host:port that broker dials for ZooKeeper
	// (zkAddr is the real server; the cluster's chroot is appended): a test puts its own proxy there to cut
	// one broker from ZooKeeper while clients and peers still reach it (zkproxy_test.go).
	ZooKeeperVia func(id int32, zkAddr string) string
}

// Cluster is ZooKeeper plus N broker processes started for one test. Methods take broker ids (1..N) and
// fail the test on error; they are meant to be called from the test's goroutine.
type Cluster struct {
	t       testing.TB
	opt     Options
	zk      *zktest.Server
	chroot  string // "/samsa-<test>-<n>"
	dir     string
	brokers []*brokerProc // index id-1
}

// brokerProc is one broker's files and (when running) process.
type brokerProc struct {
	id      int32
	port    int
	dir     string
	cfgPath string
	logPath string

	mu         sync.Mutex
	cmd        *exec.Cmd     // guarded by mu; nil when not running
	exited     chan struct{} // guarded by mu; closed once cmd has been reaped
	waitErr    error         // written before exited is closed
	expectExit bool          // guarded by mu; set before we signal it
	problems   []string      // guarded by mu; unexpected exits, for the cleanup report
	starts     int
}

var clusterSeq struct {
	sync.Mutex
	n int
}

// StartCluster starts the cluster described by opt and waits until it is ready: every broker answers
// Metadata listing all N brokers and a controller. Everything it started is killed when the test ends.
func StartCluster(t testing.TB, opt Options) *Cluster {
	t.Helper()
	if samsaBin == "" {
		t.Fatal("integration: no broker binary: run through TestMain (go test -tags integration ./integration/)")
	}
	if opt.Brokers <= 0 {
		opt.Brokers = 3
	}
	if opt.ReadyTimeout <= 0 {
		opt.ReadyTimeout = 60 * time.Second
	}
	c := &Cluster{t: t, opt: opt, dir: t.TempDir()}
	c.zk = sharedZK
	if opt.OwnZooKeeper || c.zk == nil {
		c.zk = zktest.Start(t)
	}
	clusterSeq.Lock()
	clusterSeq.n++
	n := clusterSeq.n
	clusterSeq.Unlock()
	c.chroot = fmt.Sprintf("/samsa-%s-%d", sanitize(t.Name()), n)

	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(c.cleanup)
	for id := int32(1); id <= int32(opt.Brokers); id++ {
		b, err := c.newBroker(id)
		if err != nil {
			t.Fatalf("prepare broker %d: %v", id, err)
		}
		c.brokers = append(c.brokers, b)
	}
	for _, b := range c.brokers {
		if err := c.spawn(b); err != nil {
			t.Fatalf("start broker %d: %v", b.id, err)
		}
	}
	c.WaitReady()
	return c
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func sanitize(name string) string {
	s := unsafeChars.ReplaceAllString(name, "_")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

func (c *Cluster) newBroker(id int32) (*brokerProc, error) {
	port, err := zktest.FreePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, fmt.Sprintf("broker-%d", id))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	b := &brokerProc{id: id, port: port, dir: dir,
		cfgPath: filepath.Join(dir, "broker.yaml"), logPath: filepath.Join(dir, "broker.log")}
	data, err := yaml.Marshal(c.brokerConfig(b))
	if err != nil {
		return nil, err
	}
	return b, os.WriteFile(b.cfgPath, data, 0o644)
}

// brokerConfig is the YAML of one broker: identity and addresses, profile T, then the test's overrides.
func (c *Cluster) brokerConfig(b *brokerProc) map[string]string {
	n := c.opt.Brokers
	listener := "PLAINTEXT://127.0.0.1:" + strconv.Itoa(b.port)
	zkAddr := c.zk.Addr()
	if c.opt.ZooKeeperVia != nil {
		zkAddr = c.opt.ZooKeeperVia(b.id, zkAddr)
	}
	cfg := map[string]string{
		"broker.id":                    strconv.Itoa(int(b.id)),
		"listeners":                    listener,
		"advertised.listeners":         listener,
		"log.dirs":                     filepath.Join(b.dir, "data"),
		"zookeeper.connect":            zkAddr + c.chroot,
		"zookeeper.session.timeout.ms": strconv.Itoa(int(sessionTimeout.Milliseconds())),
		"replica.lag.time.max.ms":      "5000",
		"auto.create.topics.enable":    "false",

		"group.initial.rebalance.delay.ms":         "0",
		"offsets.topic.num.partitions":             "3",
		"offsets.topic.replication.factor":         strconv.Itoa(min(3, n)),
		"transaction.state.log.num.partitions":     "3",
		"transaction.state.log.replication.factor": strconv.Itoa(min(3, n)),
		"transaction.state.log.min.isr":            strconv.Itoa(min(2, n)),
	}
	for k, v := range c.opt.Overrides {
		cfg[k] = v
	}
	for k, v := range c.opt.PerBroker[b.id] {
		cfg[k] = v
	}
	return cfg
}

// spawn starts broker b's process in its own process group (so cleanup reaches anything it forks), appending
// its stdout and stderr to its log file, and reaps it in the background.
func (c *Cluster) spawn(b *brokerProc) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	b.starts++
	fmt.Fprintf(logf, "=== harness: start #%d of broker %d at %s ===\n", b.starts, b.id, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(samsaBin, "broker", "--config", b.cfgPath)
	cmd.Dir = b.dir
	if len(c.opt.Env) > 0 {
		cmd.Env = append(os.Environ(), c.opt.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logf.Close() // the child has its own descriptor
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	b.cmd, b.exited, b.expectExit = cmd, exited, false
	go func() {
		err := cmd.Wait()
		b.mu.Lock()
		b.waitErr = err
		if !b.expectExit {
			b.problems = append(b.problems, fmt.Sprintf("broker %d exited unexpectedly (%v)", b.id, err))
		}
		b.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (c *Cluster) broker(id int32) *brokerProc {
	c.t.Helper()
	if id < 1 || int(id) > len(c.brokers) {
		c.t.Fatalf("no broker %d in a cluster of %d", id, len(c.brokers))
	}
	return c.brokers[id-1]
}

// For returns a view of the cluster that reports to t (a subtest): failures in its methods end that subtest,
// and what they register for cleanup (clients, connections) goes when it ends. The processes stay the
// parent's. Subtests must use it: FailNow may only be called from the goroutine running the test it belongs to.
func (c *Cluster) For(t testing.TB) *Cluster {
	cc := *c
	cc.t = t
	return &cc
}

// Bootstrap returns every broker's address, running or not, as a client's bootstrap list.
func (c *Cluster) Bootstrap() []string {
	out := make([]string, len(c.brokers))
	for i, b := range c.brokers {
		out[i] = b.addr()
	}
	return out
}

func (b *brokerProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Addr returns broker id's address.
func (c *Cluster) Addr(id int32) string { return c.broker(id).addr() }

// DataDir returns broker id's log.dirs entry.
func (c *Cluster) DataDir(id int32) string { return filepath.Join(c.broker(id).dir, "data") }

// LogPath returns the file receiving broker id's output.
func (c *Cluster) LogPath(id int32) string { return c.broker(id).logPath }

// ZooKeeperConnect returns the brokers' zookeeper.connect (address plus chroot).
func (c *Cluster) ZooKeeperConnect() string { return c.zk.Addr() + c.chroot }

// Running reports whether broker id's process is alive (started by us and not yet reaped).
func (c *Cluster) Running(id int32) bool { return c.broker(id).running() }

func (b *brokerProc) running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// RunningIDs lists the brokers whose processes are alive.
func (c *Cluster) RunningIDs() []int32 {
	var ids []int32
	for _, b := range c.brokers {
		if b.running() {
			ids = append(ids, b.id)
		}
	}
	return ids
}

// Kill sends SIGKILL to broker id's process group and waits until it is gone: a crash (the page cache survives).
func (c *Cluster) Kill(id int32) {
	c.t.Helper()
	b := c.broker(id)
	if err := b.terminate(syscall.SIGKILL, 10*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// Pause freezes broker id with SIGSTOP to its process group (reference 10 §6.2, the GC-pause analogue): its
// sockets stay open, nothing is answered. Resume (SIGCONT) undoes it; Kill and Stop resume it first.
func (c *Cluster) Pause(id int32) { c.t.Helper(); c.signal(id, syscall.SIGSTOP) }

// Resume continues a broker frozen by Pause.
func (c *Cluster) Resume(id int32) { c.t.Helper(); c.signal(id, syscall.SIGCONT) }

func (c *Cluster) signal(id int32, sig syscall.Signal) {
	c.t.Helper()
	b := c.broker(id)
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		c.t.Fatalf("broker %d is not running", id)
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		c.t.Fatalf("broker %d: %v: %v", id, sig, err)
	}
}

// Stop sends SIGTERM to broker id and waits for a clean exit (status 0) within 30 s; a broker that needs a
// SIGKILL after that, or exits non-zero, fails the test.
func (c *Cluster) Stop(id int32) {
	c.t.Helper()
	b := c.broker(id)
	if err := b.terminate(syscall.SIGTERM, 30*time.Second); err != nil {
		c.t.Fatal(err)
	}
	b.mu.Lock()
	err := b.waitErr
	b.mu.Unlock()
	if err != nil {
		c.t.Fatalf("broker %d: unclean exit after SIGTERM: %v\n%s", id, err, tail(b.logPath, 40))
	}
}

func (b *brokerProc) terminate(sig syscall.Signal, grace time.Duration) error {
	b.mu.Lock()
	cmd, exited := b.cmd, b.exited
	if cmd == nil {
		b.mu.Unlock()
		return fmt.Errorf("broker %d is not running", b.id)
	}
	b.expectExit = true
	b.mu.Unlock()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // a frozen process cannot act on SIGTERM
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	var err error
	select {
	case <-exited:
	case <-timer.C:
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		err = fmt.Errorf("broker %d did not exit within %v of %v; killed", b.id, grace, sig)
	}
	b.mu.Lock()
	b.cmd, b.exited = nil, nil
	b.mu.Unlock()
	return err
}

// Start starts a stopped or killed broker again with the same id, port and data, and waits until the
// cluster is ready. After a SIGKILL its old registration lives on until ZooKeeper expires the session, and a
// broker refuses to register over a live id (as Kafka does), so Start first waits for that znode to go.
func (c *Cluster) Start(id int32) {
	c.t.Helper()
	b := c.broker(id)
	if b.running() {
		c.t.Fatalf("broker %d is already running", id)
	}
	z := c.ZK()
	path := "/brokers/ids/" + strconv.Itoa(int(id))
	eventually(c.t, sessionTimeout+20*time.Second, func() error {
		ok, err := z.Exists(path)
		if err != nil {
			return err
		}
		if ok {
			return fmt.Errorf("%s still registered (waiting for its session to expire)", path)
		}
		return nil
	})
	if err := c.spawn(b); err != nil {
		c.t.Fatalf("start broker %d: %v", id, err)
	}
	c.WaitReady()
}

// Restart stops broker id with SIGTERM and starts it again.
func (c *Cluster) Restart(id int32) {
	c.t.Helper()
	c.Stop(id)
	c.Start(id)
}

// WaitReady polls until every running broker accepts connections and answers Metadata listing exactly the
// running brokers and a controller among them. A broker that exits meanwhile fails the test at once.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	want := c.RunningIDs()
	deadline := time.Now().Add(c.opt.ReadyTimeout)
	var last error
	for {
		if err := c.exitedEarly(); err != nil {
			c.t.Fatal(err)
		}
		if last = c.readyErr(want); last == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not ready after %v: %v", c.opt.ReadyTimeout, last)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not synchronisation
	}
}

func (c *Cluster) exitedEarly() error {
	for _, b := range c.brokers {
		b.mu.Lock()
		cmd, exited := b.cmd, b.exited
		b.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-exited:
			return fmt.Errorf("broker %d exited while waiting for readiness: %v\n%s", b.id, b.waitErr, tail(b.logPath, 40))
		default:
		}
	}
	return nil
}

func (c *Cluster) readyErr(want []int32) error {
	for _, id := range want {
		b := c.brokers[id-1]
		conn, err := net.DialTimeout("tcp", b.addr(), time.Second)
		if err != nil {
			return fmt.Errorf("broker %d: %w", id, err)
		}
		conn.Close()
		md, err := c.metadataFrom(b.addr(), nil)
		if err != nil {
			return fmt.Errorf("broker %d: metadata: %w", id, err)
		}
		var got []int32
		for _, br := range md.Brokers {
			got = append(got, br.ID())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("broker %d: metadata lists brokers %v, want %v", id, got, want)
		}
		if !slices.Contains(want, md.ControllerID) {
			return fmt.Errorf("broker %d: metadata names controller %d, want one of %v", id, md.ControllerID, want)
		}
	}
	return nil
}

// MetadataFrom sends one Metadata request (Sarama's version for 2.8, v11) straight to the broker at addr,
// bypassing a client's cache. topics nil asks for every topic.
func (c *Cluster) MetadataFrom(addr string, topics []string) (*sarama.MetadataResponse, error) {
	return c.metadataFrom(addr, topics)
}

func (c *Cluster) metadataFrom(addr string, topics []string) (*sarama.MetadataResponse, error) {
	cfg := c.SaramaConfig()
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 5 * time.Second
	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return nil, err
	}
	defer b.Close()
	return b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, topics))
}

// SaramaConfig returns a client configuration for this cluster: Kafka 2.8's protocol versions, successes
// returned, consumers from the oldest offset, no topic auto-creation by clients.
func (c *Cluster) SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "samsa-integration"
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Metadata.Retry.Max = 20
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Admin.Timeout = 30 * time.Second
	cfg.Admin.Retry.Max = 10
	cfg.Admin.Retry.Backoff = 200 * time.Millisecond
	return cfg
}

// Client returns a Sarama client for the cluster, closed when the test ends.
func (c *Cluster) Client() sarama.Client {
	c.t.Helper()
	cl, err := sarama.NewClient(c.Bootstrap(), c.SaramaConfig())
	if err != nil {
		c.t.Fatalf("sarama client: %v", err)
	}
	c.t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Admin returns a Sarama ClusterAdmin for the cluster, closed when the test ends.
func (c *Cluster) Admin() sarama.ClusterAdmin {
	c.t.Helper()
	a, err := sarama.NewClusterAdmin(c.Bootstrap(), c.SaramaConfig())
	if err != nil {
		c.t.Fatalf("sarama admin: %v", err)
	}
	c.t.Cleanup(func() { _ = a.Close() })
	return a
}

// CreateTopic creates a topic through CreateTopics and waits until every running broker's metadata shows
// all its partitions with a leader, so producers do not start against brokers that have not heard of it.
func (c *Cluster) CreateTopic(name string, detail *sarama.TopicDetail) {
	c.t.Helper()
	a, err := sarama.NewClusterAdmin(c.Bootstrap(), c.SaramaConfig())
	if err != nil {
		c.t.Fatalf("sarama admin: %v", err)
	}
	err = a.CreateTopic(name, detail, false)
	a.Close()
	if err != nil {
		c.t.Fatalf("create topic %s: %v", name, err)
	}
	want := detail.NumPartitions
	if want <= 0 {
		want = int32(len(detail.ReplicaAssignment))
	}
	c.WaitForLeaders(name, want)
}

// WaitForLeaders polls until every running broker's metadata shows topic with n partitions, all led by a
// running broker.
func (c *Cluster) WaitForLeaders(topic string, n int32) {
	c.t.Helper()
	running := c.RunningIDs()
	eventually(c.t, 30*time.Second, func() error {
		for _, id := range running {
			md, err := c.metadataFrom(c.Addr(id), []string{topic})
			if err != nil {
				return fmt.Errorf("broker %d: %w", id, err)
			}
			if len(md.Topics) != 1 || !errors.Is(md.Topics[0].Err, sarama.ErrNoError) {
				if len(md.Topics) == 1 {
					return fmt.Errorf("broker %d: topic %s: %v", id, topic, md.Topics[0].Err)
				}
				return fmt.Errorf("broker %d: %d topics in answer", id, len(md.Topics))
			}
			parts := md.Topics[0].Partitions
			if int32(len(parts)) != n {
				return fmt.Errorf("broker %d: topic %s has %d partitions, want %d", id, topic, len(parts), n)
			}
			for _, p := range parts {
				if !slices.Contains(running, p.Leader) {
					return fmt.Errorf("broker %d: %s-%d leader %d (err %v)", id, topic, p.ID, p.Leader, p.Err)
				}
			}
		}
		return nil
	})
}

// ZKConn is a go-zookeeper connection that resolves paths inside the cluster's chroot (go-zookeeper has no
// chroot support of its own). Paths are written as the brokers see them: "/brokers/ids".
type ZKConn struct {
	Conn   *zk.Conn
	Chroot string
}

// Path maps a chroot-relative path to the server's namespace.
func (z *ZKConn) Path(p string) string {
	if p == "/" {
		return z.Chroot
	}
	return z.Chroot + p
}

// Get reads a znode's data and stat.
func (z *ZKConn) Get(p string) ([]byte, *zk.Stat, error) {
	data, st, err := z.Conn.Get(z.Path(p))
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", p, err)
	}
	return data, st, nil
}

// Children lists a znode's children, sorted.
func (z *ZKConn) Children(p string) ([]string, error) {
	ch, _, err := z.Conn.Children(z.Path(p))
	if err != nil {
		return nil, fmt.Errorf("children %s: %w", p, err)
	}
	slices.Sort(ch)
	return ch, nil
}

// Exists reports whether a znode exists.
func (z *ZKConn) Exists(p string) (bool, error) {
	ok, _, err := z.Conn.Exists(z.Path(p))
	if err != nil {
		return false, fmt.Errorf("exists %s: %w", p, err)
	}
	return ok, nil
}

// ZK returns a ZooKeeper connection scoped to the cluster's chroot, closed when the test ends.
func (c *Cluster) ZK() *ZKConn {
	c.t.Helper()
	conn, _, err := zk.Connect([]string{c.zk.Addr()}, 10*time.Second, zk.WithLogInfo(false),
		zk.WithLogger(discardLogger{}))
	if err != nil {
		c.t.Fatalf("zookeeper connect: %v", err)
	}
	c.t.Cleanup(conn.Close)
	return &ZKConn{Conn: conn, Chroot: c.chroot}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// cleanup kills what is still running, then reports what went wrong in the brokers: unexpected exits, race
// reports, panics; and prints each broker's log tail when the test failed.
func (c *Cluster) cleanup() {
	for _, b := range c.brokers {
		if b.running() {
			_ = b.terminate(syscall.SIGKILL, 10*time.Second)
		}
	}
	for _, b := range c.brokers {
		b.mu.Lock()
		problems := b.problems
		b.mu.Unlock()
		for _, p := range problems {
			c.t.Errorf("%s\n%s", p, tail(b.logPath, 40))
		}
		if report := scanLog(b.logPath); report != "" {
			c.t.Errorf("broker %d (%s):\n%s", b.id, b.logPath, report)
		}
	}
	if c.t.Failed() {
		for _, b := range c.brokers {
			c.t.Logf("broker %d on %s\n%s", b.id, b.addr(), tail(b.logPath, 60))
		}
		c.keepLogs()
	}
}

// keepLogs copies the brokers' whole logs to $SAMSA_KEEP_LOGS/<test>/ (when set) before the temporary
// directory goes: the fault tests' failures are read from them.
func (c *Cluster) keepLogs() {
	root := os.Getenv("SAMSA_KEEP_LOGS")
	if root == "" {
		return
	}
	dir := filepath.Join(root, sanitize(c.t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("keep logs: %v", err)
		return
	}
	for _, b := range c.brokers {
		data, err := os.ReadFile(b.logPath)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("broker-%d.log", b.id)), data, 0o644)
		}
		if err != nil {
			c.t.Logf("keep logs: %v", err)
		}
	}
	c.t.Logf("broker logs kept in %s", dir)
}

// scanLog returns the race reports and panics in a broker's output (the first 80 lines of them), or "".
func scanLog(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var out []string
	capturing := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() && len(out) < 80 {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "WARNING: DATA RACE"), strings.HasPrefix(line, "panic: "),
			strings.HasPrefix(line, "fatal error: "):
			capturing = 30
		}
		if capturing > 0 {
			out = append(out, line)
			capturing--
		}
	}
	return strings.Join(out, "\n")
}

// tail returns the last n lines of a file, headed by its name.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + path + " (tail) ---\n" + strings.Join(lines, "\n")
}

// eventually polls fn until it returns nil, failing the test with fn's last error after d. Polls start at
// 20 ms and back off to 250 ms: fast when the condition is nearly true, light on 2 cores when it is not.
func eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	wait := 20 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %v: %v", d, err)
		}
		time.Sleep(wait) // poll interval, not synchronisation
		wait = min(2*wait, 250*time.Millisecond)
	}
}
