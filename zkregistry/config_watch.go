package zkregistry

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// ConfigChangeExpiry is how long a /config/changes notification is kept (Kafka's
// ZkConfigManager changeExpirationMs): long enough for every broker to see it.
const ConfigChangeExpiry = 15 * time.Minute

// ConfigChangeFunc is told that the config znode /config/<entityPath> may have changed; it re-reads
// the entity itself (the notification carries no data). entityPath is "<type>/<sanitized name>",
// e.g. "topics/t", "brokers/<default>", "users/alice/clients/app1".
type ConfigChangeFunc func(entityPath string)

// ConfigWatchOptions tune a ConfigWatcher; zero values mean Kafka's behaviour.
type ConfigWatchOptions struct {
	Expiry time.Duration    // notifications older than this (by ctime) are deleted; 0: ConfigChangeExpiry
	Now    func() time.Time // clock for the expiry; nil: time.Now
	Log    *logrus.Entry
}

// ConfigWatcher is a broker's listener on /config/changes (Kafka's ZkConfigManager with its
// ZkNodeChangeNotificationListener). Start reports every existing entity config once, then every
// notification with a sequence number above the last one processed, in sequence order, from one
// goroutine. Notifications older than the expiry are deleted by whoever sees them first.
//
// A session expiry drops the watch; the underlying Watcher re-arms it on the new session and the
// children listing that follows picks up whatever arrived meanwhile (the last sequence seen is kept,
// so nothing is reported twice). A failed read is retried after a second rather than waiting for
// the next notification.
type ConfigWatcher struct {
	c    *Client
	fn   ConfigChangeFunc
	opts ConfigWatchOptions
	log  *logrus.Entry

	kick   chan struct{} // capacity 1: "the children may have changed"
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the run goroutine.
	lastSeq int64
	ctimes  map[string]int64 // notification name -> ctime (ms), for the expiry
}

// WatchConfigChanges starts a ConfigWatcher; Stop it before closing the client.
func (c *Client) WatchConfigChanges(fn ConfigChangeFunc, opts ConfigWatchOptions) *ConfigWatcher {
	if opts.Expiry == 0 {
		opts.Expiry = ConfigChangeExpiry
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lg := opts.Log
	if lg == nil {
		lg = c.log
	}
	ctx, cancel := context.WithCancel(context.Background())
	cw := &ConfigWatcher{c: c, fn: fn, opts: opts, log: lg, kick: make(chan struct{}, 1), cancel: cancel,
		done: make(chan struct{}), lastSeq: -1, ctimes: map[string]int64{}}
	c.closeMu.Lock()
	if c.isClosed() {
		c.closeMu.Unlock()
		cancel()
		close(cw.done)
		return cw
	}
	c.wg.Add(1)
	c.closeMu.Unlock()
	go func() {
		defer c.wg.Done()
		defer close(cw.done)
		cw.run(ctx)
	}()
	return cw
}

// Stop ends the watch and waits for the goroutine (a callback in progress finishes first).
func (cw *ConfigWatcher) Stop() {
	cw.cancel()
	<-cw.done
}

func (cw *ConfigWatcher) run(ctx context.Context) {
	for ctx.Err() == nil && !cw.c.isClosed() {
		if err := cw.reportAll(ctx); err == nil {
			break
		} else if !cw.backoff(ctx, err) {
			return
		}
	}
	// The watch only says "look again": the listing and its processing happen here, so a failed
	// read can be retried without waiting for another notification.
	w := cw.c.WatchChildren(ConfigChangesPath, func(context.Context, []string, *Stat) { cw.poke() })
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cw.c.closed:
			return
		case <-cw.kick:
		}
		if err := cw.processNotifications(ctx); err != nil {
			if !cw.backoff(ctx, err) {
				return
			}
			cw.poke()
		}
	}
}

func (cw *ConfigWatcher) poke() {
	select {
	case cw.kick <- struct{}{}:
	default:
	}
}

