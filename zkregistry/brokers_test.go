package zkregistry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samsa-broker/samsa/zkregistry/zktest"
)

// zkStart gives a test its own ZooKeeper, for tests that stop or restart it.
func zkStart(t *testing.T) *zktest.Server {
	return zktest.StartWithOptions(t, zktest.Options{TickTime: 500 * time.Millisecond})
}

func brokerInfo(id int32, port int32) BrokerInfo {
	return BrokerInfo{ID: id, JMXPort: -1, Endpoints: []Endpoint{
		{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: port}}}
}

func TestBrokerEpochIsCzxidOfRegistration(t *testing.T) {
	c := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	info := brokerInfo(1, 9092)
	info.Timestamp = 42
	epoch, err := c.RegisterBroker(info)
	if err != nil {
		t.Fatal(err)
	}
	data, stat, err := c.Get(BrokerPath(1))
	if err != nil {
		t.Fatal(err)
	}
	if stat.Czxid != epoch || epoch <= 0 {
		t.Fatalf("epoch %d, czxid %d", epoch, stat.Czxid)
	}
	// create(null) + setData(version 0) in one multi: data version is 1.
	if stat.Version != 1 || stat.EphemeralOwner != c.SessionID() {
		t.Fatalf("version %d owner %x (session %x)", stat.Version, stat.EphemeralOwner, c.SessionID())
	}
	if string(data) != string(info.Encode()) {
		t.Fatalf("data %s", data)
	}
	got, err := c.GetBrokers()
	if err != nil || len(got) != 1 || got[0].Epoch != epoch || got[0].ID != 1 || got[0].Endpoints[0].Port != 9092 {
		t.Fatalf("GetBrokers = %+v, %v", got, err)
	}
	// Registering again in the same session (a retried request) reuses it.
	again, err := c.RegisterBroker(info)
	if err != nil || again != epoch {
		t.Fatalf("re-register: %d %v", again, err)
	}
	// A later registration has a larger epoch.
	if err := c.DeregisterBroker(1); err != nil {
		t.Fatal(err)
	}
	next, err := c.RegisterBroker(info)
	if err != nil || next <= epoch {
		t.Fatalf("new epoch %d after %d: %v", next, epoch, err)
	}
}

func TestDuplicateBrokerIDFails(t *testing.T) {
	a, b := newClient(t), newClient(t)
	if err := a.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterBroker(brokerInfo(7, 9092)); err != nil {
		t.Fatal(err)
	}
	_, err := b.RegisterBroker(brokerInfo(7, 9093))
	if !errors.Is(err, ErrBrokerIDInUse) || !strings.Contains(err.Error(), "broker id 7 is already registered") {
		t.Fatalf("err = %v", err)
	}
	// Once the owner's session ends, the id is free.
	a.Close()
	if _, err := b.RegisterBroker(brokerInfo(7, 9093)); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateEndpointFails(t *testing.T) {
	a, b := newClient(t), newClient(t)
	if err := a.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RegisterBroker(brokerInfo(1, 9092)); err != nil {
		t.Fatal(err)
	}
	_, err := b.RegisterBroker(brokerInfo(2, 9092))
	if !errors.Is(err, ErrEndpointInUse) {
		t.Fatalf("err = %v", err)
	}
}

func TestBrokerIDGenerationFromSeqidVersion(t *testing.T) {
	c := newClient(t)
	// Even without EnsurePersistentPaths: /brokers/seqid is created on demand.
	for want := int32(1001); want <= 1002; want++ {
		id, err := c.GenerateBrokerID(DefaultReservedBrokerMaxID)
		if err != nil || id != want {
			t.Fatalf("id = %d, want %d (%v)", id, want, err)
		}
	}
	// Concurrent generators never get the same id.
	var mu sync.Mutex
	seen := map[int32]bool{}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := c.GenerateBrokerID(DefaultReservedBrokerMaxID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || seen[id] {
				t.Errorf("id %d err %v", id, err)
			}
			seen[id] = true
		}()
	}
	wg.Wait()
}

func TestClusterIDCreatedOnce(t *testing.T) {
	clients := []*Client{newClient(t), newClient(t), newClient(t)}
	ids := make([]string, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := c.GetOrCreateClusterID()
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		}()
	}
	wg.Wait()
	if len(ids[0]) != 22 || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Fatalf("ids = %q", ids)
	}
	data, _, err := clients[0].Get(ClusterIDPath)
	if err != nil || string(data) != fmt.Sprintf(`{"version":"1","id":"%s"}`, ids[0]) {
		t.Fatalf("znode = %s, %v", data, err)
	}
	if _, err := ParseUUID(ids[0]); err != nil {
		t.Fatal(err)
	}
}

// TestSessionExpiryReRegisters forces an expiry the way Kafka's tests do
// (another connection attaches to the session and closes it) and checks the
// event stream, the loss of the ephemeral node, the new session and a
// re-registration with a new broker epoch; a watch re-arms on its own.
func TestSessionExpiryReRegisters(t *testing.T) {
	sniff := &sessionSniffer{}
	c := newClientWith(t, Config{Connect: zkServer.Addr() + chrootFor(t), dialer: sniff.dial})
	other := newClient(t)
	if err := c.EnsurePersistentPaths(); err != nil {
		t.Fatal(err)
	}
	events := collectEvents(c)
	epoch1, err := c.RegisterBroker(brokerInfo(3, 9092))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lastSeen []string
	w := c.WatchChildren(BrokerIDsPath, func(_ context.Context, children []string, _ *Stat) {
		mu.Lock()
		lastSeen = slices.Clone(children)
		mu.Unlock()
	})
	defer w.Stop()
	seenIs := func(want ...string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Equal(lastSeen, want)
		}
	}
	eventually(t, 5*time.Second, "watch sees broker 3", seenIs("3"))

	sid, passwd := sniff.session()
	if sid != c.SessionID() {
		t.Fatalf("sniffed session %x, client has %x", sid, c.SessionID())
	}
	if err := zktest.ExpireSession(zkServer.Addr(), sid, passwd, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The ephemeral is gone as soon as the session is closed.
	if st, err := other.Exists(BrokerPath(3)); err != nil || st != nil {
		t.Fatalf("registration survived expiry (%v)", err)
	}
	eventually(t, 15*time.Second, "expired then new session", func() bool {
		evs := events.get()
		n := len(evs)
		return n >= 2 && evs[n-2].State == SessionExpired && evs[n-1].State == SessionConnected && evs[n-1].NewSession
	})
	if c.SessionID() == sid {
		t.Fatal("same session id after expiry")
	}
	epoch2, err := c.RegisterBroker(brokerInfo(3, 9092))
	if err != nil || epoch2 <= epoch1 {
		t.Fatalf("re-register: epoch %d after %d: %v", epoch2, epoch1, err)
	}
	// The watch was dropped with the old session and re-armed by itself.
	eventually(t, 10*time.Second, "watch sees broker 3 again", seenIs("3"))
	if err := c.DeregisterBroker(3); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "watch sees no broker", seenIs())
}
