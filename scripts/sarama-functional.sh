#!/usr/bin/env bash
# Sarama's own functional test suite (`go test -tags functional` in IBM/sarama) against a Samsa cluster:
# the check that closes issue 6 ("the whole first wave, checked by a real client's own suite").
#
#   scripts/sarama-functional.sh [run]     install, build, fresh cluster, run the suite, summary, stop
#   scripts/sarama-functional.sh start     install, build and start the cluster only (then: stop)
#   scripts/sarama-functional.sh stop|status
#
# What `run` does, all state under $RUN_DIR (not the repository, and apart from `make run`'s ./run/):
#   1. toxiproxy-server from the Go module proxy (github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0, the
#      version Sarama's docker-compose.yml uses) into bin/toxiproxy-server-<version>, once.
#   2. Sarama's source at the version in our go.mod, from `go mod download` (the functional tests ship in the
#      module zip), copied out of the read-only module cache; its test binary is compiled before the
#      cluster starts, so compile time is not charged to the test timeout.
#   3. bin/samsa rebuilt (others change the broker all the time) and copied to $RUN_DIR/samsa, so a broker
#      restarted mid-suite runs the same build.
#   4. A fresh ZooKeeper and $BROKERS brokers (ids 1..N, broker.rack "N") configured as Sarama's
#      docker-compose.yml configures Kafka: auto.create.topics.enable false, default/offsets/transaction
#      replication factor 2, 6 s ZooKeeper session. Each broker has two listeners, as there: INTERNAL for
#      the other brokers (direct) and LOCAL for clients, advertised as 127.0.0.1:2909N where toxiproxy's
#      proxy "kafkaN" listens. Sarama hard-codes those names and ports (functional_test.go
#      setupToxiProxies); it finds the proxies existing, and injects its faults through the toxiproxy API.
#      With 3 brokers, proxies kafka4/kafka5 exist too (Sarama insists) and lead to brokers 1 and 2.
#   5. The suite with TOXIPROXY_ADDR and KAFKA_VERSION set, i.e. Sarama's "existing environment" mode.
#      Tests that drive docker compose (stop/start a broker, read its logs) find a `docker` shim first on
#      PATH that does the same to our processes; `docker compose exec` (Java tools) is refused, and those
#      tests skip themselves in this mode anyway.
#   6. A watchdog: many Sarama tests wait without a deadline, so one broker bug could hang the process and
#      hide every later test. A test with no progress for STALL_TIMEOUT counts as failed (stalled), its
#      process is stopped with SIGQUIT (stacks in the round's log), and the remaining tests run in a new
#      process (a "round") against a fresh cluster. Summary: counts and the failures, over all rounds.
#
# Environment: RUN_DIR (${TMPDIR:-/tmp}/samsa-sarama-functional), BROKERS (3), ZK_PORT (22181),
#   BROKER_BASE_PORT (39091: LOCAL listeners 39091.., INTERNAL listeners 39191..), TOXIPROXY_PORT (28474),
#   KAFKA_VERSION (2.8.2), SARAMA_VERSION (from go.mod), TOXIPROXY_VERSION (v2.12.0),
#   TEST_TIMEOUT (15m, for all rounds together), STALL_TIMEOUT (150 s without a test or subtest starting or
#   ending), TESTS (a regexp selecting tests; default every functional test),
#   KEEP=1 (leave the cluster running after `run`), SARAMA_DEBUG=1 (Sarama's debug logger).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELF=$ROOT/scripts/sarama-functional.sh
RUN=${RUN_DIR:-${TMPDIR:-/tmp}/samsa-sarama-functional}
case $RUN in /*) ;; *) RUN=$ROOT/$RUN ;; esac
BROKERS=${BROKERS:-3}
ZK_PORT=${ZK_PORT:-22181}
BROKER_BASE_PORT=${BROKER_BASE_PORT:-39091}
TOXIPROXY_PORT=${TOXIPROXY_PORT:-28474}
KAFKA_VERSION=${KAFKA_VERSION:-2.8.2}
TOXIPROXY_VERSION=${TOXIPROXY_VERSION:-v2.12.0}
SARAMA_VERSION=${SARAMA_VERSION:-$(awk '$1 == "github.com/IBM/sarama" { print $2 }' go.mod)}
TEST_TIMEOUT=${TEST_TIMEOUT:-15m}
STALL_TIMEOUT=${STALL_TIMEOUT:-150}
PROXIES=5          # Sarama always sets up kafka1..kafka5 (functional_test.go)
PROXY_BASE=29091   # and their ports, fixed there too
TOXIPROXY_BIN=$ROOT/bin/toxiproxy-server-$TOXIPROXY_VERSION
SAMSA=$RUN/samsa
SARAMA_DIR=$RUN/sarama-$SARAMA_VERSION
TEST_BIN=$RUN/sarama-functional.test
ZK_DIR=$RUN/zk
ZK_CFG=$ZK_DIR/zoo.cfg
ZK_CLASSPATH="/etc/zookeeper/conf:/usr/share/java/slf4j-simple.jar:/usr/share/java/zookeeper.jar:/usr/share/java/*"
export GOWORK=off

say() { printf '%s\n' "$*"; }
die() { printf 'sarama-functional.sh: %s\n' "$*" >&2; exit 1; }

local_port() { echo $((BROKER_BASE_PORT + $1 - 1)); }          # LOCAL listener, behind proxy kafkaN
internal_port() { echo $((BROKER_BASE_PORT + 100 + $1 - 1)); } # INTERNAL listener, broker to broker
proxy_port() { echo $((PROXY_BASE + $1 - 1)); }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until SECONDS COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2 # poll interval
  done
}

# pid_of FILE MARKER: the pid in FILE if alive and its command line contains MARKER, else nothing.
pid_of() {
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$2"* ]]; then
    echo "$pid"
  fi
}

# stop_pid NAME PID GRACE: SIGTERM, then SIGKILL after GRACE seconds.
stop_pid() {
  local deadline=$((SECONDS + $3))
  kill -TERM "$2" 2>/dev/null || true
  while kill -0 "$2" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$1 (pid $2) did not stop within $3s; killing it"
      kill -KILL "$2" 2>/dev/null || true
      break
    fi
    sleep 0.1 # poll interval
  done
}

zk4() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" || exit 1
    printf '%s' "$1" >&3
    timeout 2 cat <&3
  ) 2>/dev/null
}
zk_serving() { [ "$(zk4 ruok)" = imok ] && grep -q '^Mode:' <<<"$(zk4 srvr)"; }
# zk_owner PATH: the session owning ephemeral znode PATH (from `dump`), or nothing.
zk_owner() { awk -v p="$1" '/^0x[0-9a-fA-F]+:$/ { s = $1 } $1 == p { print s }' <<<"$(zk4 dump || true)"; }
controller_elected() { grep -qE '^[[:space:]]*/controller$' <<<"$(zk4 dump)"; }

