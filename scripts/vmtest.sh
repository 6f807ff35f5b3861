#!/usr/bin/env bash
# Kernel test matrix: boot Debian kernel packages under qemu, with this machine's root file system shared
# read-only (9p, tmpfs overlay in the guest), and run scripts/vm/guest-suite.sh inside each guest.
#
# usage: vmtest.sh [KERNEL...]   KERNEL: a package name (linux-image-6.1.0-57-rt-amd64-unsigned) or a
#        local .deb. Default: $VMTEST_KERNELS, else the newest of each of Debian 11's 5.10, Debian 12's
#        6.1 (generic and PREEMPT_RT) and Debian 13's 6.12 (generic and PREEMPT_RT): five years of LTS
#        kernels. 5.10 and 6.12 come from the suites bullseye and trixie, read through a private apt
#        state under VMTEST_CACHE whose archive is the one this machine's own apt sources name.
#
# Environment (all optional):
#   KTRACE_BIN=.build/release/ktrace   VMTEST_XCTEST=.build/debug/ktracePackageTests.xctest
#   VMTEST_FILTER=REGEX      Swift Testing filter for the bundle ("none": skip it; default in guest-suite.sh)
#   VMTEST_CACHE=/var/cache/ktrace-vmtest   downloaded and extracted packages (kept between runs)
#   VMTEST_OUT=out/vmtest    results and logs, one directory per kernel (the guest writes there over 9p)
#   VMTEST_ACCEL=auto|kvm|tcg   auto: KVM if a probe boot reaches the initramfs within 20 s, else TCG
#                            (single-threaded: see pick_accel)
#   VMTEST_TIMEOUT=900       seconds per boot (qemu is killed after that); the suite itself gets 120 less
#   VMTEST_MEM=3G VMTEST_SMP=2   VMTEST_LOCK=FILE   flock FILE around each boot (shared build machines)
#   VMTEST_RETRIES=2 VMTEST_BUDGET=2400   boots again a TCG guest that hung or locked up, at most
#                            RETRIES times and only while the whole matrix has run under BUDGET seconds
#
# Exit: 0 when no check failed, 1 otherwise, 2 usage / missing tool / not root.
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"
need_root
ROOT=$(repo_root)
CACHE=${VMTEST_CACHE:-/var/cache/ktrace-vmtest}
OUTROOT=$(realpath -m "${VMTEST_OUT:-$ROOT/out/vmtest}")
KTRACE_BIN=$(realpath -m "${KTRACE_BIN:-$ROOT/.build/release/ktrace}")
VMTEST_XCTEST=$(realpath -m "${VMTEST_XCTEST:-$ROOT/.build/debug/ktracePackageTests.xctest}")
TIMEOUT=${VMTEST_TIMEOUT:-900}
MEM=${VMTEST_MEM:-3G} SMP=${VMTEST_SMP:-2}
RETRIES=${VMTEST_RETRIES:-2} BUDGET=${VMTEST_BUDGET:-2400}
# Guest messages that, under TCG, mean the emulator stalled (a retry class, see the matrix loop).
TCG_LOCKUP='(BUG: soft lockup|rcu: INFO: rcu_[a-z_]* ?detected stalls|watchdog: BUG: soft lockup).*'
[[ -x $KTRACE_BIN ]] || die 2 "no ktrace binary at $KTRACE_BIN: run 'make build' or set KTRACE_BIN"
for b in "$KTRACE_BIN" "$VMTEST_XCTEST"; do  # the guest mounts its own tmpfs there
  [[ $b != /tmp/* || $ROOT == /tmp/* ]] || die 2 "$b is under /tmp, which the guest does not see: use another directory"
done

# The harness's own packages, installed here so that 'make test' needs none of them.
pkgs=(qemu-system-x86 busybox-static cpio kmod)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
need_tool qemu-system-x86_64 cpio depmod modprobe dpkg-deb apt-get timeout
BUSYBOX=/bin/busybox
[[ $(file -b "$BUSYBOX" 2>/dev/null || echo static) != *dynamic* ]] || die 2 "$BUSYBOX is not static: apt-get install busybox-static"

WORK=$(mktemp -d /tmp/ktrace-vmtest.XXXXXX)
QEMU_PID=
cleanup() {
  if [[ -n $QEMU_PID ]] && kill -0 "$QEMU_PID" 2>/dev/null; then kill -9 "$QEMU_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The other Debian suites' package lists, in a private apt state: nothing of this machine's apt
# configuration changes. The archive is the URI this machine's sources use for its own Debian suite
# (deb822 .sources or one-line .list), so the matrix reaches whatever mirror the machine is set up with.
APT_PRIV=$CACHE/apt
SUITES=(bullseye trixie)
apt_priv_opts() {
  echo "-o Dir::Etc::sourcelist=$APT_PRIV/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::lists=$APT_PRIV/lists" \
       "-o Dir::Cache=$APT_PRIV/cache -o Dir::State::status=/var/lib/dpkg/status"
}
debian_archive() {
  local codename f
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || return 1
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    # One stanza at a time (fields in any order), skipping disabled ones.
    awk -v c="$codename" 'function flush() { if (u != "" && hit && !off) print u; u = ""; hit = 0; off = 0 }
                          /^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == c) hit = 1 }
                          /^Enabled:[ \t]*no/ { off = 1 } /^[ \t]*$/ { flush() } END { flush() }' "$f"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk -v c="$codename" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($(i + 1) == c) print $i; break } }'
}
apt_priv_update() {
  local uri key=/usr/share/keyrings/debian-archive-keyring.gpg s
  uri=$(debian_archive | head -n1)
  [[ -n $uri ]] || { warn "no Debian archive in this machine's apt sources: 5.10 and 6.12 are left out"; return 1; }
  mkdir -p "$APT_PRIV/lists/partial" "$APT_PRIV/cache/archives/partial"
  : >"$APT_PRIV/sources.list"
  for s in "${SUITES[@]}"; do echo "deb [signed-by=$key] $uri $s main" >>"$APT_PRIV/sources.list"; done
  # shellcheck disable=SC2046
  apt-get $(apt_priv_opts) update -qq 2>"$WORK/apt-priv.err" || { warn "apt-get update of ${SUITES[*]} failed: $(tail -n1 "$WORK/apt-priv.err")"; return 1; }
}

# newest REGEX [private]   the newest kernel package whose name matches ^REGEX$ (by version sort), from
# the machine's lists or, with "private", from the other suites'.
newest() {
  local opts=
  [[ ${2:-} != private ]] || opts=$(apt_priv_opts)
  # shellcheck disable=SC2086
  apt-cache $opts search --names-only "^$1\$" 2>/dev/null | awk '{print $1}' | sort -V | tail -n1
}

# fetch_deb KERNEL   path of the .deb for a package name or a local file (downloaded into the cache once).
fetch_deb() {
  if [[ $1 == *.deb ]]; then [[ -f $1 ]] || die 2 "no such file: $1"; realpath "$1"; return; fi
  mkdir -p "$CACHE/debs"
  local f; f=$(compgen -G "$CACHE/debs/$1_*.deb" | sort -V | tail -n1 || true)
  if [[ -z $f ]]; then
    log "downloading $1"
    # The machine's own suites first, then the private state's (5.10, 6.12), read once if need be.
    if ! (cd "$CACHE/debs" && apt-get download -q "$1" >&2 2>"$WORK/apt.err"); then
      [[ -n $(compgen -G "$APT_PRIV/lists/*Packages*") ]] || apt_priv_update || { cat "$WORK/apt.err" >&2; return 1; }
      # shellcheck disable=SC2046
      (cd "$CACHE/debs" && apt-get $(apt_priv_opts) download -q "$1" >&2 2>"$WORK/apt.err") || { cat "$WORK/apt.err" >&2; return 1; }
    fi
    f=$(compgen -G "$CACHE/debs/$1_*.deb" | sort -V | tail -n1)
  fi
  echo "$f"
}

# extract DEB   unpack once into the cache (dpkg -x, no install) and index its modules; prints the dir.
extract() {
  local x; x=$CACHE/x/$(basename "$1" .deb)
  if [[ ! -e $x/.ok ]]; then
    rm -rf "$x" && mkdir -p "$x"
    dpkg -x "$1" "$x"
    # Debian 13 ships its modules under /usr/lib/modules (merged /usr): depmod -b and the guest's bind
    # mount look under lib/modules.
    if [[ -d $x/usr/lib/modules && ! -e $x/lib ]]; then ln -s usr/lib "$x/lib"; fi
    local v; v=$(kver_of "$x")
    depmod -b "$x" "$v"
    touch "$x/.ok"
  fi
  echo "$x"
}
kver_of() { local k; k=$(compgen -G "$1/boot/vmlinuz-*" | head -n1) || return 1; echo "${k##*/vmlinuz-}"; }

# initramfs X KVER OUT   busybox, scripts/vm/init, and the modules 9p and overlay need (with their
# dependencies, in load order, as modprobe resolves them; built-ins need nothing).
initramfs() {
  local x=$1 v=$2 d=$WORK/initramfs m
  rm -rf "$d" && mkdir -p "$d"/{bin,modules,proc,sys,dev}
  cp "$BUSYBOX" "$d/bin/busybox"
  cp "$ROOT/scripts/vm/init" "$d/init"
  : >"$d/modules.list"
  for m in $(for m in virtio_pci 9pnet_virtio 9p overlay; do modprobe -d "$x" -S "$v" --show-depends "$m"; done |
             awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
    case $m in
      *.ko) cp "$m" "$d/modules/" ;;
      *.ko.xz) xz -dc "$m" >"$d/modules/$(basename "$m" .xz)" ;;
      *.ko.zst) zstd -qdc "$m" >"$d/modules/$(basename "$m" .zst)" ;;
      *) warn "unexpected module file $m"; continue ;;
    esac
    basename "${m%.xz}" | sed 's/\.zst$//' >>"$d/modules.list"
  done
  (cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) >"$3"
}

