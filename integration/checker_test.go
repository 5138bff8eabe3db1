//go:build integration

package integration

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// The fault tests' workload and checker (reference 10 §1.1, §1.2, §6.4).
//
// The workload writes unique values at a constant offered rate to chosen partitions with acks=all, retries
// off and idempotence off, and records every attempt's outcome in one of three classes:
//
//	acked          error 0                                    must be readable forever after, at the offset given
//	definite       19 (before append), 6, 2, 87, 10, 18, 29, 3  must never become readable
//	indeterminate  everything else: 7, 20 (already appended), connection loss, client timeouts
//
// Why not Sarama's AsyncProducer with Retry.Max=0: on every error it abandons the broker connection and its
// per-partition circuit breaker then refuses sends for 10 s when metadata has no leader, which would blur the
// unavailability window with client artefacts; and requests of different partitions share a connection, which
// a broker serves one request at a time, so a produce waiting for acks=all delays the other partitions. So each
// partition gets its own goroutine and connection (Sarama's low-level Broker at V2_8_0_0, Produce v9), one
// request in flight, and after an error a fresh leader lookup that prefers the answer with the highest leader
// epoch (what a KIP-320 client does). The rolling-restart test, which wants a retrying client, uses Sarama's
// AsyncProducer with the same recorder.
//
// After the cluster is healed, drain reads every partition from its log start to its high watermark and check
// computes L (acked, absent), P (definite failure, present), D (a value at more than one offset: informational
// with idempotence off), IO (acked at o, read at o' != o) and foreign values (never sent, or in the wrong
// partition). unavailability gives U: the longest gap between successful acks of a partition across a window.

// target is one partition written by the workload.
type target struct {
	topic     string
	partition int32
}

func (tp target) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

func targetsOf(topic string, partitions int32) []target {
	out := make([]target, partitions)
	for p := range partitions {
		out[p] = target{topic, p}
	}
	return out
}

type class int8

const (
	pending class = iota
	acked
	definite
	indeterminate
)

func (c class) String() string {
	return [...]string{"pending", "acked", "definite failure", "indeterminate"}[c]
}

// attempt is what the producer knows about one value.
type attempt struct {
	value      string
	tp         target
	sent, done time.Time
	class      class
	offset     int64  // acked: the offset the leader assigned
	outcome    string // "ok", a Kafka error name, or a client-side error
}

// classify sorts a produce answer's error code into the classes of reference 10 §1.1.
func classify(code sarama.KError) class {
	switch code {
	case sarama.ErrNoError:
		return acked
	case sarama.ErrNotEnoughReplicas, sarama.ErrNotLeaderForPartition, sarama.ErrInvalidMessage,
		sarama.ErrInvalidRecord, sarama.ErrMessageSizeTooLarge, sarama.ErrMessageSetSizeTooLarge,
		sarama.ErrTopicAuthorizationFailed, sarama.ErrUnknownTopicOrPartition:
		return definite
	}
	return indeterminate
}

// recorder keeps every attempt and, per partition, the times of successful acks. Safe for concurrent use.
type recorder struct {
	mu       sync.Mutex
	seq      map[target]int
	attempts []*attempt
	byValue  map[string]*attempt
	ackTimes map[target][]time.Time
	outcomes map[target]map[string]int // outcome tallies, for the logs
}

func newRecorder() *recorder {
	return &recorder{seq: map[target]int{}, byValue: map[string]*attempt{}, ackTimes: map[target][]time.Time{},
		outcomes: map[target]map[string]int{}}
}

// valueSize pads values to the size of reference 10's load (100 bytes) so segments fill realistically.
const valueSize = 100

// begin creates n new unique values for tp, sent now.
func (r *recorder) begin(tp target, n int) []*attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := make([]*attempt, n)
	for i := range out {
		r.seq[tp]++
		v := fmt.Sprintf("%s/%d/%07d/", tp.topic, tp.partition, r.seq[tp])
		v += strings.Repeat("x", max(0, valueSize-len(v)))
		a := &attempt{value: v, tp: tp, sent: now, offset: -1}
		r.attempts = append(r.attempts, a)
		r.byValue[v] = a
		out[i] = a
	}
	return out
}

