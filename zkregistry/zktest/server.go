package zktest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Debian's layout (package `zookeeper`). slf4j-simple is put first so that,
// among the many slf4j bindings in /usr/share/java, the server logs to stderr
// (our log file) instead of binding to slf4j-nop.
const (
	DefaultJar       = "/usr/share/java/zookeeper.jar"
	DefaultClassPath = "/etc/zookeeper/conf:/usr/share/java/slf4j-simple.jar:" +
		DefaultJar + ":/usr/share/java/*"
	mainClass = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// InstallHint is appended to every "not installed" error.
const InstallHint = "install it with `make test` (which installs it when missing) " +
	"or `sudo apt-get install -y zookeeper`"

// Options tune a server. The zero value gives Kafka-like defaults.
type Options struct {
	// TickTime is ZooKeeper's tickTime (default 2s). Sessions may last
	// between 2 and 20 ticks unless Min/MaxSessionTimeout say otherwise.
	TickTime          time.Duration
	MinSessionTimeout time.Duration // 0: ZooKeeper's default (2 ticks)
	MaxSessionTimeout time.Duration // 0: ZooKeeper's default (20 ticks)
	// StartTimeout bounds the wait for readiness (default 60s: a cold JVM on
	// a busy 2-core machine can take several seconds).
	StartTimeout time.Duration
	// Fsync turns ZooKeeper's forceSync back on. Off by default: test and
	// local data only needs to survive process crashes, not power loss.
	Fsync     bool
	Java      string   // default "java" from PATH
	ClassPath string   // default DefaultClassPath
	JVMFlags  []string // default: small heap, serial GC, C1 only (fast start)
	// Detached lets the server outlive the process that started it (for
	// `make run`). Otherwise it is killed when its parent thread dies.
	Detached bool
}

func (o Options) withDefaults() Options {
	if o.TickTime <= 0 {
		o.TickTime = 2 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.Java == "" {
		o.Java = "java"
	}
	if o.ClassPath == "" {
		o.ClassPath = DefaultClassPath
	}
	if o.JVMFlags == nil {
		o.JVMFlags = []string{"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Djava.net.preferIPv4Stack=true"}
	}
	return o
}

// Server is one standalone ZooKeeper process. Its methods are safe for
// concurrent use.
type Server struct {
	dir  string
	port int
	opt  Options

	mu     sync.Mutex
	cmd    *exec.Cmd     // guarded by mu; nil when not running
	exited chan struct{} // guarded by mu; closed when cmd has been reaped
}

// Installed returns nil when java and Debian's zookeeper.jar are present,
// otherwise an error that says how to install them.
func Installed() error {
	return installed(Options{}.withDefaults())
}

func installed(o Options) error {
	if _, err := exec.LookPath(o.Java); err != nil {
		return fmt.Errorf("zktest: ZooKeeper is not installed (no %q in PATH): %s", o.Java, InstallHint)
	}
	if o.ClassPath == DefaultClassPath {
		if _, err := os.Stat(DefaultJar); err != nil {
			return fmt.Errorf("zktest: ZooKeeper is not installed (%s missing): %s", DefaultJar, InstallHint)
		}
	}
	return nil
}

// StartProcess starts ZooKeeper with default options, data under dir,
// listening on 127.0.0.1:port (port 0 picks a free one), and waits until it
// serves requests.
func StartProcess(dir string, port int) (*Server, error) {
	return StartProcessWithOptions(dir, port, Options{})
}

// StartProcessWithOptions is StartProcess with explicit options.
func StartProcessWithOptions(dir string, port int, opt Options) (*Server, error) {
	opt = opt.withDefaults()
	if err := installed(opt); err != nil {
		return nil, err
	}
	if port == 0 {
		p, err := FreePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{dir: abs, port: port, opt: opt}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr returns "127.0.0.1:<port>", usable as zookeeper.connect.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the client port.
func (s *Server) Port() int { return s.port }

// Dir returns the server directory (config, data, log).
func (s *Server) Dir() string { return s.dir }

// LogPath returns the file receiving the server's output.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "zookeeper.log") }

// PID returns the process id, or 0 when not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("zktest: server already running")
	}
	if err := s.writeConfig(); err != nil {
		return err
	}
	cmd, exited, err := s.spawn()
	if err != nil {
		return err
	}
	s.cmd, s.exited = cmd, exited
	if err := s.waitReadyLocked(); err != nil {
		s.signalLocked(syscall.SIGKILL)
		<-exited
		s.cmd, s.exited = nil, nil
		return fmt.Errorf("zktest: ZooKeeper on %s did not start: %w\n%s", s.Addr(), err, s.logTail(30))
	}
	return nil
}

func (s *Server) writeConfig() error {
	data := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	o := s.opt
	lines := []string{
		"tickTime=" + strconv.FormatInt(o.TickTime.Milliseconds(), 10),
		"dataDir=" + data,
		"clientPort=" + strconv.Itoa(s.port),
		"clientPortAddress=127.0.0.1",
		"maxClientCnxns=0",
		"admin.enableServer=false",
		"4lw.commands.whitelist=ruok,srvr,stat",
		"forceSync=" + map[bool]string{true: "yes", false: "no"}[o.Fsync],
	}
	if o.MinSessionTimeout > 0 {
		lines = append(lines, "minSessionTimeout="+strconv.FormatInt(o.MinSessionTimeout.Milliseconds(), 10))
	}
	if o.MaxSessionTimeout > 0 {
		lines = append(lines, "maxSessionTimeout="+strconv.FormatInt(o.MaxSessionTimeout.Milliseconds(), 10))
	}
	cfg := strings.Join(lines, "\n") + "\n"
	return os.WriteFile(filepath.Join(s.dir, "zoo.cfg"), []byte(cfg), 0o644)
}

// spawn starts the JVM in its own process group (so Kill reaches every
// process it forks) and reaps it in the background.
func (s *Server) spawn() (*exec.Cmd, chan struct{}, error) {
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	args := append(append([]string{}, s.opt.JVMFlags...), "-cp", s.opt.ClassPath, mainClass,
		filepath.Join(s.dir, "zoo.cfg"))
	cmd := exec.Command(s.opt.Java, args...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if !s.opt.Detached {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	err = cmd.Start()
	logf.Close() // the child holds its own descriptor
	if err != nil {
		return nil, nil, fmt.Errorf("zktest: start %s: %w", s.opt.Java, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // exit status is irrelevant: we killed it or it failed to start
		close(exited)
	}()
	return cmd, exited, nil
}

// waitReadyLocked polls the four-letter words until the server serves
// requests, the process exits, or StartTimeout passes.
func (s *Server) waitReadyLocked() error {
	deadline := time.Now().Add(s.opt.StartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = Ready(s.Addr(), time.Second); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", s.opt.StartTimeout, last)
		}
		select {
		case <-s.exited:
			return errors.New("process exited (port in use? see log)")
		case <-tick.C:
		}
	}
}

// Stop terminates the server gracefully (SIGTERM), escalating to SIGKILL
// after 10s, and waits for it to exit. Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	return s.terminate(syscall.SIGTERM, 10*time.Second)
}

// Kill sends SIGKILL to the server's process group and waits for it to exit.
func (s *Server) Kill() error {
	return s.terminate(syscall.SIGKILL, 10*time.Second)
}

func (s *Server) terminate(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	// A stopped (paused) JVM cannot act on SIGTERM until continued.
	s.signalLocked(syscall.SIGCONT)
	s.signalLocked(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.signalLocked(syscall.SIGKILL)
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
	return nil
}

// Restart stops the server (if running) and starts it again on the same
// port with the same data, waiting until it serves requests.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, as in a long GC pause or a network partition.
//
// SIGSTOP is asynchronous: kill returns before every JVM thread has stopped, and a busy machine can leave a
// thread running long enough to answer one more request. Pause therefore waits until every thread of the
// process shows the stopped state in /proc.
func (s *Server) Pause() error {
	if err := s.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for !allThreadsStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("zktest: server %d not stopped 5s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond) // polling /proc: there is no notification for another process stopping
	}
	return nil
}

// allThreadsStopped reports whether every thread of pid is stopped (state T in /proc/<pid>/task/*/stat).
// A process that is gone counts as stopped.
func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue // the thread exited
		}
		// "pid (comm) S ...": the state follows the last ')' (comm may contain spaces and parentheses).
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false
		}
		if st := b[i+2]; st != 'T' && st != 't' && st != 'Z' && st != 'X' { // stopped, or an exiting thread
			return false
		}
	}
	return true
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("zktest: server not running")
	}
	return s.signalLocked(sig)
}

func (s *Server) signalLocked(sig syscall.Signal) error {
	err := syscall.Kill(-s.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}

// logTail returns the last n lines of the server log, for error messages.
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + s.LogPath() + " (tail) ---\n" + strings.Join(lines, "\n")
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// free when returned but may be taken before it is used; Start retries.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
