#!/usr/bin/env bash
# A local Samsa cluster for `make run` / `make stop`: one ZooKeeper (Debian's package) and three brokers
# (ids 1-3 on 127.0.0.1:9092-9094), all in the background, all state under ./run/ in the repository:
#
#   run/zk/zoo.cfg, run/zk/data/, run/zk/zookeeper.log, run/zk/zookeeper.pid
#   run/broker-N.yaml, run/data-N/ (log.dirs), run/broker-N.log, run/broker-N.pid
#
# Usage: scripts/cluster.sh start|stop|status
# Environment: ZK_PORT (2181), BROKER_BASE_PORT (9092), BROKERS (3), ZK_CHROOT (none, as Kafka's quickstart),
#              SAMSA_BIN (bin/samsa), RUN_DIR (run).
#
# start is idempotent: what already runs (checked by pid file AND command line, so a stale pid file or a
# recycled pid is not mistaken for ours) is kept, what is missing is started; it works after a crash and
# after stop with no clean-up. stop keeps the data; `rm -rf run` after stop gives a fresh cluster.
# No nc needed: ZooKeeper is probed with four-letter words over bash's /dev/tcp.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
RUN=${RUN_DIR:-run}
case $RUN in /*) ;; *) RUN=$ROOT/$RUN ;; esac
ZK_PORT=${ZK_PORT:-2181}
BROKER_BASE_PORT=${BROKER_BASE_PORT:-9092}
BROKERS=${BROKERS:-3}
ZK_CHROOT=${ZK_CHROOT:-}
SAMSA_BIN=${SAMSA_BIN:-bin/samsa}
case $SAMSA_BIN in /*) ;; *) SAMSA_BIN=$ROOT/$SAMSA_BIN ;; esac
ZK_DIR=$RUN/zk
ZK_CFG=$ZK_DIR/zoo.cfg
ZK_PID=$ZK_DIR/zookeeper.pid
ZK_LOG=$ZK_DIR/zookeeper.log
# slf4j-simple first so ZooKeeper logs to stderr (our log file) rather than binding to slf4j-nop.
ZK_CLASSPATH="/etc/zookeeper/conf:/usr/share/java/slf4j-simple.jar:/usr/share/java/zookeeper.jar:/usr/share/java/*"
START_TIMEOUT=${START_TIMEOUT:-90}

say() { printf '%s\n' "$*"; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

broker_port() { echo $((BROKER_BASE_PORT + $1 - 1)); }
bootstrap() {
  local n out=""
  for n in $(seq 1 "$BROKERS"); do out+="${out:+,}127.0.0.1:$(broker_port "$n")"; done
  echo "$out"
}

# pid_of FILE MARKER: the pid in FILE if that process is alive and its command line contains MARKER (our
# config path), else nothing; a stale pid file is removed.
pid_of() {
  local file=$1 marker=$2 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  # Captured, not piped into grep -q: with pipefail an early-exiting grep can fail the pipeline.
  if [[ $pid =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
    [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *"$marker"* ]]; then
    echo "$pid"
  else
    rm -f "$file"
  fi
}

# zk4 WORD: send a ZooKeeper four-letter word to 127.0.0.1:$ZK_PORT and print the answer.
zk4() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" || exit 1
    printf '%s' "$1" >&3
    timeout 2 cat <&3
  ) 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds or the deadline passes.
wait_until() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.2 # poll interval
  done
}

zk_serving() { [ "$(zk4 ruok)" = imok ] && grep -q '^Mode:' <<<"$(zk4 srvr)"; }

start_zookeeper() {
  local pid
  pid=$(pid_of "$ZK_PID" "$ZK_CFG")
  if [ -n "$pid" ]; then
    say "ZooKeeper already running (pid $pid, 127.0.0.1:$ZK_PORT)"
    wait_until 60 "ZooKeeper" zk_serving || die "ZooKeeper (pid $pid) does not answer on 127.0.0.1:$ZK_PORT; see $ZK_LOG"
    return
  fi
  if port_open "$ZK_PORT"; then
    die "127.0.0.1:$ZK_PORT is in use by another process; stop it or set ZK_PORT"
  fi
  [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null ||
    die "ZooKeeper is not installed: run scripts/install-zookeeper.sh (make run does)"
  mkdir -p "$ZK_DIR/data"
  cat >"$ZK_CFG" <<EOF
# Written by scripts/cluster.sh; rewritten on every start.
tickTime=2000
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
# ruok/srvr: readiness; dump: lists ephemeral znodes, how this script sees brokers register.
4lw.commands.whitelist=ruok,srvr,stat,dump
EOF
  echo "=== cluster.sh: starting ZooKeeper at $(date -Is) ===" >>"$ZK_LOG"
  nohup java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true \
    -cp "$ZK_CLASSPATH" org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_CFG" \
    >>"$ZK_LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$ZK_PID"
  if ! wait_until 60 "ZooKeeper" zk_serving; then
    tail -n 30 "$ZK_LOG" >&2 || true
    die "ZooKeeper did not answer ruok with imok within 60s (log: $ZK_LOG)"
  fi
  say "ZooKeeper started (pid $pid, 127.0.0.1:$ZK_PORT, data in $ZK_DIR/data)"
}

write_broker_config() {
  local n=$1 port
  port=$(broker_port "$n")
  mkdir -p "$RUN/data-$n"
  cat >"$RUN/broker-$n.yaml" <<EOF
# Written by scripts/cluster.sh; rewritten on every start. Kafka property names and defaults.
broker.id: $n
listeners: PLAINTEXT://127.0.0.1:$port
advertised.listeners: PLAINTEXT://127.0.0.1:$port
log.dirs: $RUN/data-$n
zookeeper.connect: 127.0.0.1:$ZK_PORT$ZK_CHROOT
group.initial.rebalance.delay.ms: 0
EOF
}

# zk_owner PATH: the session (from the dump four-letter word) owning the ephemeral znode PATH, or nothing.
zk_owner() {
  local out
  out=$(zk4 dump) || true
  awk -v p="${ZK_CHROOT}$1" '/^0x[0-9a-fA-F]+:$/ { s = $1 } $1 == p { print s }' <<<"$out"
}
# registered N: ZooKeeper holds broker N's ephemeral registration.
registered() { [ -n "$(zk_owner "/brokers/ids/$1")" ]; }
controller_elected() { grep -qE "^[[:space:]]*${ZK_CHROOT}/controller\$" <<<"$(zk4 dump)"; }

spawn_broker() {
  local n=$1
  echo "=== cluster.sh: starting broker $n at $(date -Is) ===" >>"$RUN/broker-$n.log"
  nohup "$SAMSA_BIN" broker --config "$RUN/broker-$n.yaml" >>"$RUN/broker-$n.log" 2>&1 </dev/null &
  echo $! >"$RUN/broker-$n.pid"
}

start_brokers() {
  local n pid port pending=() deadline owner
  local -A stale=() # broker -> session still holding its registration from before this start
  [ -x "$SAMSA_BIN" ] || die "$SAMSA_BIN not found: run make build (make run does)"
  for n in $(seq 1 "$BROKERS"); do
    pid=$(pid_of "$RUN/broker-$n.pid" "$RUN/broker-$n.yaml")
    port=$(broker_port "$n")
    if [ -n "$pid" ]; then
      say "broker $n already running (pid $pid, 127.0.0.1:$port)"
      continue
    fi
    if port_open "$port"; then
      die "127.0.0.1:$port is in use by another process; stop it or set BROKER_BASE_PORT"
    fi
    write_broker_config "$n"
    # Not running, yet registered: the session of a crashed process, which ZooKeeper expires only after
    # zookeeper.session.timeout.ms (18 s by default). Ready means registered by another (the new) session.
    stale[$n]=$(zk_owner "/brokers/ids/$n")
    if [ -n "${stale[$n]}" ]; then
      say "broker $n: ZooKeeper still holds the registration of its previous (crashed) process; waiting for that session to expire"
    fi
    spawn_broker "$n"
    pending+=("$n")
  done
  # Wait until each started broker listens and is registered by its own session. A broker that finds its
  # id still registered may also exit instead of waiting (Kafka does); it is then started again until
  # the old session has expired.
  deadline=$((SECONDS + START_TIMEOUT))
  while [ ${#pending[@]} -gt 0 ]; do
    local still=()
    for n in "${pending[@]}"; do
      pid=$(cat "$RUN/broker-$n.pid")
      if ! kill -0 "$pid" 2>/dev/null; then
        if grep -qE 'broker id in use|already registered' <<<"$(tail -n 20 "$RUN/broker-$n.log")"; then
          say "broker $n exited: its id is still registered; starting it again"
          sleep 1 # back-off before the retry
          spawn_broker "$n"
          still+=("$n")
          continue
        fi
        rm -f "$RUN/broker-$n.pid"
        tail -n 30 "$RUN/broker-$n.log" >&2 || true
        die "broker $n exited during startup (log: $RUN/broker-$n.log)"
      fi
      owner=$(zk_owner "/brokers/ids/$n")
      if port_open "$(broker_port "$n")" && [ -n "$owner" ] && [ "$owner" != "${stale[$n]}" ]; then
        say "broker $n started (pid $pid, 127.0.0.1:$(broker_port "$n"), data in $RUN/data-$n)"
      else
        still+=("$n")
      fi
    done
    pending=("${still[@]+"${still[@]}"}")
    if [ ${#pending[@]} -gt 0 ]; then
      if [ "$SECONDS" -ge "$deadline" ]; then
        for n in "${pending[@]}"; do tail -n 20 "$RUN/broker-$n.log" >&2 || true; done
        die "brokers ${pending[*]} not ready within ${START_TIMEOUT}s (logs: $RUN/broker-N.log)"
      fi
      sleep 0.2 # poll interval
    fi
  done
  wait_until 30 "controller" controller_elected || die "no controller elected within 30s (logs: $RUN/broker-N.log)"
}

cmd_start() {
  mkdir -p "$RUN"
  start_zookeeper
  start_brokers
  local bs b1
  bs=$(bootstrap)
  b1=127.0.0.1:$(broker_port 1) # any one broker bootstraps a client
  cat <<EOF

Samsa is running: ZooKeeper 127.0.0.1:$ZK_PORT$ZK_CHROOT, brokers 1-$BROKERS.
Bootstrap servers: $bs

Try:
  bin/samsa topics  --bootstrap-server $b1 --create --topic demo --partitions 3 --replication-factor 1
  bin/samsa topics  --bootstrap-server $b1 --describe --topic demo
  printf 'k1:hello\nk2:world\n' | bin/samsa produce --bootstrap-server $b1 --topic demo --property parse.key=true --property key.separator=:
  bin/samsa consume --bootstrap-server $b1 --topic demo --from-beginning --max-messages 2 --property print.key=true
Any Kafka client works too (Sarama, franz-go, kcat -b $b1 -L).

Logs: $RUN/broker-N.log, $ZK_LOG
Stop: make stop   (keeps the data; rm -rf run afterwards for a fresh cluster)
EOF
}

# stop_pid NAME PID GRACE: SIGTERM, wait up to GRACE seconds, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 grace=$3 deadline
  kill -TERM "$pid" 2>/dev/null || true # may be gone already (brokers get theirs all at once, first)
  deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name (pid $pid) did not stop within ${grace}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1 # poll interval
  done
  say "$name stopped"
}

cmd_stop() {
  local n pid pids=() names=() i
  # Brokers first, while ZooKeeper still runs: a clean shutdown deregisters and hands over leadership.
  for n in $(seq 1 "$BROKERS"); do
    pid=$(pid_of "$RUN/broker-$n.pid" "$RUN/broker-$n.yaml")
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      names+=("broker $n")
    fi
    rm -f "$RUN/broker-$n.pid"
  done
  for i in "${!pids[@]}"; do stop_pid "${names[$i]}" "${pids[$i]}" 30; done
  pid=$(pid_of "$ZK_PID" "$ZK_CFG")
  if [ -n "$pid" ]; then
    stop_pid "ZooKeeper" "$pid" 10
  fi
  rm -f "$ZK_PID"
  [ ${#pids[@]} -gt 0 ] || [ -n "$pid" ] || say "nothing was running"
}

cmd_status() {
  local n pid status=0 port
  pid=$(pid_of "$ZK_PID" "$ZK_CFG")
  if [ -n "$pid" ] && [ "$(zk4 ruok)" = imok ]; then
    say "ZooKeeper: running (pid $pid, 127.0.0.1:$ZK_PORT)"
  elif [ -n "$pid" ]; then
    say "ZooKeeper: process $pid alive but not answering on 127.0.0.1:$ZK_PORT"; status=3
  else
    say "ZooKeeper: not running"; status=3
  fi
  for n in $(seq 1 "$BROKERS"); do
    pid=$(pid_of "$RUN/broker-$n.pid" "$RUN/broker-$n.yaml")
    port=$(broker_port "$n")
    if [ -n "$pid" ] && port_open "$port"; then
      if registered "$n"; then
        say "broker $n: running (pid $pid, 127.0.0.1:$port, registered)"
      else
        say "broker $n: running (pid $pid, 127.0.0.1:$port) but not registered in ZooKeeper"; status=3
      fi
    elif [ -n "$pid" ]; then
      say "broker $n: process $pid alive, 127.0.0.1:$port not accepting connections"; status=3
    else
      say "broker $n: not running"; status=3
    fi
  done
  [ $status -ne 0 ] || say "bootstrap: $(bootstrap)"
  return $status
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) die "usage: scripts/cluster.sh start|stop|status" ;;
esac
