package zkregistry

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestFirstControllerGetsEpochOne(t *testing.T) {
	a, b := newClient(t), newClient(t)
	if _, _, found, err := a.GetControllerEpoch(); err != nil || found {
		t.Fatalf("epoch znode before any election: found=%v err=%v", found, err)
	}
	epoch, version, err := a.TryElectController(1)
	if err != nil || epoch != 1 {
		t.Fatalf("epoch %d err %v", epoch, err)
	}
	// Created with "0" (version 0), then bumped to "1" by the multi.
	if version != 1 {
		t.Fatalf("epochZkVersion = %d, want 1", version)
	}
	data, stat, err := a.Get(ControllerEpochPath)
	if err != nil || string(data) != "1" || stat.Version != version || stat.EphemeralOwner != 0 {
		t.Fatalf("/controller_epoch = %q %+v %v", data, stat, err)
	}
	info, found, err := b.GetController()
	if err != nil || !found || info.BrokerID != 1 {
		t.Fatalf("controller = %+v %v %v", info, found, err)
	}
	_, stat, _ = a.Get(ControllerPath)
	if stat.EphemeralOwner != a.SessionID() {
		t.Fatal("/controller is not ephemeral to the winner's session")
	}
	if _, _, err := b.TryElectController(2); !errors.Is(err, ErrNotElected) {
		t.Fatalf("second election: %v", err)
	}
}

func TestElectionRaceHasOneWinner(t *testing.T) {
	clients := []*Client{newClient(t), newClient(t), newClient(t), newClient(t)}
	var wg sync.WaitGroup
	wins := make(chan int32, len(clients))
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			epoch, _, err := c.TryElectController(int32(i))
			if err == nil {
				wins <- epoch
			} else if !errors.Is(err, ErrNotElected) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	if len(wins) != 1 {
		t.Fatalf("%d winners", len(wins))
	}
	if e := <-wins; e != 1 {
		t.Fatalf("epoch %d", e)
	}
}

// TestStaleControllerWritesAreFenced: Kafka's ControllerMovedException. A
// controller whose epoch znode version is stale cannot write, even though
// its own operation would succeed.
func TestStaleControllerWritesAreFenced(t *testing.T) {
	a, b := newClient(t), newClient(t)
	_, staleVersion, err := a.TryElectController(1)
	if err != nil {
		t.Fatal(err)
	}
	// a's session ends (e.g. it was partitioned away); b takes over.
	a.Close()
	epoch, version, err := b.TryElectController(2)
	if err != nil || epoch != 2 || version != staleVersion+1 {
		t.Fatalf("b: epoch %d version %d err %v", epoch, version, err)
	}
	// The old controller (any session) writing with its stale version.
	stale := newClient(t)
	_, err = stale.FencedMulti(staleVersion, CreateOp("/fenced", nil, Persistent))
	if !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("stale write: %v", err)
	}
	if st, _ := b.Exists("/fenced"); st != nil {
		t.Fatal("fenced write was applied")
	}
	// The current controller's writes go through; their own errors are
	// reported as if unfenced.
	res, err := b.FencedMulti(version, CreateOp("/fenced", []byte("x"), Persistent))
	if err != nil || len(res) != 1 || res[0].Path != "/fenced" {
		t.Fatalf("fresh write: %+v %v", res, err)
	}
	if _, err := b.Write(version, CreateOp("/fenced", nil, Persistent)); !errors.Is(err, ErrNodeExists) {
		t.Fatalf("own error: %v", err)
	}
	if _, err := stale.Write(staleVersion, DeleteOp("/fenced", MatchAnyVersion)); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := stale.ResignController(staleVersion); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("stale resign: %v", err)
	}
	if err := b.ResignController(version); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := b.GetController(); found {
		t.Fatal("/controller survived resignation")
	}
	if err := b.ResignController(version); err != nil {
		t.Fatal("second resign:", err)
	}
}

func TestWatchDataSeesControllerLifecycle(t *testing.T) {
	a, b := newClient(t), newClient(t)
	type obs struct {
		id     int32
		exists bool
	}
	var mu sync.Mutex
	var seen []obs
	w := b.WatchData(ControllerPath, func(_ context.Context, data []byte, stat *Stat) {
		o := obs{id: -1, exists: stat != nil}
		if stat != nil {
			info, err := DecodeController(data)
			if err != nil {
				t.Error(err)
			}
			o.id = info.BrokerID
		}
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
	})
	last := func(want obs) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) > 0 && seen[len(seen)-1] == want
		}
	}
	eventually(t, 5*time.Second, "absent", last(obs{id: -1}))
	_, version, err := a.TryElectController(5)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "controller 5", last(obs{id: 5, exists: true}))
	if err := a.ResignController(version); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "absent again", last(obs{id: -1}))
	w.Stop()
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if _, _, err := a.TryElectController(5); err != nil {
		t.Fatal(err)
	}
	// No delivery after Stop: check by reading the controller through b,
	// which happens after the create.
	if _, found, _ := b.GetController(); !found {
		t.Fatal("no controller")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("delivery after Stop: %v", seen[n:])
	}
}

func TestWatchStopDoesNotDeadlockOnBlockedCallback(t *testing.T) {
	c := newClient(t)
	unread := make(chan int) // nobody reads: the callback blocks
	w := c.WatchChildren("/", func(ctx context.Context, children []string, _ *Stat) {
		select {
		case unread <- len(children):
		case <-ctx.Done():
		}
	})
	done := make(chan struct{})
	go func() { w.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop deadlocked")
	}
}
