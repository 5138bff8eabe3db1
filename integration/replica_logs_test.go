//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/samsa-broker/samsa/storage/record"
)

// Replicas never diverge (reference 03, KIP-101/KIP-279; reference 10 F13's pass criterion, the comparison of
// Kafka's logsShouldNotDivergeOnUncleanLeaderElections): after the churn, every replica of a partition holds
// the same batches, byte for byte, up to the high watermark. The segment files are read directly and split
// with record.Next (the same framing `samsa dump-log` uses); segment boundaries may differ between replicas,
// so each replica's batches are concatenated in base-offset order before the comparison. Whole batches are
// compared (header, partition leader epoch, CRC, records), not only (base offset, CRC).

// replicaBatches returns the batches of one replica's partition directory with a base offset below hw, in
// offset order. A segment's scan stops at its first unparsable bytes (a torn or preallocated tail).
func replicaBatches(dir string, hw int64) ([]record.Batch, error) {
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	slices.Sort(logs) // 20-digit base offsets sort as numbers
	var out []record.Batch
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for rest := data; ; {
			b, r, err := record.Next(rest)
			if err != nil {
				// io.EOF at the end; otherwise a torn or preallocated tail. Either way the comparison decides:
				// a replica short of the high watermark differs from its leader.
				break
			}
			rest = r
			if b.BaseOffset() >= hw {
				break
			}
			out = append(out, b)
		}
	}
	return out, nil
}

func describeBatch(b record.Batch) string {
	return fmt.Sprintf("[%d..%d] epoch %d crc %08x (crc valid %v, %d bytes)", b.BaseOffset(), b.LastOffset(),
		b.PartitionLeaderEpoch(), b.CRC(), b.CRCValid(), b.Size())
}

