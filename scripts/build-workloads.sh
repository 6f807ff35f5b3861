#!/usr/bin/env bash
# Builds the integration tests' workloads (Tests/Workloads/NAME.c or NAME.cc) into OUTDIR, with frame
# pointers unless a source's first line gives its own flags ("/* ktrace-cflags: FLAGS", nofp.c). The one
# place these flags live: the tests build each workload on first use through this script, and
# scripts/vmtest.sh builds them all once on the host, so that no guest compiles under TCG (5 to 8 s a
# workload there, a dozen workloads, five guests).
# usage: scripts/build-workloads.sh OUTDIR [NAME...]   (no NAME: all of them)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../Tests/Workloads" && pwd)
(($# >= 1)) || { echo "usage: $0 OUTDIR [NAME...]" >&2; exit 64; }
out=$1
shift
mkdir -p "$out"
names=("$@")
if ((${#names[@]} == 0)); then
  shopt -s nullglob
  for f in "$src"/*.c "$src"/*.cc; do n=${f##*/}; names+=("${n%.*}"); done
fi
for n in "${names[@]}"; do
  if [[ -f $src/$n.cc ]]; then
    # C++ goes through clang as C++ but links as C: the workloads use no C++ library.
    compiler=(/usr/bin/clang -x c++ -fno-exceptions -fno-rtti) file=$src/$n.cc
  elif [[ -f $src/$n.c ]]; then
    compiler=(/usr/bin/cc) file=$src/$n.c
  else
    echo "build-workloads.sh: no workload '$n' in $src" >&2
    exit 2
  fi
  first=$(head -n1 "$file")
  if [[ $first == "/* ktrace-cflags: "* ]]; then
    read -ra flags <<<"${first#"/* ktrace-cflags: "}"
  else
    flags=(-O1 -g -fno-omit-frame-pointer)
  fi
  "${compiler[@]}" "${flags[@]}" -o "$out/$n" "$file"
done
