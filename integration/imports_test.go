package integration

// No build tag on purpose: this test starts no process, takes a few seconds, and belongs in the plain
// `go test ./...` pass so a layering mistake fails next to the unit tests (see doc.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Third-party packages zkregistry may import besides the standard library: the ZooKeeper client, and logrus,
// which every package's constructor takes (*logrus.Entry, see STYLE "Logging").
var zkregistryThirdParty = []string{"github.com/go-zookeeper/zk", "github.com/sirupsen/logrus"}

// layerViolation says why package from (module-relative, e.g. "storage/index") must not depend on package to,
// or returns "" when it may. The rules are STYLE's "Packages" section; there is no Kafka-style log<->server
// cycle because lower layers declare the interfaces they need and broker wires them.
func layerViolation(from, to string) string {
	top := func(p string) string { t, _, _ := strings.Cut(p, "/"); return t }
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	switch top(from) {
	case "storage", "protocol":
		// storage may use storage/record and storage/index (its own subtree), which use nothing of ours.
		if !under(to, from) {
			return top(from) + " imports nothing of ours outside its own subtree"
		}
		return ""
	case "zkregistry":
		if !under(to, "zkregistry") {
			return "zkregistry imports only its own subpackages"
		}
		return ""
	case "controller":
		if !under(to, "controller") && !under(to, "zkregistry") && !under(to, "protocol") {
			return "controller imports only zkregistry and protocol of ours"
		}
		return ""
	case "broker", "cmd", "integration":
		return ""
	}
	if under(to, "broker") {
		return "nothing but cmd and integration imports broker"
	}
	return ""
}

func TestLayerRules(t *testing.T) {
	cases := []struct {
		from, to string
		ok       bool
	}{
		{"storage", "storage/record", true},
		{"storage", "storage/index", true},
		{"storage/record", "storage", false},
		{"storage/index", "storage/record", false},
		{"storage", "protocol", false},
		{"protocol", "storage/record", false},
		{"zkregistry", "zkregistry/zktest", true},
		{"zkregistry", "protocol", false},
		{"controller", "zkregistry", true},
		{"controller", "protocol", true},
		{"controller", "storage", false},
		{"controller", "broker/config", false},
		{"broker", "controller", true},
		{"broker/replica", "storage", true},
		{"cmd/samsa", "broker", true},
		{"integration", "broker", true},
		{"storage", "broker/config", false},
		{"tools/x", "broker/metadata", false},
		{"tools/x", "storage", true},
	}
	for _, c := range cases {
		t.Run(c.from+"->"+c.to, func(t *testing.T) {
			if why := layerViolation(c.from, c.to); (why == "") != c.ok {
				t.Fatalf("layerViolation(%q, %q) = %q, want allowed=%v", c.from, c.to, why, c.ok)
			}
		})
	}
}

type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// TestDependencyDirection checks every package of the module (its non-test code, transitively) against
// layerViolation, and zkregistry's direct third-party imports, with `go list -deps -json` as pebble's
// internal/lint does. Packages that currently fail to load (mid-edit) are checked as far as go list gets.
func TestDependencyDirection(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	modOut, err := exec.Command("go", "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(modOut))

	cmd := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Standard,Imports,Deps,Error", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	pkgs := map[string]listedPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}

	ours := func(path string) (string, bool) {
		if path == module {
			return ".", true
		}
		rel, ok := strings.CutPrefix(path, module+"/")
		return rel, ok
	}
	seen := map[string]bool{}
	var problems []string
	for path, p := range pkgs {
		from, ok := ours(path)
		if !ok {
			continue
		}
		seen[strings.SplitN(from, "/", 2)[0]] = true
		if p.Error != nil {
			t.Logf("note: %s does not load right now (%s); checking what go list resolved", from, p.Error.Err)
		}
		for _, d := range p.Deps {
			to, ok := ours(d)
			if !ok {
				continue
			}
			if why := layerViolation(from, to); why != "" {
				problems = append(problems, fmt.Sprintf("%s depends on %s: %s", from, to, why))
			}
		}
		if from == "zkregistry" || strings.HasPrefix(from, "zkregistry/") {
			for _, imp := range p.Imports {
				if _, mine := ours(imp); mine || pkgs[imp].Standard || slices.Contains(zkregistryThirdParty, imp) {
					continue
				}
				problems = append(problems, fmt.Sprintf("%s imports %s: zkregistry's third-party imports are %v",
					from, imp, zkregistryThirdParty))
			}
		}
	}
	// Guard against a vacuous pass (go list run in the wrong place, module renamed, ...).
	for _, must := range []string{"storage", "protocol", "zkregistry"} {
		if !seen[must] {
			t.Errorf("go list did not report package %s; the check would be vacuous", must)
		}
	}
	slices.Sort(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// moduleRoot returns the directory of the main module (go list -m -f {{.Dir}}).
func moduleRoot() (string, error) {
	b, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
