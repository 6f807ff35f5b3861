#!/usr/bin/env bash
# ktrace demo: nginx "in a container" behind a bridge with DNAT, SYN-flooded from another "host",
# ksoftirqd hot. Builds the lab (scripts/lab.sh), runs two scenarios and traces each with ktrace:
#
#   paced  hping3 -S -i u10   hping3 is the limit; the RX CPU spends part of its time in softirq,
#                             ksoftirqd stays almost idle
#   flood  hping3 -S --flood  the RX CPU saturates and NET_RX work moves into ksoftirqd/RX
#
# usage: synflood-demo.sh [run]                 down → up → curl → paced, flood (each traced) → summary →
#                                               ktrace diagnose's report on the flood → down
#        synflood-demo.sh up | down | status    the lab only (no ktrace needed)
#        synflood-demo.sh load [paced|flood|udp] [SECONDS]   one bounded load (default: flood 10)
#
# Environment (all optional):
#   KTRACE=path            ktrace binary (default: .build/release/ktrace in the repo, else 'ktrace' on PATH)
#   KT_OUT=./out/demo      where the SVGs, folded stacks, timelines and reports go
#   KT_DEMO_WARMUP=2       seconds of load before tracing starts
#   KT_DEMO_LOAD_SECS=45   upper bound of each scenario's load (it is stopped as soon as tracing is done)
#   KT_DEMO_SCENARIOS="paced flood"   which scenarios to run (the integration test runs only flood)
#   KT_DEMO_SECS=5         seconds each 'ktrace stacks' samples
#   KT_DEMO_DIAGNOSE_SECS=5   the window of 'ktrace diagnose' under the flood, whose report ends the demo
#   KT_LAB, KT_RX_CPU, KT_TX_CPU, ...   passed to scripts/lab.sh (see there)
# Exit codes: 0 ok, 1 a step failed, 2 usage / missing tool or ktrace binary / not root.
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"

ROOT=$(repo_root)
LAB_SH=$ROOT/scripts/lab.sh
read -r -a SCENARIOS <<<"${KT_DEMO_SCENARIOS:-paced flood}"
TRACE_SECS=${KT_DEMO_SECS:-5}
DIAG_SECS=${KT_DEMO_DIAGNOSE_SECS:-5}
WARMUP=${KT_DEMO_WARMUP:-2}
LOAD_SECS=${KT_DEMO_LOAD_SECS:-45}
OUT_ARG=${KT_OUT:-./out/demo}
KT=""                 # resolved ktrace binary
LOAD_PID=""           # background 'lab.sh load' of the current scenario
FAILED=()             # ktrace steps that failed (ktrace is still being built: keep going, report)

lab() { "$LAB_SH" "$@"; }

