//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// consumePartition reads exactly n records of topic/partition from the log start with a fresh Consumer, and
// checks that the partition holds no more: its latest offset (ListOffsets) equals the last offset read + 1.
func consumePartition(t testing.TB, c *Cluster, topic string, partition int32, n int) []*sarama.ConsumerMessage {
	t.Helper()
	cfg := c.SaramaConfig()
	// Closing a partition consumer waits for its in-flight fetch, which the broker holds up to max_wait_ms
	// when there is nothing new: keep that short, we close right after the last record.
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cl, err := sarama.NewClient(c.Bootstrap(), cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	cons, err := sarama.NewConsumerFromClient(cl)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	var out []*sarama.ConsumerMessage
	if n > 0 {
		pc, err := cons.ConsumePartition(topic, partition, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume %s-%d: %v", topic, partition, err)
		}
		defer pc.Close()
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for len(out) < n {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
			case err := <-pc.Errors():
				t.Fatalf("consume %s-%d: %v", topic, partition, err)
			case <-timeout.C:
				t.Fatalf("consume %s-%d: %d of %d records after 30s", topic, partition, len(out), n)
			}
		}
	}
	latest, err := cl.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		t.Fatalf("latest offset of %s-%d: %v", topic, partition, err)
	}
	want := int64(0)
	if n > 0 {
		want = out[n-1].Offset + 1
	}
	if latest != want {
		t.Fatalf("%s-%d: latest offset %d after reading %d records, want %d", topic, partition, latest, n, want)
	}
	return out
}

// sent is what a producer was told about one record.
type sent struct {
	key, value string
	partition  int32
	offset     int64
}

// checkReadBack consumes every partition of topic and checks that it holds exactly the records in want,
// in the order they were sent per partition; withOffsets also checks the offsets the producer was given.
func checkReadBack(t testing.TB, c *Cluster, topic string, partitions int32, want []sent, withOffsets bool) {
	t.Helper()
	byPartition := map[int32][]sent{}
	for _, s := range want {
		byPartition[s.partition] = append(byPartition[s.partition], s)
	}
	total := 0
	for p := int32(0); p < partitions; p++ {
		exp := byPartition[p]
		got := consumePartition(t, c, topic, p, len(exp))
		for i, m := range got {
			e := exp[i]
			if string(m.Key) != e.key || string(m.Value) != e.value {
				t.Fatalf("%s-%d record %d: got key %q value %q, want key %q value %q", topic, p, i, m.Key, m.Value, e.key, e.value)
			}
			if m.Offset != int64(i) {
				t.Fatalf("%s-%d record %d: offset %d, want %d (offsets are dense from 0)", topic, p, i, m.Offset, i)
			}
			if withOffsets && m.Offset != e.offset {
				t.Fatalf("%s-%d record %d: read at offset %d, producer was told %d", topic, p, i, m.Offset, e.offset)
			}
		}
		total += len(got)
	}
	if total != len(want) {
		t.Fatalf("%s: read %d records, sent %d", topic, total, len(want))
	}
}

func keyFor(i int) string { return fmt.Sprintf("key-%02d", i%20) }

// The harness fails a test whose broker printed a race report or a panic; this checks it finds them.
func TestHarnessScanLogFindsRaceReportsAndPanics(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		log  string
		want string
	}{
		"clean": {"time=x level=info msg=started\ntime=y level=info msg=\"shut down\"\n", ""},
		"race":  {"time=x level=info msg=started\n==================\nWARNING: DATA RACE\nWrite at 0x00c by goroutine 7:\n", "WARNING: DATA RACE\nWrite at 0x00c by goroutine 7:"},
		"panic": {"msg=started\npanic: runtime error: index out of range\n\ngoroutine 1 [running]:\n", "panic: runtime error: index out of range\n\ngoroutine 1 [running]:"},
		"fatal": {"fatal error: concurrent map writes\n", "fatal error: concurrent map writes"},
	} {
		path := filepath.Join(dir, name+".log")
		if err := os.WriteFile(path, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := scanLog(path); got != c.want {
			t.Errorf("%s: scanLog = %q, want %q", name, got, c.want)
		}
	}
}
