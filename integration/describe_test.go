//go:build integration

package integration

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// describePartitions runs `samsa topics --describe --topic topic` with extra args and returns its partition
// lines by partition id, each split into its "Key: value" columns; "flags" holds what follows the LEO column
// (" (under-replicated)", " (offline)").
func describePartitions(t *testing.T, c *Cluster, topic string, extra ...string) map[int32]map[string]string {
	t.Helper()
	args := append([]string{"topics", "--bootstrap-server", strings.Join(c.Bootstrap(), ","), "--describe", "--topic", topic}, extra...)
	out := runTool(t, "", args...)
	parts := map[int32]map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if !strings.HasPrefix(line, "\tTopic: ") {
			continue // the topic header
		}
		cols := map[string]string{}
		for _, f := range strings.Split(strings.TrimPrefix(line, "\t"), "\t") {
			k, v, ok := strings.Cut(f, ": ")
			if !ok {
				t.Fatalf("column %q in line %q", f, line)
			}
			cols[k] = v
		}
		if leo, flags, ok := strings.Cut(cols["LEO"], " ("); ok {
			cols["LEO"], cols["flags"] = leo, " ("+flags
		}
		p, err := strconv.Atoi(cols["Partition"])
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		parts[int32(p)] = cols
	}
	return parts
}

// countsByPartition counts acknowledged records per partition.
func countsByPartition(acked []sent) map[int32]int64 {
	n := map[int32]int64{}
	for _, s := range acked {
		n[s.partition]++
	}
	return n
}

// checkDescribed compares the columns of one partition line with what is expected.
func checkDescribed(t *testing.T, p int32, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("partition %d: %s is %q, want %q (line %v)", p, k, got[k], v, got)
		}
	}
}

// `samsa topics --describe` prints Kafka's columns plus the HW (the leader's ListOffsets latest for a
// consumer) and each replica's LEO (ListOffsets latest with Kafka's debugging replica id -2, answered by the
// replica's own broker). With RF=1 after acknowledged writes both equal the records acknowledged per
// partition, and the report options print nothing for a healthy topic. A partition whose only replica's
// broker is gone is offline: Leader none, HW and LEO "?", flagged, and listed by --unavailable-partitions.
func TestDescribeShowsHighWatermarkAndEveryReplicasLogEndOffset(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	const topic, partitions = "describe-rf1", 6
	c.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1})
	counts := countsByPartition(produceSync(t, c, topic, 0, 150))

	got := describePartitions(t, c, topic)
	if len(got) != partitions {
		t.Fatalf("--describe printed %d partition lines, want %d: %v", len(got), partitions, got)
	}
	leaders := map[int32]string{}
	for p := int32(0); p < partitions; p++ {
		leader := got[p]["Leader"]
		leaders[p] = leader
		n := strconv.FormatInt(counts[p], 10)
		checkDescribed(t, p, got[p], map[string]string{"Topic": topic, "Replicas": leader, "Isr": leader,
			"HW": n, "LEO": leader + "=" + n, "flags": ""})
	}
	for _, report := range []string{"--under-replicated-partitions", "--unavailable-partitions"} {
		if got := describePartitions(t, c, topic, report); len(got) != 0 {
			t.Fatalf("%s on a healthy topic printed %v", report, got)
		}
	}

	// Take down a broker that is not the controller: once its session expires the controller takes its
	// partitions offline (their ISR, {victim}, is all dead and unclean election is off).
	md, err := c.MetadataFrom(c.Addr(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	victim := int32(1)
	for victim == md.ControllerID {
		victim++
	}
	var lost []int32
	for p, l := range leaders {
		if l == strconv.Itoa(int(victim)) {
			lost = append(lost, p)
		}
	}
	slices.Sort(lost)
	c.Kill(victim)
	v := strconv.Itoa(int(victim))
	eventually(t, sessionTimeout+30*time.Second, func() error {
		got := describePartitions(t, c, topic, "--unavailable-partitions")
		var ids []int32
		for p, cols := range got {
			ids = append(ids, p)
			if cols["Leader"] != "none" || cols["HW"] != "?" || cols["LEO"] != v+"=?" || cols["flags"] != " (offline)" {
				return fmt.Errorf("partition %d: %v", p, cols)
			}
		}
		slices.Sort(ids)
		if !slices.Equal(ids, lost) {
			return fmt.Errorf("--unavailable-partitions lists %v, want the victim's %v", ids, lost)
		}
		return nil
	})
	// The others still answer in full.
	got = describePartitions(t, c, topic)
	for p := int32(0); p < partitions; p++ {
		if slices.Contains(lost, p) {
			continue
		}
		n := strconv.FormatInt(counts[p], 10)
		checkDescribed(t, p, got[p], map[string]string{"HW": n, "LEO": leaders[p] + "=" + n, "flags": ""})
	}
}
