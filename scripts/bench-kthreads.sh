#!/usr/bin/env bash
# Benchmark `ktrace kthreads` against `perf kwork record` (linux-perf), the peer that decodes irq,
# softirq and workqueue events.
#
# 1. The in-kernel cost per event, measured the same way for both: a process pinned to one CPU sends
#    UDP datagrams to itself over loopback (Tests/Workloads/loopsend.c), so each one runs NET_RX inline
#    in its own context: softirq raise, entry and exit. Its CPU time per datagram (CLOCK_PROCESS_CPUTIME,
#    which leaves the hypervisor's steal out) with a tracer, less without, times datagrams over the
#    events the tracer handled (ktrace: its programs' runs, kernel.bpf_stats_enabled; perf: the samples
#    it recorded), is the tracer's cost per event. Medians of ROUNDS rotated rounds; for ktrace the exact
#    cost from bpf_stats is printed too.
# 2. Under the lab's SYN flood plus namespace churn: ktrace's cost per event for each tracepoint
#    (bpf_stats), its total CPU per second (BPF + process), and perf kwork record's process CPU and data
#    rate on the same load.
# Each tracer is waited for until it has attached (ktrace's banner; perf's ack of "enable" on its
# control fifo), and stopped with SIGINT, escalating to SIGTERM and SIGKILL.
#
# usage: scripts/bench-kthreads.sh      env: ROUNDS (5), PACKETS (200000), SECS (6), KTRACE
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh
command -v perf >/dev/null || die "perf not found: run scripts/setup.sh (linux-perf)"

ROUNDS=${ROUNDS:-5}
PACKETS=${PACKETS:-200000}
SECS=${SECS:-6}
KW_EVENTS=irq,softirq,workqueue

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# start NAME: start tracer NAME in the background and wait until it has attached; sets TPID.
start() {
  TPID=""
  case $1 in
    none) ;;
    ktrace)
      "$KTRACE" kthreads --json >"$BENCH_TMP/kt.out" 2>"$BENCH_TMP/kt.err" &
      TPID=$!; BENCH_PIDS+=("$TPID")
      wait_for "$BENCH_TMP/kt.err" "tracing kernel threads" ;;
    perf)
      rm -f "$BENCH_TMP/ctl" "$BENCH_TMP/ack" "$BENCH_TMP/kw.data"
      mkfifo "$BENCH_TMP/ctl" "$BENCH_TMP/ack"
      perf kwork -k "$KW_EVENTS" record -o "$BENCH_TMP/kw.data" -D -1 \
        --control "fifo:$BENCH_TMP/ctl,$BENCH_TMP/ack" >"$BENCH_TMP/perf.out" 2>&1 &
      TPID=$!; BENCH_PIDS+=("$TPID")
      exec 7<>"$BENCH_TMP/ctl" 8<>"$BENCH_TMP/ack"
      echo enable >&7
      timeout 30 head -c 4 <&8 >/dev/null || die "perf kwork record did not acknowledge 'enable'"
      exec 7>&- 8>&- ;;
  esac
}
stop() { [[ -z $TPID ]] || stop_pid "$TPID"; }
# events NAME: what the tracer handled in the last run.
perf_events() { perf report -i "$BENCH_TMP/kw.data" --stats 2>/dev/null | awk '/SAMPLE events:/ {print $3; exit}'; }

cc -O2 -o "$BENCH_TMP/loopsend" Tests/Workloads/loopsend.c
SEND_CPU=$(( $(nproc) > 1 ? 1 : 0 ))

# measure NAME: "ns_per_datagram events bpf_ns" for one run under tracer NAME.
measure() {
  local before runs=0 bpf=0 r2 t2 ns ev=0
  before=$(prog_ids)
  start "$1"
  [[ $1 == ktrace ]] && read -r runs bpf <<<"$(bpf_runs "$before")"
  ns=$("$BENCH_TMP/loopsend" "$PACKETS" "$SEND_CPU")
  if [[ $1 == ktrace ]]; then
    read -r r2 t2 <<<"$(bpf_runs "$before")"
    ev=$((r2 - runs)); bpf=$((t2 - bpf))
  fi
  stop
  [[ $1 == perf ]] && ev=$(perf_events)
  echo "$ns ${ev:-0} $bpf"
}

sysctl -qw kernel.bpf_stats_enabled=1
declare -A R
confs=(none ktrace perf)
echo "== 1. in-kernel cost per event: $PACKETS loopback datagrams on CPU $SEND_CPU, $ROUNDS rounds" >&2
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < 3; k++)); do
    c=${confs[$(( (k + r) % 3 ))]}
    v=$(measure "$c")
    R[$c]+="$v;"
    printf '  round %d  %-7s %8s ns/datagram  events %9s  bpf %12s ns\n' $((r + 1)) "$c" $v >&2
  done