// abandon forgets an attempt whose value never left the test (never handed to a producer): it is neither
// sent nor failed, so the checker must not count it.
func (r *recorder) abandon(a *attempt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byValue, a.value)
	if i := slices.Index(r.attempts, a); i >= 0 {
		r.attempts = slices.Delete(r.attempts, i, i+1)
	}
}

// finish records the outcome of the attempts of one request: acked at base, base+1, ..., or failed.
func (r *recorder) finish(as []*attempt, c class, base int64, outcome string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for i, a := range as {
		a.done, a.class, a.outcome = now, c, outcome
		if c == acked && base >= 0 {
			a.offset = base + int64(i)
		}
	}
	if len(as) == 0 {
		return
	}
	tp := as[0].tp
	if c == acked {
		r.ackTimes[tp] = append(r.ackTimes[tp], now)
	}
	if r.outcomes[tp] == nil {
		r.outcomes[tp] = map[string]int{}
	}
	r.outcomes[tp][outcome] += len(as)
}

// acksSince counts tp's successful requests completed after since.
func (r *recorder) acksSince(tp target, since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	times := r.ackTimes[tp]
	return len(times) - sort.Search(len(times), func(i int) bool { return times[i].After(since) })
}

// countSince counts tp's values that ended with outcome after since.
func (r *recorder) countSince(tp target, outcome string, since time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.attempts {
		if a.tp == tp && a.outcome == outcome && a.done.After(since) {
			n++
		}
	}
	return n
}

// snapshot copies the attempts (for check) once the producers are stopped.
func (r *recorder) snapshot() []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]attempt, len(r.attempts))
	for i, a := range r.attempts {
		out[i] = *a
	}
	return out
}

// unavailability returns U per partition over [from, to]: the longest gap between consecutive successful acks,
// counting from the last ack before from and up to the first ack after to (or to itself when none came yet).
func (r *recorder) unavailability(targets []target, from, to time.Time) map[target]time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[target]time.Duration{}
	for _, tp := range targets {
		out[tp] = longestGap(r.ackTimes[tp], from, to)
	}
	return out
}

func longestGap(acks []time.Time, from, to time.Time) time.Duration {
	acks = slices.Clone(acks)
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	prev := from
	var longest time.Duration
	for _, a := range acks {
		if !a.After(from) {
			prev = a // the last ack before the window: the gap that spans from starts here
			continue
		}
		longest = max(longest, a.Sub(prev))
		prev = a
		if a.After(to) {
			return longest
		}
	}
	return max(longest, to.Sub(prev))
}

func formatU(targets []target, u map[target]time.Duration) string {
	parts := make([]string, len(targets))
	for i, tp := range targets {
		parts[i] = fmt.Sprintf("%s %.2fs", tp, u[tp].Seconds())
	}
	return strings.Join(parts, ", ")
}

// workload is the constant-rate acks=all producer with retries off.
type workload struct {
	c       *Cluster
	rec     *recorder
	targets []target
	every   time.Duration // offered interval between values of one partition
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// maxBatch caps the values of one request: after an outage the owed values are not all sent at once.
const maxBatch = 50

// startWorkload starts writing perSecond values per second to each target until Stop (also at test end).
func startWorkload(t testing.TB, c *Cluster, targets []target, perSecond int) *workload {
	w := &workload{c: c, rec: newRecorder(), targets: targets, every: time.Second / time.Duration(perSecond),
		stop: make(chan struct{})}
	for _, tp := range targets {
		w.wg.Add(1)
		go w.run(tp)
	}
	t.Cleanup(w.Stop)
	return w
}

// Stop ends the workload and waits for the requests in flight (bounded by the 15 s read timeout).
func (w *workload) Stop() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// waitAcks polls until every target has at least n successful requests completed after since: the producer
// makes progress again (a bounded wait on the running producer, not a sleep).
func (w *workload) waitAcks(t testing.TB, targets []target, since time.Time, n int, d time.Duration) time.Duration {
	t.Helper()
	eventually(t, d, func() error {
		for _, tp := range targets {
			if got := w.rec.acksSince(tp, since); got < n {
				return fmt.Errorf("%s: %d acknowledged requests since %s, want %d", tp, got, since.Format("15:04:05.000"), n)
			}
		}
		return nil
	})
	return time.Since(since)
}

// pause waits d unless the workload stops first.
func (w *workload) pause(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-w.stop:
		return false
	case <-timer.C:
		return true
	}
}

