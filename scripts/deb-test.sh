#!/usr/bin/env bash
# Install the Debian package into a throwaway root and run it there: an overlay of this machine's root
# (writes go to a tmpfs, gone afterwards) in a private mount namespace, apt-get install ./ktrace_*.deb
# (every Depends satisfied by Debian packages this machine has: nothing else may be installed), then
# `ktrace --version`, `ktrace softirq 1 1` and `man -w ktrace-softirq` inside. Nothing of this root changes.
#
# usage: deb-test.sh [DIR|FILE.deb]   (default: out/)
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"
need_root
need_tool unshare chroot apt-get
ROOT=$(repo_root)
arg=${1:-$ROOT/out}
if [[ -d $arg ]]; then deb=$(compgen -G "$arg/ktrace_*.deb" | sort -V | tail -n1 || true); else deb=$arg; fi
[[ -n $deb && -f $deb ]] || die 2 "no ktrace_*.deb in $arg: run 'make deb'"
deb=$(realpath "$deb")
! dpkg-query -W ktrace >/dev/null 2>&1 || die 2 "the ktrace package is installed on this machine: the check needs a root without it"

W=$(mktemp -d /tmp/ktrace-debtest.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/t"
# Everything below runs in its own mount namespace: the overlay and binds vanish with it.
unshare -m --propagation private bash -euo pipefail -s "$W" "$deb" <<'INNER'
W=$1 deb=$2 r=$1/root
mount -t tmpfs tmpfs "$W/t"
mkdir -p "$W/t/upper" "$W/t/work" "$r"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/t/upper,workdir=$W/t/work" "$r"
for d in proc sys dev; do mount --rbind "/$d" "$r/$d"; done
mount -t tmpfs tmpfs "$r/tmp"
cp "$deb" "$r/tmp/"
# stdin is this script: no command inside may read it.
inroot() { chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" </dev/null; }
pkg=/tmp/$(basename "$deb")
# Every Depends is a Debian package this machine already has: apt would install nothing but ktrace.
others=$(inroot apt-get -s install --no-install-recommends "$pkg" | awk '$1 == "Inst" && $2 != "ktrace" { print $2 }' | paste -sd' ')
[[ -z $others ]] || { echo "error: installing the package would also install: $others"; exit 1; }
echo "== apt-get install ./$(basename "$deb")"
inroot apt-get install -y -q --no-install-recommends "$pkg" >"$W/t/apt.log" 2>&1 || { cat "$W/t/apt.log"; exit 1; }
grep -E "newly installed|^Setting up" "$W/t/apt.log"
echo "== ktrace --version"; inroot /usr/bin/ktrace --version
echo "== ktrace softirq 1 1"; inroot /usr/bin/ktrace softirq 1 1 | sed -n 1,4p
echo "== man -w ktrace-softirq"; inroot sh -c 'command -v man >/dev/null && man -w ktrace-softirq || ls /usr/share/man/man1/ktrace-softirq.1.gz'
echo "== completions"; inroot ls /usr/share/bash-completion/completions/ktrace /usr/share/zsh/vendor-completions/_ktrace /usr/share/fish/vendor_completions.d/ktrace.fish
INNER
log "ok: $(basename "$deb") installs and runs in a throwaway root"
