package zktest

import (
	"strings"
	"testing"
)

// Start starts a ZooKeeper for the test on a free 127.0.0.1 port with its
// data in t.TempDir(), and kills it (process group) when the test ends.
// When ZooKeeper is not installed the test fails, saying how to install it:
// a silent skip would hide that the tests never ran.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWithOptions(t, Options{})
}

// StartWithOptions is Start with explicit options.
func StartWithOptions(t testing.TB, opt Options) *Server {
	t.Helper()
	if err := installed(opt.withDefaults()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lastErr error
	// A port found free can be taken by someone else before the JVM binds
	// it; the server then exits and we try another one.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := StartProcessWithOptions(dir, 0, opt)
		if err == nil {
			t.Cleanup(func() { _ = s.Kill() })
			return s
		}
		lastErr = err
		if !strings.Contains(err.Error(), "process exited") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}
