#!/bin/bash
# vmtest guest suite: ktrace on the running kernel. One line per check in OUTDIR/results.txt,
# "PASS|FAIL|SKIP name: detail", full logs in OUTDIR/logs/. Runs as root inside a vmtest guest (see
# scripts/vmtest.sh), and on any machine too: scripts/vm/guest-suite.sh /tmp/out
#
# Environment: KTRACE_BIN, VMTEST_XCTEST (binaries to test), VMTEST_FILTER (Swift Testing regex, "none"
# skips the bundle), VMTEST_CONFIG (the kernel's config file, for facts), VMTEST_ACCEL (recorded).
set -u
OUT=${1:?usage: guest-suite.sh OUTDIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export KTRACE_BIN=${KTRACE_BIN:-$ROOT/.build/release/ktrace}
XCTEST=${VMTEST_XCTEST:-$ROOT/.build/debug/ktracePackageTests.xctest}
# Under TCG a test is several times slower: the subset whose timing bounds still hold (see scripts/vmtest.sh).
FILTER=${VMTEST_FILTER:-'StacksIntegrationTests|TimelineIntegrationTests|SoftirqIntegrationTests/attachKinds|BadInputTests|FlamegraphCommandTests|KthreadsIntegrationTests/(countsKnownWorkItemsExactly|namespaceChurnRunsCleanupNet|timelineDrawsWorkItems|refusesBadArguments)|OffcpuIntegrationTests|UnwindIntegrationTests|EventStacksIntegrationTests|PprofIntegrationTests|ExporterIntegrationTests/(servesCheckedMetricsAndStopsCleanly|listensOnLoopbackByDefault)'}
# Left out there, as their bounds assume native speed: ksoftirqdUnderFlood (under TCG the lab's flood does
# not saturate the receive CPU: ksoftirqd got 27-80 samples at 99 Hz on 6.1, 2 on 6.1-rt; the test wants
# > 100) and softirqSlicesMatchSoftirqTotals (two tools timing the same runs differ by each other's probe
# cost, bounded at 500 ns a run natively; under TCG a probe costs several times that: 1.5 ms over 0.7),
# and traceRecordsVfsReadCalls: it attaches fentry to vfs_read three times in a few seconds while a
# read() loop runs on the other vCPU, and TCG then livelocked the 6.1 guest in 4 boots of 4 (the loop
# stuck at vfs_read+0, soft lockup, rcu_tasks stall). Its case, --pid on a running read() loop, is
# timeline.pairing.pid.burst below, which attaches once.
SKIP=${VMTEST_SKIP:-'ksoftirqdUnderFlood|softirqSlicesMatchSoftirqTotals|traceRecordsVfsReadCalls'}
LOGS=$OUT/logs R=$OUT/results.txt
mkdir -p "$LOGS" && : >"$R"
W=$(mktemp -d /tmp/vmsuite.XXXXXX)
trap 'rm -rf "$W"' EXIT
suite_t0=$(date +%s.%N)

result() { printf '%s %s: %s\n' "$1" "$2" "$3" | tee -a "$R"; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f s", b - a }'; }
# kt NAME SECONDS ARGS...   ktrace ARGS with a bound; stdout/stderr in logs/NAME.out/.err; its exit code.
kt() {
  local n=$1 t=$2; shift 2
  echo "\$ ktrace $*" >"$LOGS/$n.cmd"
  timeout -k 5 "$t" "$KTRACE_BIN" "$@" >"$LOGS/$n.out" 2>"$LOGS/$n.err"
}
# errtext FILE   the error lines of a ktrace stderr joined on one line (else its last line).
errtext() { { grep -E 'error|rror:' "$1" || tail -n 2 "$1"; } | head -n 4 | tr '\n' '|' | sed 's/|$//; s/|/ | /g'; }
# banner FILE TEXT [PID]   wait (up to 60 s, or until PID exits) until a ktrace started in the background
# prints TEXT on stderr: its programs are attached and recording has begun.
banner() {
  local i
  for ((i = 0; i < 600; i++)); do
    grep -qF "$2" "$1" 2>/dev/null && return 0
    [[ -z ${3:-} ]] || kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
summary() { grep -E '^ktrace: [0-9]+ samples' "$1" | tail -n 1 | sed 's/^ktrace: //'; }
bpf_ids() { bpftool "$1" show 2>/dev/null | grep -oE '^[0-9]+:' | tr -d : | sort -n; }
config_has() { [[ -r ${VMTEST_CONFIG:-} ]] && grep -qx "CONFIG_$1=y" "$VMTEST_CONFIG"; }

# ───────────────────────────── 1. kernel facts ─────────────────────────────
result PASS fact.kernel "$(uname -r) ($(uname -v)); accel ${VMTEST_ACCEL:-host}; $(nproc) CPUs"
if [[ $(cat /sys/kernel/realtime 2>/dev/null) == 1 ]] || config_has PREEMPT_RT; then rt=PREEMPT_RT; else rt="not PREEMPT_RT"; fi
result PASS fact.preempt "$rt"
if [[ -r /sys/kernel/btf/vmlinux ]]; then result PASS fact.btf "/sys/kernel/btf/vmlinux, $(stat -c %s /sys/kernel/btf/vmlinux) bytes"
else result FAIL fact.btf "no /sys/kernel/btf/vmlinux: ktrace needs CONFIG_DEBUG_INFO_BTF"; fi
[[ -e /sys/kernel/tracing/kprobe_events ]] && kp=present || kp=absent
result PASS fact.kprobes "kprobe_events $kp"
if config_has DYNAMIC_FTRACE_WITH_DIRECT_CALLS; then ft="config has DYNAMIC_FTRACE_WITH_DIRECT_CALLS"; else ft="config lacks DYNAMIC_FTRACE_WITH_DIRECT_CALLS (or unknown)"; fi
result PASS fact.fentry "$ft; attach tested by timeline.trace"
[[ -e /sys/bus/event_source/devices/cpu ]] && pmu="cpu PMU present" || pmu="no cpu PMU (hardware events unavailable)"
result PASS fact.pmu "$pmu"
for b in "$KTRACE_BIN" "$XCTEST"; do [[ -x $b ]] || result FAIL fact.binaries "not executable: $b"; done
"$KTRACE_BIN" --version >"$LOGS/version.out" 2>&1 && result PASS fact.ktrace "$KTRACE_BIN $(head -n1 "$LOGS/version.out")"
base_prog=$(bpf_ids prog) base_link=$(bpf_ids link) base_map=$(bpf_ids map)

# ───────────────────────────── 2. softirq, per attach kind ─────────────────────────────
for k in tp_btf raw_tp tracepoint; do
  t=$(date +%s.%N)
  kt "softirq.$k" 120 softirq --attach "$k" 1 1; rc=$?
  if ((rc == 0)) && grep -q '^SOFTIRQ ' "$LOGS/softirq.$k.out" && grep -q '^net_rx ' "$LOGS/softirq.$k.out"; then
    result PASS "softirq.$k" "table of $(grep -cE '^(hi|timer|net_tx|net_rx|block|irq_poll|tasklet|sched|hrtimer|rcu) ' "$LOGS/softirq.$k.out") vectors ($(since "$t"))"
  else
    kt "softirq.$k.verbose" 120 softirq --attach "$k" -v 1 1  # libbpf's verifier log, for the record
    # the verifier's verdict: the rejected instruction and the reason, just before "processed N insns"
    v=$(grep -B2 -E '^processed [0-9]+ insns' "$LOGS/softirq.$k.verbose.err" | head -n2 | paste -sd' ' | sed 's/  */ /g')
    result FAIL "softirq.$k" "exit $rc: $(errtext "$LOGS/softirq.$k.err")${v:+; verifier: $v} (logs/softirq.$k.verbose.err)"
  fi
done
# The ksoftirqd/inline split under the default attach (most telling on PREEMPT_RT, where every softirq
# that a thread raises runs in that thread or ksoftirqd).
kt softirq.split 120 softirq -v 2 1; rc=$?
if ((rc == 0)); then
  split=$(awk '$1 ~ /^(timer|net_rx|sched|rcu)$/ { printf "%s %s runs, %s us, ksoftirqd %s; ", $1, $2, $3, $NF }' "$LOGS/softirq.split.out")
  result PASS softirq.split "$(grep -m1 -i attach "$LOGS/softirq.split.err" | sed 's/^ktrace: //')${split:+; }${split%; }"
else
  result FAIL softirq.split "exit $rc: $(errtext "$LOGS/softirq.split.err")"
fi

# ───────────────────────────── 2b. kthreads, per attach kind ─────────────────────────────
# 10 stat_refresh writes run refresh_vm_stats on every CPU: exactly 10 x CPUs work items, named.
for k in tp_btf raw_tp tracepoint; do
  t=$(date +%s.%N)
  "$KTRACE_BIN" kthreads --json --attach "$k" -v >"$LOGS/kthreads.$k.out" 2>"$LOGS/kthreads.$k.err" &
  kpid=$!
  banner "$LOGS/kthreads.$k.err" 'tracing kernel threads' $kpid
  for ((i = 0; i < 10; i++)); do echo 1 >/proc/sys/vm/stat_refresh; done
  sleep 1; kill -INT $kpid 2>/dev/null; timeout 60 tail --pid=$kpid -f /dev/null; wait $kpid; rc=$?
  n=$(jq '[.threads[].doing[] | select(.name == "refresh_vm_stats") | .count] | add // 0' "$LOGS/kthreads.$k.out" 2>/dev/null)
  off=$(jq -r '[.decoders[] | select(.decoding | not) | .name] | join(",")' "$LOGS/kthreads.$k.out" 2>/dev/null)
  if ((rc == 0)) && [[ $n == $((10 * $(nproc))) ]]; then
    result PASS "kthreads.$k" "refresh_vm_stats counted $n times; not decoded: ${off:-none} ($(since "$t"))"
  else
    result FAIL "kthreads.$k" "exit $rc, refresh_vm_stats ${n:-?} times (want $((10 * $(nproc)))): $(errtext "$LOGS/kthreads.$k.err")"
  fi
done

# Threaded irq handlers (all irqs on PREEMPT_RT) are named by their handler, not irq_thread.
kt kthreads.irq 60 kthreads 2 1 --json --comm 'irq/*'; rc=$?
irqs=$(jq -r '[.threads[] | "\(.name)=\(.thread_fn)"] | join(" ")' "$LOGS/kthreads.irq.out" 2>/dev/null)
if ((rc != 0)); then result FAIL kthreads.irq "exit $rc: $(errtext "$LOGS/kthreads.irq.err")"
elif [[ -z $irqs ]]; then result SKIP kthreads.irq "no irq thread ran in 2 s"
elif grep -qE '=(irq_thread|null)( |$)' <<<"$irqs"; then result FAIL kthreads.irq "not named by their handler: $irqs"
else result PASS kthreads.irq "$irqs"; fi

# ───────────────────────────── 3. stacks and timeline ─────────────────────────────
t=$(date +%s.%N)
kt stacks 60 stacks -a -d 2; rc=$?
if ((rc == 0)) && [[ -s $LOGS/stacks.out ]] && grep -q ' 0 lost ' "$LOGS/stacks.err"; then
  result PASS stacks "$(summary "$LOGS/stacks.err") ($(since "$t"))"
else
  result FAIL stacks "exit $rc, $(wc -l <"$LOGS/stacks.out") folded lines: $(errtext "$LOGS/stacks.err")"
fi
kt stacks.svg 60 stacks -a -d 2 -o "$W/x.svg"; rc=$?
if ((rc == 0)) && grep -q '<svg' "$W/x.svg"; then
  result PASS stacks.svg "$(stat -c %s "$W/x.svg") bytes of SVG"; cp "$W/x.svg" "$LOGS/"
else
  result FAIL stacks.svg "exit $rc: $(errtext "$LOGS/stacks.svg.err")"
fi
kt timeline.text 60 timeline -a -d 2 --format text; rc=$?
if ((rc == 0)) && [[ -s $LOGS/timeline.text.out ]]; then
  result PASS timeline.text "$(wc -l <"$LOGS/timeline.text.out") lines; $(summary "$LOGS/timeline.text.err")"
else
  result FAIL timeline.text "exit $rc: $(errtext "$LOGS/timeline.text.err")"
fi
calls_of() { grep -oE '[0-9]+ traced calls.*(unmatched exits|\(recursion protection, kretprobe instances\))' "$1"; }
# no_fentry NAME   true (a SKIP) when ktrace explained that fentry is unavailable and the config agrees.
no_fentry() { grep -q 'fentry/fexit is not available' "$LOGS/$1.err" && ! config_has DYNAMIC_FTRACE_WITH_DIRECT_CALLS; }
kt timeline.trace 60 timeline -a -d 2 --trace vfs_read -o "$W/t.json"; rc=$?
if ((rc == 0)) && [[ $(calls_of "$LOGS/timeline.trace.err") =~ ^([0-9]+)\  ]] && ((BASH_REMATCH[1] > 0)); then
  result PASS timeline.trace "$(calls_of "$LOGS/timeline.trace.err")"
elif no_fentry timeline.trace; then
  result SKIP timeline.trace "$(errtext "$LOGS/timeline.trace.err")"
else
  result FAIL timeline.trace "exit $rc: $(errtext "$LOGS/timeline.trace.err")"
fi
if kt stacks.cycles 60 stacks --event cycles -a -d 1; then
  result PASS stacks.cycles "works: $(summary "$LOGS/stacks.cycles.err")"
elif [[ $(wc -l <"$LOGS/stacks.cycles.err") -eq 1 ]] && grep -q 'error: ' "$LOGS/stacks.cycles.err"; then
  result PASS stacks.cycles "explains: $(cat "$LOGS/stacks.cycles.err")"
else
  result FAIL stacks.cycles "neither works nor explains in one line: $(errtext "$LOGS/stacks.cycles.err")"
fi

# diagnose on this kernel: all its programs attach, and skb:kfree_skb counts a known number of drops, by
# reason (5.17+) or by location, against an nft rule's own counter (one DROP rule in a namespace of ours).
diag_drops() {
  local name=diagnose.drops ns=ktg-drops pid rc n=50 counter got
  ip netns add "$ns" || { result FAIL $name "cannot make a network namespace"; return; }
  ip -n "$ns" link set lo up || { result FAIL $name "cannot bring lo up in it"; ip netns del "$ns"; return; }
  if ! command -v nft >/dev/null; then result SKIP $name "no nft"; ip netns del "$ns"; return; fi
  if ! ip netns exec "$ns" nft -f - 2>"$LOGS/$name.nft" <<'EOF_NFT'
table inet ktgd {
  chain input { type filter hook input priority 0; udp dport 9 counter drop; }
}
EOF_NFT
  then
    result FAIL $name "nft: $(head -n1 "$LOGS/$name.nft")"; ip netns del "$ns"; return
  fi
  kt $name 300 diagnose -d 4 &
  pid=$!
  if banner "$LOGS/$name.err" "diagnosing for" "$pid"; then
    ip netns exec "$ns" bash -c "for ((i = 0; i < $n; i++)); do echo x >/dev/udp/127.0.0.1/9; done" 2>/dev/null
  fi
  wait "$pid"; rc=$?
  counter=$(ip netns exec "$ns" nft list table inet ktgd | grep -oE 'packets [0-9]+' | awk '{print $2}')
  ip netns del "$ns"
  # "Drops by reason and location (tracepoint skb:kfree_skb, N packets): NETFILTER_DROP at nf_hook_slow 50, ..."
  # (no reason field: "at nf_hook_slow 50"); the report lists the 5 largest pairs, the rule's among them.
  got=$(grep -E '^Drops by reason and location' "$LOGS/$name.out" | sed 's/^[^)]*): //' | tr ',' '\n' |
        awk '/NETFILTER_DROP/ || (!/[A-Z_][A-Z_]+ at / && /(nf_hook_slow|nft_do_chain)/) { s += $NF } END { print s + 0 }')
  local detail="rule counter $counter, ktrace $got ($(grep -E '^Drops by reason' "$LOGS/$name.out" | cut -c1-160))"
  if ((rc != 0)); then result FAIL $name "exit $rc: $(errtext "$LOGS/$name.err")"
  elif grep -q 'packets dropped by reason and location (' "$LOGS/$name.err"; then result FAIL $name "the drop counter did not attach: $(errtext "$LOGS/$name.err")"
  elif [[ $counter == "$n" && $got == "$n" ]]; then result PASS $name "$detail"
  else result FAIL $name "$detail"
  fi
}
diag_drops

# ───────────────────────────── 4. the Swift integration tests ─────────────────────────────
if [[ $FILTER == none ]]; then
  result SKIP xctest "VMTEST_FILTER=none"
elif [[ ! -x $XCTEST ]]; then
  result FAIL xctest "no test bundle at $XCTEST"
else
  t=$(date +%s.%N)
  (cd /tmp && timeout -k 10 "${VMTEST_XCTEST_TIMEOUT:-720}" "$XCTEST" --testing-library swift-testing --no-parallel \
     --filter "$FILTER" --skip "$SKIP" --xunit-output "$LOGS/xunit.xml") >"$LOGS/xctest.log" 2>&1
  rc=$?
  # xunit: one <testcase> per test (arguments folded in); <failure message=...> per issue, <skipped>.
  awk -v R="$R" '
    function unesc(s) { gsub(/&quot;/, "\"", s); gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&#8594;/, "->", s); gsub(/&#10;/, " ", s); gsub(/&amp;/, "\\&", s); return s }
    function flush() { if (name == "") return
      line = sprintf("%s xctest.%s: %.1f s%s", fails ? "FAIL" : (skip ? "SKIP" : "PASS"), name, time, fails ? sprintf(", %d issues: %s", fails, first) : "")
      print line; print line >> R; name = "" }
    /<testcase / { flush(); match($0, /classname="[^"]*"/); cls = substr($0, RSTART + 11, RLENGTH - 12); sub(/^IntegrationTests\./, "", cls)
      match($0, / name="[^"]*"/); name = cls "/" substr($0, RSTART + 7, RLENGTH - 8)
      match($0, /time="[^"]*"/); time = substr($0, RSTART + 6, RLENGTH - 7); fails = 0; skip = 0; first = "" }
    /<failure / { fails++; if (first == "") { match($0, /message="[^"]*"/); first = substr(unesc(substr($0, RSTART + 9, RLENGTH - 10)), 1, 300) } }
    /<skipped/ { skip = 1 }
    END { flush() }' "$LOGS/xunit.xml" 2>/dev/null
  n=$(grep -c '<testcase ' "$LOGS/xunit.xml" 2>/dev/null); n=${n:-0}
  last=$(grep -E 'Test run with' "$LOGS/xctest.log" | tail -n1 | sed 's/\x1b\[[0-9;]*m//g; s/^[^A-Za-z]*//')
  if ((rc == 0)); then result PASS xctest "$n tests ($(since "$t")): $last"
  elif ((rc == 124 || rc == 137)); then result FAIL xctest "timed out after ${VMTEST_XCTEST_TIMEOUT:-720} s ($n tests finished): see logs/xctest.log"
  else result FAIL xctest "exit $rc ($(since "$t")): ${last:-$(tail -n1 "$LOGS/xctest.log")}"; fi
fi

# ───────────────────────────── 4b. --trace pairing ─────────────────────────────
# Last before the leftover checks: it has locked a 6.1 guest up (soft lockup in ktrace and the workload).
# Pairing: a thread reading 1 byte of /dev/zero in a loop; its vfs_read calls must pair into short slices
# (no pile of nested "still running" calls, none dropped for depth). pairing NAME a|pid WORKLOAD
#   a:   system wide, -d 5, the workload (2.5 s) starting once ktrace says it is recording: all its reads
#        are inside the window (attaching took over 2 s on 5.10 under TCG: a workload started by the
#        clock was half done before recording began)
#   pid: --pid of the running workload (6 s), -d 2 from 0.3 s in: a third of its reads, however long
#        ktrace takes to attach under TCG (up to 3.7 s; at 1.5 s, a 3 s workload left 177 of 978 reads)
# Workloads: read2ms (one read every 2 ms), reads (Tests/Workloads/reads.c: bursts of 10, thousands/s).
pairing() {
  local name=$1 mode=$2 wl=$3 wpid rc note n=0 nested=0 med=0 reads min
  if [[ $mode == a ]]; then
    : >"$LOGS/$name.err"
    ( banner "$LOGS/$name.err" 'recording all CPUs' && exec "$W/$wl" 2.5 >"$W/$wl.out" ) & wpid=$!
    ( banner "$LOGS/$name.err" 'recording all CPUs' && sleep 1.5 && bpftool prog show >"$LOGS/$name.bpftool" 2>&1 ) &
    kt "$name" 60 timeline -a -d 5 --trace vfs_read -o "$W/$name.json"; rc=$?
    min=2  # at least half of its reads
    # PREEMPT_RT: the kernel skips more runs (see below), 366 slices of 890 reads in one CI run: a quarter.
    [[ $(cat /sys/kernel/realtime 2>/dev/null) != 1 ]] || min=4
  else
    "$W/$wl" 6 >"$W/$wl.out" & wpid=$!
    sleep 0.3
    ( sleep 1.5; bpftool prog show >"$LOGS/$name.bpftool" 2>&1 ) &
    kt "$name" 60 timeline --pid "$wpid" -d 2 --trace vfs_read -o "$W/$name.json"; rc=$?
    min=12  # at least a quarter of the third in the window
    # PREEMPT_RT: preemptible BPF programs make the kernel skip many fentry/fexit runs (recursion
    # protection; 200 of 223 exits in one run), so fewer calls are recorded: at least an eighth of the window's.
    [[ $(cat /sys/kernel/realtime 2>/dev/null) != 1 ]] || min=24
  fi
  wait
  reads=$(cat "$W/$wl.out")
  # run counts of the fentry and fexit programs mid-run (kernel.bpf_stats_enabled): do exits run at all?
  local runs; runs=$(awk '/ name kt_f(entry|exit)0 / { n = $4 } / run_cnt / && n { printf "%s", n; for (i = 1; i < NF; i++) if ($i == "run_cnt" || $i == "recursion_misses") printf " %s=%s", $i, $(i + 1); printf "; "; n = "" }' "$LOGS/$name.bpftool" 2>/dev/null)
  note=$(calls_of "$LOGS/$name.err")
  if ((rc != 0)); then
    if no_fentry "$name"; then result SKIP "$name" "no fentry on this kernel"
    else result FAIL "$name" "exit $rc: $(errtext "$LOGS/$name.err")"; fi
    return
  fi
  # the workload's calls are on track tid + 10000000 (ChromeTrace); nested = depth > 0; dur in µs
  read -r n nested med < <(jq -r --argjson t $((wpid + 10000000)) '[.traceEvents[] | select(.ph == "X" and .cat == "func" and .tid == $t)]
    | "\(length) \(map(select(.args.depth > 0)) | length) \(map(.dur) | sort | if length > 0 then .[length / 2 | floor] else 0 end)"' "$W/$name.json")
  local detail="workload $wl made $reads reads, $n vfs_read slices on its track ($nested nested, median ${med} µs); $note${runs:+; mid-run: ${runs%; }}"
  if [[ $note =~ \ 0\ not\ recorded ]] && ((nested == 0 && n * min > reads)) && awk -v m="$med" 'BEGIN { exit !(m < 1000) }'; then
    result PASS "$name" "$detail"
  elif [[ $mode == pid && $(cat /sys/kernel/realtime 2>/dev/null) == 1 ]]; then
    # Known limitation, not hidden: under --pid on PREEMPT_RT the kernel skips most fentry/fexit runs
    # (recursion protection on preemptible BPF programs; 240 of 240 exits in one CI run), so neither the
    # count nor the nesting holds there. System-wide (-a) pairing is checked on RT as everywhere.
    result SKIP "$name" "known limitation on PREEMPT_RT with --pid: $detail"
  else
    result FAIL "$name" "$detail"
  fi
}
if ! command -v jq >/dev/null; then
  result SKIP timeline.pairing "no jq"
elif cc -O1 -o "$W/read2ms" "$HERE/read2ms.c" 2>"$LOGS/cc.err" &&
  # reads as vmtest.sh built it on the host (KTRACE_WORKLOADS), else here.
  { cp "${KTRACE_WORKLOADS:-/nonexistent}/reads" "$W/reads" 2>/dev/null ||
    "$ROOT/scripts/build-workloads.sh" "$W" reads 2>>"$LOGS/cc.err"; }; then
  sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null
  pairing timeline.pairing.a.2ms a read2ms
  pairing timeline.pairing.pid.2ms pid read2ms
  pairing timeline.pairing.a.burst a reads
  pairing timeline.pairing.pid.burst pid reads
  sysctl -qw kernel.bpf_stats_enabled=0 2>/dev/null
else
  result FAIL timeline.pairing "cc failed: $(head -n1 "$LOGS/cc.err")"
fi
# ───────────────────────────── 5. nothing left behind ─────────────────────────────
left=()
for kind in prog link map; do
  base=base_$kind
  new=$(comm -13 <(echo "${!base}") <(bpf_ids "$kind") | grep . | tr '\n' ' ')
  [[ -z $new ]] || left+=("$kind ids $new")
done
bpftool prog show >"$LOGS/bpftool-prog.end" 2>&1
if ((${#left[@]})); then result FAIL leftover.bpf "${left[*]}(logs/bpftool-prog.end)"; else result PASS leftover.bpf "no new BPF program, link or map"; fi
ns=$(ip netns list 2>/dev/null | tr '\n' ' ')
if [[ -n $ns ]]; then result FAIL leftover.netns "$ns"; else result PASS leftover.netns "no network namespace"; fi

result PASS suite.time "$(since "$suite_t0")"
! grep -q '^FAIL ' "$R"
