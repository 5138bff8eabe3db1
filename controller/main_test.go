package controller

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// One real ZooKeeper serves the package; every test works under its own chroot.
var zkServer *zktest.Server

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "controller-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A short tick lets test sessions use short timeouts (ZooKeeper allows 2-20 ticks).
	zkServer, err = zktest.StartProcessWithOptions(dir, 0, zktest.Options{TickTime: 500 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // says how to install ZooKeeper
		return 1
	}
	code := m.Run()
	_ = zkServer.Kill()
	if code == 0 {
		if err := checkNoLeakedGoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return code
}

// checkNoLeakedGoroutines polls until no goroutine of the controller, the protocol client or go-zookeeper is
// left (etcd's leak check, simplified).
func checkNoLeakedGoroutines() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "checkNoLeakedGoroutines") {
				continue
			}
			if strings.Contains(g, "samsa/controller.") || strings.Contains(g, "samsa/protocol.") ||
				strings.Contains(g, "samsa/zkregistry.") || strings.Contains(g, "go-zookeeper/zk") {
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
