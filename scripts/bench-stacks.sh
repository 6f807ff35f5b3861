#!/usr/bin/env bash
# Benchmark `ktrace stacks` against perf (record -g, then perf script; plus stackcollapse-perf.pl and
# flamegraph.pl when FLAMEGRAPH_DIR points at a FlameGraph checkout) and a bpftrace profile one-liner:
# same target (the ksoftirqd threads), same rate, same duration, under the same saturating SYN flood.
#
# Reported, each as a ratio to the peer measured in the same run:
#   - overhead: the flood's SYN-ACK rate while each tracer samples (median of ROUNDS, order rotated);
#   - end of sampling to a finished flame graph (ktrace: its own SVG; perf: perf script [+ FlameGraph]);
#   - BPF cost per sample (ktrace's and bpftrace's sampling programs, timed by the kernel); PARTS=split
#     (not run by default) splits it into the kernel stack's part and the rest, for both, and measures
#     the floor under any tracer: the kernel's unwinder alone (scripts/walk-floor.bpf.c);
#   - peak RSS of the tracer process(es); bytes of intermediate files.
#
# usage: scripts/bench-stacks.sh      env: ROUNDS (5), SECS (6), FREQ (999), KTRACE, FLAMEGRAPH_DIR,
#                                         PARTS ("overhead cost svg", or split: which sections to run),
#                                         COST_ROUNDS (3)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-bench.sh

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-6}
FREQ=${FREQ:-999}
PARTS=${PARTS:-overhead cost svg}
command -v perf >/dev/null || die "perf not found: apt-get install -y linux-perf"
command -v bpftrace >/dev/null || die "bpftrace not found: apt-get install -y bpftrace"
PIDS=$(pgrep -d, '^ksoftirqd/')
BT_FILTER=$(echo "$PIDS" | sed "s/\([0-9]*\)/pid == \1/g; s/,/ || /g")  # pid == 12 || pid == 20
W=$BENCH_TMP

bench_lab_up ktbstk
# The bpftrace peer: the classic profile one-liner, kernel stacks of the same threads at the same rate
# (a file, as the program has spaces that a command string would split).
printf 'profile:hz:%s /%s/ { @[kstack] = count(); }\n' "$FREQ" "$BT_FILTER" >"$W/profile.bt"

tracer_cmd() {
  case $1 in
    none) echo "" ;;
    ktrace) echo "$KTRACE stacks --pid $PIDS -F $FREQ -d $((SECS + 2)) -o $W/ktrace.svg" ;;
    perf) echo "perf record -q -F $FREQ -g -p $PIDS -o $W/perf.data" ;;
    bpftrace) echo "bpftrace -q $W/profile.bt" ;;
  esac
}

# cost_part HEADING SECS: a cost part's heading, and the flood it measures under (SECS, in the background).
cost_part() {
  echo
  echo "== $1"
  "$LAB_SH" load flood "$2" >/dev/null 2>&1 &
  BENCH_PIDS+=($!)
  sleep 1
}

if [[ " $PARTS " == *" overhead "* ]]; then
declare -A RATES
tracers=(none ktrace perf bpftrace)
flood() { measure_flood "$SECS" "$(tracer_cmd "$1")"; }
echo "SYN-ACK/s under a flood, per round:"
rotate RATES flood "${tracers[@]}"

echo
echo "== overhead: SYN-ACK rate while sampling ksoftirqd at $FREQ Hz, median of $ROUNDS x ${SECS}s (higher is better)"
base=$(median ${RATES[none]})
for t in "${tracers[@]}"; do
  m=$(median ${RATES[$t]})
  awk -v t="$t" -v m="$m" -v b="$base" 'BEGIN {printf "  %-9s %8d SYN-ACK/s  %.3f of none  (overhead %.1f%%)\n", t, m, m / b, (1 - m / b) * 100}'
done
kt=$(median ${RATES[ktrace]}); pf=$(median ${RATES[perf]}); nz=$(noise ${RATES[none]})
overhead_line perf "$kt" "$pf" "$base" "$nz"

echo
echo "== overhead on CPU-bound work ($NCPU spinners), system wide at ${CPU_FREQ:=4000} Hz with stacks, median of $ROUNDS x ${SECS}s"
declare -A WK
wconfs=(none ktrace perf)
wcmd() {
  case $1 in
    none) ;;
    ktrace) echo "$KTRACE stacks -a -F $CPU_FREQ -o $W/cpu.folded" ;;
    perf) echo "perf record -q -a -g -F $CPU_FREQ -o $W/cpu.data" ;;
  esac
}
cpu_work() { work "$SECS" "$(wcmd "$1")"; }
rotate WK cpu_work "${wconfs[@]}" 2>/dev/null
wbase=$(median ${WK[none]})
for c in "${wconfs[@]}"; do
  awk -v c="$c" -v m="$(median ${WK[$c]})" -v b="$wbase" 'BEGIN {printf "  %-7s %.4f of none  (overhead %.2f%%)\n", c, m / b, (1 - m / b) * 100}'