# resolve_ktrace   set KT or exit 2 with the one-line hint.
resolve_ktrace() {
  local def=$ROOT/.build/release/ktrace cand
  if [[ -n ${KTRACE:-} ]]; then
    cand=$KTRACE
    if [[ $cand == */* ]]; then
      [[ $cand == /* ]] || cand=$ROOT/$cand            # relative paths are relative to the repo root
      [[ -x $cand ]] || die 2 "ktrace binary not found at $cand: run 'make build'"
      KT=$cand
    else
      KT=$(command -v "$cand" 2>/dev/null) || die 2 "ktrace binary not found at $cand (PATH): run 'make build'"
    fi
  elif [[ -x $def ]]; then
    KT=$def
  elif KT=$(command -v ktrace 2>/dev/null); then
    :
  else
    die 2 "ktrace binary not found at $def (nor on PATH): run 'make build'"
  fi
}

# kt SECONDS_BOUND LABEL ARGS...   run ktrace (bounded), remember a failure instead of stopping the demo.
kt() {
  local bound=$1 label=$2; shift 2
  log "\$ ktrace $(printf '%q ' "$@")"
  # --foreground: ktrace stays in our process group, so Ctrl-C reaches it at once.
  if ! timeout --foreground -k 5 "$bound" "$KT" "$@"; then
    warn "ktrace step failed: ktrace $*"
    FAILED+=("$label")
  fi
}

stop_load() {
  if [[ -n $LOAD_PID ]] && kill -0 "$LOAD_PID" 2>/dev/null; then
    kill -TERM "$LOAD_PID" 2>/dev/null || true
  fi
  [[ -z $LOAD_PID ]] || wait "$LOAD_PID" 2>/dev/null || true
  LOAD_PID=""
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_load
  lab down || rc=1
  exit "$rc"
}

# ───────────────────────────── summary helpers ─────────────────────────────
# result_field FILE KEY   value of KEY in lab.sh's result line (KEY=VALUE ...), "?" if absent.
result_field() {
  [[ -r $1 ]] || { echo "?"; return; }
  tr ' ' '\n' <"$1" | awk -F= -v k="$2" '$1 == k {print $2; found = 1} END {if (!found) print "?"}'
}

# softirq_shares FILE   "NET_RX% KSOFTIRQD%" over all intervals of `ktrace softirq --json` output.
softirq_shares() {
  local f=$1
  [[ -s $f ]] || { echo "? ?"; return; }
  have jq || { echo "?(no jq) ?(no jq)"; return; }
  jq -rs '[.[].vectors[]?] as $v
      | ($v | map(.total_ns) | add // 0) as $all
      | ($v | map(select(.name == "net_rx") | .total_ns) | add // 0) as $rx
      | ($v | map(.ksoftirqd_ns // 0) | add // 0) as $k
      | if $all > 0 then "\($rx * 1000 / $all | round / 10)% \($k * 1000 / $all | round / 10)%" else "- -" end' \
    "$f" 2>/dev/null || echo "? ?"
}

# netrx_top FILE   in a folded-stacks file: the deepest frame of the dominant path under net_rx_action
# (followed while one child holds >= 50% of net_rx_action's samples, at most 5 frames deep) and the
# hottest leaf frame below net_rx_action.
netrx_top() {
  local f=$1
  [[ -s $f ]] || { echo "no folded file"; return; }
  awk '
    function clean(x) { sub(/\+0x[0-9a-f]+.*/, "", x); return x }
    {
      n = $NF; stack = $0; sub(/[ \t]+[0-9]+$/, "", stack)
      all += n
      k = split(stack, fr, ";")
      for (i = 1; i < k; i++) if (clean(fr[i]) == "net_rx_action") {
        path = ""
        for (j = i + 1; j <= k && j <= i + 5; j++) {
          path = path (path == "" ? "" : ";") clean(fr[j]); cnt[j - i, path] += n
        }
        leaf[clean(fr[k])] += n; tot += n
        break
      }
    }
    END {
      if (tot == 0) { print "no stacks through net_rx_action"; exit }
      cur = ""; share = 1
      for (d = 1; d <= 5; d++) {
        best = ""; bc = 0
        for (key in cnt) {
          split(key, kp, SUBSEP)
          if (kp[1] != d) continue
          if (cur != "" && index(kp[2], cur ";") != 1) continue
          if (cnt[key] > bc) { bc = cnt[key]; best = kp[2] }
        }
        if (best == "" || bc < tot / 2) break
        cur = best; share = bc / tot
      }
      d = split(cur, pf, ";"); top = (d > 0 ? pf[d] : "(no dominant child)")
      for (l in leaf) if (leaf[l] > bl) { bl = leaf[l]; bestl = l }
      printf "%s (%.0f%%), hottest leaf %s (%.0f%%)", top, 100 * share, bestl, 100 * bl / tot
    }' "$f"
}

