#!/usr/bin/env bash
# Benchmark `ktrace timeline`: overhead on a CPU-bound workload (one spinning process per CPU) at 99 and
# 999 Hz, against no tracer and against `ktrace stacks` at the same rate; output bytes per second; and
# whether the ring buffer keeps up, at its default size, with 999 Hz on all CPUs plus a softirq flood.
#
# usage: scripts/bench-timeline.sh      env: ROUNDS (3), SECS (5), KTRACE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
declare -A R
confs=(none stacks99 timeline99 stacks999 timeline999)
cmd_for() {
  case $1 in
    none) ;;
    stacks*) echo "$KTRACE stacks -a -F ${1#stacks} -o $BENCH_TMP/out.folded" ;;
    timeline*) echo "$KTRACE timeline -a -F ${1#timeline} -o $BENCH_TMP/out.json" ;;
  esac
}
cpu_work() { work "$SECS" "$(cmd_for "$1")"; }
echo "iterations per CPU second, per round:"
rotate R cpu_work "${confs[@]}"
echo
echo "== CPU-bound work ($NCPU spinners) while tracing system wide, median of $ROUNDS x ${SECS}s (higher is better)"
base=$(median ${R[none]})
for c in "${confs[@]}"; do
  m=$(median ${R[$c]})
  awk -v c="$c" -v m="$m" -v b="$base" 'BEGIN {printf "  %-12s %.4f of none  (overhead %.2f%%)\n", c, m / b, (1 - m / b) * 100}'
done
for f in 99 999; do
  awk -v f="$f" -v t="$(median ${R[timeline$f]})" -v s="$(median ${R[stacks$f]})" \
    'BEGIN {printf "  timeline vs stacks at %d Hz: %.4f\n", f, t / s}'
done

echo
echo "== output rate and ring buffer at the default size: 999 Hz on all CPUs + SYN flood, ${SECS}s"
bench_lab_up ktbtl
"$LAB_SH" load flood $((SECS + 4)) >/dev/null 2>&1 &
BENCH_PIDS+=($!)
sleep 1
"$KTRACE" timeline -a -F 999 -d "$SECS" -o "$BENCH_TMP/flood.json" 2>"$BENCH_TMP/flood.err"
grep -o '[0-9]* samples.*B/s)' "$BENCH_TMP/flood.err" | sed 's/^/  /'
grep -q ' 0 events dropped' "$BENCH_TMP/flood.err" && echo "  ring buffer kept up: 0 events dropped" \
  || echo "  ring buffer DROPPED events: $(grep -o '[0-9]* events dropped' "$BENCH_TMP/flood.err")"

echo
echo "== BPF programs' own cost per run, system wide at 999 Hz during the flood (kernel.bpf_stats_enabled)"
"$LAB_SH" load flood 10 >/dev/null 2>&1 &
BENCH_PIDS+=($!)
sleep 1
echo "  ktrace stacks:"
prog_cost 3 "$KTRACE" stacks -a -F 999 -o "$BENCH_TMP/c.folded"
echo "  ktrace timeline:"
prog_cost 3 "$KTRACE" timeline -a -F 999 -o "$BENCH_TMP/c.json"
wait
