# Shared by the benchmark scripts: the lab, bounded loads, medians. Sourced, not run.
# shellcheck shell=bash
KTRACE=${KTRACE:-.build/release/ktrace}
[[ $KTRACE == /* ]] || KTRACE=$PWD/$KTRACE
LAB_SH=$PWD/scripts/lab.sh

die() { echo "error: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "benchmarks load BPF programs: run as root"
[[ -x $KTRACE ]] || die "ktrace binary not found at $KTRACE: run 'make build'"

BENCH_TMP=$(mktemp -d /tmp/ktrace-bench.XXXXXX)
BENCH_PIDS=()
BPF_STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
bench_cleanup() {
  for p in "${BENCH_PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS_WAS" 2>/dev/null || true  # even if interrupted in prog_cost
  [[ -n ${KT_LAB:-} ]] && "$LAB_SH" down >/dev/null 2>&1 || true
  rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# bench_lab_up NAME: a fresh lab under that name (torn down on exit).
bench_lab_up() {
  export KT_LAB=$1
  "$LAB_SH" down >/dev/null 2>&1 || true
  "$LAB_SH" up >/dev/null
}

# noise N...: half the spread of repeated runs of one configuration, in percent of their median: a
# difference between two medians smaller than this is not a measured difference.
noise() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {m = a[int((NR + 1) / 2)]; printf "%.1f", (m ? (a[NR] - a[1]) / 2 / m * 100 : 0)}'; }

# median N...: the median of integers.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : 0)}'; }

# verdict OURS PEER BASE NOISE higher|lower: ktrace's median against its peer's, the difference taken in
# percent of BASE (the no-tracer median) and judged against NOISE (percent, from `noise`).
verdict() {
  awk -v k="$1" -v p="$2" -v b="$3" -v n="$4" -v dir="$5" 'BEGIN {
    d = (dir == "higher" ? p - k : k - p) / b * 100
    print (d <= 0 ? "ktrace no worse" : (d < n ? "no difference beyond the noise" : "ktrace WORSE")) }'
}

# overhead_line PEER OURS THEIRS BASE NOISE [DECIMALS]: one line comparing the overheads of ktrace and its
# peer on a throughput (higher is better) against the no-tracer median BASE, with the verdict.
overhead_line() {
  local v; v=$(verdict "$2" "$3" "$4" "$5" higher)
  awk -v peer="$1" -v k="$2" -v p="$3" -v b="$4" -v n="$5" -v dp="${6:-1}" -v v="$v" 'BEGIN {
    f = "%." dp "f%%"
    printf "  ktrace overhead / %s overhead: " f " / " f "; run-to-run noise +-%.1f%% -> %s\n", peer, (1 - k / b) * 100, (1 - p / b) * 100, n, v }'
}

# start_tracer CMD: run the tracer command (word-split) in the background and give it a second to attach;
# stop_tracer: SIGINT it (it prints and detaches) and wait. No-ops for an empty command.
TRACER_PID=""
start_tracer() {
  TRACER_PID=""
  [[ -n $1 ]] || return 0
  # shellcheck disable=SC2086
  $1 >"$BENCH_TMP/tracer.out" 2>&1 &
  TRACER_PID=$!
  BENCH_PIDS+=("$TRACER_PID")
  sleep 1
}
stop_tracer() {
  [[ -n $TRACER_PID ]] || return 0
  stop_pid "$TRACER_PID"
  TRACER_PID=""
}

# stop_pid PID: SIGINT (a tracer prints and detaches), then SIGTERM after 15 s, SIGKILL after 5 more:
# a tracer that missed its SIGINT while starting must not hang the bench.
stop_pid() {
  local pid=$1 sig t limit
  for sig in INT TERM KILL; do
    kill -"$sig" "$pid" 2>/dev/null || break
    limit=50; [[ $sig == INT ]] && limit=150
    for ((t = 0; t < limit; t++)); do kill -0 "$pid" 2>/dev/null || break 2; sleep 0.1; done
    echo "  (pid $pid ignored SIG$sig)" >&2
  done
  wait "$pid" 2>/dev/null || true
}

# wait_for FILE PATTERN [SECS]: until FILE holds PATTERN (a tracer's banner), at most SECS (30) seconds.
wait_for() {
  local t
  for ((t = 0; t < ${3:-30} * 20; t++)); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "error: no '$2' in $1 after ${3:-30} s" >&2
  return 1
}

# rotate RESULTS MEASURE CONF...: ROUNDS rounds of MEASURE CONF for every CONF, the order rotated each
# round so no configuration always runs first; appends each result to the associative array RESULTS.
rotate() {
  local -n _results=$1
  local measure=$2 r k c v
  shift 2
  local confs=("$@")
  for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#confs[@]}; k++)); do
      c=${confs[$(( (k + r) % ${#confs[@]} ))]}
      v=$("$measure" "$c")
      _results[$c]+="$v "
      printf '  round %d  %-13s %14s\n' "$((r + 1))" "$c" "$v" >&2
    done
  done
}

# measure_flood SECS [TRACER_CMD]: start the tracer (if any), run a bounded flood, stop the tracer
# with SIGINT; print the SYN-ACK rate of the flood.
measure_flood() {
  local secs=$1 res="$BENCH_TMP/result"
  start_tracer "$2"
  KT_LAB_RESULT=$res "$LAB_SH" load flood "$secs" >/dev/null 2>&1 || true
  stop_tracer
  tr ' ' '\n' <"$res" | awk -F= '$1 == "synack_per_s" {print $2}'
}

# measure_paced SECS [TRACER_CMD]: paced SYN load (hping3-limited rate); print the receive CPU's cost per
# SYN in microseconds (busy time of the RX CPU / SYN-ACKs), which grows with whatever a tracer adds to
# each softirq run.
measure_paced() {
  local secs=$1 res="$BENCH_TMP/result"
  start_tracer "$2"
  KT_LAB_RESULT=$res "$LAB_SH" load paced "$secs" >/dev/null 2>&1 || true
  stop_tracer
  tr ' ' '\n' <"$res" | awk -F= '$1 == "rx_busy_pct" {b = $2} $1 == "synack_per_s" {s = $2}
    END {printf "%.0f\n", (s > 0 ? b / 100 / s * 1e9 : 0)}'   # nanoseconds of RX CPU per SYN
}

# time_to_banner PATTERN CMD...: milliseconds from exec until CMD prints PATTERN (on stdout or stderr),
# i.e. until its probes are attached; CMD is then stopped with SIGINT.
time_to_banner() {
  local pattern=$1; shift
  local out="$BENCH_TMP/banner" t0 t1 pid
  : >"$out"
  t0=$(date +%s%N)
  "$@" >"$out" 2>&1 &
  pid=$!
  while ! grep -q "$pattern" "$out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.001
  done
  t1=$(date +%s%N)
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo $(( (t1 - t0) / 1000000 ))
}

# work SECS [TRACER_CMD]: CPU-bound work (one spinner per CPU, Tests/Workloads/loops.c) while the tracer
# (if any) runs; prints iterations per CPU second summed over the spinners. A tracer's per-sample cost
# shows up directly as fewer iterations.
NCPU=$(nproc)
work() {
  local secs=$1 total=0 pids=() i
  [[ -x $BENCH_TMP/loops ]] || cc -O1 -o "$BENCH_TMP/loops" Tests/Workloads/loops.c
  start_tracer "${2:-}"
  for ((i = 0; i < NCPU; i++)); do "$BENCH_TMP/loops" "$secs" >"$BENCH_TMP/loops.$i" & pids+=($!); done
  wait "${pids[@]}"
  stop_tracer
  for ((i = 0; i < NCPU; i++)); do total=$((total + $(cat "$BENCH_TMP/loops.$i"))); done
  echo "$total"
}

# prog_ids: the ids of the BPF programs loaded now; bpf_runs BEFORE: "runs ns" summed over the programs not
# in BEFORE (kernel.bpf_stats_enabled), i.e. a tracer started since, exactly.
prog_ids() { bpftool -j prog show 2>/dev/null | python3 -c 'import json,sys; print(" ".join(str(p["id"]) for p in json.load(sys.stdin)))'; }
bpf_runs() {
  bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
before = set(int(x) for x in sys.argv[1].split())
n = t = 0
for p in json.load(sys.stdin):
    if p["id"] not in before:
        n += p.get("run_cnt", 0); t += p.get("run_time_ns", 0)
print(n, t)' "$1"
}

# programs_run_by SECS CMD...: run CMD for SECS with kernel.bpf_stats_enabled=1, then print bpftool's JSON of
# the BPF programs it loaded (those that appeared after it started), with their run counts and times as the
# kernel measured them, and stop it (SIGINT, then escalation).
programs_run_by() {
  local secs=$1; shift
  local old pid before
  old=$(sysctl -n kernel.bpf_stats_enabled)
  before=$(prog_ids)
  sysctl -qw kernel.bpf_stats_enabled=1
  "$@" >/dev/null 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  sleep "$secs"
  bpftool -j prog show 2>/dev/null | python3 -c '
import json, sys
before = set(int(x) for x in sys.argv[1].split())
print(json.dumps([p for p in json.load(sys.stdin) if p["id"] not in before and p.get("run_cnt")]))' "$before"
  stop_pid "$pid"
  sysctl -qw kernel.bpf_stats_enabled="$old"
}

# sample_cost SECS CMD...: "runs ns_per_run" of the perf_event programs CMD loaded (its sampling program).
sample_cost() {
  programs_run_by "$@" | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if p.get("type") == "perf_event"]
n = sum(p["run_cnt"] for p in ps); t = sum(p["run_time_ns"] for p in ps)
print(n, round(t / n) if n else 0)'
}

# prog_cost SECS CMD...: per BPF program CMD loaded, its runs and average nanoseconds per run: the tracer's
# own cost inside the kernel, exactly.
prog_cost() {
  programs_run_by "$@" | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    print("    %-22s %10d runs  %6.0f ns/run" % (p["name"], p["run_cnt"], p["run_time_ns"] / p["run_cnt"]))'
}
