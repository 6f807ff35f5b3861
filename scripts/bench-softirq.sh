#!/usr/bin/env bash
# Benchmark `ktrace softirq` against libbpf-tools `softirqs` under the same bounded SYN flood, in one run.
#
# The metric is the flood's SYN-ACK rate: SYNs that made it through the host's receive path (bridge,
# DNAT, conntrack) into nginx and back, with the receive CPU saturated — so whatever a tracer adds to
# each softirq shows up as fewer SYN-ACKs. Tracers alternate within each round (order rotated) and the
# medians are compared, because run-to-run noise is a few percent. Also reported: start-up time to the
# first attached probe.
#
# usage: scripts/bench-softirq.sh        env: ROUNDS (5), SECS (6), KTRACE (.build/release/ktrace)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-6}
PEER=$(command -v softirqs || true)
[[ -n $PEER ]] || die "libbpf-tools' softirqs not found: apt-get install -y libbpf-tools"

bench_lab_up ktbsirq

tracer_cmd() {
  case $1 in
    none) echo "" ;;
    libbpf-tools) echo "$PEER" ;;          # per-vector time, tp_btf, until SIGINT
    ktrace) echo "$KTRACE softirq -L" ;;   # per-vector time + ksoftirqd split + raise latency
  esac
}

declare -A RATES
tracers=(none libbpf-tools ktrace)
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#tracers[@]}; k++)); do
    t=${tracers[$(( (k + r) % ${#tracers[@]} ))]}
    rate=$(measure_flood "$SECS" "$(tracer_cmd "$t")")
    RATES[$t]+="$rate "
    printf '  round %d  %-13s %8s SYN-ACK/s\n' "$((r + 1))" "$t" "$rate"
  done
done

echo
echo "== SYN-ACK rate under a saturating flood, median of $ROUNDS runs of ${SECS}s (higher is better)"
base=$(median ${RATES[none]})
printf '  %-13s %10s %10s %10s\n' tracer "SYN-ACK/s" "vs none" overhead
for t in "${tracers[@]}"; do
  m=$(median ${RATES[$t]})
  awk -v t="$t" -v m="$m" -v b="$base" 'BEGIN {printf "  %-13s %10d %10.3f %9.1f%%\n", t, m, m / b, (1 - m / b) * 100}'
done
kt=$(median ${RATES[ktrace]}); lb=$(median ${RATES[libbpf-tools]})
awk -v k="$kt" -v l="$lb" -v b="$base" 'BEGIN {
  printf "  ktrace overhead / libbpf-tools overhead: %.1f%% vs %.1f%% -> %s\n", (1 - k / b) * 100, (1 - l / b) * 100,
    (k >= l * 0.97 ? "ktrace no worse (within 3% noise)" : "ktrace WORSE") }'

echo
echo "== start-up: exec to first attached probe (median of 5)"
starts=()
for i in 1 2 3 4 5; do
  t0=$(date +%s%N)
  out=$("$KTRACE" softirq -v --json 0.001 1 2>&1 >/dev/null | grep -o 'attached with [a-z_]* in [0-9.]* ms' || true)
  t1=$(date +%s%N)
  starts+=("$(( (t1 - t0) / 1000000 ))")
  attach=${out##* in }
done
echo "  ktrace softirq: whole run (exec, load, attach, one read, exit) $(median "${starts[@]}") ms; load+attach ${attach:-?}"
lb_starts=()
for i in 1 2 3 4 5; do
  t0=$(date +%s%N)
  timeout -s INT 0.3 "$PEER" >/dev/null 2>&1 || true
  t1=$(date +%s%N)
  lb_starts+=("$(( (t1 - t0) / 1000000 - 300 ))")
done
echo "  libbpf-tools softirqs: exec to ready ~$(median "${lb_starts[@]}") ms beyond a 300 ms run (SIGINT at 300 ms)"
