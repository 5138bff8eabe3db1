// Package integration holds Samsa's black-box tests: a real ZooKeeper, real broker processes (bin/samsa built
// with -race), and real Kafka clients (Sarama at V2_8_0_0) or raw TCP. Nothing here imports the broker's
// packages; the tests see only what a Kafka client or operator sees (wire protocol, ZooKeeper, the CLI tools).
//
// # Build tags
//
// Everything that starts processes carries `//go:build integration` and runs with
//
//	go test -race -count=1 -tags integration ./integration/...
//
// (the second line of `make test`). Two files carry no tag: this doc.go, and imports_test.go, which checks the
// dependency direction between our packages with `go list`. It needs no processes and takes a few seconds, so it
// runs in the plain `go test ./...` pass too, where a layering mistake fails fast, next to the unit tests.
//
// # Harness (cluster.go, main_test.go)
//
//	TestMain:      go build -race -o <tmp>/samsa ./cmd/samsa      (once; SAMSA_BIN=path uses a prebuilt binary)
//	               one ZooKeeper (zkregistry/zktest, Debian's package) on a free port, shared by all tests
//	StartCluster:  chroot /samsa-<test>-<n> per cluster, so clusters never see each other's znodes
//	               broker i (ids 1..N): <tmp>/broker-i/{broker.yaml, data/, broker.log}, PLAINTEXT://127.0.0.1:<free port>
//	               readiness: every running broker accepts TCP and answers Metadata listing exactly the running
//	               ids and a live controller (polled with a deadline; nothing sleeps for synchronisation)
//	Kill/Stop/Start/Restart(id): SIGKILL / SIGTERM+wait / respawn with the same id, port and data
//	cleanup:       SIGKILL to every process group still running, wait; fail the test when a broker exited on
//	               its own, exited non-zero after SIGTERM, or printed a race report or a panic; print each
//	               broker's log tail when the test failed
//
// Broker configs use test profile T of the reliability plan (reference 10, section 1.3) where a key exists today:
// zookeeper.session.timeout.ms=6000, replica.lag.time.max.ms=5000, auto.create.topics.enable=false,
// group.initial.rebalance.delay.ms=0, small internal topics. Everything else keeps Kafka 2.8's defaults.
//
// # Fault tests (issue 4; reference 10 §1, §6, §7)
//
//	checker_test.go      constant-rate acks=all producer, retries and idempotence off, one connection per partition;
//	                     outcome classes acked / definite / indeterminate; drain; L, P, D, IO; U per partition
//	zkstate_test.go      partition state, controller and broker epoch from ZooKeeper; an observer of leader moves
//	zkproxy_test.go      a TCP proxy per broker in front of ZooKeeper (Options.ZooKeeperVia) that can be cut silently
//	replica_logs_test.go replicas' .log files split with record.Next and compared batch by batch up to the HW
//	fault_*_test.go      one scenario each: leader SIGKILL rounds, frozen follower (Cluster.Pause/Resume), ZooKeeper
//	                     cut, all ISR dead with unclean election off and on, rolling restart with controlled shutdown
//
// Short forms run in `make test`; SAMSA_CHAOS=1 (`make chaos`) runs the long ones. SAMSA_KEEP_LOGS=<dir> keeps the
// broker logs of a failed test.
//
// # Budget
//
// 2 cores: tests run one at a time (no t.Parallel), each under 60 s, with small topics; clusters of one broker
// where the behaviour under test does not involve several.
package integration
