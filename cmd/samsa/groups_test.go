package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestGroupsArgs(t *testing.T) {
	for name, c := range map[string]struct {
		args []string
		ok   bool
	}{
		"list":                    {[]string{"--bootstrap-server", "h:1", "--list"}, true},
		"describe":                {[]string{"--bootstrap-server", "h:1", "--describe", "--group", "g"}, true},
		"describe members":        {[]string{"--bootstrap-server", "h:1", "--describe", "--group", "g", "--members", "--verbose"}, true},
		"no action":               {[]string{"--bootstrap-server", "h:1"}, false},
		"both actions":            {[]string{"--bootstrap-server", "h:1", "--list", "--describe"}, false},
		"describe without group":  {[]string{"--bootstrap-server", "h:1", "--describe"}, false},
		"members and state":       {[]string{"--bootstrap-server", "h:1", "--describe", "--group", "g", "--members", "--state"}, false},
		"verbose without members": {[]string{"--bootstrap-server", "h:1", "--describe", "--group", "g", "--verbose"}, false},
		"no bootstrap":            {[]string{"--list"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseGroupsArgs(c.args, io.Discard)
			if (err == nil) != c.ok {
				t.Fatalf("err %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// The offsets table of kafka-consumer-groups --describe: assigned partitions with their member, committed
// partitions nobody owns with "-", lag from the log end.
func TestGroupsDescribeOffsetsTable(t *testing.T) {
	d := groupDescription{id: "g", state: "Stable",
		members:   []groupMember{{id: "c-1", host: "/10.0.0.1", clientID: "c", assignment: map[string][]int32{"t": {1, 0}}}},
		committed: map[string]map[int32]int64{"t": {0: 5}, "old": {0: 7}},
		logEnd:    map[string]map[int32]int64{"t": {0: 9, 1: 3}, "old": {0: 7}},
	}
	var out bytes.Buffer
	writeGroupOffsets(&out, d)
	want := "\n" +
		"GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST      CLIENT-ID\n" +
		"g     old   0         7              7              0   -           -         -\n" +
		"g     t     0         5              9              4   c-1         /10.0.0.1 c\n" +
		"g     t     1         -              3              -   c-1         /10.0.0.1 c\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
	out.Reset()
	writeGroupMembers(&out, d, true)
	if !strings.Contains(out.String(), "c-1         -                 /10.0.0.1 c         2           t(0,1)") {
		t.Fatalf("members table:\n%s", out.String())
	}
}
