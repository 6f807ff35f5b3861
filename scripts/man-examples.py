#!/usr/bin/env python3
"""Move a generated mdoc page's "Examples:" lines (from the command's discussion) into an EXAMPLES section,
name the page as it is installed (ktrace-stacks), and add SEE ALSO: the other pages and where the output
schemas are documented.

usage: man-examples.py PAGE ALL_PAGES... < generated.1 > PAGE.1   (PAGE: ktrace or ktrace-stacks)
Reads the page on stdin, writes it on stdout. The discussion's examples block is the line "Examples:" and
the lines after it up to the first blank line or macro line; each example is a command, two or more
spaces, and what it does. They become a literal display under .Sh EXAMPLES, placed before SEE ALSO or
AUTHORS (mdoc's order), or at the end. A page without examples passes through unchanged.
"""
import re
import sys

page, pages = sys.argv[1], sys.argv[2:]
lines = sys.stdin.read().split("\n")
lines = [".Dt " + page.upper() + " 1" if l.startswith(".Dt ") else l for l in lines]
# NAME gives the page's own name (whatis: "ktrace-stacks - ..."); the command, "ktrace stacks", is named
# wherever .Nm stands alone.
command = next((l[4:].strip().strip('"') for l in lines if l.startswith(".Nm ")), page)
lines = ['.Nm %s' % page if l.startswith(".Nm ") else ('.Nm "%s"' % command if l == ".Nm" else l) for l in lines]
out, examples, i = [], [], 0
while i < len(lines):
    if lines[i].strip() == "Examples:" and not examples:
        i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].startswith("."):
            examples.append(lines[i].strip())
            i += 1
        continue
    out.append(lines[i])
    i += 1
if examples:
    block = [".Sh EXAMPLES", ".Bd -literal -offset indent"]
    for e in examples:
        e = e.replace("\\", "\\e")
        block.append("\\&" + e if e[:1] in ".'" else e)
    block.append(".Ed")
    at = next((k for k, l in enumerate(out) if re.match(r"\.Sh (SEE ALSO|AUTHORS|HISTORY)", l)), None)
    if at is None:
        at = len(out) - 1 if out and out[-1] == "" else len(out)
    out[at:at] = block
# roff takes a blank line as a paragraph break it warns about: mdoc's is .Pp, never before a section.
tidy = []
for k, l in enumerate(out):
    if l == "" and k < len(out) - 1:
        if tidy and tidy[-1] != ".Pp" and not tidy[-1].startswith(".Sh") and not out[k + 1].startswith((".Sh", ".Pp", ".It", ".El")):
            tidy.append(".Pp")
        continue
    tidy.append(l)
out = tidy
see = [".Sh SEE ALSO"]
others = sorted(p for p in pages if p != page)
for k, p in enumerate(others):
    see.append(".Xr %s 1%s" % (p, " ," if k < len(others) - 1 else ""))
see += [".Pp", "Output schemas (JSON, folded stacks, pprof, Prometheus metrics) and how each command counts:",
        "docs/ in ktrace's sources, a page per command."]
at = next((k for k, l in enumerate(out) if l.startswith(".Sh AUTHORS")), None)
if at is None:
    at = len(out) - 1 if out and out[-1] == "" else len(out)
out[at:at] = see
sys.stdout.write("\n".join(out))
