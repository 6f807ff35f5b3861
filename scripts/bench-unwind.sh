#!/usr/bin/env bash
# User stacks of a binary without frame pointers: Debian's nginx (nginx-light, and its libc) under wrk, in a
# network namespace of its own, one worker.
#   1. The same seconds of the same worker: `ktrace stacks --unwind dwarf` beside `perf record --call-graph
#      dwarf` (the peer). Share of samples reaching ngx_process_events_and_timers, mean user depth, and the
#      inclusive share of ktrace's top 10 named user functions against perf's (issue 20: within 5 points).
#   2. `--unwind fp` on the same worker: the frame-pointer walk, for the before.
#   3. Cost: BPF ns per sample (kernel.bpf_stats_enabled) with tables and with frame pointers; CPU seconds of
#      ktrace's process, and of perf record plus perf script (where perf unwinds); the bytes each wrote.
# usage: bench-unwind.sh [SECONDS]   Environment: KTRACE (.build/release/ktrace)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-bench.sh
. scripts/lib-bench.sh
SECS=${1:-5}
NS=ktbu$$
for t in nginx wrk perf bpftool; do command -v "$t" >/dev/null || [[ -x /usr/sbin/$t ]] || die "$t not installed (scripts/setup.sh)"; done

cleanup_unwind() {
  [[ -s $BENCH_TMP/nginx.pid ]] && kill "$(cat "$BENCH_TMP/nginx.pid")" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  bench_cleanup
}
trap cleanup_unwind EXIT

mkdir -p "$BENCH_TMP/ngx"
cat >"$BENCH_TMP/nginx.conf" <<EOF
worker_processes 1;
pid $BENCH_TMP/nginx.pid;
error_log $BENCH_TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $BENCH_TMP/ngx/cb; proxy_temp_path $BENCH_TMP/ngx/px; fastcgi_temp_path $BENCH_TMP/ngx/fc;
  uwsgi_temp_path $BENCH_TMP/ngx/uw; scgi_temp_path $BENCH_TMP/ngx/sc;
  server { listen 127.0.0.1:8080; location / { return 200 "hello\n"; } }
}
EOF
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" nginx -c "$BENCH_TMP/nginx.conf"
for ((t = 0; t < 50; t++)); do [[ -s $BENCH_TMP/nginx.pid ]] && pgrep -P "$(cat "$BENCH_TMP/nginx.pid")" >/dev/null && break; sleep 0.1; done
master=$(cat "$BENCH_TMP/nginx.pid" 2>/dev/null) || die "nginx did not start: $(cat "$BENCH_TMP/nginx-error.log" 2>/dev/null)"
worker=$(pgrep -P "$master" | head -n1)
[[ -n $worker ]] || die "nginx has no worker"
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///') worker $worker; wrk -c20 in namespace $NS; $SECS s per recording"

# wrk for the whole bench, bounded by time.
ip netns exec "$NS" timeout $((6 * SECS + 30)) wrk -t1 -c20 -d$((6 * SECS + 20))s http://127.0.0.1:8080/ >"$BENCH_TMP/wrk.out" 2>&1 &
BENCH_PIDS+=($!)
sleep 1

# 1. ktrace with tables and perf dwarf, same seconds.
( cd "$BENCH_TMP" && /usr/bin/time -f "%U %S" -o perf.time perf record -q -F 499 --call-graph dwarf -p "$worker" -o perf.data \
    -- sleep "$SECS" >/dev/null 2>&1 ) &
perfpid=$!
/usr/bin/time -f "%U %S" -o "$BENCH_TMP/kt.time" "$KTRACE" stacks --pid "$worker" --user-only -F 499 -d "$SECS" --unwind dwarf \
  >"$BENCH_TMP/dwarf.folded" 2>"$BENCH_TMP/dwarf.err"
wait "$perfpid"
/usr/bin/time -f "%U %S" -o "$BENCH_TMP/script.time" perf script -i "$BENCH_TMP/perf.data" -F ip,sym,dso >"$BENCH_TMP/perf.txt" 2>/dev/null
# 2. frame pointers.
"$KTRACE" stacks --pid "$worker" --user-only -F 499 -d "$SECS" >"$BENCH_TMP/fp.folded" 2>"$BENCH_TMP/fp.err"