// backoff waits a second after a failed read; false when stopping.
func (cw *ConfigWatcher) backoff(ctx context.Context, err error) bool {
	cw.log.WithError(err).Warn("reading config changes failed; retrying")
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-cw.c.closed:
	}
	return false
}

// reportAll reports every existing entity config, users' client children included (Kafka's
// ZkConfigManager.startup: fetchAllEntityConfigs and fetchAllChildEntityConfigs).
func (cw *ConfigWatcher) reportAll(ctx context.Context) error {
	paths, err := cw.c.ListEntityConfigs()
	if err != nil {
		return err
	}
	for _, p := range paths {
		if ctx.Err() != nil {
			return nil
		}
		cw.fn(p)
	}
	return nil
}

// ListEntityConfigs lists the entity path of every config znode under /config/<type> for the
// entity types in ConfigEntityTypes, plus users/<u>/clients/<c>.
func (c *Client) ListEntityConfigs() ([]string, error) {
	var out []string
	for _, typ := range ConfigEntityTypes {
		names, err := c.Children(ConfigEntityTypePath(typ))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, typ+"/"+n)
			if typ != ConfigUsers {
				continue
			}
			clients, err := c.Children(ConfigEntityPath(ConfigUsers, n) + "/" + ConfigClients)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, err
			}
			sort.Strings(clients)
			for _, cl := range clients {
				out = append(out, typ+"/"+n+"/"+ConfigClients+"/"+cl)
			}
		}
	}
	return out, nil
}

// processNotifications handles, in sequence order, every notification above the last processed
// one, then deletes the expired ones (Kafka's ZkNodeChangeNotificationListener.processNotifications
// and purgeObsoleteNotifications).
func (cw *ConfigWatcher) processNotifications(ctx context.Context) error {
	children, err := cw.c.Children(ConfigChangesPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	type note struct {
		name string
		seq  int64
	}
	notes := make([]note, 0, len(children))
	present := make(map[string]bool, len(children))
	for _, name := range children {
		if !strings.HasPrefix(ConfigChangesPath+"/"+name, ConfigChangePrefix) {
			continue
		}
		seq, err := ParseSequence(name)
		if err != nil {
			continue
		}
		notes = append(notes, note{name, seq})
		present[name] = true
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].seq < notes[j].seq })
	for name := range cw.ctimes {
		if !present[name] {
			delete(cw.ctimes, name)
		}
	}
	for _, n := range notes {
		if n.seq <= cw.lastSeq {
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		data, stat, err := cw.c.Get(ConfigChangesPath + "/" + n.name)
		switch {
		case errors.Is(err, zk.ErrNoNode): // purged by another broker: nothing left to read
		case err != nil:
			return err
		default:
			cw.ctimes[n.name] = stat.Ctime
			change, err := DecodeConfigChange(data)
			if err != nil {
				// Kafka logs and skips a notification it cannot parse.
				cw.log.WithError(err).WithField("notification", n.name).Error("ignoring bad config change notification")
			} else {
				cw.fn(change.EntityPath)
			}
		}
		cw.lastSeq = n.seq
	}
	return cw.purge(children)
}

// purge deletes notifications older than the expiry. The ctime of a notification processed here is
// remembered; others (written by a purge-less peer, or skipped) are read once.
func (cw *ConfigWatcher) purge(children []string) error {
	horizon := cw.opts.Now().Add(-cw.opts.Expiry).UnixMilli()
	for _, name := range children {
		ct, ok := cw.ctimes[name]
		if !ok {
			st, err := cw.c.Exists(ConfigChangesPath + "/" + name)
			if err != nil {
				return err
			}
			if st == nil {
				continue
			}
			ct = st.Ctime
			cw.ctimes[name] = ct
		}
		if ct > horizon {
			continue
		}
		err := cw.c.Delete(ConfigChangesPath+"/"+name, MatchAnyVersion)
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return err
		}
		delete(cw.ctimes, name)
	}
	return nil
}