# ───────────────────────────── run ─────────────────────────────
run_scenario() {
  local s=$1 out=$2
  log "── scenario $s: load in the background (bounded: ${LOAD_SECS}s), warm-up ${WARMUP}s, then ktrace"
  # lab.sh itself, not the lab function: a backgrounded function is a subshell and $! would be its pid.
  KT_LAB_RESULT=$out/load-$s.result "$LAB_SH" load "$s" "$LOAD_SECS" >"$out/load-$s.txt" 2>&1 &
  LOAD_PID=$!
  sleep "$WARMUP"
  kill -0 "$LOAD_PID" 2>/dev/null || { cat "$out/load-$s.txt" >&2; die 1 "load $s ended early"; }

  kt 30 "softirq-$s" softirq 1 5 > >(tee "$out/softirq-$s.txt")   # not a pipe: kt must run in this shell
  kt 30 "softirq-json-$s" softirq --json 1 3 >"$out/softirq-$s.jsonl"
  kt 40 "stacks-svg-$s" stacks --comm 'ksoftirqd/*' -d "$TRACE_SECS" -o "$out/ksoftirqd-$s.svg"
  kt 40 "stacks-folded-$s" stacks --comm 'ksoftirqd/*' -d "$TRACE_SECS" --by-softirq -o "$out/ksoftirqd-$s.folded"
  kt 30 "timeline-$s" timeline -a -d 2 -o "$out/trace-$s.json"
  # The flooded lab diagnosed: what to change, printed last.
  if [[ $s == flood ]]; then
    kt 90 "diagnose-$s" diagnose -d "$DIAG_SECS" >"$out/diagnose-$s.txt"
  fi

  stop_load
  cat "$out/load-$s.txt"
}

cmd_run() {
  need_root
  need_tool timeout
  resolve_ktrace
  log "ktrace: $KT"
  mkdir -p "$OUT_ARG"
  local out; out=$(cd "$OUT_ARG" && pwd)

  trap on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  lab down                       # clean slate
  lab up
  log "nginx through the DNAT: $(lab curl)"

  local s
  for s in "${SCENARIOS[@]}"; do run_scenario "$s" "$out"; done

  # ── summary (5 lines)
  local p=$out/load-paced.result f=$out/load-flood.result sp sf
  sp=$(softirq_shares "$out/softirq-paced.jsonl"); sf=$(softirq_shares "$out/softirq-flood.jsonl")
  echo
  echo "== summary (RX CPU $(result_field "$p" rx_cpu), load generator on CPU $(result_field "$p" tx_cpu))"
  printf 'SYN rate        paced %s SYN/s (RX CPU si %s%%, ksoftirqd %s%% CPU) | flood %s SYN/s (RX CPU si %s%%, ksoftirqd %s%% CPU)\n' \
    "$(result_field "$p" syn_per_s)" "$(result_field "$p" rx_si_pct)" "$(result_field "$p" ksoftirqd_rx_pct)" \
    "$(result_field "$f" syn_per_s)" "$(result_field "$f" rx_si_pct)" "$(result_field "$f" ksoftirqd_rx_pct)"
  printf 'NET_RX share    paced %s | flood %s of softirq time (ktrace softirq --json)\n' "${sp%% *}" "${sf%% *}"
  printf 'ksoftirqd share paced %s | flood %s of softirq time ran in ksoftirqd (ktrace softirq --json)\n' "${sp##* }" "${sf##* }"
  printf 'net_rx_action   paced: %s | flood: %s  (ksoftirqd stacks)\n' \
    "$(netrx_top "$out/ksoftirqd-paced.folded")" "$(netrx_top "$out/ksoftirqd-flood.folded")"
  printf 'files           %s/{ksoftirqd-{paced,flood}.svg,ksoftirqd-*.folded,trace-*.json,softirq-*.txt,softirq-*.jsonl,load-*.txt,diagnose-flood.txt}\n' "$out"
  if [[ -s $out/diagnose-flood.txt ]]; then
    echo
    echo "== ktrace diagnose -d $DIAG_SECS, under the flood: what to change"
    cat "$out/diagnose-flood.txt"
  fi

  if [[ ${#FAILED[@]} -gt 0 ]]; then
    warn "ktrace steps that failed: ${FAILED[*]}"
    exit 1
  fi
}

case ${1:-run} in
  run) cmd_run ;;
  up|down|status) lab "$1" ;;
  load) lab load "${2:-flood}" "${3:-10}" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
