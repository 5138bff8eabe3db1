//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// runTool runs `samsa <args>` with stdin and returns stdout; a non-zero exit fails the test.
func runTool(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, samsaBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	// The race runtime waits a second at exit for late reports; a short-lived tool has none worth that.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("samsa %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// The README's quick start: create a topic with `samsa topics`, write lines with `samsa produce`, read them
// back with `samsa consume`, then alter and delete it.
func TestToolsCreateProduceConsume(t *testing.T) {
	c := StartCluster(t, Options{Brokers: 3})
	bs := strings.Join(c.Bootstrap(), ",")
	const topic = "tools-quickstart"

	out := runTool(t, "", "topics", "--bootstrap-server", bs, "--create", "--topic", topic,
		"--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=3600000")
	if out != "Created topic "+topic+".\n" {
		t.Fatalf("create printed %q", out)
	}
	c.WaitForLeaders(topic, 3)
	if out := runTool(t, "", "topics", "--bootstrap-server", bs, "--list"); !slices.Contains(strings.Split(out, "\n"), topic) {
		t.Fatalf("--list printed %q", out)
	}
	desc := runTool(t, "", "topics", "--bootstrap-server", bs, "--describe", "--topic", topic)
	lines := strings.Split(strings.TrimRight(desc, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "Topic: "+topic+"\tTopicId: ") ||
		!strings.Contains(lines[0], "\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: ") ||
		!strings.Contains(lines[0], "retention.ms=3600000") {
		t.Fatalf("--describe printed:\n%s", desc)
	}
	for p, l := range lines[1:] {
		if !strings.HasPrefix(l, fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: ", topic, p)) || !strings.Contains(l, "\tReplicas: ") {
			t.Fatalf("--describe partition line %q", l)
		}
	}

	var input strings.Builder
	var want []string
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&input, "key-%d:value-%d\n", i, i)
		want = append(want, fmt.Sprintf("key-%d\tvalue-%d", i, i))
	}
	runTool(t, input.String(), "produce", "--bootstrap-server", bs, "--topic", topic,
		"--property", "parse.key=true", "--property", "key.separator=:", "--acks", "all", "--compression-type", "gzip")

	out = runTool(t, "", "consume", "--bootstrap-server", bs, "--topic", topic, "--from-beginning",
		"--max-messages", "10", "--property", "print.key=true", "--timeout-ms", "20000")
	got := strings.Split(strings.TrimRight(out, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("consume printed %q, want %q (any order)", got, want)
	}

	// --partition/--offset read one partition from an offset: the records a key went to, from offset 1.
	all := runTool(t, "", "consume", "--bootstrap-server", bs, "--topic", topic, "--partition", "0",
		"--offset", "earliest", "--timeout-ms", "3000", "--property", "print.offset=true")
	if n := strings.Count(all, "\n"); n > 1 {
		tailOut := runTool(t, "", "consume", "--bootstrap-server", bs, "--topic", topic, "--partition", "0",
			"--offset", "1", "--max-messages", fmt.Sprint(n-1), "--property", "print.offset=true", "--timeout-ms", "20000")
		if !strings.HasPrefix(tailOut, "Offset:1\t") || strings.Count(tailOut, "\n") != n-1 {
			t.Fatalf("--offset 1 printed %q (partition 0 holds %q)", tailOut, all)
		}
	}

	runTool(t, "", "topics", "--bootstrap-server", bs, "--alter", "--topic", topic, "--partitions", "4")
	c.WaitForLeaders(topic, 4)
	runTool(t, "", "topics", "--bootstrap-server", bs, "--delete", "--topic", topic)
	eventually(t, 30*time.Second, func() error {
		out := runTool(t, "", "topics", "--bootstrap-server", bs, "--list")
		if slices.Contains(strings.Split(out, "\n"), topic) {
			return fmt.Errorf("--list still shows %s", topic)
		}
		return nil
	})
}