done
col() { tr ';' '\n' <<<"${R[$1]}" | awk -v f="$2" 'NF {print $f}'; }
base=$(median $(col none 1 | awk '{printf "%.0f\n", $1 * 10}'))   # tenths of ns
# Per run: (ns/datagram - base) x datagrams / events; medians over the rounds.
per_event() { tr ';' '\n' <<<"${R[$1]}" | awk -v b="$base" -v n="$PACKETS" 'NF && $2 > 0 {printf "%.0f\n", ($1 - b / 10) * n / $2}'; }
kt_diff=$(median $(per_event ktrace)); pf_diff=$(median $(per_event perf))
kt_exact=$(median $(tr ';' '\n' <<<"${R[ktrace]}" | awk 'NF && $2 > 0 {printf "%.0f\n", $3 / $2}'))
echo
echo "== 1. in-kernel cost per event: $PACKETS loopback datagrams, NET_RX inline, median of $ROUNDS rounds"
awk -v b="$base" -v n="$(noise $(col none 1 | awk '{printf "%.0f\n", $1 * 10}'))" 'BEGIN {
  printf "  no tracer: %.1f ns of CPU per datagram (run-to-run noise +-%s%%)\n", b / 10, n }'
awk -v e="$(median $(col ktrace 2))" -v n="$PACKETS" -v d="$kt_diff" -v x="$kt_exact" -v m="$(median $(col ktrace 1 | awk '{printf "%.0f\n", $1 * 10}'))" 'BEGIN {
  printf "  ktrace kthreads:   %.1f ns/datagram, %.2f events per datagram: %d ns per event (exactly, from bpf_stats: %d ns)\n", m / 10, e / n, d, x }'
awk -v e="$(median $(col perf 2))" -v n="$PACKETS" -v d="$pf_diff" -v m="$(median $(col perf 1 | awk '{printf "%.0f\n", $1 * 10}'))" 'BEGIN {
  printf "  perf kwork record: %.1f ns/datagram, %.2f events per datagram: %d ns per event\n", m / 10, e / n, d }'
awk -v k="$kt_diff" -v p="$pf_diff" -v x="$kt_exact" 'BEGIN {
  if (p <= 0) { print "  ratio: perf cost not measurable above the noise"; exit }
  printf "  ratio ktrace / perf kwork per event: %.2f (same method for both); %.2f (ktrace exact)   target <= 1: %s\n",
    k / p, x / p, (k <= p ? "met" : "NOT met") }'

echo
echo "== 2. under the lab's SYN flood + namespace churn + stat_refresh, ${SECS}s"
bench_lab_up ktbkt
# Namespaces die (cleanup_net) and stat_refresh runs work items on every CPU, 20 times a second.
churn() { local end=$((SECONDS + SECS)); while ((SECONDS < end)); do unshare -n true; echo 1 >/proc/sys/vm/stat_refresh; sleep 0.05; done; }
for c in ktrace perf; do
  "$LAB_SH" load flood $((SECS + 3)) >/dev/null 2>&1 &
  LOADPID=$!; BENCH_PIDS+=("$LOADPID")
  sleep 1
  before=$(prog_ids)
  start "$c"
  [[ $c == ktrace ]] && read -r r0 t0 <<<"$(bpf_runs "$before")"
  p0=$(proc_ticks "$TPID"); w0=$(date +%s%N)
  churn
  p1=$(proc_ticks "$TPID"); w1=$(date +%s%N)
  secs=$(awk -v a="$w0" -v b="$w1" 'BEGIN {print (b - a) / 1e9}')
  if [[ $c == ktrace ]]; then
    echo "  ktrace kthreads, per tracepoint program (kernel.bpf_stats_enabled):"
    bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
before = set(int(x) for x in sys.argv[1].split())
for p in json.load(sys.stdin):
    if p["id"] not in before and p.get("run_cnt"):
        print("    %-24s %10d runs  %6.0f ns/run" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))' "$before"
    read -r r1 t1 <<<"$(bpf_runs "$before")"
    awk -v n=$((r1 - r0)) -v t=$((t1 - t0)) -v p=$((p1 - p0)) -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN {
      printf "  ktrace kthreads total: %.0f events/s, BPF %.2f ms/s + process %.2f ms/s = %.2f%% of one CPU\n",
        n / s, t / 1e6 / s, p * 1000 / hz / s, (t / 1e6 + p * 1000 / hz) / s / 10 }'
  fi
  stop
  if [[ $c == perf ]]; then
    ev=$(perf_events); bytes=$(stat -c %s "$BENCH_TMP/kw.data")
    awk -v n="$ev" -v b="$bytes" -v p=$((p1 - p0)) -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN {
      printf "  perf kwork record: %.0f events/s, process %.2f ms/s (%.2f%% of one CPU; its in-kernel cost is in part 1), %.1f MB/s written\n",
        n / s, p * 1000 / hz / s, p * 1000 / hz / s / 10, b / 1e6 / s }'
  fi
  wait "$LOADPID" 2>/dev/null || true
done