func (w *workload) run(tp target) {
	defer w.wg.Done()
	cfg := w.c.SaramaConfig()
	cfg.ClientID = "samsa-checker"
	cfg.Net.DialTimeout = 2 * time.Second
	cfg.Net.ReadTimeout = 15 * time.Second // > the 10 s acks=all timeout: the broker's answer is preferred
	const backoff = 50 * time.Millisecond
	var conn *sarama.Broker
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	start := time.Now()
	offered := 0
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		due := int(time.Since(start)/w.every) + 1 - offered
		if due <= 0 {
			if !w.pause(start.Add(time.Duration(offered) * w.every).Sub(time.Now())) {
				return
			}
			continue
		}
		if conn == nil {
			addr, err := w.leaderAddr(tp)
			if err != nil {
				if !w.pause(backoff) {
					return
				}
				continue
			}
			conn = sarama.NewBroker(addr)
			if err := conn.Open(cfg); err != nil {
				conn = nil
				if !w.pause(backoff) {
					return
				}
				continue
			}
		}
		n := min(due, maxBatch)
		offered += due // what could not be sent in time is skipped: the offered rate stays constant
		as := w.rec.begin(tp, n)
		resp, err := conn.Produce(checkerProduceRequest(tp, as))
		switch {
		case err != nil:
			w.rec.finish(as, indeterminate, -1, "client: "+shortErr(err))
		case resp.GetBlock(tp.topic, tp.partition) == nil:
			w.rec.finish(as, indeterminate, -1, "client: no block in response")
		default:
			b := resp.GetBlock(tp.topic, tp.partition)
			w.rec.finish(as, classify(b.Err), b.Offset, kafkaErrName(b.Err))
			switch b.Err {
			case sarama.ErrNoError:
				continue
			case sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend:
				// The leader answered as the leader of a short ISR: keep it. Everything else, REQUEST_TIMED_OUT
				// included (a stale leader cut from ZooKeeper answers that), sends us to look the leader up
				// again, where the highest leader epoch wins.
				if !w.pause(backoff) {
					return
				}
				continue
			}
		}
		_ = conn.Close()
		conn = nil
		if !w.pause(backoff) {
			return
		}
	}
}

// kafkaNames are the protocol names of the errors a producer meets in these tests (Errors.java).
var kafkaNames = map[sarama.KError]string{
	sarama.ErrInvalidMessage: "CORRUPT_MESSAGE", sarama.ErrUnknownTopicOrPartition: "UNKNOWN_TOPIC_OR_PARTITION",
	sarama.ErrLeaderNotAvailable: "LEADER_NOT_AVAILABLE", sarama.ErrNotLeaderForPartition: "NOT_LEADER_OR_FOLLOWER",
	sarama.ErrRequestTimedOut: "REQUEST_TIMED_OUT", sarama.ErrNotEnoughReplicas: "NOT_ENOUGH_REPLICAS",
	sarama.ErrNotEnoughReplicasAfterAppend: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
	sarama.ErrKafkaStorageError:            "KAFKA_STORAGE_ERROR", sarama.ErrUnknown: "UNKNOWN_SERVER_ERROR",
}

