package zkregistry

import (
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// freshClient connects under a chroot of its own per run (-count=N reuses test names, and
// notifications left by a previous run would be reported again).
func freshClient(t *testing.T, dialer func(string, string, time.Duration) (net.Conn, error)) (*Client, string) {
	t.Helper()
	chroot := chrootFor(t) + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg := Config{Connect: zkServer.Addr() + chroot}
	if dialer != nil {
		cfg.dialer = dialer
	}
	return newClientWith(t, cfg), chroot
}

// changeLog records what a ConfigWatcher reports.
type changeLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *changeLog) add(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paths = append(l.paths, p)
}

func (l *changeLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.paths)
}

func (l *changeLog) has(p string) func() bool {
	return func() bool { return slices.Contains(l.get(), p) }
}

// Kafka's ZkConfigManager.startup: every existing entity config is applied once at startup,
// including users/<u>/clients/<c>, before notifications are processed.
func TestConfigWatcherReportsExistingEntitiesAtStartup(t *testing.T) {
	c, _ := freshClient(t, nil)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	for _, e := range [][2]string{
		{ConfigTopics, "t1"}, {ConfigBrokers, DefaultEntity}, {ConfigBrokers, "1"},
		{ConfigUsers, DefaultEntity}, {ConfigUsers, "alice/clients/app1"}, {ConfigClients, "c1"},
	} {
		if err := c.SetEntityConfig(e[0], e[1], map[string]string{"k": "v"}); err != nil {
			t.Fatal(err)
		}
	}
	var log changeLog
	cw := c.WatchConfigChanges(log.add, ConfigWatchOptions{})
	defer cw.Stop()
	want := []string{"topics/t1", "clients/c1", "users/<default>", "users/alice", "users/alice/clients/app1",
		"brokers/1", "brokers/<default>"}
	eventually(t, 5*time.Second, "all entities reported", func() bool { return len(log.get()) >= len(want) })
	got := log.get()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s not reported; got %v", w, got)
		}
	}
}

// ZkNodeChangeNotificationListener: notifications are processed in sequence order, each once, in
// both the version 2 (entity_path) and the legacy version 1 (entity_type + entity_name) formats.
func TestConfigWatcherProcessesNotificationsInSequenceOrder(t *testing.T) {
	c, _ := freshClient(t, nil)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	var log changeLog
	cw := c.WatchConfigChanges(log.add, ConfigWatchOptions{})
	defer cw.Stop()
	if err := c.ChangeEntityConfig(ConfigTopics, "a", map[string]string{"retention.ms": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ConfigChangePrefix, []byte(`{"version":1,"entity_type":"clients","entity_name":"legacy"}`),
		PersistentSequential); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ConfigChangePrefix, []byte(`not json`), PersistentSequential); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeEntityConfig(ConfigUsers, "bob/clients/x", map[string]string{"producer_byte_rate": "10"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "last notification", log.has("users/bob/clients/x"))
	got := log.get()
	// "topics/a" is reported twice at most: by the startup listing (if the entity existed by then) and
	// by its notification; the notifications themselves come once each, in order.
	want := []string{"topics/a", "clients/legacy", "users/bob/clients/x"}
	var notes []string
	for _, p := range got {
		if len(notes) < len(want) && p == want[len(notes)] {
			notes = append(notes, p)
		}
	}
	if !slices.Equal(notes, want) {
		t.Fatalf("reports %v, want the subsequence %v", got, want)
	}
	if n := countOf(got, "clients/legacy"); n != 1 {
		t.Fatalf("clients/legacy reported %d times: %v", n, got)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}

// ZkNodeChangeNotificationListener.purgeObsoleteNotifications: notifications whose ctime is older
// than the expiry (15 minutes) are deleted; newer ones stay for the other brokers.
func TestConfigWatcherDeletesExpiredNotifications(t *testing.T) {
	c, _ := freshClient(t, nil)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangeEntityConfig(ConfigTopics, "old", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	var skew atomic.Int64 // the clock runs 16 minutes ahead once set
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	var log changeLog
	cw := c.WatchConfigChanges(log.add, ConfigWatchOptions{Now: now})
	defer cw.Stop()
	if err := c.ChangeEntityConfig(ConfigTopics, "t", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topics/t", log.has("topics/t"))
	if kids, err := c.Children(ConfigChangesPath); err != nil || len(kids) != 2 {
		t.Fatalf("fresh notifications: %v %v", kids, err)
	}
	skew.Store(int64(16 * time.Minute))
	if err := c.ChangeEntityConfig(ConfigTopics, "u", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "expired notifications deleted", func() bool {
		kids, err := c.Children(ConfigChangesPath)
		return err == nil && len(kids) == 0 // the new one is also older than now-15min on the skewed clock
	})
}

// After a session expiry the watch is re-armed on the new session; notifications written meanwhile
// are processed, and nothing already processed is reported again.
func TestConfigWatcherSurvivesSessionExpiry(t *testing.T) {
	sniff := &sessionSniffer{}
	c, chroot := freshClient(t, sniff.dial)
	other := newClientWith(t, Config{Connect: zkServer.Addr() + chroot})
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	var log changeLog
	cw := c.WatchConfigChanges(log.add, ConfigWatchOptions{})
	defer cw.Stop()
	if err := other.ChangeEntityConfig(ConfigTopics, "before", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topics/before", log.has("topics/before"))
	before := countOf(log.get(), "topics/before") // 2 if the startup listing already saw the entity
	sid, passwd := sniff.session()
	if err := zktest.ExpireSession(zkServer.Addr(), sid, passwd, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := other.ChangeEntityConfig(ConfigTopics, "during", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "topics/during after expiry", log.has("topics/during"))
	if err := other.ChangeEntityConfig(ConfigTopics, "after", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "topics/after", log.has("topics/after"))
	if n := countOf(log.get(), "topics/before"); n != before {
		t.Fatalf("topics/before reported %d times: %v", n, log.get())
	}
}
