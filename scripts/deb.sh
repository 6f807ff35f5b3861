#!/usr/bin/env bash
# Build ktrace_VERSION_ARCH.deb with dpkg-deb: the binary, man pages, completions (scripts/install.sh with
# PREFIX=/usr), the copyright file and the changelogs. Depends is computed from the binary's shared
# libraries by dpkg-shlibdeps. Then lintian, when installed, checks the package.
#
# usage: deb.sh [OUTDIR]   (default: out/)   Environment: KTRACE (.build/release/ktrace)
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"
need_tool dpkg-deb dpkg-shlibdeps readelf
ROOT=$(repo_root)
OUT=$(realpath -m "${1:-$ROOT/out}")
KTRACE=${KTRACE:-$ROOT/.build/release/ktrace}
[[ -x $KTRACE ]] || die 2 "no ktrace binary at $KTRACE: run 'make build' first"

version=$(sed -nE 's/^ *static let version = "([^"]+)".*/\1/p' "$ROOT/Sources/ktrace/Ktrace.swift")
[[ -n $version ]] || die 1 "no version in Sources/ktrace/Ktrace.swift"
grep -q "^## $version" "$ROOT/CHANGELOG.md" || die 1 "CHANGELOG.md has no '## $version' section"
arch=$(dpkg --print-architecture)
W=$(mktemp -d /tmp/ktrace-deb.XXXXXX)
trap 'rm -rf "$W"' EXIT
stage=$W/ktrace_${version}_$arch
# Root-owned files with the modes Debian expects (dpkg-deb refuses a 0700 DEBIAN/), whatever the umask.
umask 022
mkdir -p "$stage/DEBIAN"

PREFIX=/usr DESTDIR=$stage KTRACE=$KTRACE GZIP_MAN=1 "$ROOT/scripts/install.sh" install
# Debian ships binaries stripped (the symbols would go into a -dbgsym package): 9 MB less here. The
# embedded BPF objects are data and stay.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/ktrace"

doc=$stage/usr/share/doc/ktrace
install -d "$doc"
install -m 0644 "$ROOT/packaging/copyright" "$doc/copyright"
gzip -9nc "$ROOT/CHANGELOG.md" >"$doc/changelog.gz"
# The Debian changelog: one entry per release, pointing at the project's own.
date=$(git -C "$ROOT" log -1 --format=%aD 2>/dev/null || date -R)
maint="ktrace developers <ktrace@example.org>"
printf 'ktrace (%s) unstable; urgency=medium\n\n  * Release %s: see /usr/share/doc/ktrace/changelog.gz.\n\n -- %s  %s\n' \
  "$version" "$version" "$maint" "$date" | gzip -9n >"$doc/changelog.Debian.gz"
chmod 0644 "$doc"/*

# dpkg-shlibdeps reads debian/control of a source tree: a minimal one in the work directory.
mkdir -p "$W/src/debian"
printf 'Source: ktrace\n\nPackage: ktrace\nArchitecture: any\n' >"$W/src/debian/control"
depends=$(cd "$W/src" && dpkg-shlibdeps -O -e"$stage/usr/bin/ktrace" 2>"$W/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p') ||
  { cat "$W/shlibdeps.err" >&2; die 1 "dpkg-shlibdeps failed"; }
[[ -n $depends ]] || die 1 "dpkg-shlibdeps found no dependencies: $(cat "$W/shlibdeps.err")"
# Packed relative relocations (Package.swift) need glibc 2.36's loader, a need that is a version of no
# symbol, so dpkg-shlibdeps does not see it (it says libc6 >= 2.35): raise it by hand.
if readelf -V "$stage/usr/bin/ktrace" | grep -q GLIBC_ABI_DT_RELR; then
  [[ $depends == *"libc6 (>= "* ]] || die 1 "no libc6 in Depends ($depends)"
  depends=$(sed -E 's/libc6 \(>= [^)]*\)/libc6 (>= 2.36)/' <<<"$depends")
fi
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: ktrace
Version: $version
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $depends
Recommends: bash-completion
Section: devel
Priority: optional
Description: eBPF kernel tracer for kernel threads and softirqs
 ktrace shows where a busy kernel thread's time goes (ksoftirqd, kworkers,
 kswapd, irq threads): softirq time per vector and CPU, flame graphs
 aggregated in the kernel (folded, SVG, JSON, pprof), off-CPU time,
 a top for kernel threads, ordered timelines for Perfetto and speedscope,
 differential flame graphs and a Prometheus exporter.
CONTROL

mkdir -p "$OUT"
deb=$OUT/ktrace_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
log "built $deb (Depends: $depends)"
if have lintian; then
  # lintian exits non-zero on errors only; its warnings and notes are printed for the record.
  lintian --tag-display-limit 0 "$deb" || die 1 "lintian reports errors in $deb"
  log "lintian: no errors"
else
  warn "lintian is not installed (apt-get install lintian): the package was not checked"
fi
echo "$deb"