# ---------------------------------------------------------------------------------------------- install

install_toxiproxy() {
  [ -x "$TOXIPROXY_BIN" ] && return
  say "installing toxiproxy-server $TOXIPROXY_VERSION from the Go module proxy..."
  local tmp
  tmp=$(mktemp -d)
  # @latest would give v2.5.0: the proxy's version list for this path stops there (reference 10 §5.2).
  (cd "$tmp" && GOBIN=$tmp go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION")
  mkdir -p "$(dirname "$TOXIPROXY_BIN")"
  mv "$tmp/server" "$TOXIPROXY_BIN"
  rm -rf "$tmp"
}

# prepare_sarama: a writable copy of Sarama's module source and its functional test binary.
prepare_sarama() {
  [ -n "$SARAMA_VERSION" ] || die "no github.com/IBM/sarama in go.mod; set SARAMA_VERSION"
  local dir
  dir=$(go mod download -json "github.com/IBM/sarama@$SARAMA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -f "$dir/functional_test.go" ] || die "go mod download gave no source for sarama $SARAMA_VERSION"
  rm -rf "$SARAMA_DIR"
  cp -r "$dir" "$SARAMA_DIR"
  chmod -R u+w "$SARAMA_DIR" # the module cache is read-only; go test writes beside the sources
  say "compiling Sarama $SARAMA_VERSION's functional tests..."
  (cd "$SARAMA_DIR" && go test -tags functional -c -o "$TEST_BIN" .)
}

build_samsa() {
  say "building bin/samsa..."
  go build -o bin/samsa ./cmd/samsa || die "bin/samsa does not build (the broker may be mid-edit); try again"
  cp bin/samsa "$SAMSA.new" && mv "$SAMSA.new" "$SAMSA"
}

# ---------------------------------------------------------------------------------------------- cluster

start_zookeeper() {
  [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null || scripts/install-zookeeper.sh
  mkdir -p "$ZK_DIR/data"
  cat >"$ZK_CFG" <<EOF
tickTime=2000
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,stat,dump
EOF
  nohup java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
    -cp "$ZK_CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_CFG" \
    >>"$ZK_DIR/zookeeper.log" 2>&1 </dev/null &
  echo $! >"$ZK_DIR/zookeeper.pid"
  wait_until 60 zk_serving || die "ZooKeeper did not start (log: $ZK_DIR/zookeeper.log)"
  say "ZooKeeper on 127.0.0.1:$ZK_PORT"
}

# start_toxiproxy: the API, and proxies kafka1..kafka5 created from a config file at start-up. Sarama
# resets them (enabled, no toxics) around every test; it never deletes them.
start_toxiproxy() {
  local n upstream sep="" json="["
  for n in $(seq 1 "$PROXIES"); do
    # Sarama bootstraps from all five addresses, and paths without a metadata refresh (an idempotent
    # producer's InitProducerId with Metadata.Full off) keep retrying the first shuffled seed; with fewer
    # brokers the extra proxies therefore lead to live ones, as a bootstrap list naming a broker twice.
    upstream=127.0.0.1:$(local_port $(((n - 1) % BROKERS + 1)))
    json+="$sep{\"name\":\"kafka$n\",\"listen\":\"127.0.0.1:$(proxy_port "$n")\",\"upstream\":\"$upstream\",\"enabled\":true}"
    sep=","
  done
  echo "$json]" >"$RUN/toxiproxy.json"
  nohup "$TOXIPROXY_BIN" -host 127.0.0.1 -port "$TOXIPROXY_PORT" -config "$RUN/toxiproxy.json" \
    >>"$RUN/toxiproxy.log" 2>&1 </dev/null &
  echo $! >"$RUN/toxiproxy.pid"
  proxies_up() { for n in $(seq 1 "$PROXIES"); do port_open "$(proxy_port "$n")" || return 1; done; }
  wait_until 30 proxies_up || die "toxiproxy did not start (log: $RUN/toxiproxy.log)"
  say "toxiproxy API on 127.0.0.1:$TOXIPROXY_PORT, proxies kafka1-$PROXIES on 127.0.0.1:$PROXY_BASE-$(proxy_port "$PROXIES")"
}

# Broker settings as Sarama's docker-compose.yml sets them for Kafka (KAFKA_CFG_*), on top of Kafka's
# shipped config/server.properties (transaction.state.log.min.isr=1 comes from there). Not reproduced:
# replica.selector.class (Samsa has no follower fetching; see 01_fetch.go).
write_broker_config() {
  local n=$1
  mkdir -p "$RUN/data-$n"
  cat >"$RUN/broker-$n.yaml" <<EOF
broker.id: $n
broker.rack: "$n"
listeners: INTERNAL://127.0.0.1:$(internal_port "$n"),LOCAL://127.0.0.1:$(local_port "$n")
advertised.listeners: INTERNAL://127.0.0.1:$(internal_port "$n"),LOCAL://127.0.0.1:$(proxy_port "$n")
listener.security.protocol.map: INTERNAL:PLAINTEXT,LOCAL:PLAINTEXT
inter.broker.listener.name: INTERNAL
log.dirs: $RUN/data-$n
zookeeper.connect: 127.0.0.1:$ZK_PORT
zookeeper.session.timeout.ms: 6000
zookeeper.connection.timeout.ms: 6000
default.replication.factor: 2
offsets.topic.replication.factor: 2
transaction.state.log.replication.factor: 2
transaction.state.log.min.isr: 1
delete.topic.enable: true
auto.create.topics.enable: false
group.initial.rebalance.delay.ms: 0
EOF
}

broker_pid() { pid_of "$RUN/broker-$1.pid" "$RUN/broker-$1.yaml"; }

# broker_ready N STALE: listening on both listeners and registered by a session other than STALE.
broker_ready() {
  local owner
  port_open "$(local_port "$1")" && port_open "$(internal_port "$1")" || return 1
  owner=$(zk_owner "/brokers/ids/$1")
  [ -n "$owner" ] && [ "$owner" != "$2" ]
}

# start_broker N: start broker N and wait until it is registered. TZ=UTC makes log timestamps comparable
# as strings with `docker compose logs --since` (which Sarama passes in UTC).
start_broker() {
  local n=$1 stale pid deadline
  pid=$(broker_pid "$n")
  [ -z "$pid" ] || { say "broker $n already running (pid $pid)"; return 0; }
  write_broker_config "$n"
  stale=$(zk_owner "/brokers/ids/$n")
  deadline=$((SECONDS + 90))
  while :; do
    echo "=== sarama-functional.sh: starting broker $n at $(date -u -Is) ===" >>"$RUN/broker-$n.log"
    TZ=UTC nohup "$SAMSA" broker --config "$RUN/broker-$n.yaml" >>"$RUN/broker-$n.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$RUN/broker-$n.pid"
    while kill -0 "$pid" 2>/dev/null && ! broker_ready "$n" "$stale"; do
      [ "$SECONDS" -lt "$deadline" ] || die "broker $n not ready within 90s (log: $RUN/broker-$n.log)"
      sleep 0.2 # poll interval
    done
    kill -0 "$pid" 2>/dev/null && break
    # A crashed predecessor's ZooKeeper session may still hold the id: the broker exits; retry until it expires.
    grep -qE 'broker id in use|already registered' <<<"$(tail -n 20 "$RUN/broker-$n.log")" ||
      { tail -n 20 "$RUN/broker-$n.log" >&2; die "broker $n exited during startup (log: $RUN/broker-$n.log)"; }
    [ "$SECONDS" -lt "$deadline" ] || die "broker $n: id still registered after 90s"
    sleep 1 # back-off before the retry
  done
  say "broker $n started (pid $pid; clients via 127.0.0.1:$(proxy_port "$n") -> $(local_port "$n"), brokers via $(internal_port "$n"))"
}

stop_broker() {
  local pid
  pid=$(broker_pid "$1")
  [ -n "$pid" ] && stop_pid "broker $1" "$pid" 30
  rm -f "$RUN/broker-$1.pid"
  say "broker $1 stopped"
}

# write_docker_shim: `docker compose stop|start|logs kafka-N` as Sarama's tests call it, on our processes.
write_docker_shim() {
  mkdir -p "$RUN/shim"
  cat >"$RUN/shim/docker" <<EOF
#!/usr/bin/env bash
# Written by scripts/sarama-functional.sh: Sarama's functional tests call docker compose; this acts on Samsa.
export RUN_DIR='$RUN' BROKERS='$BROKERS' ZK_PORT='$ZK_PORT' BROKER_BASE_PORT='$BROKER_BASE_PORT'
exec '$SELF' docker "\$@"
EOF
  chmod +x "$RUN/shim/docker"
}

# cmd_docker ARGS: the docker shim. stop waits for the process to exit, start until the broker is
# registered again (docker compose start returns earlier; Sarama's tests then poll metadata).
cmd_docker() {
  local verb since="" ids=() a
  echo "$(date -u -Is) docker $*" >>"$RUN/docker-shim.log"
  [ "${1:-}" = compose ] || die "docker shim: only 'docker compose' is supported, got: docker $*"
  shift
  verb=${1:-}
  shift || true
  while [ $# -gt 0 ]; do
    case $1 in
      --since) since=$2; shift ;;
      -t | --timestamps | --no-color) ;;
      kafka-[0-9]*) ids+=("${1#kafka-}") ;;
      *) die "docker shim: unsupported argument '$1' in 'docker compose $verb'" ;;
    esac
    shift
  done
  [ ${#ids[@]} -gt 0 ] || die "docker shim: no kafka-N service named"
  for a in "${ids[@]}"; do
    [ "$a" -le "$BROKERS" ] || die "docker shim: kafka-$a does not exist (BROKERS=$BROKERS)"
    case $verb in
      stop) stop_broker "$a" ;;
      start) start_broker "$a" ;;
      logs)
        # Lines stamped at or after --since (both UTC RFC 3339, so string order is time order).
        since=$(date -u -d "${since:-1970-01-01T00:00:00Z}" +%Y-%m-%dT%H:%M:%SZ)
        awk -v s="$since" 'match($0, /time="[^"]+"/) { t = substr($0, RSTART + 6, 20); keep = (t >= s) } keep' \
          "$RUN/broker-$a.log"
        ;;
      *) die "docker shim: 'docker compose $verb' is not supported (only stop, start, logs)" ;;
    esac
  done
}

