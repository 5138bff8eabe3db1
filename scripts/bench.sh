#!/usr/bin/env bash
# make bench: Go benchmarks beside the code, printed as one table next to the machine's own raw speeds
# measured in the same run on the same filesystem, as ratios. Figures are never asserted by tests.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP="$PWD/.bench-tmp"
rm -rf "$TMP"; mkdir -p "$TMP"
export TMPDIR="$TMP"
BENCHTIME=${BENCHTIME:-2s}

# Raw sequential write: dd of 1 GiB in 16 KiB blocks into the page cache, like the log's append path
# (no fsync per append, Kafka's default). Best of three.
raw_write_mbs() {
  local best=0 bytes=$((1024*1024*1024)) t0 t1 mbs
  for _ in 1 2 3; do
    rm -f "$TMP/dd.out"
    t0=$(date +%s%N)
    dd if=/dev/zero of="$TMP/dd.out" bs=16k count=$((bytes/16384)) status=none
    t1=$(date +%s%N)
    mbs=$(awk -v b=$bytes -v ns=$((t1-t0)) 'BEGIN{printf "%.1f", b/(ns/1e9)/1e6}')
    best=$(awk -v a=$best -v b=$mbs 'BEGIN{print (b>a)?b:a}')
  done
  rm -f "$TMP/dd.out"
  echo "$best"
}

RAW_WRITE=$(raw_write_mbs)
OUT="$TMP/bench.txt"
go test -run '^$' -bench . -benchtime "$BENCHTIME" -benchmem ./storage/... ./protocol/... ./broker/purgatory/... >"$OUT" 2>&1 || {
  cat "$OUT"; exit 1; }
# The end-to-end benchmarks run the broker `make bench` just built (without -race), so they measure the same
# code as the rows above even while the tree changes under a long run.
if [ -x bin/samsa ] && [ -z "${SAMSA_BIN:-}" ]; then export SAMSA_BIN="$PWD/bin/samsa"; fi
if [ -x scripts/bench-e2e.sh ]; then scripts/bench-e2e.sh >>"$OUT" || { cat "$OUT"; exit 1; }; fi

echo
echo "Machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), filesystem of $TMP"
echo "Raw sequential write (dd, 16 KiB blocks, page cache, best of 3): ${RAW_WRITE} MB/s"
# Baselines of the end-to-end rows (scripts/bench-e2e.sh), measured in the same run: MB/s of the last line.
base_mbs() { awk -v n="$1" '$1 ~ "^"n"(-[0-9]+)?$" { for (i=2; i<=NF; i++) if ($(i)=="MB/s") v=$(i-1) } END { print v }' "$OUT"; }
TCP_MBS=$(base_mbs BenchmarkLoopbackTCP)
SENDFILE_MBS=$(base_mbs BenchmarkLoopbackSendfile)
if [ -n "$TCP_MBS" ]; then
  echo "Loopback TCP (one connection, 1 MiB writes, 100 KiB SO_SNDBUF as the broker's): ${TCP_MBS} MB/s;"
  echo "sendfile of a page-cached file to such a connection: ${SENDFILE_MBS:--} MB/s"
fi
echo
printf '%-58s %14s %12s %12s %14s %16s\n' "benchmark" "ns/op" "MB/s" "allocs/op" "vs raw" "rate"
printf '%-58s %14s %12s %12s %14s %16s\n' "---------" "-----" "----" "---------" "------" "----"
awk -v raw="$RAW_WRITE" -v tcp="$TCP_MBS" -v sf="$SENDFILE_MBS" '
  /^pkg: / { pkg=$2; sub(".*/samsa/", "", pkg) }
  /^Benchmark/ {
    name=$1; sub(/-[0-9]+$/, "", name); ns="-"; mbs="-"; allocs="-"; ratio="-"; rate="-"
    for (i=2; i<=NF; i++) {
      if ($(i)=="ns/op") ns=$(i-1)
      if ($(i)=="MB/s") mbs=$(i-1)
      if ($(i)=="allocs/op") allocs=$(i-1)
      if ($(i)=="records/s") rate=sprintf("%.0f rec/s", $(i-1))
      if ($(i)=="req/s") rate=sprintf("%.0f req/s", $(i-1))
    }
    if (mbs!="-" && pkg ~ /^storage/ && name ~ /Append/) ratio=sprintf("%.0f%% dd", 100*mbs/raw)
    if (mbs!="-" && tcp>0 && name ~ /^BenchmarkE2E(Produce|Consume)/) ratio=sprintf("%.0f%% tcp", 100*mbs/tcp)
    if (mbs!="-" && sf>0 && name ~ /^BenchmarkE2EFetch/) ratio=sprintf("%.0f%% sendfile", 100*mbs/sf)
    printf "%-58s %14s %12s %12s %14s %16s\n", pkg "." name, ns, mbs, allocs, ratio, rate
  }' "$OUT"
echo
echo "(vs raw: dd = append throughput as a share of the raw sequential write speed above, target >= 80% for 16 KiB"
echo " batches; tcp = end-to-end produce/consume payload MB/s as a share of loopback TCP; sendfile = fetch MB/s as a"
echo " share of the sendfile limit. rate: records/s, or small requests/s over 8 connections x 5 in flight."
echo " integration rows and the loopback speeds: best of 3 runs, see scripts/bench-e2e.sh)"
rm -rf "$TMP"
