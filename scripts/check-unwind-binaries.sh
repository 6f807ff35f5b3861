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

# start NAME: one process that stays busy in its own code, bounded by time, as the child of `timeout`
# (compressors and hashers read random bytes from a pipe, so they never wait on a disk).
start() {
  local r=(timeout "$bound")
  case $1 in
    gzip) ( exec "${r[@]}" gzip -9 -c < <(head -c 8G /dev/urandom) >/dev/null 2>&1 ) & ;;
    xz) ( exec "${r[@]}" xz -6 -T1 -c < <(head -c 8G /dev/urandom) >/dev/null 2>&1 ) & ;;
    bzip2) ( exec "${r[@]}" bzip2 -9 -c < <(head -c 8G /dev/urandom) >/dev/null 2>&1 ) & ;;
    sha256sum) ( exec "${r[@]}" sha256sum < <(head -c 64G /dev/zero) >/dev/null 2>&1 ) & ;;
    python3) ( exec "${r[@]}" /usr/bin/python3 -c 'def f(n): return 1 if n < 2 else f(n - 1) + f(n - 2)
while True: f(20)' >/dev/null 2>&1 ) & ;;
    perl) ( exec "${r[@]}" /usr/bin/perl -e 'sub f { my $n = shift; $n < 2 ? 1 : f($n - 1) + f($n - 2) } f(20) while 1' \
      >/dev/null 2>&1 ) & ;;
  esac
}
bound=$((3 * SECS + 20))
echo "each: $SECS s of ktrace --unwind dwarf beside perf --call-graph dwarf, then $SECS s of --unwind fp; reach = $REACH"
for name in gzip xz bzip2 sha256sum python3 perl; do
  exe=$(command -v "$name") || { echo "  $name: not installed, skipped"; continue; }
  [[ $name == python3 ]] && exe=/usr/bin/python3
  start "$name"
  tpid=$!
  BENCH_PIDS+=("$tpid")
  sleep 0.5
  # timeout's newest child is the workload (a pipe's writer was forked before it).
  pid=$(pgrep -n -P "$tpid") || true
  [[ -n $pid ]] || { echo "  $name: did not start, skipped"; continue; }
  d=$BENCH_TMP/$name
  mkdir -p "$d"
  ( cd "$d" && perf record -q -F 499 --call-graph dwarf -p "$pid" -o perf.data -- sleep "$SECS" >/dev/null 2>&1 ) &
  perfpid=$!
  "$KTRACE" stacks --pid "$pid" --user-only -F 499 -d "$SECS" --unwind dwarf >"$d/dwarf.folded" 2>"$d/dwarf.err" || true
  wait "$perfpid" || true
  "$KTRACE" stacks --pid "$pid" --user-only -F 499 -d "$SECS" --unwind fp >"$d/fp.folded" 2>"$d/fp.err" || true
  kill "$tpid" 2>/dev/null || true
  wait "$tpid" 2>/dev/null || true
  perf script -i "$d/perf.data" -F ip,sym,dso >"$d/perf.txt" 2>/dev/null || true
  echo "  $name ($(readlink -f "$exe")):"
  scripts/unwind-compare.py --quiet --reach "$REACH" --perf "$d/perf.txt" "dwarf=$d/dwarf.folded" "fp=$d/fp.folded" | sed 's/^/    /'
  grep -E "user stacks:" "$d/dwarf.err" | cut -c1-220 | sed 's/^ktrace: /    /' || true
done