func kafkaErrName(e sarama.KError) string {
	if e == sarama.ErrNoError {
		return "ok"
	}
	if n, ok := kafkaNames[e]; ok {
		return fmt.Sprintf("%d %s", int16(e), n)
	}
	return fmt.Sprintf("%d %s", int16(e), e.Error())
}

// shortErr keeps the kind of a client error and drops addresses and ports, so tallies group.
func shortErr(err error) string {
	var kerr sarama.KError
	switch {
	case errors.As(err, &kerr):
		return kafkaErrName(kerr)
	case strings.Contains(err.Error(), "i/o timeout"):
		return "i/o timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	case strings.Contains(err.Error(), "EOF"), strings.Contains(err.Error(), "connection reset"),
		strings.Contains(err.Error(), "broken pipe"):
		return "connection lost"
	}
	return err.Error()
}

// checkerProduceRequest builds one Produce v9 (Kafka 2.8's, what Sarama sends at V2_8_0_0) with one uncompressed
// batch holding the attempts' values, acks=all and the 10 s timeout of profile T.
func checkerProduceRequest(tp target, as []*attempt) *sarama.ProduceRequest {
	now := time.Now().Truncate(time.Millisecond)
	rb := &sarama.RecordBatch{Version: 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		FirstTimestamp: now, MaxTimestamp: now, LastOffsetDelta: int32(len(as) - 1)}
	for i, a := range as {
		rb.Records = append(rb.Records, &sarama.Record{OffsetDelta: int64(i), Value: []byte(a.value)})
	}
	req := &sarama.ProduceRequest{RequiredAcks: sarama.WaitForAll, Timeout: 10000, Version: 9}
	req.AddBatch(tp.topic, tp.partition, rb)
	return req
}

// leaderAddr asks every broker (in parallel, short timeouts: a frozen one must not hold the lookup) for tp's
// leader and believes the answer with the highest leader epoch.
func (w *workload) leaderAddr(tp target) (string, error) {
	type answer struct {
		epoch int32
		addr  string
	}
	addrs := w.c.Bootstrap()
	answers := make(chan answer, len(addrs))
	for _, a := range addrs {
		go func() {
			answers <- func() answer {
				cfg := w.c.SaramaConfig()
				cfg.Net.DialTimeout = time.Second
				cfg.Net.ReadTimeout = 2 * time.Second
				b := sarama.NewBroker(a)
				if err := b.Open(cfg); err != nil {
					return answer{epoch: -1}
				}
				defer b.Close()
				md, err := b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, []string{tp.topic}))
				if err != nil {
					return answer{epoch: -1}
				}
				for _, tm := range md.Topics {
					for _, pm := range tm.Partitions {
						if tm.Name != tp.topic || pm.ID != tp.partition || pm.Leader < 0 {
							continue
						}
						for _, br := range md.Brokers {
							if br.ID() == pm.Leader {
								return answer{epoch: pm.LeaderEpoch, addr: br.Addr()}
							}
						}
					}
				}
				return answer{epoch: -1}
			}()
		}()
	}
	// Wait for every answer, but no longer than a moment after the first useful one: a frozen broker accepts
	// the connection (the kernel does) and never answers.
	best := answer{epoch: -1}
	var grace <-chan time.Time
collect:
	for range addrs {
		select {
		case a := <-answers:
			if a.epoch > best.epoch {
				best = a
			}
			if best.epoch >= 0 && grace == nil {
				grace = time.After(300 * time.Millisecond)
			}
		case <-grace:
			break collect
		}
	}
	if best.addr == "" {
		return "", fmt.Errorf("%s: no broker names a leader", tp)
	}
	return best.addr, nil
}

// record is one record read back.
type readRecord struct {
	offset int64
	value  string
}

