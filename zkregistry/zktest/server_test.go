package zktest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartServesAndCleansUp(t *testing.T) {
	var pid int
	t.Run("start", func(t *testing.T) {
		s := Start(t)
		pid = s.PID()
		if pid == 0 {
			t.Fatal("no pid")
		}
		out, err := FourLetterWord(s.Addr(), "stat", 2*time.Second)
		if err != nil || !strings.Contains(out, "Mode: standalone") {
			t.Fatalf("stat = %q, %v", out, err)
		}
		cfg, err := os.ReadFile(filepath.Join(s.Dir(), "zoo.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"admin.enableServer=false", "tickTime=2000", "clientPortAddress=127.0.0.1"} {
			if !strings.Contains(string(cfg), want) {
				t.Errorf("zoo.cfg lacks %q", want)
			}
		}
	})
	// The subtest's cleanup killed and reaped the process.
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("process %d still alive after cleanup", pid)
	}
}

func TestRestartKeepsPortAndData(t *testing.T) {
	s := Start(t)
	addr := s.Addr()
	snapDir := filepath.Join(s.Dir(), "data", "version-2")
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := Ready(addr, 200*time.Millisecond); err == nil {
		t.Fatal("killed server still answers")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("addr changed: %s -> %s", addr, s.Addr())
	}
	if err := Ready(addr, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snapDir); err != nil {
		t.Fatalf("data dir not reused: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.PID() != 0 {
		t.Fatal("pid after stop")
	}
	if err := s.Stop(); err != nil {
		t.Fatal("second stop:", err)
	}
}

func TestPauseResume(t *testing.T) {
	s := Start(t)
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	// The kernel still accepts the connection, but nobody answers.
	if err := Ready(s.Addr(), 300*time.Millisecond); err == nil {
		t.Fatal("paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := Ready(s.Addr(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestStartProcessPortInUseFails(t *testing.T) {
	if err := Installed(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = StartProcessWithOptions(t.TempDir(), port, Options{StartTimeout: 30 * time.Second})
	if err == nil {
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "process exited") {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestNotInstalledSaysHowToInstall(t *testing.T) {
	err := installed(Options{Java: "no-such-java-binary"}.withDefaults())
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y zookeeper") ||
		!strings.Contains(err.Error(), "make test") {
		t.Fatalf("error = %v", err)
	}
}

func TestExpireSessionRejectsUnknownSession(t *testing.T) {
	s := Start(t)
	err := ExpireSession(s.Addr(), 0x1234, make([]byte, 16), 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not alive") {
		t.Fatalf("err = %v", err)
	}
}
