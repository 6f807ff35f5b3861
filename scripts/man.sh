#!/usr/bin/env bash
# Regenerate docs/man/*.1 from the argument parser: swift-argument-parser's own generate-manual tool (the
# one its GenerateManual plugin runs), built from the resolved checkout, over the release binary's
# --experimental-dump-help; one mdoc page per subcommand. Then each page's "Examples:" lines, which the
# command's discussion carries (and --help shows), move into an EXAMPLES section. Run after changing a
# command's options (`make man`); the pages are committed, and a test fails when --help shows a flag a
# page lacks.
#
# usage: man.sh   Environment: KTRACE (.build/release/ktrace)
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"
ROOT=$(repo_root)
cd "$ROOT"
KTRACE=${KTRACE:-$ROOT/.build/release/ktrace}
[[ -x $KTRACE ]] || die 2 "no ktrace binary at $KTRACE: run 'make build' first"
swift package resolve >&2
parser=.build/checkouts/swift-argument-parser
[[ -d $parser/Tools/generate-manual ]] || die 1 "no generate-manual in $parser"
swift build --package-path "$parser" --scratch-path "$ROOT/.build-man" --product generate-manual >&2
tool=$(swift build --package-path "$parser" --scratch-path "$ROOT/.build-man" --product generate-manual --show-bin-path)/generate-manual
W=$(mktemp -d /tmp/ktrace-man.XXXXXX)
trap 'rm -rf "$W"' EXIT
# The date of the commit, not of today: regenerating without a change rewrites nothing.
"$tool" "$KTRACE" --multi-page --date "$(git log -1 --format=%cs 2>/dev/null || date +%F)" \
  --authors "the ktrace developers" -o "$W"
[[ -e $W/ktrace.1 ]] || die 1 "generate-manual wrote no ktrace.1"
mkdir -p docs/man
rm -f docs/man/*.1
# ktrace.stacks.1 -> ktrace-stacks.1, as git's and perf's subcommand pages are named; `ktrace help` has none.
rm -f "$W/ktrace.help.1"
pages=$(cd "$W" && ls ./*.1 | sed 's|^\./||; s/\.1$//; s/\./-/g' | paste -sd' ')
for f in "$W"/*.1; do
  name=$(basename "$f" .1 | tr . -)
  python3 scripts/man-examples.py "$name" $pages <"$f" >"docs/man/$name.1"
done
log "wrote $(ls docs/man/*.1 | wc -l) pages into docs/man"
