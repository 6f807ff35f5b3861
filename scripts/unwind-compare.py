#!/usr/bin/env python3
"""User stacks of one process by ktrace (folded) against perf --call-graph dwarf (perf script -F ip,sym,dso)
on the same seconds: samples, the share reaching a frame, mean user depth, and the inclusive shares of
ktrace's top named functions against perf's. Used by bench-unwind.sh and check-unwind-binaries.sh.

usage: unwind-compare.py --reach NAME --perf PERF_TXT [--top N] [--quiet] LABEL=FOLDED...
With --quiet, one line: label, samples, reach % and depth per input, perf's, and the largest difference."""
import argparse, collections, sys

def folded(path):
    out = []
    for line in open(path):
        line = line.rstrip("\n")
        if line:
            frames, count = line.rsplit(" ", 1)
            out.append((frames.split(";")[1:], int(count)))  # without the comm
    return out

def perf_stacks(path):
    # A blank line ends each sample; frames "ip sym (dso)", leaf first; kernel frames left out.
    out, cur = [], []
    for line in open(path):
        line = line.strip()
        if not line:
            if cur: out.append((cur[::-1], 1)); cur = []
            continue
        parts = line.split(None, 1)
        if len(parts) < 2 or "[kernel.kallsyms]" in line: continue
        cur.append(parts[1].rsplit(" (", 1)[0].split("+0x")[0])
    if cur: out.append((cur[::-1], 1))
    return out

def inclusive(stacks):
    c = collections.Counter()
    for frames, n in stacks:
        for f in set(frames): c[f] += n
    return c

def stats(stacks, reach):
    total = sum(n for _, n in stacks) or 1
    reached = sum(n for f, n in stacks if reach in f)
    depth = sum(len(f) * n for f, n in stacks) / total
    return total, 100 * reached / total, depth

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reach", required=True)
    ap.add_argument("--perf", required=True)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("inputs", nargs="+")
    a = ap.parse_args()
    runs = [(s.split("=", 1)[0], folded(s.split("=", 1)[1])) for s in a.inputs]
    pf = perf_stacks(a.perf)
    pf_total = stats(pf, a.reach)[0]
    kt_label, kt = runs[0]
    kc, pc = inclusive(kt), inclusive(pf)
    kt_total = stats(kt, a.reach)[0]

    def perf_share(name):
        for alias in (name, "__" + name, "__GI___" + name, "__libc_" + name):
            if alias in pc: return alias, 100 * pc[alias] / pf_total
        return None, None

    rows, worst = [], 0.0
    for f in [f for f, _ in kc.most_common() if not f.startswith("[")][:a.top]:
        alias, p = perf_share(f)
        k = 100 * kc[f] / kt_total
        if p is not None: worst = max(worst, abs(k - p))
        rows.append((f, k, alias, p))

    if a.quiet:
        cells = ["%s %d samples %.1f%% depth %.1f" % ((label,) + stats(st, a.reach)) for label, st in runs]
        cells.append("perf dwarf %d samples %.1f%% depth %.1f" % stats(pf, a.reach))
        print("; ".join(cells) + "; top %d within %.1f points" % (len(rows), worst))
        return
    for label, st in runs + [("perf --call-graph dwarf", pf)]:
        total, reached, depth = stats(st, a.reach)
        print("  %-23s %6d samples, %5.1f%% reach %s, mean user depth %.1f" % (label, total, reached, a.reach, depth))
    print("  top %d named user functions, inclusive share: ktrace / perf (same seconds)" % a.top)
    for f, k, alias, p in rows:
        if p is None:
            print("    %-36s %5.1f%% /   -    (perf names it otherwise)" % (f[:36], k))
        else:
            print("    %-36s %5.1f%% / %5.1f%%%s" % (f[:36], k, p, "" if alias == f else "  (perf: %s)" % alias))
    print("  largest difference: %.1f points (issue 20: within 5)" % worst)

if __name__ == "__main__":
    sys.exit(main())