// drain reads every target from its log start to its high watermark with a fresh consumer.
func drain(t testing.TB, c *Cluster, targets []target) map[target][]readRecord {
	t.Helper()
	cfg := c.SaramaConfig()
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cl, err := sarama.NewClient(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("drain: client: %v", err)
	}
	defer cl.Close()
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatalf("drain: consumer: %v", err)
	}
	defer cons.Close()
	out := map[target][]readRecord{}
	for _, tp := range targets {
		// Right after an election the new leader answers OFFSET_NOT_AVAILABLE until its high watermark has
		// caught up (reference 08 §6), and metadata may still name the old leader: both pass, so poll.
		var hw, first int64
		eventually(t, 30*time.Second, func() error {
			var err error
			if hw, err = cl.GetOffset(tp.topic, tp.partition, sarama.OffsetNewest); err != nil {
				_ = cl.RefreshMetadata(tp.topic)
				return fmt.Errorf("drain: high watermark of %s: %w", tp, err)
			}
			if first, err = cl.GetOffset(tp.topic, tp.partition, sarama.OffsetOldest); err != nil {
				_ = cl.RefreshMetadata(tp.topic)
				return fmt.Errorf("drain: log start of %s: %w", tp, err)
			}
			return nil
		})
		if first >= hw {
			out[tp] = nil
			continue
		}
		pc, err := cons.ConsumePartition(tp.topic, tp.partition, first)
		if err != nil {
			t.Fatalf("drain: consume %s: %v", tp, err)
		}
		timeout := time.NewTimer(60 * time.Second)
		var recs []readRecord
	read:
		for {
			select {
			case m := <-pc.Messages():
				recs = append(recs, readRecord{m.Offset, string(m.Value)})
				if m.Offset >= hw-1 {
					break read
				}
			case err := <-pc.Errors():
				t.Fatalf("drain: %s: %v", tp, err)
			case <-timeout.C:
				t.Fatalf("drain: %s: %d records read from %d after 60s, high watermark %d", tp, len(recs), first, hw)
			}
		}
		timeout.Stop()
		pc.Close()
		out[tp] = recs
	}
	return out
}

// verdict is the checker's result.
type verdict struct {
	attempts, acked, definite, indeterminate, pending int
	indeterminateRead                                 int // indeterminate values found in the drain (allowed)
	read                                              int
	lost                                              []string           // L
	phantom                                           []phantom          // P
	excused                                           []phantom          // P explained by a leader move (excuseLeaderMoves)
	dups                                              map[string][]int64 // D
	moved                                             []string           // IO
	foreign                                           []string           // never sent, or read in another partition
}

// phantom is a definite failure found in the drain.
type phantom struct {
	a    attempt
	read []int64
}

func (p phantom) String() string {
	return fmt.Sprintf("%s %s (sent %s, answered %s), read at %v: %.30s", p.a.tp, p.a.outcome,
		p.a.sent.Format("15:04:05.000"), p.a.done.Format("15:04:05.000"), p.read, p.a.value)
}

// excuseLeaderMoves sets apart the phantoms whose error was NOT_LEADER_OR_FOLLOWER and whose partition changed
// leader epoch (moved) while the request waited. Kafka 2.8 answers 6 in that case after the append, from
// DelayedProduce (Partition.checkEnoughReplicasReachOffset: "leaderLogIfLocal ... case None =>
// NOT_LEADER_OR_FOLLOWER"), and the record survives when the new leader has it: that 6 is indeterminate, not
// the definite failure reference 10 §1.1 lists. A 6 from the append path itself leaves nothing, so any other
// phantom still fails the run.
func (v *verdict) excuseLeaderMoves(moved func(tp target, from, to time.Time) bool) {
	var keep []phantom
	for _, p := range v.phantom {
		if strings.HasPrefix(p.a.outcome, "6 ") && moved(p.a.tp, p.a.sent, p.a.done) {
			v.excused = append(v.excused, p)
			continue
		}
		keep = append(keep, p)
	}
	v.phantom = keep
}