cmd_stop() {
  local n pid
  for n in $(seq 1 "$BROKERS"); do
    pid=$(broker_pid "$n")
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  for n in $(seq 1 "$BROKERS"); do stop_broker "$n" >/dev/null; done
  pid=$(pid_of "$RUN/toxiproxy.pid" "$TOXIPROXY_BIN")
  [ -n "$pid" ] && stop_pid toxiproxy "$pid" 10
  pid=$(pid_of "$ZK_DIR/zookeeper.pid" "$ZK_CFG")
  [ -n "$pid" ] && stop_pid ZooKeeper "$pid" 10
  rm -f "$RUN/toxiproxy.pid" "$ZK_DIR/zookeeper.pid"
  say "stopped (state kept in $RUN)"
}

cmd_status() {
  local n pid
  pid=$(pid_of "$ZK_DIR/zookeeper.pid" "$ZK_CFG")
  say "ZooKeeper: ${pid:+running (pid $pid)}${pid:-not running}"
  pid=$(pid_of "$RUN/toxiproxy.pid" "$TOXIPROXY_BIN")
  say "toxiproxy: ${pid:+running (pid $pid)}${pid:-not running}"
  for n in $(seq 1 "$BROKERS"); do
    pid=$(broker_pid "$n")
    say "broker $n: ${pid:+running (pid $pid)}${pid:-not running}"
  done
}

