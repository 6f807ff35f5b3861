#!/usr/bin/env bash
# Benchmark `ktrace offcpu` against libbpf-tools' `offcputime`, the peer that sums off-CPU time per stack
# in the kernel the same way, both system wide with kernel and user stacks.
#
# A context-switch-heavy load: two processes pinned to one CPU pass a byte over two pipes
# (Tests/Workloads/pingpong.c), two switches per round trip. For each tracer, measured in the same run:
# - its BPF cost per sched_switch, exactly: run_time_ns / run_cnt of its programs
#   (kernel.bpf_stats_enabled), over the programs that appeared when it started;
# - the workload's slowdown: wall-clock ns per round trip against no tracer (medians of ROUNDS rotated
#   rounds, with the run-to-run noise of the no-tracer rounds).
# Each tracer is waited for until it has attached (ktrace's banner; offcputime prints none, so its BPF
# link appearing), and stopped with SIGINT, escalating to SIGTERM and SIGKILL.
#
# usage: scripts/bench-offcpu.sh      env: ROUNDS (5), TRIPS (200000), KTRACE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
OFFCPUTIME=$(command -v offcputime || echo /usr/sbin/offcputime)
[[ -x $OFFCPUTIME ]] || die "offcputime not found: run scripts/setup.sh (libbpf-tools)"

ROUNDS=${ROUNDS:-5}
TRIPS=${TRIPS:-200000}
CPU=$(( $(nproc) > 1 ? 1 : 0 ))

# wait_link BEFORE: until a BPF link of a program not in BEFORE exists (attached), at most 30 s.
wait_link() {
  local t
  for ((t = 0; t < 600; t++)); do
    bpftool -j link show 2>/dev/null | python3 -c '
import json, sys
before = set(int(x) for x in sys.argv[1].split())
sys.exit(0 if any(l.get("prog_id") not in before for l in json.load(sys.stdin)) else 1)' "$1" && return 0
    sleep 0.05
  done
  die "offcputime did not attach within 30 s"
}

TPID=""
start() {
  local before=$2
  TPID=""
  case $1 in
    none) ;;
    ktrace)
      "$KTRACE" offcpu -a -o "$BENCH_TMP/kt.folded" 2>"$BENCH_TMP/kt.err" &
      TPID=$!; BENCH_PIDS+=("$TPID")
      wait_for "$BENCH_TMP/kt.err" "tracing off-CPU time" ;;
    offcputime)
      "$OFFCPUTIME" >"$BENCH_TMP/oc.out" 2>&1 &
      TPID=$!; BENCH_PIDS+=("$TPID")
      wait_link "$before" ;;
  esac
}
stop() { [[ -z $TPID ]] || stop_pid "$TPID"; }

cc -O2 -o "$BENCH_TMP/pingpong" Tests/Workloads/pingpong.c
# measure NAME: "ns_per_roundtrip bpf_runs bpf_ns" for one run under tracer NAME.
measure() {
  local before r0=0 t0=0 r1 t1 ns
  before=$(prog_ids)
  start "$1" "$before"
  read -r r0 t0 <<<"$(bpf_runs "$before")"
  ns=$("$BENCH_TMP/pingpong" "$TRIPS" "$CPU")
  read -r r1 t1 <<<"$(bpf_runs "$before")"
  stop
  echo "$ns $((r1 - r0)) $((t1 - t0))"
}

sysctl -qw kernel.bpf_stats_enabled=1
declare -A R
confs=(none ktrace offcputime)
echo "== off-CPU tracers under a pipe ping-pong on CPU $CPU: $TRIPS round trips, $ROUNDS rounds" >&2
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < 3; k++)); do
    c=${confs[$(( (k + r) % 3 ))]}
    v=$(measure "$c")
    R[$c]+="$v;"
    printf '  round %d  %-10s %6s ns/round trip  bpf runs %9s  bpf %12s ns\n' $((r + 1)) "$c" $v >&2
  done
done
col() { tr ';' '\n' <<<"${R[$1]}" | awk -v f="$2" 'NF {print $f}'; }
per_run() { tr ';' '\n' <<<"${R[$1]}" | awk 'NF && $2 > 0 {printf "%.0f\n", $3 / $2}'; }
base=$(median $(col none 1)); n=$(noise $(col none 1))
kt=$(median $(col ktrace 1)); oc=$(median $(col offcputime 1))
ktc=$(median $(per_run ktrace)); occ=$(median $(per_run offcputime))
echo
echo "== off-CPU tracers, pipe ping-pong ($TRIPS round trips on one CPU), median of $ROUNDS rounds"
echo "  no tracer: $base ns per round trip (run-to-run noise +-$n%)"
awk -v k="$kt" -v b="$base" -v c="$ktc" 'BEGIN { printf "  ktrace offcpu -a: %d ns per round trip (+%.1f%%); BPF %d ns per sched_switch (bpf_stats)\n", k, (k / b - 1) * 100, c }'
awk -v k="$oc" -v b="$base" -v c="$occ" 'BEGIN { printf "  offcputime:       %d ns per round trip (+%.1f%%); BPF %d ns per sched_switch (bpf_stats)\n", k, (k / b - 1) * 100, c }'
awk -v k="$ktc" -v p="$occ" 'BEGIN { printf "  ratio ktrace / offcputime, BPF ns per switch: %.2f   target <= 1: %s\n", k / p, (k <= p ? "met" : "NOT met") }'
echo "  slowdown: $(verdict "$kt" "$oc" "$base" "$n" lower)"