# boot ACCEL CPU X KVER SHARE_DIR SECONDS [EXTRA_CMDLINE]   one qemu run bounded by SECONDS; the guest's
# console goes to SHARE_DIR/console.log. Sets BOOT_S (to VMTEST-BOOTED) and RUN_S; returns 1 on timeout.
boot() {
  local accel=$1 cpu=$2 x=$3 v=$4 share=$5 secs=$6 extra=${7:-} lock_fd t0 now booted=
  local console=$share/console.log
  : >"$console"
  [[ -z ${VMTEST_LOCK:-} ]] || { exec {lock_fd}>"$VMTEST_LOCK"; flock "$lock_fd"; }
  t0=$(now_s)
  # mitigations=off: TCG emulates no hardware bug; page-table isolation alone costs much under TCG.
  # softlockup_panic=1: a locked-up guest panics (and, panic=-1 with -no-reboot, ends) instead of spinning
  # until the timeout.
  # qemu runs under a wrapper subshell whose stderr is silenced: bash would print a job notice
  # ("Aborted") when qemu dies of a signal; its own messages go to qemu.log. Waited for by its PID.
  rm -f "$WORK/qemu.pid"
  ( qemu-system-x86_64 -name ktrace-vmtest -accel "$accel" -cpu "$cpu" -smp "$SMP" -m "$MEM" \
    -display none -monitor none -serial "file:$console" -no-reboot -nic none \
    -kernel "$x/boot/vmlinuz-$v" -initrd "$WORK/initrd-$v.gz" \
    -append "console=ttyS0 panic=-1 softlockup_panic=1 mitigations=off loglevel=4 $extra" \
    -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$share,mount_tag=out,security_model=none,multidevs=remap" \
    </dev/null >"$share/qemu.log" 2>&1 & echo $! >"$WORK/qemu.pid"; wait ) 2>/dev/null &
  local wrapper=$!
  while [[ ! -s $WORK/qemu.pid ]]; do sleep 0.05; done
  QEMU_PID=$(<"$WORK/qemu.pid")
  local ret=0
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    now=$(now_s)
    if [[ -z $booted ]] && grep -q VMTEST-BOOTED "$console"; then booted=$now; fi
    if awk -v a="$t0" -v b="$now" -v s="$secs" 'BEGIN { exit !(b - a > s) }'; then
      warn "boot timed out after $secs s: killing qemu (pid $QEMU_PID)"
      kill "$QEMU_PID" 2>/dev/null; sleep 2; kill -9 "$QEMU_PID" 2>/dev/null || true
      ret=1; break
    fi
    [[ -n $VMTEST_PRINTED ]] && print_new "$share/results.txt"
    sleep 0.5
  done
  wait "$wrapper" || true
  QEMU_PID=
  [[ -z ${lock_fd:-} ]] || exec {lock_fd}>&-
  now=$(now_s)
  [[ -n $booted ]] || ! grep -q VMTEST-BOOTED "$console" || booted=$now
  BOOT_S=$( [[ -n $booted ]] && awk -v a="$t0" -v b="$booted" 'BEGIN { printf "%.1f", b - a }' || echo -)
  RUN_S=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
  return $ret
}

# print_new FILE   print the lines of FILE not yet printed (results stream in while the guest runs).
print_new() {
  [[ -f $1 ]] || return 0
  local n; n=$(wc -l <"$1")
  if ((n > VMTEST_PRINTED - 1)); then sed -n "${VMTEST_PRINTED},${n}p" "$1" | sed 's/^/    /'; VMTEST_PRINTED=$((n + 1)); fi
}
VMTEST_PRINTED=

# pick_accel X KVER   kvm if a probe boot reaches the initramfs in 20 s, else tcg (VMTEST_ACCEL forces).
# TCG runs single-threaded, both vCPUs on one host thread. Multi-threaded TCG let one vCPU run a stale
# translation of kernel text that the other was patching (an int3 of a static key or an fentry site):
# a 6.12 guest oopsed with "Oops: int3" in __schedule as the sched_switch tracepoint was enabled, and
# 6.1 guests locked up at vfs_read+0. One thread retranslates before any vCPU runs the new text, and
# was no slower here: 44-50 s per guest for the same checks on 5.10, 6.1 and 6.12 (2 host cores, and the
# suite mostly waits on workloads).
ACCEL= CPU=
TCG=tcg,thread=single
pick_accel() {
  case ${VMTEST_ACCEL:-auto} in
    tcg) ACCEL=$TCG CPU=max; return ;;
    kvm) ACCEL=kvm CPU=host; return ;;
  esac
  ACCEL=$TCG CPU=max
  if [[ -w /dev/kvm ]]; then
    mkdir -p "$WORK/probe"
    if boot kvm host "$1" "$2" "$WORK/probe" 20 vmtest.probe && grep -q VMTEST-PROBE-OK "$WORK/probe/console.log"; then
      ACCEL=kvm CPU=host
    else
      log "KVM probe did not reach the initramfs in 20 s ($(grep -m1 -iE 'error|fail' "$WORK/probe/qemu.log" || echo 'no output')): using TCG"
    fi
  else
    log "no writable /dev/kvm: using TCG"
  fi
}