// check compares what the producer was told with what the drain read.
func check(attempts []attempt, read map[target][]readRecord) verdict {
	v := verdict{attempts: len(attempts), dups: map[string][]int64{}}
	where := map[string][]int64{} // value -> offsets read
	sentTo := map[string]target{}
	for _, a := range attempts {
		sentTo[a.value] = a.tp
	}
	for _, tp := range slices.SortedFunc(maps.Keys(read), func(a, b target) int {
		return strings.Compare(a.String(), b.String())
	}) {
		for _, r := range read[tp] {
			v.read++
			if dst, ok := sentTo[r.value]; !ok || dst != tp {
				v.foreign = append(v.foreign, fmt.Sprintf("%s@%d: %.40q", tp, r.offset, r.value))
				continue
			}
			where[r.value] = append(where[r.value], r.offset)
		}
	}
	for _, a := range attempts {
		offs, found := where[a.value]
		if len(offs) > 1 {
			v.dups[a.value] = offs
		}
		switch a.class {
		case acked:
			v.acked++
			switch {
			case !found:
				v.lost = append(v.lost, fmt.Sprintf("%s acked at %d (at %s): %.30s", a.tp, a.offset, a.done.Format("15:04:05.000"), a.value))
			case !slices.Contains(offs, a.offset):
				v.moved = append(v.moved, fmt.Sprintf("%s acked at %d, read at %v: %.30s", a.tp, a.offset, offs, a.value))
			}
		case definite:
			v.definite++
			if found {
				v.phantom = append(v.phantom, phantom{a, offs})
			}
		case indeterminate:
			v.indeterminate++
			if found {
				v.indeterminateRead++
			}
		default:
			v.pending++
		}
	}
	return v
}

func (v verdict) String() string {
	return fmt.Sprintf("attempts %d: acked %d, definite failures %d, indeterminate %d (%d of them read), pending %d; "+
		"read %d; L=%d P=%d (+%d NOT_LEADER_OR_FOLLOWER after a leader move) D=%d IO=%d foreign=%d",
		v.attempts, v.acked, v.definite, v.indeterminate, v.indeterminateRead, v.pending, v.read,
		len(v.lost), len(v.phantom), len(v.excused), len(v.dups), len(v.moved), len(v.foreign))
}

// requireSafe fails the test unless L, P, IO and foreign are all 0 (the acks=all pass of reference 10 §7,
// with idempotence off so duplicates are informational) and logs the verdict.
func (v verdict) requireSafe(t testing.TB, what string) {
	t.Helper()
	t.Logf("checker %s: %s", what, v)
	for _, p := range v.excused {
		t.Logf("checker %s: answered NOT_LEADER_OR_FOLLOWER after the append while the leader moved (Kafka does too; "+
			"indeterminate, not P): %s", what, p)
	}
	bad := false
	phantoms := make([]string, len(v.phantom))
	for i, p := range v.phantom {
		phantoms[i] = p.String()
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"lost (L)", v.lost}, {"phantom (P)", phantoms}, {"moved (IO)", v.moved}, {"foreign", v.foreign}} {
		if len(l.list) > 0 {
			bad = true
			t.Errorf("checker %s: %d %s, first ones: %s", what, len(l.list), l.name, strings.Join(l.list[:min(5, len(l.list))], "; "))
		}
	}
	if v.pending > 0 {
		bad = true
		t.Errorf("checker %s: %d attempts without an outcome (the workload was not stopped?)", what, v.pending)
	}
	if !bad && v.acked == 0 {
		t.Errorf("checker %s: nothing was acknowledged: the run checked nothing", what)
	}
}

// logOutcomes prints the tally of outcomes per partition.
func (r *recorder) logOutcomes(t testing.TB, targets []target) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, tp := range targets {
		keys := slices.Sorted(maps.Keys(r.outcomes[tp]))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, r.outcomes[tp][k])
		}
		t.Logf("outcomes %s: %s", tp, strings.Join(parts, ", "))
	}
}

