package main

// samsa groups: Kafka 2.8's kafka-consumer-groups with --bootstrap-server (ConsumerGroupCommand), built on
// Sarama's ClusterAdmin:
//
//	--list                        group ids, one per line, sorted          (ListGroups on every broker)
//	--describe --group G          per partition: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
//	                              CONSUMER-ID HOST CLIENT-ID, for the partitions assigned to members and
//	                              those with committed offsets ("-" where unknown)
//	                                                        (DescribeGroups + OffsetFetch + ListOffsets)
//	--describe --members          GROUP CONSUMER-ID HOST CLIENT-ID #PARTITIONS (--verbose adds ASSIGNMENT)
//	--describe --state            GROUP COORDINATOR (ID) ASSIGNMENT-STRATEGY STATE #MEMBERS
//
// As in Kafka, an unknown group prints "Error: Consumer group 'G' does not exist." on stderr and a group
// without members "Consumer group 'G' has no active members." before its offsets; each table is preceded
// by an empty line and its columns are padded to their widest value. Failures print "Error: ..." and
// exit 1; usage errors exit 2. Deviations: no --reset-offsets, --delete or --delete-offsets (yet); the lag
// is computed from the partition's high watermark (ListOffsets latest), as Kafka's is.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

type groupsOptions struct {
	bootstrap []string
	action    string // list or describe
	group     string
	members   bool
	state     bool
	verbose   bool
}

const groupsUsage = "usage: samsa groups --bootstrap-server HOST:PORT (--list | --describe --group G [--members [--verbose] | --state])"

