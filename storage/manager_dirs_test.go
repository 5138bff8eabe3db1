package storage

import (
	"slices"
	"testing"
)

// LogManager.allLogs grouped by parent dir, as ReplicaManager.describeLogDirs reads it: every dir is listed,
// an empty one with no logs.
func TestManager_DirLogsGroupsLogsByLogDir(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, testManagerConfig(dirs...), newFakeClock(testNow))
	defer m.Close()
	l, err := m.GetOrCreateLog(tp("a", 0), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	got := m.DirLogs()
	if len(got) != 2 {
		t.Fatalf("%d dirs, want 2", len(got))
	}
	home := m.Dirs()[0]
	if !slices.Equal(got[home], []*Log{l}) || len(got[m.Dirs()[1]]) != 0 {
		t.Fatalf("dir logs %v", got)
	}
}

// LogConfig.delete: DeleteRecords needs cleanup.policy to contain delete.
func TestConfig_AllowsDeleteOnlyWithDeletePolicy(t *testing.T) {
	for policy, want := range map[string]bool{"delete": true, "compact": false, "compact,delete": true, "delete, compact": true} {
		c := testConfig()
		c.CleanupPolicy = policy
		if got := c.AllowsDelete(); got != want {
			t.Errorf("cleanup.policy %q: AllowsDelete %v, want %v", policy, got, want)
		}
	}
}