// The checker itself must catch what it claims to measure (reference 10 §6.4: "the checker must be shown to
// catch loss"): here on hand-made outcomes and reads, without processes.
func TestCheckerCountsLostPhantomDuplicateAndMovedValues(t *testing.T) {
	p0, p1 := target{"t", 0}, target{"t", 1}
	at := func(v string, tp target, c class, off int64) attempt {
		return attempt{value: v, tp: tp, class: c, offset: off, outcome: c.String()}
	}
	attempts := []attempt{
		at("a", p0, acked, 0),          // read where acked
		at("b", p0, acked, 1),          // lost
		at("c", p0, acked, 2),          // read at 3: moved
		at("d", p0, definite, -1),      // read: phantom
		at("e", p0, indeterminate, -1), // read: allowed
		at("f", p1, acked, 0),          // read twice: duplicate, still where acked
		at("g", p1, definite, -1),      // absent: fine
		at("h", p1, indeterminate, -1), // absent: fine
	}
	read := map[target][]readRecord{
		p0: {{0, "a"}, {3, "c"}, {4, "d"}, {5, "e"}, {6, "zzz"}},
		p1: {{0, "f"}, {1, "f"}, {2, "a"}},
	}
	v := check(attempts, read)
	if len(v.lost) != 1 || !strings.Contains(v.lost[0], "acked at 1") {
		t.Errorf("lost = %q, want b", v.lost)
	}
	if len(v.moved) != 1 || !strings.Contains(v.moved[0], "read at [3]") {
		t.Errorf("moved = %q, want c", v.moved)
	}
	if len(v.phantom) != 1 || len(v.dups) != 1 || v.dups["f"] == nil {
		t.Errorf("phantom = %q, dups = %v; want d and f", v.phantom, v.dups)
	}
	if len(v.foreign) != 2 { // "zzz" was never sent; "a" belongs to t-0
		t.Errorf("foreign = %q, want 2", v.foreign)
	}
	if v.acked != 4 || v.definite != 2 || v.indeterminate != 2 || v.indeterminateRead != 1 || v.read != 8 {
		t.Errorf("counts: %s", v)
	}

	// A NOT_LEADER_OR_FOLLOWER phantom is set apart only when its partition's leader moved meanwhile.
	six := attempt{value: "s", tp: p0, class: definite, offset: -1, outcome: "6 NOT_LEADER_OR_FOLLOWER"}
	nineteen := attempt{value: "n", tp: p0, class: definite, offset: -1, outcome: "19 NOT_ENOUGH_REPLICAS"}
	withSix := map[target][]readRecord{p0: {{0, "s"}, {1, "n"}}}
	for _, moved := range []bool{false, true} {
		v := check([]attempt{six, nineteen}, withSix)
		v.excuseLeaderMoves(func(target, time.Time, time.Time) bool { return moved })
		wantP, wantExcused := 2, 0
		if moved {
			wantP, wantExcused = 1, 1
		}
		if len(v.phantom) != wantP || len(v.excused) != wantExcused {
			t.Errorf("leader moved %v: P %d, excused %d; want %d, %d", moved, len(v.phantom), len(v.excused), wantP, wantExcused)
		}
	}
}

func TestUnavailabilityIsTheLongestAckGapAcrossTheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := func(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }
	acks := []time.Time{s(0), s(1), s(2), s(9), s(9.5), s(12), s(30)}
	for _, c := range []struct {
		from, to float64
		want     time.Duration
	}{
		{2.5, 10, 7 * time.Second},         // the gap 2 -> 9 spans the fault start
		{9.2, 11, 2500 * time.Millisecond}, // 9.5 -> 12 reaches past the window end
		{13, 20, 18 * time.Second},         // no ack inside: from the last before to the first after
		{31, 35, 5 * time.Second},          // none after: up to the window end
		{-5, 0.5, 5 * time.Second},         // none before: from the window start
	} {
		if got := longestGap(acks, s(c.from), s(c.to)); got != c.want {
			t.Errorf("window [%v, %v]: U = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}