func parseGroupsArgs(args []string, stderr io.Writer) (groupsOptions, error) {
	fs, bootstrap := toolFlags("groups", groupsUsage, stderr)
	list := fs.Bool("list", false, "list all consumer groups")
	describe := fs.Bool("describe", false, "describe a consumer group: offsets and lag, members or state")
	grp := fs.String("group", "", "the consumer group to describe")
	members := fs.Bool("members", false, "with --describe: list the group's members")
	state := fs.Bool("state", false, "with --describe: show the group's state")
	verbose := fs.Bool("verbose", false, "with --describe --members: show each member's assignment")
	if err := fs.Parse(args); err != nil {
		return groupsOptions{}, err
	}
	if fs.NArg() > 0 {
		return groupsOptions{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o := groupsOptions{group: *grp, members: *members, state: *state, verbose: *verbose}
	var err error
	if o.bootstrap, err = splitBootstrap(*bootstrap); err != nil {
		return o, err
	}
	switch {
	case *list == *describe:
		return o, errors.New("command must include exactly one action: --list or --describe")
	case *list:
		o.action = "list"
		if o.group != "" || o.members || o.state || o.verbose {
			return o, errors.New("--list takes no --group, --members, --state or --verbose")
		}
	default:
		o.action = "describe"
		if o.group == "" {
			return o, errors.New("--describe requires --group")
		}
		if o.members && o.state {
			return o, errors.New("--members and --state cannot be used together")
		}
		if o.verbose && !o.members {
			return o, errors.New("--verbose can only be used with --describe --members")
		}
	}
	return o, nil
}

func runGroups(args []string, stdout, stderr io.Writer) int {
	o, err := parseGroupsArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "samsa groups: %v\n%s\n", err, groupsUsage)
		return 2
	}
	client, admin, err := openAdmin(o.bootstrap, "samsa-groups")
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer client.Close()
	if o.action == "list" {
		err = listGroups(admin, stdout)
	} else {
		err = o.describe(client, admin, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func listGroups(admin sarama.ClusterAdmin, stdout io.Writer) error {
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		fmt.Fprintln(stdout, g)
	}
	return nil
}

// groupMember is one member as the describe tables show it.
type groupMember struct {
	id, host, clientID string
	instanceID         string
	assignment         map[string][]int32
}

// groupDescription is what --describe gathers about one group.
type groupDescription struct {
	id          string
	state       string
	protocol    string
	coordinator string // "host:port (id)"
	members     []groupMember
	committed   map[string]map[int32]int64 // topic → partition → offset (-1: none)
	logEnd      map[string]map[int32]int64 // topic → partition → high watermark (-1: unknown)
}

func (o groupsOptions) describe(client sarama.Client, admin sarama.ClusterAdmin, stdout, stderr io.Writer) error {
	d, err := gatherGroup(client, admin, o.group)
	if err != nil {
		return err
	}
	if d.state == "Dead" {
		fmt.Fprintf(stderr, "Error: Consumer group '%s' does not exist.\n", o.group)
		return nil
	}
	switch {
	case o.state:
		writeGroupState(stdout, d)
	case o.members:
		if len(d.members) == 0 {
			fmt.Fprintf(stdout, "\nConsumer group '%s' has no active members.\n", d.id)
			return nil
		}
		writeGroupMembers(stdout, d, o.verbose)
	default:
		if len(d.members) == 0 {
			fmt.Fprintf(stdout, "\nConsumer group '%s' has no active members.\n", d.id)
		}
		writeGroupOffsets(stdout, d)
	}
	return nil
}

func gatherGroup(client sarama.Client, admin sarama.ClusterAdmin, groupID string) (groupDescription, error) {
	descs, err := admin.DescribeConsumerGroups([]string{groupID})
	if err != nil {
		return groupDescription{}, err
	}
	if len(descs) != 1 {
		return groupDescription{}, fmt.Errorf("describe group %s: %d answers", groupID, len(descs))
	}
	gd := descs[0]
	if gd.Err != sarama.ErrNoError {
		return groupDescription{}, fmt.Errorf("describe group %s: %w", groupID, gd.Err)
	}
	d := groupDescription{id: groupID, state: gd.State, protocol: gd.Protocol,
		committed: map[string]map[int32]int64{}, logEnd: map[string]map[int32]int64{}}
	if b, err := client.Coordinator(groupID); err == nil {
		d.coordinator = fmt.Sprintf("%s (%d)", b.Addr(), b.ID())
	}
	for id, m := range gd.Members {
		gm := groupMember{id: id, host: m.ClientHost, clientID: m.ClientId, assignment: map[string][]int32{}}
		if m.GroupInstanceId != nil {
			gm.instanceID = *m.GroupInstanceId
		}
		if gd.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
			a, err := m.GetMemberAssignment()
			if err != nil {
				return d, fmt.Errorf("member %s: assignment: %w", id, err)
			}
			gm.assignment = a.Topics
		}
		d.members = append(d.members, gm)
	}
	sort.Slice(d.members, func(i, j int) bool { return d.members[i].id < d.members[j].id })
	offsets, err := admin.ListConsumerGroupOffsets(groupID, nil)
	if err != nil {
		return d, err
	}
	if offsets.Err != sarama.ErrNoError {
		return d, fmt.Errorf("fetch offsets of %s: %w", groupID, offsets.Err)
	}
	for topic, parts := range offsets.Blocks {
		for p, b := range parts {
			if b.Err != sarama.ErrNoError || b.Offset < 0 {
				continue
			}
			if d.committed[topic] == nil {
				d.committed[topic] = map[int32]int64{}
			}
			d.committed[topic][p] = b.Offset
		}
	}
	for topic, parts := range d.partitions() {
		d.logEnd[topic] = map[int32]int64{}
		for _, p := range parts {
			end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				end = -1
			}
			d.logEnd[topic][p] = end
		}
	}
	if len(d.committed) > 0 && d.state == "Dead" {
		d.state = "Empty" // offsets without metadata: Kafka describes such groups too
	}
	return d, nil
}

