#!/usr/bin/env bash
# Install what ktrace needs to build, test and run its demo on Debian 12 (idempotent; apt only when
# something is missing). Run as root.
set -euo pipefail

pkgs=(git clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool linux-perf libbpf-tools bpftrace
      hping3 wrk nginx-light nftables iptables iproute2 curl jq util-linux procps time golang-go prometheus
      tmux bash-completion lintian dpkg-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: missing packages: ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}'" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start services (nginx-light would start a system nginx on port 80; the demo runs
  # its own inside a namespace): a temporary policy-rc.d says no, as in containers.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null 2>&1 || [[ -x /opt/swift/usr/bin/swift ]] || {
  echo "error: swift not found: install Swift 6.3 (https://www.swift.org/install/linux/)" >&2; exit 2; }
[[ -r /sys/kernel/btf/vmlinux ]] || echo "warning: no /sys/kernel/btf/vmlinux: ktrace needs a kernel with CONFIG_DEBUG_INFO_BTF=y" >&2
echo "setup: ok"