done
overhead_line perf "$(median ${WK[ktrace]})" "$(median ${WK[perf]})" "$wbase" "$(noise ${WK[none]})" 2

fi

if [[ " $PARTS " == *" cost "* ]]; then
# Each tracer's sampling program, timed by the kernel itself (kernel.bpf_stats_enabled): ns per sample,
# the same threads at the same rate under one flood, alternating for COST_ROUNDS rounds of 4 s each.
COST_ROUNDS=${COST_ROUNDS:-3}
cost_part "BPF cost per sample while sampling ksoftirqd at $FREQ Hz under the flood ($COST_ROUNDS rounds, alternating)" \
  $((COST_ROUNDS * 2 * 6 + 4))
declare -A COST
for ((r = 0; r < COST_ROUNDS; r++)); do
  for t in ktrace bpftrace; do
    # shellcheck disable=SC2046
    c=$(sample_cost 4 $(tracer_cmd "$t"))
    COST[$t]+="${c#* } "
    printf '  round %d  %-9s %s samples, %s ns/sample\n' "$((r + 1))" "$t" "${c% *}" "${c#* }"
  done
done
wait
kc=$(median ${COST[ktrace]}); bc=$(median ${COST[bpftrace]})
awk -v k="$kc" -v b="$bc" -v nk="$(noise ${COST[ktrace]})" -v nb="$(noise ${COST[bpftrace]})" 'BEGIN {
  printf "  median: ktrace %d ns, bpftrace %d ns per sample -> ratio %.2f (target <= 0.8); spread +-%.1f%% / +-%.1f%%\n", k, b, k / b, nk, nb }'
fi

if [[ " $PARTS " == *" split "* ]]; then
# Each tracer's cost with and without the kernel stack: ktrace's sampling program loaded alone by
# scripts/sample-cost.c with the options `stacks --pid` sets, bpftrace's one-liner and the same without
# kstack. The difference is the stack's share; the rest is each tracer's own per-sample work. And the floor
# under both (scripts/walk-floor.bpf.c): the targets compared and the kernel's unwinder run, nothing else.
COST_ROUNDS=${COST_ROUNDS:-3}
command -v cc >/dev/null || die "cc not found: apt-get install -y gcc"
clang -target bpf -g -O2 -Wall -Wno-unused-function -D__TARGET_ARCH_x86 -Ibpf -c bpf/profile.bpf.c -o "$W/profile.bpf.o" ||
  die "cannot build bpf/profile.bpf.c"
clang -target bpf -g -O2 -Wall -D__TARGET_ARCH_x86 -Ibpf -c scripts/walk-floor.bpf.c -o "$W/walk-floor.bpf.o" ||
  die "cannot build scripts/walk-floor.bpf.c"
cc -O2 -Ibpf -o "$W/sample-cost" scripts/sample-cost.c -lbpf || die "cannot build scripts/sample-cost.c"
printf 'profile:hz:%s /%s/ { @ = count(); }\n' "$FREQ" "$BT_FILTER" >"$W/nostack.bt"
cost_part "BPF cost per sample, split: with and without the kernel stack ($COST_ROUNDS rounds of 4 s, alternating)" \
  $((COST_ROUNDS * 5 * 6 + 4))
declare -A SPLIT
splits=(ktrace ktrace-nostack bpftrace bpftrace-nostack walk-floor)
for ((r = 0; r < COST_ROUNDS; r++)); do
  for t in "${splits[@]}"; do
    case $t in
      ktrace) c=$(timeout 30 "$W/sample-cost" "$W/profile.bpf.o" 4 "$FREQ" stack ${PIDS//,/ }) ;;
      ktrace-nostack) c=$(timeout 30 "$W/sample-cost" "$W/profile.bpf.o" 4 "$FREQ" nostack ${PIDS//,/ }) ;;
      bpftrace) c=$(sample_cost 4 bpftrace -q "$W/profile.bt") ;;
      bpftrace-nostack) c=$(sample_cost 4 bpftrace -q "$W/nostack.bt") ;;
      walk-floor) c=$(timeout 30 "$W/sample-cost" "$W/walk-floor.bpf.o" 4 "$FREQ" walk ${PIDS//,/ }) ;;
    esac
    SPLIT[$t]+="${c#* } "
    printf '  round %d  %-16s %s runs, %s ns/run\n' "$((r + 1))" "$t" "${c% *}" "${c#* }"
  done
done
wait
for t in ktrace bpftrace; do
  awk -v t="$t" -v w="$(median ${SPLIT[$t]})" -v n="$(median ${SPLIT[$t-nostack]})" 'BEGIN {
    printf "  median: %-9s %5d ns, without the stack %4d ns: the stack %5d ns (%.0f%%)\n", t, w, n, w - n, (w > 0 ? (w - n) / w * 100 : 0) }'
done
awk -v f="$(median ${SPLIT[walk-floor]})" -v b="$(median ${SPLIT[bpftrace]})" -v k="$(median ${SPLIT[ktrace]})" \
    -v nf="$(noise ${SPLIT[walk-floor]})" 'BEGIN {
  printf "  median: the floor (targets compared, the kernel unwinder run, nothing kept) %d ns = %.2f of bpftrace'"'"'s one-liner; spread +-%.1f%%\n", f, (b > 0 ? f / b : 0), nf
  printf "  above the floor: ktrace %d ns, bpftrace %d ns; a ratio of 0.8 would leave %d ns\n", k - f, b - f, 0.8 * b - f }'