python3 - "$BENCH_TMP" <<'EOF'
import collections, os, sys
d = sys.argv[1]
LOOP = "ngx_process_events_and_timers"

def folded(p):
    out = []
    for l in open(p):
        l = l.rstrip("\n")
        if l:
            f, c = l.rsplit(" ", 1)
            out.append((f.split(";")[1:], int(c)))  # without the comm
    return out

def perf_stacks(p):
    # perf script -F ip,sym,dso: a blank line ends each sample; frames "ip sym (dso)", leaf first.
    out, cur = [], []
    for l in open(p):
        l = l.strip()
        if not l:
            if cur: out.append((cur[::-1], 1)); cur = []
            continue
        parts = l.split(None, 1)
        if len(parts) < 2 or "[kernel.kallsyms]" in l: continue
        sym = parts[1].rsplit(" (", 1)[0].split("+0x")[0]
        cur.append(sym)
    if cur: out.append((cur[::-1], 1))
    return out

def inclusive(st):
    c = collections.Counter()
    for f, n in st:
        for x in set(f): c[x] += n
    return c

def summary(name, st):
    tot = sum(n for _, n in st) or 1
    reach = sum(n for f, n in st if LOOP in f)
    depth = sum(len(f) * n for f, n in st) / tot
    print("  %-22s %6d samples, %5.1f%% reach %s, mean user depth %.1f" % (name, tot, 100 * reach / tot, LOOP, depth))
    return tot

kt, fp, pf = folded(d + "/dwarf.folded"), folded(d + "/fp.folded"), perf_stacks(d + "/perf.txt")
print("1-2. stacks of the worker")
kt_tot = summary("ktrace --unwind dwarf", kt)
summary("ktrace --unwind fp", fp)
pf_tot = summary("perf --call-graph dwarf", pf)
kc, pc = inclusive(kt), inclusive(pf)
def perf_share(name):
    for alias in (name, "__" + name, "__GI___" + name, "__libc_" + name):
        if alias in pc: return alias, 100 * pc[alias] / pf_tot
    return None, None
print("  top 10 named user functions, inclusive share: ktrace / perf (same seconds)")
worst = 0
named = [f for f, _ in kc.most_common() if not f.startswith("[")][:10]
for f in named:
    alias, p = perf_share(f)
    k = 100 * kc[f] / kt_tot
    if p is None:
        print("    %-36s %5.1f%% /   -    (perf names it otherwise)" % (f[:36], k)); continue
    worst = max(worst, abs(k - p))
    print("    %-36s %5.1f%% / %5.1f%%%s" % (f[:36], k, p, "" if alias == f else "  (perf: %s)" % alias))
print("  largest difference: %.1f points (issue 20: within 5)" % worst)
EOF
grep -E "user stacks:" "$BENCH_TMP/dwarf.err" | sed 's/^ktrace: /  /'

# 3. Cost per sample in the kernel, each mode on its own.
echo "3. cost"
for mode in dwarf fp; do
  read -r runs ns < <(sample_cost "$SECS" "$KTRACE" stacks --pid "$worker" --user-only -F 499 --unwind "$mode")
  echo "  BPF per sample, --unwind $mode: $ns ns ($runs runs)"
done
read -r ku ks <"$BENCH_TMP/kt.time"
read -r ru rs <"$BENCH_TMP/perf.time"
read -r su ss <"$BENCH_TMP/script.time"
awk -v ku="$ku" -v ks="$ks" -v ru="$ru" -v rs="$rs" -v su="$su" -v ss="$ss" -v kb="$(stat -c %s "$BENCH_TMP/dwarf.folded")" \
    -v pb="$(stat -c %s "$BENCH_TMP/perf.data")" 'BEGIN {
  printf "  CPU seconds: ktrace %.2f (user+sys, tables built included); perf record %.2f + perf script %.2f\n", ku + ks, ru + rs, su + ss
  printf "  written: ktrace %d bytes of folded stacks; perf %d bytes of perf.data (user stack copies)\n", kb, pb }'
