// Package zktest runs a real, standalone Apache ZooKeeper server (Debian's
// `zookeeper` package) as a child process, for tests and for local tooling.
//
// Why a real server: Kafka-compatibility depends on ZooKeeper's exact
// semantics (czxid as broker epoch, multi-op results, ephemeral ownership,
// session expiry), which a fake would only approximate.
//
// Layout of a server directory (the dir given to StartProcess, or a
// t.TempDir for Start):
//
//	<dir>/zoo.cfg          generated configuration (rewritten on every start)
//	<dir>/data/            dataDir: snapshots and transaction logs
//	<dir>/zookeeper.log    the JVM's stdout+stderr, appended across restarts
//
// The process runs as
//
//	java <JVMFlags> -cp <ClassPath> org.apache.zookeeper.server.quorum.QuorumPeerMain <dir>/zoo.cfg
//
// in its own process group, listening on 127.0.0.1 only, with the admin
// (Jetty) server disabled and the four-letter words ruok, srvr and stat
// whitelisted. Readiness is "srvr answers with a Mode: line": ZooKeeper
// answers `ruok` with `imok` slightly before it serves requests (srvr then
// says "not currently serving requests"), so both are polled with a deadline.
//
// The package imports only the standard library so any package (including
// cmd tooling) can use it.
package zktest
