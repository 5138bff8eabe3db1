package purgatory

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if any goroutine of this package outlives the tests (etcd's testutil leak check).
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForGoroutines(func(stack string) bool {
			return strings.Contains(stack, "broker/purgatory.") && !strings.Contains(stack, "purgatory.TestMain(")
		}, 5*time.Second); len(leaked) > 0 {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", strings.Join(leaked, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

// workerGoroutines matches the goroutines a Timer or Purgatory starts.
func workerGoroutines(stack string) bool {
	return strings.Contains(stack, "purgatory.(*Timer).drive") ||
		strings.Contains(stack, "purgatory.(*executor).work") ||
		strings.Contains(stack, "purgatory.(*Purgatory[...]).Start")
}

// waitForGoroutines polls until no goroutine matches, or the deadline passes; it returns the stacks left.
func waitForGoroutines(match func(string) bool, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		var left []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if match(g) {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// eventually polls cond until it holds or d passes (nats checkFor).
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Microsecond) // polling interval
	}
}

func assertNoWorkers(t *testing.T) {
	t.Helper()
	if left := waitForGoroutines(workerGoroutines, 5*time.Second); len(left) > 0 {
		t.Fatalf("goroutines still running:\n%s", strings.Join(left, "\n\n"))
	}
}
