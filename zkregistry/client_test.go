package zkregistry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rootClient connects without a chroot, to look at the server's real tree.
func rootClient(t *testing.T) *Client {
	t.Helper()
	return newClientWith(t, Config{Connect: zkServer.Addr()})
}

func TestChrootIsCreatedAndPathsAreRelative(t *testing.T) {
	chroot := chrootFor(t) + "/kafka/cluster1"
	c := newClientWith(t, Config{Connect: zkServer.Addr() + chroot})
	if c.Chroot() != chroot {
		t.Fatalf("chroot = %q", c.Chroot())
	}
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	created, err := c.Create(IsrChangePrefix, EncodeIsrChange(nil), PersistentSequential)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created, IsrChangePrefix) || len(created) != len(IsrChangePrefix)+10 {
		t.Fatalf("created path %q is not relative to the chroot", created)
	}
	root := rootClient(t)
	if st, err := root.Exists(chroot + BrokerIDsPath); err != nil || st == nil {
		t.Fatalf("%s%s not in the real tree: %v", chroot, BrokerIDsPath, err)
	}
	if st, err := root.Exists(BrokerIDsPath); err != nil || st != nil {
		t.Fatalf("%s created outside the chroot (%v)", BrokerIDsPath, err)
	}
	// Children of "/" are the chroot's.
	kids, err := c.Children("/")
	if err != nil || !slices.Contains(kids, "brokers") {
		t.Fatalf("children of / = %v, %v", kids, err)
	}
}

func TestEnsurePersistentPathsKafkaStartupSet(t *testing.T) {
	c := newClient(t)
	for i := 0; i < 2; i++ { // idempotent: the second broker finds them all
		if err := c.EnsurePersistentPaths(); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"/consumers", "/brokers/ids", "/brokers/topics", "/brokers/seqid", "/config/changes",
		"/admin/delete_topics", "/isr_change_notification", "/latest_producer_id_block",
		"/log_dir_event_notification", "/config/topics", "/config/clients", "/config/users",
		"/config/brokers", "/config/ips"}
	for _, p := range want {
		data, stat, err := c.Get(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(data) != 0 || stat.DataLength != 0 {
			t.Errorf("%s has data %q; Kafka creates it with null data", p, data)
		}
	}
}

func TestDialFailsWithoutServer(t *testing.T) {
	start := time.Now()
	_, err := Dial(Config{Connect: "127.0.0.1:1", SessionTimeout: 2 * time.Second,
		ConnectionTimeout: 300 * time.Millisecond, Log: testLog(t)})
	if err == nil || !strings.Contains(err.Error(), "no session") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestMultiIsAtomicAndReportsEachOp(t *testing.T) {
	c := newClient(t)
	if _, err := c.Create("/a", []byte("x"), Persistent); err != nil {
		t.Fatal(err)
	}
	res, err := c.Multi(CreateOp("/b", nil, Persistent), SetDataOp("/a", []byte("y"), 7))
	if !errors.Is(err, ErrBadVersion) {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 2 || !errors.Is(res[1].Err, ErrBadVersion) {
		t.Fatalf("results = %+v", res)
	}
	if st, _ := c.Exists("/b"); st != nil {
		t.Fatal("multi was not atomic: /b exists")
	}
	res, err = c.Multi(CreateOp("/b", nil, Persistent), SetDataOp("/a", []byte("y"), 0))
	if err != nil || res[0].Path != "/b" || res[1].Stat.Version != 1 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestDeleteRecursive(t *testing.T) {
	c := newClient(t)
	for _, p := range []string{"/x/y/z", "/x/y/w", "/x/v"} {
		if _, err := c.CreateRecursive(p, nil, Persistent); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeleteRecursive(NoFencing, "/x"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Exists("/x"); err != nil || st != nil {
		t.Fatalf("/x still exists (%v)", err)
	}
	if err := c.DeleteRecursive(NoFencing, "/x"); err != nil {
		t.Fatal("deleting a missing tree:", err)
	}
}

// TestConnectionLossIsRetried: Kafka retries requests that fail with
// CONNECTIONLOSS once reconnected; the session survives a server restart
// shorter than the session timeout.
func TestConnectionLossIsRetried(t *testing.T) {
	srv := zkStart(t)
	c := newClientWith(t, Config{Connect: srv.Addr(), SessionTimeout: 10 * time.Second})
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	events := collectEvents(c)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "disconnected", func() bool { return !c.Connected() })
	done := make(chan error, 1)
	go func() {
		_, err := c.Create("/after-restart", []byte("v"), Persistent)
		done <- err
	}()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("create across a restart: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("create did not complete after the server came back")
	}
	if c.SessionID() != sid {
		t.Fatalf("session changed %x -> %x", sid, c.SessionID())
	}
	eventually(t, 5*time.Second, "connected event", func() bool {
		evs := events.get()
		return len(evs) >= 3 && evs[len(evs)-1].State == SessionConnected
	})
	evs := events.get()
	if evs[0].State != SessionConnected || !evs[0].NewSession || evs[1].State != SessionDisconnected ||
		evs[len(evs)-1].NewSession {
		t.Fatalf("events = %+v", evs)
	}
}

// eventLog drains Client.Events in the background.
type eventLog struct {
	mu  sync.Mutex
	evs []SessionEvent
}

func (l *eventLog) get() []SessionEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

func collectEvents(c *Client) *eventLog {
	l := &eventLog{}
	go func() {
		for ev := range c.Events() {
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

func TestWatchChildrenOfMissingPathWaitsForCreation(t *testing.T) {
	c := newClient(t)
	type obs struct {
		exists   bool
		children string
	}
	var mu sync.Mutex
	var last obs
	calls := 0
	w := c.WatchChildren("/later", func(_ context.Context, children []string, stat *Stat) {
		slices.Sort(children)
		mu.Lock()
		last, calls = obs{stat != nil, strings.Join(children, ",")}, calls+1
		mu.Unlock()
	})
	defer w.Stop()
	is := func(want obs) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return calls > 0 && last == want }
	}
	eventually(t, 5*time.Second, "absent", is(obs{}))
	if _, err := c.CreateRecursive("/later/b", nil, Persistent); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "created with child b", is(obs{true, "b"}))
	if _, err := c.Create("/later/a", nil, Persistent); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "children a,b", is(obs{true, "a,b"}))
	if err := c.DeleteRecursive(NoFencing, "/later"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "absent again", is(obs{}))
}