// partitions is every partition assigned to a member or with a committed offset.
func (d groupDescription) partitions() map[string][]int32 {
	seen := map[string]map[int32]bool{}
	add := func(t string, p int32) {
		if seen[t] == nil {
			seen[t] = map[int32]bool{}
		}
		seen[t][p] = true
	}
	for _, m := range d.members {
		for t, ps := range m.assignment {
			for _, p := range ps {
				add(t, p)
			}
		}
	}
	for t, ps := range d.committed {
		for p := range ps {
			add(t, p)
		}
	}
	out := map[string][]int32{}
	for t, ps := range seen {
		for p := range ps {
			out[t] = append(out[t], p)
		}
		sort.Slice(out[t], func(i, j int) bool { return out[t][i] < out[t][j] })
	}
	return out
}

// writeGroupOffsets is ConsumerGroupCommand's offsets table, sorted by topic and partition.
func writeGroupOffsets(w io.Writer, d groupDescription) {
	owner := map[string]map[int32]groupMember{}
	for _, m := range d.members {
		for t, ps := range m.assignment {
			for _, p := range ps {
				if owner[t] == nil {
					owner[t] = map[int32]groupMember{}
				}
				owner[t][p] = m
			}
		}
	}
	parts := d.partitions()
	topics := make([]string, 0, len(parts))
	for t := range parts {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	rows := [][]string{{"GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"}}
	for _, t := range topics {
		for _, p := range parts[t] {
			current, end, lag := "-", "-", "-"
			c, hasCommit := d.committed[t][p]
			e, hasEnd := d.logEnd[t][p]
			if hasCommit {
				current = strconv.FormatInt(c, 10)
			}
			if hasEnd && e >= 0 {
				end = strconv.FormatInt(e, 10)
				if hasCommit {
					lag = strconv.FormatInt(max(e-c, 0), 10)
				}
			}
			consumer, host, clientID := "-", "-", "-"
			if m, ok := owner[t][p]; ok {
				consumer, host, clientID = m.id, m.host, m.clientID
			}
			rows = append(rows, []string{d.id, t, strconv.Itoa(int(p)), current, end, lag, consumer, host, clientID})
		}
	}
	writeTable(w, rows)
}

func writeGroupMembers(w io.Writer, d groupDescription, verbose bool) {
	header := []string{"GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS"}
	if verbose {
		header = append(header, "ASSIGNMENT")
	}
	rows := [][]string{header}
	for _, m := range d.members {
		n := 0
		var assigned []string
		topics := make([]string, 0, len(m.assignment))
		for t := range m.assignment {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			ps := append([]int32(nil), m.assignment[t]...)
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			n += len(ps)
			var nums []string
			for _, p := range ps {
				nums = append(nums, strconv.Itoa(int(p)))
			}
			assigned = append(assigned, t+"("+strings.Join(nums, ",")+")")
		}
		instance := m.instanceID
		if instance == "" {
			instance = "-"
		}
		row := []string{d.id, m.id, instance, m.host, m.clientID, strconv.Itoa(n)}
		if verbose {
			a := strings.Join(assigned, ", ")
			if a == "" {
				a = "-"
			}
			row = append(row, a)
		}
		rows = append(rows, row)
	}
	writeTable(w, rows)
}

func writeGroupState(w io.Writer, d groupDescription) {
	coordinator := d.coordinator
	if coordinator == "" {
		coordinator = "-"
	}
	protocol := d.protocol
	if protocol == "" {
		protocol = "-"
	}
	writeTable(w, [][]string{
		{"GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"},
		{d.id, coordinator, protocol, d.state, strconv.Itoa(len(d.members))},
	})
}

// writeTable prints an empty line, then rows with each column padded to its widest cell plus one space.
func writeTable(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		var sb strings.Builder
		for i, c := range r {
			if i == len(r)-1 {
				sb.WriteString(c)
				break
			}
			sb.WriteString(c)
			sb.WriteString(strings.Repeat(" ", widths[i]-len(c)+1))
		}
		fmt.Fprintln(w, sb.String())
	}
}