# fresh_cluster: leftovers of an earlier run or round stopped and wiped, then ZooKeeper, toxiproxy and the
# brokers started from nothing, so every test process meets the cluster Sarama's TestMain expects.
fresh_cluster() {
  local n port
  cmd_stop >/dev/null
  rm -rf "$ZK_DIR" "$RUN"/data-* "$RUN"/broker-* "$RUN"/toxiproxy.* "$RUN/sarama-test.log"
  for port in "$ZK_PORT" "$TOXIPROXY_PORT" $(for n in $(seq 1 "$PROXIES"); do proxy_port "$n"; done) \
    $(for n in $(seq 1 "$BROKERS"); do local_port "$n"; internal_port "$n"; done); do
    ! port_open "$port" || die "127.0.0.1:$port is in use; stop whatever holds it (ports: see the header)"
  done
  start_zookeeper
  start_toxiproxy
  for n in $(seq 1 "$BROKERS"); do start_broker "$n"; done
  wait_until 30 controller_elected || die "no controller elected within 30s"
  write_docker_shim
}

cmd_start() {
  build_samsa
  rm -rf "$RUN/docker-shim.log" "$RUN/logs"
  fresh_cluster
}

# ---------------------------------------------------------------------------------------------- suite

# functional_tests: the top-level tests of Sarama's functional files, in source order (the unit tests
# beside them need no cluster and are not run here).
functional_tests() {
  local f
  for f in $(grep -l '^//go:build functional' "$SARAMA_DIR"/*_test.go); do
    sed -n 's/^func \(Test[A-Za-z0-9_]*\)(t \*testing\.T).*/\1/p' "$f"
  done
}

# test_states LOG: "name state" for each top-level test in a -v log, state being the last seen of
# run, pause (a parallel test waiting for the sequential ones), pass, fail, skip.
test_states() {
  awk '$1 == "===" && $3 !~ /\// { st[$3] = ($2 == "PAUSE") ? "pause" : "run" }
       $1 == "---" && $3 !~ /\// { st[$3] = tolower(substr($2, 1, length($2) - 1)) }
       END { for (t in st) print t, st[t] }' "$1"
}

# run_round REGEXP TIMEOUT_S LOG: one process of the test binary. Many Sarama tests wait without a
# deadline (consumeMsgs' wg.Wait, for one), so a broker bug can hang one test and with it every test
# after it. A watchdog therefore ends the process (SIGQUIT: Go prints every goroutine's stack into LOG)
# when no test or subtest has started or finished for $STALL_TIMEOUT seconds, and names the tests then
# running in $RUN/stalled.
run_round() {
  local re=$1 timeout=$2 log=$3 pid n last_n=-1 last_t=$SECONDS tailpid
  (
    cd "$SARAMA_DIR"
    export TOXIPROXY_ADDR=http://127.0.0.1:$TOXIPROXY_PORT KAFKA_VERSION PATH=$RUN/shim:$PATH
    [ "${SARAMA_DEBUG:-}" != 1 ] || export DEBUG=true
    exec "$TEST_BIN" -test.v -test.count=1 -test.timeout "${timeout}s" -test.run "$re"
  ) >"$log" 2>&1 &
  pid=$!
  TEST_PID=$pid
  tail -n +1 -f --pid="$pid" "$log" &
  tailpid=$!
  while kill -0 "$pid" 2>/dev/null; do
    n=$(grep -cE '^ *(=== RUN|--- (PASS|FAIL|SKIP))' "$log" || true)
    if [ "$n" != "$last_n" ]; then
      last_n=$n last_t=$SECONDS
    elif [ $((SECONDS - last_t)) -ge "$STALL_TIMEOUT" ]; then
      kill "$tailpid" 2>/dev/null || true # the goroutine dump goes to the log only
      test_states "$log" | awk '$2 == "run" { print $1 }' | tee -a "$RUN/stalled" | while read -r n; do
        say "sarama-functional.sh: no progress for ${STALL_TIMEOUT}s, stopping the process (stacks in $log); stalled: $n"
      done
      kill -QUIT "$pid" 2>/dev/null || true
      break
    fi
    sleep 1 # watchdog tick
  done
  wait "$pid" || true
  wait "$tailpid" 2>/dev/null || true
}

# summary ALL: counts over every round; a test running at a stall or at the timeout counts as failed.
summary() {
  local all=$1 logs states pass fail skip stalled crashed timed_out not_run bad
  logs=$(cat "$RUN"/round-*.log)
  states=$(test_states /dev/stdin <<<"$logs")
  count() { grep -c . || true; }
  pass=$(awk '$2 == "pass"' <<<"$states" | count)
  fail=$(awk '$2 == "fail"' <<<"$states" | count)
  skip=$(awk '$2 == "skip"' <<<"$states" | count)
  stalled=$(sort -u "$RUN/stalled" 2>/dev/null || true)
  crashed=$(sort -u "$RUN/crashed" 2>/dev/null || true)
  timed_out=$(awk '/^panic: test timed out/ { on = 1; next } on && /^\t\tTest/ { print $1 } on && /^$/ { on = 0 }' <<<"$logs")
  not_run=$(comm -23 <(sort -u <<<"$all") <(awk '$2 ~ /^(pass|fail|skip)$/ { print $1 }' <<<"$states" |
    cat - <(echo "$stalled") <(echo "$crashed") <(echo "$timed_out") | sort -u))
  bad=$((fail + $(count <<<"$stalled") + $(count <<<"$crashed") + $(count <<<"$timed_out")))
  say ""
  say "==== Sarama $SARAMA_VERSION functional tests against Samsa ($BROKERS brokers, KAFKA_VERSION=$KAFKA_VERSION)"
  say "top-level tests: $(count <<<"$all") selected, $pass passed, $bad failed, $skip skipped, $(count <<<"$not_run") not run"
  say "subtests:        $(grep -cE '^ +--- PASS: ' <<<"$logs" || true) passed, $(grep -cE '^ +--- FAIL: ' <<<"$logs" || true) failed, $(grep -cE '^ +--- SKIP: ' <<<"$logs" || true) skipped"
  grep -E '^--- FAIL: ' <<<"$logs" | sed 's/^--- FAIL: /FAIL  /' || true
  [ -z "$stalled" ] || sed "s/^/FAIL  (stalled: no progress for ${STALL_TIMEOUT}s, process stopped) /" <<<"$stalled"
  [ -z "$crashed" ] || sed 's/^/FAIL  (process crashed while it ran) /' <<<"$crashed"
  [ -z "$timed_out" ] || sed "s/^/FAIL  (running at the $TEST_TIMEOUT timeout) /" <<<"$timed_out"
  grep -E '^--- SKIP: ' <<<"$logs" | sed 's/^--- SKIP: /SKIP  /' || true
  [ -z "$not_run" ] || say "not run (time budget spent): $(tr '\n' ' ' <<<"$not_run")"
  say "output: $RUN/round-N.log (one test process each); broker logs: $RUN/logs/round-N/; docker shim calls: $RUN/docker-shim.log"
  [ "$bad" = 0 ] && [ -z "$not_run" ]
}

# cmd_run: the suite in rounds. After a stall, the next round runs the tests not yet finished (the stalled
# ones excluded), on brokers restarted if a killed test had stopped one. All rounds share TEST_TIMEOUT.
cmd_run() {
  local all todo round=0 budget deadline before finished
  mkdir -p "$RUN"
  install_toxiproxy
  prepare_sarama
  all=$(functional_tests)
  [ -z "${TESTS:-}" ] || all=$(grep -E "$TESTS" <<<"$all" || true)
  [ -n "$all" ] || die "no functional test matches TESTS=$TESTS"
  # On any exit the test process goes too (it would otherwise outlive us), and the cluster unless KEEP=1.
  trap 'kill "${TEST_PID:-}" 2>/dev/null || true; [ "${KEEP:-}" = 1 ] || cmd_stop >/dev/null 2>&1 || true' EXIT
  cmd_start
  rm -f "$RUN"/round-*.log "$RUN/stalled" "$RUN/crashed"
  budget=$(go_duration_seconds "$TEST_TIMEOUT")
  deadline=$((SECONDS + budget))
  todo=$all
  while [ -n "$todo" ] && [ $((deadline - SECONDS)) -ge 30 ]; do
    round=$((round + 1))
    say "=== sarama-functional.sh: round $round, $(grep -c . <<<"$todo") tests, $((deadline - SECONDS))s left of $TEST_TIMEOUT"
    # Not the cluster of the previous round: a stopped test may have left a broker down or a transaction
    # open, and Sarama's TestMain deletes and at once re-creates its topics, which races with the
    # controller still removing the old znodes (CreateTopics then answers TOPIC_ALREADY_EXISTS, "marked
    # for deletion", which TestMain accepts, and the topics never come back).
    [ "$round" = 1 ] || fresh_cluster >/dev/null
    run_round "^($(paste -sd'|' <<<"$todo"))\$" $((deadline - SECONDS)) "$RUN/round-$round.log"
    mkdir -p "$RUN/logs/round-$round"
    cp "$RUN"/broker-*.log "$RUN/toxiproxy.log" "$ZK_DIR/zookeeper.log" "$RUN/logs/round-$round/"
    grep -q '^panic: test timed out' "$RUN/round-$round.log" && break
    # A process that ended with tests still running was stopped by the watchdog (they are in stalled
    # already) or crashed (a panic outside a test's goroutine): either way those tests are done, failed.
    test_states "$RUN/round-$round.log" | awk '$2 == "run" { print $1 }' |
      grep -vxF -f <(cat "$RUN/stalled" 2>/dev/null; echo) >>"$RUN/crashed" || true
    before=$(grep -c . <<<"$todo")
    finished=$(cat "$RUN"/round-*.log | test_states /dev/stdin | awk '$2 ~ /^(pass|fail|skip)$/ { print $1 }'
      cat "$RUN/stalled" "$RUN/crashed" 2>/dev/null || true) # no stall: no stalled file, not an error
    todo=$(grep -vxF -f <(echo "$finished") <<<"$todo" || true)
    [ "$(grep -c . <<<"$todo")" -lt "$before" ] || break # no progress: do not loop
  done
  summary "$all"
}

# go_duration_seconds 15m|900s|1h: whole seconds.
go_duration_seconds() {
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

case ${1:-run} in
  run) cmd_run ;;
  start) mkdir -p "$RUN"; install_toxiproxy; cmd_start; say "cluster up; TOXIPROXY_ADDR=http://127.0.0.1:$TOXIPROXY_PORT; stop: $0 stop" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  docker) shift; cmd_docker "$@" ;;
  *) die "usage: scripts/sarama-functional.sh [run|start|stop|status]" ;;
esac
