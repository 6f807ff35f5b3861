#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through swiftc -sanitize=fuzzer,address) of the parsers ktrace runs, as
# root, on files any user can write: ELF headers and sections, .eh_frame/.debug_frame, perf maps. The seeds
# are small real binaries (the unwind fixtures, coreutils, small libraries) and the committed corpus
# (Tests/Fuzz/corpus, kept small); new inputs that reach new code go to a scratch corpus, not the repo.
# Run for a fixed budget, outside CI. A crash leaves crash-* in the work directory: turn it into a unit
# test. Prints libFuzzer's last status line: executions, coverage (cov: edges, ft: features), corpus size.
# usage: fuzz-parsers.sh [SECONDS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-300}
WORK=${FUZZ_WORK:-/tmp/ktrace-fuzz}
mkdir -p "$WORK/corpus" "$WORK/seeds"
SWIFTC=${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}
src=(Sources/KtraceCore/Unwind/{DWARFCursor,CallFrameEntries,CFAProgram,UnwindRow,UnwindTable,UnwindTableBuilder,EHFrameHeader}.swift
     Sources/KtraceCore/Symbolize/{ELFFile,PerfMap,DebugFiles}.swift Sources/KtraceCore/Render/TextFormat.swift Sources/KtraceCore/Support/PartitionPoint.swift Tests/Fuzz/FuzzParsers.swift)
# CSupport's inflate (compressed sections), built with the same address sanitizer, and a module map for it.
mkdir -p "$WORK/csupport"
printf 'module CSupport {\n  header "%s"\n  export *\n}\n' "$PWD/Sources/CSupport/include/csupport.h" >"$WORK/csupport/module.modulemap"
clang -O1 -g -fsanitize=address -ISources/CSupport/include -c Sources/CSupport/gzip.c -o "$WORK/gzip.o"
# (ld.gold warns about the sanitizer's local symbols, harmlessly: kept in build.log.)
"$SWIFTC" -O -sanitize=fuzzer,address -parse-as-library -module-name KtraceFuzz -I "$WORK/csupport" "${src[@]}" "$WORK/gzip.o" -lz \
  -o "$WORK/fuzz-parsers" >"$WORK/build.log" 2>&1 || { grep -v 'Cannot export local symbol' "$WORK/build.log" | tail -n 20; exit 1; }
# Seeds: whole real binaries small enough for -max_len (section headers sit at a file's end, so a cut one
# would exercise little), plus the committed corpus. unwind-debugframe.debug has a zlib-compressed
# .debug_frame (SHF_COMPRESSED): the inflate path.
for f in Tests/KtraceCoreTests/Fixtures/unwind-o2.elf Tests/KtraceCoreTests/Fixtures/unwind-debugframe.elf \
         Tests/KtraceCoreTests/Fixtures/unwind-debugframe.debug /usr/bin/true \
         /usr/bin/env /lib/x86_64-linux-gnu/libdl.so.2 /lib/x86_64-linux-gnu/libpthread.so.0 /lib/x86_64-linux-gnu/libz.so.1; do
  [[ -r $f && $(stat -c %s "$f") -le 262144 ]] && cp "$f" "$WORK/seeds/$(basename "$f")"
done
cp Tests/Fuzz/corpus/* "$WORK/seeds/" 2>/dev/null || true
cd "$WORK"
./fuzz-parsers corpus seeds -max_total_time="$SECS" -max_len=262144 -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 >fuzz.log 2>&1 || { echo "libFuzzer stopped early: see $WORK/fuzz.log"; tail -n 30 fuzz.log; exit 1; }
grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' fuzz.log | tail -n 1
grep -E '^stat::(number_of_executed_units|peak_rss_mb)' fuzz.log
echo "corpus: $(ls corpus | wc -l) inputs in $WORK/corpus"
