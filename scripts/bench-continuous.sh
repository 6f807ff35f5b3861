#!/usr/bin/env bash
# Benchmark always-on continuous profiling: `ktrace stacks -a -F 19 --interval 10 -o DIR/` (one pprof
# file per interval) under the lab's SYN flood, the load the seed case is about. Measured exactly, over
# SECS seconds of flood, against the 1% CPU budget opentelemetry-ebpf-profiler states for itself:
# - BPF cost per sample: run_time_ns / run_cnt of ktrace's programs (kernel.bpf_stats_enabled);
# - CPU of the ktrace process per second: the sum of its threads' /proc/PID/task/*/schedstat run times;
# - both together as a share of the machine's CPUs.
# ktrace is waited for until its banner says it samples, and stopped with SIGINT (escalating).
#
# usage: scripts/bench-continuous.sh      env: SECS (30), HZ (19), INTERVAL (10), KTRACE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
SECS=${SECS:-30}
HZ=${HZ:-19}
INTERVAL=${INTERVAL:-10}
NCPU=$(nproc)

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

bench_lab_up ktbcont
sysctl -qw kernel.bpf_stats_enabled=1

# run_mode continuous|single: one flood under ktrace, writing a profile per interval or one at the end
# (what draining and retiring the maps each interval costs); prints its result lines.
run_mode() {
  local out=$BENCH_TMP/$1/ before pid r0 b0 c0 t0 r1 b1 c1 t1 files synacks
  local args=(-o "$out")
  [[ $1 == single ]] && args=(-o "$BENCH_TMP/single.pb.gz")
  [[ $1 == continuous ]] && args=(--interval "$INTERVAL" -o "$out")
  before=$(prog_ids)
  "$KTRACE" stacks -a -F "$HZ" "${args[@]}" 2>"$BENCH_TMP/kt.err" &
  pid=$!
  BENCH_PIDS+=("$pid")
  wait_for "$BENCH_TMP/kt.err" "sampling all CPUs" || { cat "$BENCH_TMP/kt.err" >&2; exit 1; }
  read -r r0 b0 <<<"$(bpf_runs "$before")"
  c0=$(cpu_ns "$pid"); t0=$(date +%s%N)
  echo "== $1: $HZ Hz on all $NCPU CPUs during $SECS s of SYN flood" >&2
  KT_LAB_RESULT=$BENCH_TMP/result "$LAB_SH" load flood "$SECS" >/dev/null 2>&1 || true
  read -r r1 b1 <<<"$(bpf_runs "$before")"
  c1=$(cpu_ns "$pid"); t1=$(date +%s%N)
  stop_pid "$pid"
  files=$(find "$BENCH_TMP/$1" "$BENCH_TMP/$1.pb.gz" -name '*.pb.gz' 2>/dev/null | wc -l)
  synacks=$(tr ' ' '\n' <"$BENCH_TMP/result" | awk -F= '$1 == "synack_per_s" {print $2}')
  echo "  $1 (${synacks:-?} SYN-ACK/s during the flood; $files pprof files):"
  awk -v r=$((r1 - r0)) -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v n="$NCPU" 'BEGIN {
    s = t / 1e9
    printf "    samples: %d (%.1f/s); BPF %.0f ns per sample (bpf_stats), %.3f ms of BPF per second\n", r, r / s, (r ? b / r : 0), b / s / 1e6
    printf "    ktrace process: %.3f ms of CPU per second\n", c / s / 1e6
    share = (b + c) / (t * n) * 100
    printf "    together: %.4f%% of the machine'"'"'s CPU time (%.4f%% of one CPU); budget 1%% (opentelemetry-ebpf-profiler): %s\n",
           share, (b + c) / t * 100, (share <= 1 ? "met" : "NOT met") }'
  echo "    $(sed -n '$p' "$BENCH_TMP/kt.err")"
}

echo
echo "== always-on profiling: ktrace stacks -a -F $HZ, $SECS s of SYN flood each, $NCPU CPUs"
run_mode continuous
run_mode single