# ───────────────────────────── the matrix ─────────────────────────────
if (($#)); then kernels=("$@")
elif [[ -n ${VMTEST_KERNELS:-} ]]; then read -ra kernels <<<"$VMTEST_KERNELS"
else
  log "apt-get update (the newest 6.1 kernel packages; 5.10 and 6.12 from ${SUITES[*]} in $APT_PRIV)"
  apt-get update -qq || warn "apt-get update failed: using the package lists as they are"
  priv=
  if apt_priv_update; then priv=private
  elif [[ -n ${CI:-} ]]; then die 1 "CI: the lists of ${SUITES[*]} could not be read: 5.10 and 6.12 would be left out of the matrix"
  fi
  kernels=()
  # Oldest first. Debian 12's cloud flavour is left out: it has no virtio-9p, so it cannot mount the root.
  for spec in "linux-image-5\.10\.0-[0-9]+-amd64-unsigned private" "linux-image-6\.1\.0-[0-9]+-amd64-unsigned" \
              "linux-image-6\.1\.0-[0-9]+-rt-amd64-unsigned" "linux-image-6\.12\.[0-9]+\+deb13-amd64-unsigned private" \
              "linux-image-6\.12\.[0-9]+\+deb13-rt-amd64-unsigned private"; do
    read -r re src <<<"$spec"
    [[ -z ${src:-} || -n $priv ]] || continue
    p=$(newest "$re" "${src:-}"); [[ -n $p ]] && kernels+=("$p") || warn "no package matches ^$re\$"
  done
  ((${#kernels[@]})) || die 2 "no kernel package found: pass one (package name or .deb)"
fi
log "kernels: ${kernels[*]}"
log "ktrace: $KTRACE_BIN; tests: $VMTEST_XCTEST; results: $OUTROOT"
# The tests' workloads, built here once for every guest (each guest compiled each one under TCG, 5 to 8 s
# apiece). In the checkout, which every guest sees (a VMTEST_OUT under /tmp may be hidden by the guest's
# own /tmp).
WORKLOADS=$ROOT/out/workloads
rm -rf "$WORKLOADS" && "$ROOT/scripts/build-workloads.sh" "$WORKLOADS" || die 2 "cannot build the test workloads"

rows=() failed=0 total_t0=$(now_s)
for k in "${kernels[@]}"; do
  name=$(basename "$k" .deb)
  echo "== $name"
  if ! deb=$(fetch_deb "$k"); then rows+=("$name|-|-|-|-|0|1|0|download failed"); failed=1; continue; fi
  x=$(extract "$deb") v=$(kver_of "$x")
  pkgver=$(dpkg-deb -f "$deb" Package Version | awk '{print $2}' | paste -sd' ')
  echo "   package $pkgver, kernel $v"
  cfg=$x/boot/config-$v
  # Kernels without 9p (the cloud flavour) cannot mount the shared root.
  if ! grep -qE '^CONFIG_NET_9P_VIRTIO=[ym]' "$cfg" || ! grep -qE '^CONFIG_9P_FS=[ym]' "$cfg"; then
    reason="no virtio-9p in its config ($(grep -E 'CONFIG_NET_9P[ =]|CONFIG_9P_FS[ =]' "$cfg" | paste -sd, -))"
    echo "    SKIP boot: $reason"
    rows+=("$name|$v|-|-|-|0|0|1|skipped: $reason"); continue
  fi
  initramfs "$x" "$v" "$WORK/initrd-$v.gz"
  [[ -n $ACCEL ]] || pick_accel "$x" "$v"
  share=$OUTROOT/$name
  rm -rf "$share" "$share".attempt* "$share.hung" && mkdir -p "$share"
  cat >"$share/vmtest.env" <<EOF
VMTEST_MODDIR=$x/lib/modules/$v
VMTEST_GUEST_INIT=$ROOT/scripts/vm/guest-init.sh
VMTEST_CONFIG=$cfg
VMTEST_ACCEL=${ACCEL%%,*}
VMTEST_SUITE_TIMEOUT=$((TIMEOUT - 120))
KTRACE_BIN=$KTRACE_BIN
VMTEST_XCTEST=$VMTEST_XCTEST
KTRACE_WORKLOADS=$WORKLOADS
${VMTEST_FILTER:+VMTEST_FILTER='$VMTEST_FILTER'}
export KTRACE_BIN VMTEST_XCTEST VMTEST_CONFIG VMTEST_ACCEL KTRACE_WORKLOADS ${VMTEST_FILTER:+VMTEST_FILTER}
EOF
  echo "   accel ${ACCEL%%,*} (-cpu $CPU), $SMP vCPUs, $MEM; results in $share"
  VMTEST_PRINTED=1
  status=
  # Under TCG a guest sometimes hangs or locks up for reasons of the emulator, not of ktrace (seen, about
  # one boot in four here: RCU stalls with a timer that never fires; a soft lockup looping on an int3
  # that text patching for fentry already removed, which the other vCPU's stale translation still
  # holds). Such a guest is booted again, up to VMTEST_RETRIES times while the matrix is inside
  # VMTEST_BUDGET seconds; each failed attempt's console is kept in $share.attemptN/ and named here.
  # Under KVM, or for any other failure (an oops, a failed check), there is no retry.
  attempt=1 retried=
  while :; do
    why=
    if ! boot "$ACCEL" "$CPU" "$x" "$v" "$share" "$TIMEOUT"; then why="timed out after $TIMEOUT s"
    elif [[ $ACCEL == tcg* ]] && l=$(grep -m1 -oE "$TCG_LOCKUP" "$share/console.log"); then why="guest: $l"; fi
    [[ -n $why ]] || break
    elapsed=$(awk -v a="$total_t0" -v b="$(now_s)" 'BEGIN { printf "%.0f", b - a }')
    if ((attempt > RETRIES || elapsed > BUDGET)); then
      [[ $why != timed* ]] || status=$why  # a lockup is reported below, with the check it stopped
      ((attempt == 1)) || status+="${status:+; }$attempt attempts, earlier consoles in $share.attempt*/"
      break
    fi
    warn "$name: attempt $attempt: $why: booting it once more (console kept in $share.attempt$attempt/)"
    rm -rf "$share.attempt$attempt" && cp -a "$share" "$share.attempt$attempt"
    find "$share" -mindepth 1 ! -name vmtest.env -exec rm -rf {} + 2>/dev/null
    retried+="${retried:+; }attempt $attempt: $why"
    VMTEST_PRINTED=1 attempt=$((attempt + 1))
  done
  print_new "$share/results.txt"
  if grep -q VMTEST-FAIL "$share/console.log"; then status="${status:+$status; }$(grep -m1 -o 'VMTEST-FAIL.*' "$share/console.log")"; fi
  [[ -n $status ]] || status=ok
  # A guest kernel that locked up or oopsed: say so, and which check was running (its newest .cmd log).
  if oops=$(grep -m1 -oE '(BUG: soft lockup|Kernel panic|BUG: kernel NULL|general protection fault|rcu: INFO: rcu_.*detected stalls).*' "$share/console.log"); then
    last=$(ls -t "$share/logs/"*.cmd "$share/logs/xctest.log" 2>/dev/null | head -n1)
    if [[ $last == */xctest.log ]]; then
      during="xctest, $(sed 's/\x1b\[[0-9;]*m//g' "$last" | grep -oE 'Test [^ ]+ started' | tail -n1)"
    else during=${last:+$(basename "$last" .cmd): $(cat "$last")}; fi
    status="guest kernel: $oops${during:+, during $during}${status:+ ($status)}"
    echo "    FAIL kernel: $status (backtrace in $share/console.log)"
  fi
  if [[ ! -s $share/results.txt ]]; then
    [[ $status != ok ]] || status="no results (see $share/console.log)"
    tail -n 15 "$share/console.log" | sed 's/^/   | /'
  elif ! grep -q '^PASS suite.time' "$share/results.txt"; then
    [[ $status != ok ]] || status="suite did not finish (see $share/suite.log)"
  fi
  suite_s=$(sed -nE 's/^PASS suite\.time: ([0-9.]+) s.*/\1/p' "$share/results.txt" 2>/dev/null); suite_s=${suite_s:--}
  count() { local n; n=$(grep -c "^$1 " "$share/results.txt" 2>/dev/null) || true; echo "${n:-0}"; }
  np=$(count PASS) nf=$(count FAIL) ns=$(count SKIP)
  [[ $status == ok ]] || nf=$((nf + 1))
  ((nf == 0)) || failed=1
  [[ -z $retried ]] || status+=" (booted $attempt times; $retried)"  # a retry is never silent
  echo "   boot ${BOOT_S} s, suite ${suite_s} s, qemu wall ${RUN_S} s: $np passed, $nf failed, $ns skipped ($status)"
  rows+=("$name|$v|${ACCEL%%,*}|$BOOT_S|$suite_s/$RUN_S|$np|$nf|$ns|$status")
done

total=$(awk -v a="$total_t0" -v b="$(now_s)" 'BEGIN { printf "%.0f", b - a }')
echo
{ echo "KERNEL PACKAGE|VERSION|ACCEL|BOOT_s|SUITE_s/WALL_s|PASS|FAIL|SKIP|STATUS"; printf '%s\n' "${rows[@]}"; } | column -t -s '|'
echo "total wall time ${total} s"
exit "$failed"