fi

if [[ " $PARTS " == *" svg "* ]]; then
echo
echo "== end of sampling to flame graph, peak RSS, intermediate files (one more flood, ${SECS}s each)"
# ktrace: sampling, symbolization and SVG in one process; it reports the time from the end of sampling.
# The flood outlasts both tracers and perf's post-processing, so both pipelines turn samples into a
# picture on the same busy machine (as a user would, with the problem still running).
"$LAB_SH" load flood $((2 * SECS + 8)) >/dev/null 2>&1 &
load=$!
BENCH_PIDS+=("$load")
sleep 1
/usr/bin/time -f '%M' -o "$W/kt.rss" "$KTRACE" stacks --pid "$PIDS" -F "$FREQ" -d "$SECS" -o "$W/ktrace.svg" 2>"$W/kt.err"
kt_ms=$(grep -o 'output in [0-9]* ms' "$W/kt.err" | grep -o '[0-9]*')
kt_rss=$(tail -1 "$W/kt.rss")
# perf: record, then perf script (and FlameGraph's scripts when available).
/usr/bin/time -f '%M' -o "$W/perf.rss" perf record -q -F "$FREQ" -g -p "$PIDS" -o "$W/perf.data" -- sleep "$SECS" 2>/dev/null
perf_rec_rss=$(tail -1 "$W/perf.rss")
data_bytes=$(stat -c %s "$W/perf.data")
t0=$(date +%s%N)
/usr/bin/time -f '%M' -o "$W/script.rss" perf script -i "$W/perf.data" >"$W/perf.script" 2>/dev/null
t1=$(date +%s%N)
script_ms=$(( (t1 - t0) / 1000000 )); script_rss=$(tail -1 "$W/script.rss")
pipeline="perf script"
fg_ms=0
if [[ -n ${FLAMEGRAPH_DIR:-} && -x $FLAMEGRAPH_DIR/stackcollapse-perf.pl ]]; then
  t0=$(date +%s%N)
  "$FLAMEGRAPH_DIR/stackcollapse-perf.pl" "$W/perf.script" >"$W/perf.folded"
  "$FLAMEGRAPH_DIR/flamegraph.pl" "$W/perf.folded" >"$W/perf.svg"
  t1=$(date +%s%N)
  fg_ms=$(( (t1 - t0) / 1000000 ))
  pipeline="perf script + stackcollapse-perf.pl + flamegraph.pl"
else
  echo "  (FLAMEGRAPH_DIR unset: perf's pipeline is timed through perf script only, a lower bound)"
fi
kill -0 "$load" 2>/dev/null || echo "  (warning: the flood ended before perf's pipeline did: its times are not under load)"
wait "$load" 2>/dev/null || true
perf_ms=$((script_ms + fg_ms))
perf_rss=$(( perf_rec_rss > script_rss ? perf_rec_rss : script_rss ))
awk -v k="$kt_ms" -v p="$perf_ms" -v pl="$pipeline" 'BEGIN {printf "  to SVG:  ktrace %d ms, %s %d ms  -> ratio %.3f (target <= 0.1)\n", k, pl, p, (p > 0 ? k / p : 0)}'
awk -v k="$kt_rss" -v p="$perf_rss" 'BEGIN {printf "  peak RSS: ktrace %d KiB, perf %d KiB  -> ratio %.2f (target <= 1)\n", k, p, k / p}'
echo "  intermediate files: ktrace 0 bytes, perf.data $data_bytes bytes + perf script output $(stat -c %s "$W/perf.script") bytes"
grep -o '[0-9]* samples in .*lost ([0-9.]*%)' "$W/kt.err" | sed 's/^/  ktrace: /'
fi