// compareReplicaDirs compares the replicas' directories (by broker id) with the leader's up to hw; the
// leader's batches must reach hw.
func compareReplicaDirs(leader int32, dirs map[int32]string, hw int64) error {
	want, err := replicaBatches(dirs[leader], hw)
	if err != nil {
		return err
	}
	if hw > 0 && (len(want) == 0 || want[len(want)-1].NextOffset() < hw) {
		end := int64(-1)
		if len(want) > 0 {
			end = want[len(want)-1].NextOffset()
		}
		return fmt.Errorf("leader %d's log ends at %d, below the high watermark %d", leader, end, hw)
	}
	var problems []string
	for _, id := range slices.Sorted(maps.Keys(dirs)) {
		if id == leader {
			continue
		}
		got, err := replicaBatches(dirs[id], hw)
		if err != nil {
			return err
		}
		for i := 0; i < max(len(want), len(got)); i++ {
			switch {
			case i >= len(got):
				problems = append(problems, fmt.Sprintf("replica %d ends before leader %d's batch %s", id, leader, describeBatch(want[i])))
			case i >= len(want):
				problems = append(problems, fmt.Sprintf("replica %d has extra batch %s below the high watermark", id, describeBatch(got[i])))
			case !bytes.Equal(got[i], want[i]):
				problems = append(problems, fmt.Sprintf("replica %d batch %d is %s, leader %d's is %s", id, i,
					describeBatch(got[i]), leader, describeBatch(want[i])))
			default:
				continue
			}
			break
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// requireIdenticalReplicaLogs checks every partition of topic on every replica against its leader, polling
// (followers may still be fetching the last batches) until they match or 30 s pass. Call it with the producers
// stopped and the ISRs full. It logs the number of batches and the high watermark compared.
func requireIdenticalReplicaLogs(t testing.TB, c *Cluster, topic string, partitions int32) {
	t.Helper()
	z := c.ZK()
	for p := range partitions {
		var summary string
		eventually(t, 30*time.Second, func() error {
			s, err := z.PartitionState(topic, p)
			if err != nil {
				return err
			}
			if s.Leader < 0 {
				return fmt.Errorf("%s-%d has no leader", topic, p)
			}
			pm, err := metadataPartition(c, c.Addr(s.Leader), topic, p)
			if err != nil {
				return err
			}
			hw, err := highWatermark(c, s.Leader, topic, p)
			if err != nil {
				return err
			}
			dirs := map[int32]string{}
			for _, id := range pm.Replicas {
				dirs[id] = filepath.Join(c.DataDir(id), fmt.Sprintf("%s-%d", topic, p))
			}
			if err := compareReplicaDirs(s.Leader, dirs, hw); err != nil {
				return fmt.Errorf("%s-%d (leader %d, high watermark %d): %w", topic, p, s.Leader, hw, err)
			}
			n, _ := replicaBatches(dirs[s.Leader], hw)
			summary = fmt.Sprintf("%s-%d: replicas %v identical up to the high watermark %d (%d batches)",
				topic, p, pm.Replicas, hw, len(n))
			return nil
		})
		t.Logf("%s", summary)
	}
}

// highWatermark asks broker id (the leader) for the latest offset a consumer may read: ListOffsets -1,
// read_uncommitted, which Kafka answers with the high watermark.
func highWatermark(c *Cluster, id int32, topic string, p int32) (int64, error) {
	cfg := c.SaramaConfig()
	cfg.Net.ReadTimeout = 5 * time.Second
	b := sarama.NewBroker(c.Addr(id))
	if err := b.Open(cfg); err != nil {
		return 0, err
	}
	defer b.Close()
	req := &sarama.OffsetRequest{Version: 4}
	req.AddBlock(topic, p, sarama.OffsetNewest, 1)
	resp, err := b.GetAvailableOffsets(req)
	if err != nil {
		return 0, err
	}
	blk := resp.GetBlock(topic, p)
	if blk == nil {
		return 0, fmt.Errorf("no ListOffsets answer for %s-%d", topic, p)
	}
	if blk.Err != sarama.ErrNoError {
		return 0, fmt.Errorf("ListOffsets %s-%d on broker %d: %w", topic, p, id, blk.Err)
	}
	return blk.Offset, nil
}

// The comparison must see a divergence where there is one: a replaced batch, a short replica, an extra one.
func TestReplicaLogComparisonFindsDivergence(t *testing.T) {
	build := func(base int64, epoch int32, vals ...string) []byte {
		recs := make([]record.BuildRecord, len(vals))
		for i, v := range vals {
			recs[i] = record.BuildRecord{Value: []byte(v), Timestamp: 1000}
		}
		opt := record.DefaultBuildOptions()
		opt.BaseOffset, opt.PartitionLeaderEpoch = base, epoch
		b, err := record.Build(recs, opt)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	root := t.TempDir()
	write := func(id int32, segments map[int64][][]byte) string {
		dir := filepath.Join(root, fmt.Sprint(id))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for base, batches := range segments {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)), bytes.Join(batches, nil), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	a, b, c := build(0, 0, "a", "b"), build(2, 0, "c"), build(3, 1, "d", "e")
	leader := write(1, map[int64][][]byte{0: {a, b, c}})
	// Segment boundaries differ but batches are the same; bytes past the high watermark do not count.
	same := write(2, map[int64][][]byte{0: {a}, 2: {b, c, build(5, 1, "unreplicated")}})
	diverged := write(3, map[int64][][]byte{0: {a, build(2, 0, "X"), c}})
	short := write(4, map[int64][][]byte{0: {a, b}})
	torn := write(5, map[int64][][]byte{0: {a, b, c[:len(c)-3]}})

	if err := compareReplicaDirs(1, map[int32]string{1: leader, 2: same}, 5); err != nil {
		t.Fatalf("identical replicas reported different: %v", err)
	}
	for name, c := range map[string]struct {
		dir  string
		want string
	}{
		"diverged": {diverged, "replica 9 batch 1 is [2..2]"},
		"short":    {short, "replica 9 ends before leader 1's batch [3..4]"},
		"torn":     {torn, "replica 9 ends before leader 1's batch [3..4]"},
	} {
		err := compareReplicaDirs(1, map[int32]string{1: leader, 9: c.dir}, 5)
		if err == nil {
			t.Errorf("%s: no divergence found", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want it to say %q", name, err, c.want)
		}
	}
	if err := compareReplicaDirs(2, map[int32]string{2: short}, 5); err == nil || !strings.Contains(err.Error(), "below the high watermark") {
		t.Errorf("a leader short of the high watermark: %v", err)
	}
}
