// Command samsa is the Samsa broker and its tools.
//
//	samsa broker   --config broker.yaml [--override key=value ...]
//	samsa dump-log [--print-data-log] [--verify] FILE...
//	samsa topics|produce|consume|groups|configs|reassign-partitions|delete-records|log-dirs --bootstrap-server ...
//
// Each subcommand lives in its own file; main only dispatches.
package main

import (
	"fmt"
	"io"
	"os"
)

type command struct {
	name  string
	usage string
	run   func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"broker", "run a broker: --config broker.yaml [--override key=value ...]", runBroker},
		{"dump-log", "print the batches of .log files or the entries of .index/.timeindex files (like kafka-dump-log)", runDumpLog},
		{"topics", "create, list, describe, alter or delete topics (like kafka-topics --bootstrap-server)", runTopics},
		{"produce", "send lines from stdin as records (like kafka-console-producer)", runProduce},
		{"consume", "print records of a topic (like kafka-console-consumer)", runConsume},
		{"groups", "list consumer groups, describe their members, offsets and lag (like kafka-consumer-groups)", runGroups},
		{"configs", "describe or alter topic and broker configs and client quotas (like kafka-configs)", runConfigs},
		{"reassign-partitions", "move partition replicas between brokers: execute, verify, cancel, list, generate (like kafka-reassign-partitions)", runReassign},
		{"delete-records", "delete records before an offset (like kafka-delete-records)", runDeleteRecords},
		{"log-dirs", "describe the brokers' log directories as JSON (like kafka-log-dirs)", runLogDirs},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "samsa: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: samsa COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-19s %s\n", c.name, c.usage)
	}
}
