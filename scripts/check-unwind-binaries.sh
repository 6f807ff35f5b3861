#!/usr/bin/env bash
# User stacks of binaries no one here wrote (Debian's own, without frame pointers, stripped), walked by
# `ktrace stacks --unwind dwarf` beside `perf record --call-graph dwarf` on the same seconds of the same
# process, then by `--unwind fp`: the share of samples whose stack reaches libc's __libc_start_call_main
# (the whole stack, from the process's start), the mean user depth, and the largest difference between
# the two tools' inclusive shares of ktrace's top 10 named functions. Not run in CI (issue 20's "more
# binaries, checked outside the project"); each workload is bounded by time and is ended by its pid.
# usage: check-unwind-binaries.sh [SECONDS]   Environment: KTRACE (.build/release/ktrace)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh
SECS=${1:-3}
[[ $SECS =~ ^[0-9]+$ ]] || die "SECONDS is a whole number"
command -v perf >/dev/null || die "perf not installed (scripts/setup.sh)"
REACH=__libc_start_call_main

# name, then the command: one process that stays busy in its own code for long enough.
workloads=(
  "gzip|gzip -9 -c"
  "xz|xz -6 -T1 -c"
  "bzip2|bzip2 -9 -c"
  "sha256sum|sha256sum"
  "python3|python3 -c 'def f(n): return 1 if n < 2 else f(n - 1) + f(n - 2)
while True: f(20)'"
  "perl|perl -e 'sub f { my \$n = shift; \$n < 2 ? 1 : f(\$n - 1) + f(\$n - 2) } f(20) while 1'"
)
bound=$((3 * SECS + 20))
echo "each: $SECS s of ktrace --unwind dwarf beside perf --call-graph dwarf, then $SECS s of --unwind fp; reach = $REACH"
for w in "${workloads[@]}"; do
  name=${w%%|*} cmd=${w#*|}
  command -v "${cmd%% *}" >/dev/null || { echo "  $name: not installed, skipped"; continue; }
  # Compressors and hashers read random bytes from a pipe, so they never wait on a disk.
  if [[ $name == python3 || $name == perl ]]; then
    eval "timeout $bound $cmd" >/dev/null 2>&1 &
  else
    eval "timeout $bound $cmd" < <(head -c 8G /dev/urandom) >/dev/null 2>&1 &
  fi
  tpid=$!
  BENCH_PIDS+=("$tpid")
  sleep 0.5
  # timeout's child is the workload.
  pid=$(pgrep -P "$tpid" | head -n1)
  [[ -n $pid ]] || { echo "  $name: did not start, skipped"; continue; }
  d=$BENCH_TMP/$name
  mkdir -p "$d"
  ( cd "$d" && perf record -q -F 499 --call-graph dwarf -p "$pid" -o perf.data -- sleep "$SECS" >/dev/null 2>&1 ) &
  perfpid=$!
  "$KTRACE" stacks --pid "$pid" --user-only -F 499 -d "$SECS" --unwind dwarf >"$d/dwarf.folded" 2>"$d/dwarf.err" || true
  wait "$perfpid" || true
  "$KTRACE" stacks --pid "$pid" --user-only -F 499 -d "$SECS" --unwind fp >"$d/fp.folded" 2>"$d/fp.err" || true
  stop_pid "$tpid"
  perf script -i "$d/perf.data" -F ip,sym,dso >"$d/perf.txt" 2>/dev/null || true
  echo "  $name ($(readlink -f "$(command -v "${cmd%% *}")")):"
  scripts/unwind-compare.py --quiet --reach "$REACH" --perf "$d/perf.txt" "dwarf=$d/dwarf.folded" "fp=$d/fp.folded" | sed 's/^/    /'
  grep -E "user stacks:" "$d/dwarf.err" | cut -c1-220 | sed 's/^ktrace: /    /' || true
done
