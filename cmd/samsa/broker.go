package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/samsa-broker/samsa/broker"
	"github.com/samsa-broker/samsa/broker/config"
)

// overrides collects repeated --override key=value flags.
type overrides []string

func (o *overrides) String() string     { return strings.Join(*o, ",") }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

// runBroker runs one broker until SIGTERM or SIGINT, then shuts it down cleanly (exit 0). Configuration
// problems are all reported before anything starts (exit 2).
func runBroker(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML file with Kafka broker properties (default: built-in defaults, one broker on 127.0.0.1:2181 with data under ./data)")
	logLevel := fs.String("log-level", "info", "logrus level: debug, info, warn, error")
	var ov overrides
	fs.Var(&ov, "override", "key=value, overrides a property (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "samsa broker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := config.Load(*path, ov)
	if err != nil {
		fmt.Fprintf(stderr, "samsa broker: invalid configuration:\n%v\n", err)
		return 2
	}
	logger := logrus.New()
	logger.SetOutput(stderr)
	lvl, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "samsa broker: %v\n", err)
		return 2
	}
	logger.SetLevel(lvl)
	logger.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})

	b, err := broker.New(cfg, logrus.NewEntry(logger))
	if err != nil {
		fmt.Fprintf(stderr, "samsa broker: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := b.Start(ctx); err != nil {
		logger.WithError(err).Error("broker failed to start")
		return 1
	}
	<-ctx.Done()
	logger.Info("signal received")
	b.Shutdown()
	return 0
}
