# shellcheck shell=bash
# Shared helpers for scripts/lab.sh and scripts/synflood-demo.sh. Source it; do not run it.
# Everything here is side-effect free until a function is called.

# Name used in messages: the sourcing script's file name.
KT_PROG=${KT_PROG:-$(basename "${0:-ktrace-script}")}

# log MSG...   progress on stderr, so stdout stays clean for results.
log()  { printf '%s: %s\n' "$KT_PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$KT_PROG" "$*" >&2; }

# die [CODE] MSG...   one-line "error: ..." on stderr, then exit CODE (default 1).
die() {
  local code=1
  if [[ $# -gt 1 && $1 =~ ^[0-9]+$ ]]; then code=$1; shift; fi
  printf 'error: %s\n' "$*" >&2
  exit "$code"
}

# need_root   exit 2 with a clear message unless running as uid 0.
need_root() {
  [[ $(id -u) -eq 0 ]] || die 2 "$KT_PROG must run as root (network namespaces, netfilter, sysfs): try 'sudo $0 ${KT_ARGS:-}'"
}

# Debian package that provides each tool we may call.
kt_pkg_for() {
  case $1 in
    ip|bridge) echo iproute2 ;;
    nginx) echo nginx-light ;;
    hping3) echo hping3 ;;
    nft) echo nftables ;;
    iptables) echo iptables ;;
    curl) echo curl ;;
    ping) echo iputils-ping ;;
    taskset|nsenter) echo util-linux ;;
    timeout|nproc) echo coreutils ;;
    pgrep|pkill|sysctl) echo procps ;;
    jq) echo jq ;;
    modprobe) echo kmod ;;
    *) echo "$1" ;;
  esac
}

# have TOOL   true if TOOL is on PATH (also looks in the sbin dirs a non-login root shell may lack).
have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /sbin/$1 ]]; }

# need_tool TOOL...   exit 2 naming the package for the first missing TOOL.
need_tool() {
  local t
  for t in "$@"; do
    have "$t" || die 2 "$t not found: apt-get install -y $(kt_pkg_for "$t")"
  done
}

# Make sure the sbin directories are searched (sudo/cron/CI environments sometimes drop them).
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
export PATH

# repo_root   absolute path of the repository (parent of scripts/).
repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

# now_s   wall clock with nanoseconds, as a decimal string (for rate computations in awk).
now_s() { date +%s.%N; }
