//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// TestMain builds the broker once, with the race detector so the broker under test is race-checked too
// (cleanup fails a test whose broker printed a race report), and starts the ZooKeeper all clusters share.
// SAMSA_BIN=/path/to/samsa skips the build and tests that binary instead.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "samsa-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	samsaBin = os.Getenv("SAMSA_BIN")
	if samsaBin == "" {
		samsaBin = filepath.Join(tmp, "samsa")
		if err := buildBroker(samsaBin); err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
	}
	if samsaBin, err = filepath.Abs(samsaBin); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}

	// A port found free can be taken before the JVM binds it; try a few.
	for attempt := 0; attempt < 3; attempt++ {
		dir := filepath.Join(tmp, fmt.Sprintf("zookeeper-%d", attempt))
		if sharedZK, err = zktest.StartProcess(dir, 0); err == nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer sharedZK.Kill()
	return m.Run()
}

// buildBroker runs go build -race for ./cmd/samsa from the module root.
func buildBroker(out string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-race", "-o", out, "./cmd/samsa")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -race ./cmd/samsa: %v\n%s", err, b)
	}
	return nil
}
