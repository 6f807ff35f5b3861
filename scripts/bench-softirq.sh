#!/usr/bin/env bash
# Benchmark `ktrace softirq` against libbpf-tools `softirqs` under the same bounded SYN flood, in one run.
#
# The metric is the flood's SYN-ACK rate: SYNs that made it through the host's receive path (bridge,
# DNAT, conntrack) into nginx and back, with the receive CPU saturated — so whatever a tracer adds to
# each softirq shows up as fewer SYN-ACKs. Tracers alternate within each round (order rotated) and the
# medians are compared, because run-to-run noise is a few percent. Also reported: start-up time to the
# first attached probe.
#
# A second measure is more sensitive to per-run cost: under a paced load (hping3-limited rate, about one
# packet per NET_RX run) the receive CPU's busy time per SYN, with and without each tracer.
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
    libbpf-tools) echo "$PEER" ;;               # per-vector time, tp_btf, until SIGINT
    ktrace) echo "$KTRACE softirq" ;;           # per-vector time, max, histograms, ksoftirqd split
    ktrace-L) echo "$KTRACE softirq -L" ;;      # ... plus softirq_raise: raise-to-entry latency
  esac
}

declare -A RATES COST
tracers=(none libbpf-tools ktrace ktrace-L)
flood() { measure_flood "$SECS" "$(tracer_cmd "$1")"; }
paced() { measure_paced "$SECS" "$(tracer_cmd "$1")"; }
echo "SYN-ACK/s under a flood, per round:"
rotate RATES flood "${tracers[@]}"

echo
echo "== SYN-ACK rate under a saturating flood, median of $ROUNDS runs of ${SECS}s (higher is better)"
base=$(median ${RATES[none]})
printf '  %-13s %10s %10s %10s\n' tracer "SYN-ACK/s" "vs none" overhead
for t in "${tracers[@]}"; do
  m=$(median ${RATES[$t]})
  awk -v t="$t" -v m="$m" -v b="$base" 'BEGIN {printf "  %-13s %10d %10.3f %9.1f%%\n", t, m, m / b, (1 - m / b) * 100}'
done
kt=$(median ${RATES[ktrace]}); lb=$(median ${RATES[libbpf-tools]}); nz=$(noise ${RATES[none]})
overhead_line libbpf-tools "$kt" "$lb" "$base" "$nz"

echo
echo "== cost on the receive CPU under a paced SYN load (hping3-limited), median of $ROUNDS x ${SECS}s (lower is better)"
rotate COST paced "${tracers[@]}" 2>/dev/null
cbase=$(median ${COST[none]})
for t in "${tracers[@]}"; do
  m=$(median ${COST[$t]})
  awk -v t="$t" -v m="$m" -v b="$cbase" 'BEGIN {printf "  %-13s %6d ns of RX CPU per SYN  %.3f of none  (+%d ns)\n", t, m, m / b, m - b}'
done
kc=$(median ${COST[ktrace]}); lc=$(median ${COST[libbpf-tools]}); cn=$(noise ${COST[none]})
awk -v k="$kc" -v l="$lc" -v b="$cbase" -v n="$cn" -v v="$(verdict "$kc" "$lc" "$cbase" "$cn" lower)" 'BEGIN {
  printf "  added cost per SYN: ktrace %+d ns, libbpf-tools %+d ns; run-to-run noise +-%.1f%% -> %s\n", k - b, l - b, n, v }'

echo
echo "== BPF programs' own cost per run under the paced load (kernel.bpf_stats_enabled)"
"$LAB_SH" load paced 20 >/dev/null 2>&1 &  # outlasts the three 3 s measurements below
BENCH_PIDS+=($!)
sleep 1
for t in libbpf-tools ktrace ktrace-L; do
  echo "  $t:"
  # shellcheck disable=SC2046
  prog_cost 3 $(tracer_cmd "$t")
done
wait

echo
echo "== start-up: exec to first attached probe (median of 5, lower is better)"
ks=() ls=()
for i in 1 2 3 4 5; do
  ks+=("$(time_to_banner 'tracing softirqs' "$KTRACE" softirq)")
  ls+=("$(time_to_banner 'Tracing soft irq' stdbuf -oL "$PEER")")
done
awk -v k="$(median "${ks[@]}")" -v l="$(median "${ls[@]}")" \
  'BEGIN {printf "  ktrace softirq %d ms, libbpf-tools softirqs %d ms -> ratio %.2f\n", k, l, k / l}'
