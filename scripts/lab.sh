#!/usr/bin/env bash
# ktrace lab: the seed case as a reproducible topology, in three network namespaces.
#
#   client netns (…-cli)          host netns (…-host)                          container netns (…-ctr)
#   eth0 10.231.2.2 ───veth─── veth-cli 10.231.2.1    br0 10.231.1.1 ─ veth-ctr ───veth─── eth0 10.231.1.2
#   hping3 (pinned, TX CPU)    RPS: rx-0 → RX CPU     DNAT 10.231.2.1:80 → 10.231.1.2:80    nginx :80
#                              bridge netfilter on, conntrack, ip_forward
#
# A SYN from the client enters the host on veth-cli; RPS queues it to the RX CPU's backlog, so it is
# processed in NET_RX softirq there (and, once that CPU saturates, in ksoftirqd/RX) instead of inline in
# hping3's sendto(). The host DNATs it (Docker's -p 80:80), routes it over br0 into the container, where
# nginx's SYN queue answers; the client kernel resets the SYN-ACKs it did not ask for.
#
# usage: lab.sh up | down | status | curl
#        lab.sh load paced SECONDS [INTERVAL]   hping3 -S -i INTERVAL (default u10), -c and timeout bounded
#        lab.sh load flood SECONDS              hping3 -S --flood, timeout and nft-quota bounded
#        lab.sh load udp   SECONDS [INTERVAL]   hping3 --udp (default u100, ~10k/s), for tests that just need
#                                               NET_RX/NET_TX activity; -c and timeout bounded
#
# Scenarios that plant one known cause each (for ktrace diagnose; only rules needs 'up'):
#        lab.sh churn SECONDS [MAX]   network namespace churn: create a namespace (…-churn) with a veth pair,
#                                     delete it, again, for SECONDS or MAX rounds (default 5000); each
#                                     deletion runs cleanup_net in a kworker
#        lab.sh burn SECONDS          a CPU-bound control: one user-mode busy loop (awk) for SECONDS
#        lab.sh synflood SECONDS [INTERVAL]   a listener without SYN cookies: nginx in a server namespace
#                                     (…-sfs, tcp_syncookies=0) listens with backlog 16; a client namespace
#                                     (…-sfc) sends SYNs every INTERVAL (default u500, ~2000/s) and drops its
#                                     own RSTs, so no handshake completes and the SYN queue stays full
#        lab.sh rules SECONDS [N]     a long chain of unmatched rules on the forwarding path: N rules
#                                     (default 5000) that match no lab address, in a chain (…_rules) jumped
#                                     to first from the host namespace's FORWARD, while SYNs are paced
#                                     through the lab (load paced, u500); the chain goes at the end
#        lab.sh conntrack SECONDS [MAX]   a conntrack table too small for its flows: a client namespace
#                                     (…-ctc) keeps 600 UDP flows (600 sockets, each its own source port)
#                                     going to a server namespace (…-cts) that tracks them, each flow a
#                                     packet every 0.2 s. With MAX (say 400), nf_conntrack_max, which is
#                                     machine-wide, is set to MAX for the run and restored at its end: the
#                                     flows beyond it are dropped; twice MAX holds them all
#
# Environment (all optional):
#   KT_LAB=ktlab           name prefix of the namespaces, state dir and nft tables (1-10 chars [A-Za-z0-9_])
#   KT_LAB_NET=10.231      first two octets of the lab's private /24s (10.x only)
#   KT_RX_CPU=0            CPU that receives (RPS target on the host's client-facing veth)
#   KT_TX_CPU=<other>      CPU hping3 is pinned to (default: first online CPU that is not KT_RX_CPU)
#   KT_LAB_DIR=/tmp/$KT_LAB.d   nginx config, pid, logs, load results
#   KT_LAB_RESULT=FILE     load also writes its result line (KEY=VALUE ...) to FILE
#   KT_PACED_MAX_PPS=200000  paced:  -c bound is SECONDS × this
#   KT_FLOOD_MAX_PPS=400000  flood:  at most SECONDS × this TCP packets leave the client (nft quota)
#
# Exit codes: 0 ok, 1 failure (status: lab not fully up), 2 usage / missing tool / not root.
# Traffic never leaves the three namespaces: every address is private and only exists inside them.
set -euo pipefail
KT_ARGS="$*"
# shellcheck source=scripts/lib-common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib-common.sh"

# ───────────────────────────── names and addresses: the one place ─────────────────────────────
LAB=${KT_LAB:-ktlab}
[[ $LAB =~ ^[A-Za-z0-9_]{1,10}$ ]] || die 2 "KT_LAB must be 1-10 characters [A-Za-z0-9_], got '$LAB'"
NS_HOST=$LAB-host
NS_CTR=$LAB-ctr
NS_CLI=$LAB-cli
NS_CHURN=$LAB-churn
NS_CTC=$LAB-ctc                # conntrack scenario: client
NS_CTS=$LAB-cts                # conntrack scenario: server (tracks)
NS_SFS=$LAB-sfs                # synflood scenario: server (the listener)
NS_SFC=$LAB-sfc                # synflood scenario: client (SYNs, no RSTs)
RULES_CHAIN=${LAB}_rules       # rules scenario: the long chain (iptables chain or nft table)
NET=${KT_LAB_NET:-10.231}
[[ $NET =~ ^10\.([0-9]{1,3})$ && ${BASH_REMATCH[1]} -le 255 ]] || die 2 "KT_LAB_NET must be '10.N' (private), got '$NET'"
BR=br0                         # the host's bridge, "docker0"
BR_ADDR=$NET.1.1               # bridge address = the container's gateway
CTR_ADDR=$NET.1.2              # the container
HOST_ADDR=$NET.2.1             # the host's address, the one clients connect to (DNATed :80)
CLI_ADDR=$NET.2.2              # the client machine
PLEN=24
HOST_IF_CTR=veth-ctr           # host side of the container's veth (a port of br0)
HOST_IF_CLI=veth-cli           # host side of the client's veth (RPS is set on its rx-0)
PEER_IF=eth0                   # interface name inside the container and the client
PORT=80
STATE=${KT_LAB_DIR:-/tmp/$LAB.d}
NFT_LOAD_TABLE=${LAB}_load_$$  # per-load nft table in the client netns (counters, flood quota)
NFT_NAT_TABLE=${LAB}_nat       # used only when iptables is not installed
PACED_MAX_PPS=${KT_PACED_MAX_PPS:-200000}
FLOOD_MAX_PPS=${KT_FLOOD_MAX_PPS:-400000}
MIN_TCP_BYTES=40               # IPv4 + TCP headers: the smallest TCP packet, so bytes/40 bounds packets

# ───────────────────────────── small helpers ─────────────────────────────
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }        # run in a netns (fresh /sys mount too)
link_exists() { ip -n "$1" link show "$2" >/dev/null 2>&1; }
our_namespaces() { local n; for n in "$NS_CLI" "$NS_HOST" "$NS_CTR" "$NS_CHURN" "$NS_CTC" "$NS_CTS" "$NS_SFS" "$NS_SFC"; do ns_exists "$n" && echo "$n"; done; true; }

# cpu_online N   true if CPU N exists and is online.
cpu_online() {
  [[ -d /sys/devices/system/cpu/cpu$1 ]] || return 1
  [[ ! -f /sys/devices/system/cpu/cpu$1/online ]] || [[ $(cat "/sys/devices/system/cpu/cpu$1/online") == 1 ]]
}
online_cpus() { local d n; for d in /sys/devices/system/cpu/cpu[0-9]*; do n=${d##*cpu}; if cpu_online "$n"; then echo "$n"; fi; done | sort -n; }

# cpu_mask N   sysfs cpumask with only CPU N set, in the kernel's comma-separated 32-bit groups.
cpu_mask() {
  local cpu=$1 groups=$(( $1 / 32 )) out i
  out=$(printf '%x' $(( 1 << (cpu % 32) )))
  for ((i = 0; i < groups; i++)); do out+=",00000000"; done
  echo "$out"
}

RX_CPU=${KT_RX_CPU:-0}
[[ $RX_CPU =~ ^[0-9]+$ ]] || die 2 "KT_RX_CPU must be a CPU number, got '$RX_CPU'"
pick_tx_cpu() {
  if [[ -n ${KT_TX_CPU:-} ]]; then echo "$KT_TX_CPU"; return; fi
  local c; for c in $(online_cpus); do [[ $c != "$RX_CPU" ]] && { echo "$c"; return; }; done
  echo ""   # single-CPU machine: no pinning
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
nginx_pid() { local p; p=$(cat "$STATE/nginx.pid" 2>/dev/null || true); if pid_alive "$p" && grep -q nginx "/proc/$p/comm" 2>/dev/null; then echo "$p"; fi; }

# http_code   HTTP status nginx returns through the DNAT, from the client netns ("000" if none).
http_code() {
  ns_exists "$NS_CLI" || { echo 000; return; }
  nsx "$NS_CLI" curl -s -o /dev/null -w '%{http_code}' --max-time "${1:-3}" "http://$HOST_ADDR:$PORT/" 2>/dev/null || true
}

# The bridge-nf sysctl as seen inside the host netns ("" if the kernel has no bridge netfilter).
brnf_file=/proc/sys/net/bridge/bridge-nf-call-iptables
brnf_value() { if ns_exists "$NS_HOST"; then nsx "$NS_HOST" cat "$brnf_file" 2>/dev/null || true; fi; }

# ───────────────────────────── up ─────────────────────────────
ensure_ns() {
  ns_exists "$1" || ip netns add "$1"
  ip -n "$1" link set lo up
}

# ensure_veth NS_A IF_A NS_B IF_B   a veth pair created directly in its namespaces (never in ours).
ensure_veth() {
  link_exists "$1" "$2" && link_exists "$3" "$4" && return 0
  ip -n "$1" link del "$2" 2>/dev/null || true     # half a pair from an interrupted run
  ip -n "$3" link del "$4" 2>/dev/null || true
  ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
}

setup_bridge_netfilter() {
  if [[ ! -e $brnf_file ]]; then
    if have modprobe && modprobe br_netfilter 2>/dev/null; then
      echo 1 >"$STATE/br_netfilter.loaded-by-lab"
    fi
  fi
  if nsx "$NS_HOST" test -e "$brnf_file"; then
    nsx "$NS_HOST" sysctl -qw net.bridge.bridge-nf-call-iptables=1
  else
    warn "kernel has no bridge netfilter (br_netfilter): bridged frames skip iptables; the DNAT path still works"
  fi
}

setup_dnat() {
  if have iptables; then
    local rule=(PREROUTING -d "$HOST_ADDR" -p tcp --dport "$PORT" -j DNAT --to-destination "$CTR_ADDR:$PORT")
    nsx "$NS_HOST" iptables -w -t nat -C "${rule[@]}" 2>/dev/null || nsx "$NS_HOST" iptables -w -t nat -A "${rule[@]}"
    # Docker also accepts forwarded traffic to the container; the new netns' FORWARD policy is ACCEPT already.
  else
    nsx "$NS_HOST" nft list table ip "$NFT_NAT_TABLE" >/dev/null 2>&1 || nsx "$NS_HOST" nft -f - <<EOF
table ip $NFT_NAT_TABLE {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr $HOST_ADDR tcp dport $PORT counter dnat to $CTR_ADDR:$PORT
  }
}
EOF
  fi
}

# dnat_info   "iptables: N pkts" / "nft: ..." / "" when absent.
dnat_info() {
  ns_exists "$NS_HOST" || return 0
  if have iptables; then
    # columns: pkts bytes target prot opt in out source destination [match...] to:ADDR:PORT
    nsx "$NS_HOST" iptables -w -t nat -L PREROUTING -n -v -x 2>/dev/null |
      awk -v d="to:$CTR_ADDR:$PORT" '$3 == "DNAT" && $NF == d {print "iptables nat PREROUTING -d " $9 " tcp dpt:'"$PORT"' -> " substr(d, 4) " (" $1 " pkts)"; exit}'
  else
    nsx "$NS_HOST" nft list table ip "$NFT_NAT_TABLE" 2>/dev/null | awk '/dnat/ {$1=$1; print "nft: " $0}'
  fi
}

# write_nginx_conf DIR LISTEN MESSAGE   DIR/nginx.conf for an nginx with its pid, logs and temp files in DIR.
write_nginx_conf() {
  local dir=$1 listen=$2 message=$3
  mkdir -p "$dir/nginx-tmp"
  local user=nobody group=nogroup m temps=""
  getent group nogroup >/dev/null || group=nobody
  # Temp dirs for the modules this nginx has, so it never touches /var/lib/nginx.
  for m in client_body proxy fastcgi uwsgi scgi; do
    if [[ $m == client_body ]] || ! nginx -V 2>&1 | grep -q -- "--without-http_${m}_module"; then
      temps+="  ${m}_temp_path $dir/nginx-tmp/$m;"$'\n'
    fi
  done
  cat >"$dir/nginx.conf" <<EOF
# ktrace lab's nginx (generated by scripts/lab.sh; removed by 'lab.sh down' or by its scenario)
user $user $group;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log $dir/nginx-access.log;
$temps  server {
    listen $listen;
    location / { default_type text/plain; return 200 "$message\n"; }
  }
}
EOF
}

start_nginx() {
  local p; p=$(nginx_pid)
  if [[ -n $p ]]; then
    [[ $(ip netns identify "$p" 2>/dev/null) == "$NS_CTR" ]] && return 0
    # Ours (our pid file) but its namespace was deleted under it: it can no longer be reached.
    warn "nginx $p lost its namespace $NS_CTR: restarting it"
    kill_pids "$p"
  fi
  write_nginx_conf "$STATE" "$PORT default_server backlog=511" "ktrace lab: nginx in $NS_CTR ($CTR_ADDR), reached via DNAT on $HOST_ADDR:$PORT"
  nsx "$NS_CTR" nginx -q -p "$STATE" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf" -t
  nsx "$NS_CTR" nginx -p "$STATE" -e "$STATE/nginx-error.log" -c "$STATE/nginx.conf"
}

cmd_up() {
  need_root
  need_tool ip nginx curl sysctl
  have iptables || need_tool nft
  mkdir -p "$STATE"; chmod 755 "$STATE"
  cpu_online "$RX_CPU" || die 2 "KT_RX_CPU=$RX_CPU is not an online CPU"

  ensure_ns "$NS_HOST"; ensure_ns "$NS_CTR"; ensure_ns "$NS_CLI"

  # host: bridge (docker0-like) with the container's gateway address
  link_exists "$NS_HOST" "$BR" || ip -n "$NS_HOST" link add "$BR" type bridge
  ip -n "$NS_HOST" addr replace "$BR_ADDR/$PLEN" dev "$BR"
  ip -n "$NS_HOST" link set "$BR" up

  # container <-> bridge
  ensure_veth "$NS_HOST" "$HOST_IF_CTR" "$NS_CTR" "$PEER_IF"
  ip -n "$NS_HOST" link set "$HOST_IF_CTR" master "$BR" up
  ip -n "$NS_CTR" addr replace "$CTR_ADDR/$PLEN" dev "$PEER_IF"
  ip -n "$NS_CTR" link set "$PEER_IF" up
  ip -n "$NS_CTR" route replace default via "$BR_ADDR"

  # client <-> host (routed link; the host address lives here)
  ensure_veth "$NS_HOST" "$HOST_IF_CLI" "$NS_CLI" "$PEER_IF"
  ip -n "$NS_HOST" addr replace "$HOST_ADDR/$PLEN" dev "$HOST_IF_CLI"
  ip -n "$NS_HOST" link set "$HOST_IF_CLI" up
  ip -n "$NS_CLI" addr replace "$CLI_ADDR/$PLEN" dev "$PEER_IF"
  ip -n "$NS_CLI" link set "$PEER_IF" up
  ip -n "$NS_CLI" route replace default via "$HOST_ADDR"

  # host: routing, bridge netfilter, DNAT (conntrack comes with the nat table)
  nsx "$NS_HOST" sysctl -qw net.ipv4.ip_forward=1
  setup_bridge_netfilter
  setup_dnat

  # host: steer receive processing of client traffic to the RX CPU. 'ip netns exec' mounts a sysfs of
  # the target netns, so this path names the host netns' veth-cli (it does not exist in ours).
  # A veth has one real rx queue (rx-0) unless created with more; set them all.
  nsx "$NS_HOST" sh -c "for q in /sys/class/net/$HOST_IF_CLI/queues/rx-*/rps_cpus; do echo $(cpu_mask "$RX_CPU") > \$q; done"

  start_nginx

  local code i
  for ((i = 0; i < 25; i++)); do
    code=$(http_code 1); [[ $code == 200 ]] && break; sleep 0.2
  done
  [[ $code == 200 ]] || die 1 "lab is built but nginx does not answer through the DNAT (HTTP $code); see $STATE/nginx-error.log and 'lab.sh status'"
  log "up: client $CLI_ADDR ($NS_CLI) -> host $HOST_ADDR:$PORT ($NS_HOST, DNAT, $BR) -> nginx $CTR_ADDR:$PORT ($NS_CTR); RX CPU $RX_CPU, bridge-nf-call-iptables=$(brnf_value || echo n/a)"
}

# ───────────────────────────── down ─────────────────────────────
# kill_pids SIGNAL-WAIT PIDS...   TERM, wait up to ~3 s, then KILL what is left.
kill_pids() {
  local p i left
  [[ $# -gt 0 ]] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    left=(); for p in "$@"; do pid_alive "$p" && left+=("$p"); done
    [[ ${#left[@]} -eq 0 ]] && return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
}

# Running 'lab.sh load' processes (recorded in STATE/load.PID), verified to still be ours.
load_pids() {
  local f p
  for f in "$STATE"/load.*.pid; do
    [[ -e $f ]] || continue
    p=${f##*/load.}; p=${p%.pid}
    if pid_alive "$p" && grep -q 'lab\.sh' "/proc/$p/cmdline" 2>/dev/null; then echo "$p"; else rm -f "$f"; fi
  done
}

cmd_down() {
  need_root
  need_tool ip
  local ns pids=() p
  # 1. loads first, so they stop their hping3 and report
  mapfile -t pids < <(load_pids)
  [[ ${#pids[@]} -gt 0 ]] && { log "down: stopping load(s) ${pids[*]}"; kill_pids "${pids[@]}"; }
  # 2. our nginx (also when its namespace was deleted under it), then every process still in our
  #    namespaces (hping3, ...) — all started by this lab
  p=$(nginx_pid); [[ -z $p ]] || kill_pids "$p"
  for ns in $(our_namespaces); do
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    [[ ${#pids[@]} -gt 0 ]] && { log "down: stopping processes in $ns: ${pids[*]}"; kill_pids "${pids[@]}"; }
  done
  for ns in $(our_namespaces); do
    p=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
    [[ -z $p ]] || die 1 "down: processes still in $ns after SIGKILL: $p"
  done
  # 3. the namespaces; their veths, bridge, addresses, routes, iptables/nft rules and sysctls go with them
  for ns in $(our_namespaces); do ip netns del "$ns"; done
  # 4. a module we loaded ourselves (never one that was there before)
  if [[ -e $STATE/br_netfilter.loaded-by-lab ]] && have modprobe; then modprobe -r br_netfilter 2>/dev/null || true; fi
  rm -rf "$STATE"
  # verify
  local left; left=$(our_namespaces | tr '\n' ' ')
  [[ -z $left ]] || die 1 "down: namespaces still present: $left"
  log "down: no $LAB namespaces, processes or state left"
}

# ───────────────────────────── status ─────────────────────────────
cmd_status() {
  need_root
  need_tool ip
  local ns present=0 code rps nginxp conn
  echo "lab $LAB  (state dir $STATE)"
  for ns in "$NS_HOST" "$NS_CTR" "$NS_CLI"; do
    if ns_exists "$ns"; then
      present=$((present + 1))
      echo "  netns $ns: present, processes: $(ip netns pids "$ns" 2>/dev/null | while read -r p; do printf '%s(%s) ' "$p" "$(cat /proc/"$p"/comm 2>/dev/null)"; done)"
    else
      echo "  netns $ns: absent"
    fi
  done
  echo "  path: client $CLI_ADDR -> host $HOST_ADDR:$PORT --DNAT--> container $CTR_ADDR:$PORT via $BR ($BR_ADDR)"
  if ns_exists "$NS_HOST"; then
    echo "  DNAT: $(dnat_info || true)"
    echo "  bridge-nf-call-iptables (host netns): $(brnf_value | grep . || echo 'n/a (no br_netfilter in this kernel)')"
    conn=$(nsx "$NS_HOST" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo n/a)
    echo "  conntrack entries (host netns): $conn"
    rps=$(nsx "$NS_HOST" cat "/sys/class/net/$HOST_IF_CLI/queues/rx-0/rps_cpus" 2>/dev/null || echo n/a)
    echo "  RPS $HOST_IF_CLI rx-0 rps_cpus: $rps (RX CPU $RX_CPU, hping3 CPU $(pick_tx_cpu | grep . || echo 'not pinned'))"
  fi
  nginxp=$(nginx_pid)
  code=$(http_code 2)
  echo "  nginx: ${nginxp:+master pid $nginxp, }answers through DNAT: $([[ $code == 200 ]] && echo "yes (HTTP 200)" || echo "no (HTTP $code)")"
  local loads; loads=$(load_pids | tr '\n' ' ')
  echo "  running loads: ${loads:-none}"
  if [[ $present -eq 3 && $code == 200 ]]; then echo "  state: up"; return 0; fi
  if [[ $present -eq 0 ]]; then echo "  state: down"; else echo "  state: partial (run 'lab.sh down' or 'lab.sh up')"; fi
  return 1
}

# ───────────────────────────── curl ─────────────────────────────
cmd_curl() {
  need_root
  need_tool ip curl
  ns_exists "$NS_CLI" || die 1 "lab is not up: run '$0 up'"
  nsx "$NS_CLI" curl -sS --fail --max-time 5 "http://$HOST_ADDR:$PORT/"
}

# ───────────────────────────── load ─────────────────────────────
# Counters sampled before and after a load.
declare -A S0 S1
# snapshot ARRAYNAME   per-CPU /proc/stat, ksoftirqd times, softnet drops, link counters, clock.
# shellcheck disable=SC2034  # S is written through the nameref
snapshot() {
  local -n S=$1
  local line cpu f p
  S["t"]=$(now_s)
  while read -r line; do
    read -r cpu f <<<"$line"; S["stat_${cpu#cpu}"]=$f
  done < <(grep -E '^cpu[0-9]+ ' /proc/stat)
  for cpu in $(online_cpus); do
    p=$(pgrep -x "ksoftirqd/$cpu" | head -1 || true)
    # fields after "pid (comm) ": state=1 ... utime=12 stime=13
    [[ -n $p ]] && S["ksi_$cpu"]=$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')
  done
  # /proc/net/softnet_stat: one line per CPU with a backlog; col 2 = drops (hex); col 13 = CPU id (hex)
  local drops=0 _processed dropped _rest
  while read -r _processed dropped _rest; do drops=$((drops + 16#$dropped)); done </proc/net/softnet_stat
  S["softnet_drop"]=$drops
  S["cli_tx"]=$(nsx "$NS_CLI" cat "/sys/class/net/$PEER_IF/statistics/tx_packets" 2>/dev/null || echo 0)
  S["host_rx"]=$(nsx "$NS_HOST" cat "/sys/class/net/$HOST_IF_CLI/statistics/rx_packets" 2>/dev/null || echo 0)
  S["host_rxdrop"]=$(nsx "$NS_HOST" cat "/sys/class/net/$HOST_IF_CLI/statistics/rx_dropped" 2>/dev/null || echo 0)
}

# nft_counter NAME   packets of a named counter in this load's table (0 if unavailable).
nft_counter() {
  nsx "$NS_CLI" nft list counter ip "$NFT_LOAD_TABLE" "$1" 2>/dev/null |
    awk '/packets/ {for (i = 1; i <= NF; i++) if ($i == "packets") {print $(i + 1); exit}}' | grep . || echo 0
}

# The nft table that counts what the client sends (and, for flood, caps it).
# $1 = packet cap (0 = no cap).
install_load_table() {
  local cap=$1 caprule=""
  if [[ $cap -gt 0 ]]; then
    # quota counts bytes; every TCP packet is >= 40 bytes, so at most $cap TCP packets get through.
    caprule="oifname \"$PEER_IF\" meta l4proto tcp quota over $((cap * MIN_TCP_BYTES)) bytes counter name capped drop"
  fi
  nsx "$NS_CLI" nft -f - <<EOF
table ip $NFT_LOAD_TABLE {
  counter syn {}
  counter synack {}
  counter capped {}
  chain in {
    type filter hook input priority filter; policy accept;
    iifname "$PEER_IF" ip saddr $HOST_ADDR tcp sport $PORT tcp flags & (syn | ack) == syn | ack counter name synack
  }
  chain out {
    type filter hook output priority filter; policy accept;
    $caprule
    oifname "$PEER_IF" ip daddr $HOST_ADDR tcp dport $PORT tcp flags & (syn | ack) == syn counter name syn
  }
}
EOF
}

LOAD_MODE="" LOAD_PID="" LOAD_DONE=0 LOAD_CAP=0 LOAD_LOG=""
# finish_load   EXIT trap of 'load': stop what load started, sample counters, report, remove the nft table.
finish_load() {
  local rc=$?
  [[ $LOAD_DONE -eq 1 ]] && return
  LOAD_DONE=1
  trap - INT TERM
  if pid_alive "$LOAD_PID"; then kill_pids "$LOAD_PID"; wait "$LOAD_PID" 2>/dev/null || true; fi
  if [[ -n ${S0[t]:-} ]]; then
    snapshot S1
    report_load || warn "could not compute load report"
  fi
  if ns_exists "$NS_CLI"; then nsx "$NS_CLI" nft delete table ip "$NFT_LOAD_TABLE" 2>/dev/null || true; fi
  rm -f "$STATE/load.$$.pid"
  exit "$rc"
}

report_load() {
  local dt syn synack sent rx capped clk tx cpu u s si i busy ksi line res note
  clk=$(getconf CLK_TCK)
  dt=$(awk -v a="${S0[t]}" -v b="${S1[t]}" 'BEGIN {printf "%.2f", b - a}')
  syn=$(nft_counter syn); synack=$(nft_counter synack); capped=$(nft_counter capped)
  sent=$(( S1[cli_tx] - S0[cli_tx] )); rx=$(( S1[host_rx] - S0[host_rx] ))
  tx=$(pick_tx_cpu)
  rate() { awk -v n="$1" -v t="$dt" 'BEGIN {printf "%.0f", (t > 0 ? n / t : 0)}'; }

  echo "== lab load $LOAD_MODE: ${dt}s; hping3 on CPU ${tx:-any}, receive (RPS) on CPU $RX_CPU"
  if [[ $LOAD_MODE != udp ]]; then
    echo "   SYN sent by client : $syn  ($(rate "$syn") SYN/s)   [nft counter, $NS_CLI output]"
    echo "   SYN-ACK received   : $synack  ($(rate "$synack")/s: SYNs that made it through the host and nginx)"
  fi
  echo "   client tx packets  : $sent  ($(rate "$sent")/s$([[ $LOAD_MODE == udp ]] || echo ", includes the client's RSTs to the SYN-ACKs"))"
  echo "   host rx packets    : $rx  ($(rate "$rx")/s on $HOST_IF_CLI; rx_dropped +$(( S1[host_rxdrop] - S0[host_rxdrop] )), backlog drops +$(( S1[softnet_drop] - S0[softnet_drop] )))"
  [[ $LOAD_CAP -gt 0 ]] && echo "   flood cap          : $LOAD_CAP packets (nft quota); packets dropped by the cap: $capped"
  printf '   %-5s %6s %6s %6s %6s %6s   %s\n' CPU usr% sys% si% idle% busy% "ksoftirqd CPU%"
  res="mode=$LOAD_MODE seconds=$dt syn_sent=$syn syn_per_s=$(rate "$syn") synack_per_s=$(rate "$synack") tx_pkts_per_s=$(rate "$sent") rx_pkts_per_s=$(rate "$rx") backlog_drops=$(( S1[softnet_drop] - S0[softnet_drop] )) capped=$capped rx_cpu=$RX_CPU tx_cpu=${tx:-none}"
  for cpu in $(online_cpus); do
    # /proc/stat cpuN: user nice system idle iowait irq softirq steal guest guest_nice (USER_HZ ticks)
    line=$(awk -v a="${S0[stat_$cpu]}" -v b="${S1[stat_$cpu]}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); tot = 0
        for (i = 1; i <= 8 && i <= n; i++) { d[i] = y[i] - x[i]; tot += d[i] }
        if (tot <= 0) tot = 1
        us = 100 * (d[1] + d[2]) / tot; sy = 100 * d[3] / tot; si = 100 * d[7] / tot
        id = 100 * (d[4] + d[5]) / tot
        printf "%.1f %.1f %.1f %.1f %.1f", us, sy, si, id, 100 - id }')
    read -r u s si i busy <<<"$line"
    ksi=$(awk -v a="${S0[ksi_$cpu]:-0}" -v b="${S1[ksi_$cpu]:-0}" -v hz="$clk" -v t="$dt" \
      'BEGIN {printf "%.1f", (t > 0 ? 100 * (b - a) / hz / t : 0)}')
    note=""
    [[ $cpu == "$tx" ]] && note="   <- load generator"
    [[ $cpu == "$RX_CPU" ]] && note="   <- RX CPU"
    printf '   cpu%-2s %6s %6s %6s %6s %6s   %s%s\n' "$cpu" "$u" "$s" "$si" "$i" "$busy" "$ksi" "$note"
    if [[ $cpu == "$RX_CPU" ]]; then res+=" rx_si_pct=$si rx_busy_pct=$busy ksoftirqd_rx_pct=$ksi"; fi
    if [[ $cpu == "$tx" ]]; then res+=" tx_si_pct=$si ksoftirqd_tx_pct=$ksi"; fi
  done
  echo "   (ksoftirqd CPU% = share of the CPU the ksoftirqd thread ran, i.e. deferred softirq work; /proc/stat"
  echo "    counts that work in si% on tick-accounting kernels and in sys% with CONFIG_IRQ_TIME_ACCOUNTING)"
  echo "result: $res"
  echo "$res" >"$STATE/load-$LOAD_MODE.result" 2>/dev/null || true
  [[ -z ${KT_LAB_RESULT:-} ]] || echo "$res" >"$KT_LAB_RESULT"
}

cmd_load() {
  need_root
  local mode=${1:-} secs=${2:-} interval=${3:-}
  [[ $mode =~ ^(paced|flood|udp)$ ]] || die 2 "usage: $0 load paced|flood|udp SECONDS [INTERVAL]"
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 3600 ]] || die 2 "load: SECONDS must be 1..3600, got '${secs}'"
  need_tool ip timeout nft hping3
  for ns in "$NS_HOST" "$NS_CTR" "$NS_CLI"; do ns_exists "$ns" || die 1 "lab is not up ($ns missing): run '$0 up'"; done
  [[ -n $interval ]] || { if [[ $mode == udp ]]; then interval=u100; else interval=u10; fi; }
  [[ $interval =~ ^u?[0-9]+$ ]] || die 2 "load: INTERVAL must be like u10 (µs) or 1 (s), got '$interval'"
  mkdir -p "$STATE"

  local tx pin=() cmd=()
  tx=$(pick_tx_cpu)
  if [[ -n $tx ]]; then need_tool taskset; pin=(taskset -c "$tx"); else warn "one CPU only: load generator and receive path share it"; fi
  LOAD_MODE=$mode
  case $mode in
    paced) cmd=(hping3 -S -p "$PORT" -i "$interval" -c $((secs * PACED_MAX_PPS)) -q "$HOST_ADDR") ;;
    flood) LOAD_CAP=$((secs * FLOOD_MAX_PPS)); cmd=(hping3 -S -p "$PORT" --flood -q "$HOST_ADDR") ;;
    # UDP to the discard port: the host answers with (rate-limited) ICMP port unreachable.
    udp)   cmd=(hping3 --udp -p 9 -i "$interval" -c $((secs * PACED_MAX_PPS)) -q "$HOST_ADDR") ;;
  esac
  LOAD_LOG=$STATE/load-$mode.$$.log

  trap finish_load EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  echo $$ >"$STATE/load.$$.pid"
  install_load_table "$LOAD_CAP"
  log "load $mode ${secs}s: ${pin[*]:+${pin[*]} }${cmd[*]} (in $NS_CLI, log $LOAD_LOG)"
  snapshot S0
  # timeout sends TERM at SECONDS, KILL 2 s later if needed. ip netns exec / taskset exec in place, so
  # LOAD_PID is the timeout process and killing it stops hping3.
  # (Not via the nsx function: a backgrounded function would be a subshell, and $! its pid.)
  ip netns exec "$NS_CLI" "${pin[@]}" timeout -k 2 "$secs" "${cmd[@]}" >"$LOAD_LOG" 2>&1 &
  LOAD_PID=$!
  local rc=0
  wait "$LOAD_PID" || rc=$?
  # 124 = stopped by timeout (the normal end of a run); hping3 -c ends with 0, or 1 when nothing
  # answered (SYN-ACKs go to the kernel, not to hping3). --flood only ends early on an error.
  if [[ $mode == flood && $(nft_counter capped) -gt 0 ]]; then
    log "load flood: the ${LOAD_CAP}-packet cap was reached; hping3 stopped at its first refused sendto()"
  elif [[ $rc -ne 0 && $rc -ne 124 ]] && [[ $rc -ne 1 || $mode == flood ]]; then
    warn "load generator failed (exit $rc): $(tail -n 3 "$LOAD_LOG" | tr '\n' ' ')"
    exit 1
  fi
  exit 0
}

# ───────────────────────────── scenarios ─────────────────────────────
# client_server CLIENT_NS CLIENT_ADDR SERVER_NS SERVER_ADDR   two new namespaces joined by a veth pair
# (eth0 on both sides), each with its address in one /24.
client_server() {
  ensure_ns "$1"
  ensure_ns "$3"
  ip -n "$1" link add eth0 type veth peer name eth0 netns "$3"
  ip -n "$1" addr add "$2/$PLEN" dev eth0
  ip -n "$3" addr add "$4/$PLEN" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$3" link set eth0 up
}

# churn SECONDS [MAX]   create and delete one namespace (with a veth pair inside) over and over.
cmd_churn() {
  need_root
  need_tool ip
  local secs=${1:-} max=${2:-5000} n=0 start
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 600 ]] || die 2 "churn: SECONDS must be 1..600, got '$secs'"
  [[ $max =~ ^[0-9]+$ && $max -ge 1 ]] || die 2 "churn: MAX must be a positive count, got '$max'"
  trap 'ip netns del "$NS_CHURN" 2>/dev/null || true' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  start=$(now_s)
  while [[ $n -lt $max ]] && awk -v s="$start" -v t="$(now_s)" -v d="$secs" 'BEGIN {exit !(t - s < d)}'; do
    ip netns add "$NS_CHURN"
    ip -n "$NS_CHURN" link set lo up
    ip -n "$NS_CHURN" link add name ktc0 type veth peer name ktc1
    ip -n "$NS_CHURN" link add name ktc2 type veth peer name ktc3
    ip netns del "$NS_CHURN"
    n=$((n + 1))
  done
  log "churn: $n network namespaces created and destroyed in $(awk -v s="$start" -v t="$(now_s)" 'BEGIN {printf "%.1f", t - s}') s"
  echo "result: mode=churn rounds=$n"
}

# conntrack SECONDS [MAX]   a fixed set of live UDP flows into a tracking namespace, more than MAX.
CT_FLOWS=600                   # flows kept alive (each a connected UDP socket: its own source port)
cmd_conntrack() {
  need_root
  need_tool ip nft timeout
  local secs=${1:-} max=${2:-} rc=0 drops=0 col
  CT_SAVED_MAX=""                # global: the EXIT trap runs after this function has returned
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 600 ]] || die 2 "conntrack: SECONDS must be 1..600, got '$secs'"
  [[ -z $max || ($max =~ ^[0-9]+$ && $max -ge 16) ]] || die 2 "conntrack: MAX must be a count >= 16, got '$max'"
  cleanup_ct() {
    if [[ -n $CT_SAVED_MAX ]]; then sysctl -qw net.netfilter.nf_conntrack_max="$CT_SAVED_MAX" || true; fi
    ip netns del "$NS_CTC" 2>/dev/null || true
    ip netns del "$NS_CTS" 2>/dev/null || true
  }
  trap cleanup_ct EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ip netns del "$NS_CTC" 2>/dev/null || true
  ip netns del "$NS_CTS" 2>/dev/null || true
  client_server "$NS_CTC" "$NET.3.2" "$NS_CTS" "$NET.3.1"
  # A stateful rule makes the server's namespace track. Nothing listens on port 9: its "port
  # unreachable" answers are dropped, so the client's sockets never see an error and keep sending.
  nsx "$NS_CTS" nft -f - <<EOF_NFT
table inet ${LAB}_ct {
  chain input { type filter hook input priority 0; policy accept; ct state new counter accept; }
  chain output { type filter hook output priority 0; policy accept; icmp type destination-unreachable drop; }
}
EOF_NFT
  if [[ -n $max ]]; then
    CT_SAVED_MAX=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
    sysctl -qw net.netfilter.nf_conntrack_max="$max"
    log "conntrack: nf_conntrack_max $CT_SAVED_MAX -> $max (machine-wide) until this run ends"
  fi
  # shellcheck disable=SC2016  # expanded by the inner bash
  timeout "$secs" ip netns exec "$NS_CTC" bash -c '
    fds=()
    for ((i = 0; i < $1; i++)); do exec {fd}<>"/dev/udp/$2/9" || exit 1; fds+=("$fd"); done
    while :; do
      for fd in "${fds[@]}"; do printf x >&"$fd" 2>/dev/null || true; done
      sleep 0.2
    done' ct-flows "$CT_FLOWS" "$NET.3.1" || rc=$?
  [[ $rc -eq 124 ]] || die 1 "conntrack: the flows ended with $rc before $secs s"
  for col in $(nsx "$NS_CTS" awk 'NR > 1 {print $11}' /proc/net/stat/nf_conntrack); do drops=$((drops + 16#$col)); done
  log "conntrack: $drops packets dropped for a full table in $NS_CTS"
  echo "result: mode=conntrack drops=$drops"
}

# netstat_counter NS KEY   a TcpExt counter (/proc/net/netstat) as a namespace sees it ("TcpExt.Key").
netstat_counter() {
  nsx "$1" awk -v want="${2#*.}" -v grp="${2%%.*}:" '
    $1 == grp && !names { for (i = 2; i <= NF; i++) name[i] = $i; names = 1; next }
    $1 == grp && names { for (i = 2; i <= NF; i++) if (name[i] == want) print $i; exit }' /proc/net/netstat
}

# synflood SECONDS [INTERVAL]   SYNs that never complete, at a listener whose SYN queue is small and which
# has no SYN cookies to fall back on: each SYN beyond the 16 in its queue is dropped (TcpExt.TCPReqQFullDrop).
SF_BACKLOG=16                  # nginx's listen backlog: its SYN queue holds this many
SF_SYN_BACKLOG=128             # tcp_max_syn_backlog in the server namespace: above the backlog, so the
                               # backlog is the queue's limit (with cookies off the kernel also drops at
                               # 3/4 of this, tcp_conn_request)
cmd_synflood() {
  need_root
  need_tool ip nft nginx hping3 timeout
  local secs=${1:-} interval=${2:-u500} rc=0 d0 d1
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 600 ]] || die 2 "synflood: SECONDS must be 1..600, got '$secs'"
  [[ $interval =~ ^u?[0-9]+$ ]] || die 2 "synflood: INTERVAL must be like u500 (µs) or 1 (s), got '$interval'"
  SF_DIR=$STATE/synflood         # global: the EXIT trap runs after this function has returned
  cleanup_sf() {
    local ns pids=()
    for ns in "$NS_SFS" "$NS_SFC"; do
      ns_exists "$ns" || continue
      mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
      [[ ${#pids[@]} -eq 0 ]] || kill_pids "${pids[@]}"
      ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$SF_DIR"
  }
  trap cleanup_sf EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cleanup_sf
  mkdir -p "$SF_DIR"; chmod 755 "$STATE" "$SF_DIR"
  client_server "$NS_SFC" "$NET.4.2" "$NS_SFS" "$NET.4.1"
  nsx "$NS_SFS" sysctl -qw net.ipv4.tcp_syncookies=0 net.ipv4.tcp_max_syn_backlog="$SF_SYN_BACKLOG"
  # The client never answers a SYN-ACK: its kernel's RSTs would free the server's queue at once.
  nsx "$NS_SFC" nft -f - <<EOF_NFT
table inet ${LAB}_sf {
  chain output { type filter hook output priority 0; policy accept; tcp flags & rst == rst drop; }
}
EOF_NFT
  write_nginx_conf "$SF_DIR" "$NET.4.1:$PORT backlog=$SF_BACKLOG" "ktrace lab: a listener without SYN cookies"
  nsx "$NS_SFS" nginx -p "$SF_DIR" -e "$SF_DIR/nginx-error.log" -c "$SF_DIR/nginx.conf"
  d0=$(netstat_counter "$NS_SFS" TcpExt.TCPReqQFullDrop)
  log "synflood ${secs}s: SYNs every $interval from $NS_SFC to nginx $NET.4.1:$PORT (backlog $SF_BACKLOG) in $NS_SFS, tcp_syncookies=0"
  # -c bounds the count as timeout bounds the time (hping3's own pace, at most one per interval). In the
  # background, so that a TERM ends the wait at once (the EXIT trap stops it with the namespaces).
  ip netns exec "$NS_SFC" timeout -k 2 "$secs" hping3 -S -p "$PORT" -i "$interval" -c $((secs * PACED_MAX_PPS)) -q "$NET.4.1" \
    >"$SF_DIR/hping3.log" 2>&1 &
  wait $! || rc=$?
  [[ $rc -eq 124 || $rc -eq 0 || $rc -eq 1 ]] || die 1 "synflood: hping3 failed ($rc): $(tail -n 3 "$SF_DIR/hping3.log" | tr '\n' ' ')"
  d1=$(netstat_counter "$NS_SFS" TcpExt.TCPReqQFullDrop)
  log "synflood: $((d1 - d0)) SYNs dropped for a full SYN queue in $NS_SFS"
  echo "result: mode=synflood reqqfull_drops=$((d1 - d0))"
}

# rules SECONDS [N]   N rules that never match, walked by every packet the lab forwards.
cmd_rules() {
  need_root
  need_tool ip
  local secs=${1:-} n=${2:-5000} i rc=0
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 600 ]] || die 2 "rules: SECONDS must be 1..600, got '$secs'"
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 65536 ]] || die 2 "rules: N must be 1..65536, got '$n'"
  ns_exists "$NS_HOST" || die 1 "lab is not up ($NS_HOST missing): run '$0 up'"
  RULES_LOAD=""                  # global: the EXIT trap runs after this function has returned
  cleanup_rules() {
    if pid_alive "$RULES_LOAD"; then kill_pids "$RULES_LOAD"; fi
    if have iptables; then
      nsx "$NS_HOST" iptables -w -D FORWARD -j "$RULES_CHAIN" 2>/dev/null || true
      nsx "$NS_HOST" iptables -w -F "$RULES_CHAIN" 2>/dev/null || true
      nsx "$NS_HOST" iptables -w -X "$RULES_CHAIN" 2>/dev/null || true
    else
      nsx "$NS_HOST" nft delete table ip "$RULES_CHAIN" 2>/dev/null || true
    fi
  }
  trap cleanup_rules EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cleanup_rules
  # Sources in 198.18.0.0/15 (RFC 2544, benchmarking): no lab packet matches, so each walks all N.
  if have iptables; then
    { echo "*filter"; echo ":$RULES_CHAIN - [0:0]"
      for ((i = 0; i < n; i++)); do echo "-A $RULES_CHAIN -s 198.18.$((i / 256)).$((i % 256))/32 -j DROP"; done
      echo "-I FORWARD 1 -j $RULES_CHAIN"; echo "COMMIT"; } | nsx "$NS_HOST" iptables-restore -w --noflush
  else
    { echo "table ip $RULES_CHAIN {"; echo "  chain forward {"; echo "    type filter hook forward priority -1; policy accept;"
      for ((i = 0; i < n; i++)); do echo "    ip saddr 198.18.$((i / 256)).$((i % 256)) drop"; done
      echo "  }"; echo "}"; } | nsx "$NS_HOST" nft -f -
  fi
  log "rules: $n unmatched rules in $RULES_CHAIN on $NS_HOST's forwarding path"
  "$0" load paced "$secs" u500 &
  RULES_LOAD=$!
  wait "$RULES_LOAD" || rc=$?
  RULES_LOAD=""
  [[ $rc -eq 0 ]] || die 1 "rules: the load ended with $rc"
  echo "result: mode=rules rules=$n"
}

# burn SECONDS   one CPU-bound process in user mode, ended by timeout.
cmd_burn() {
  local secs=${1:-}
  [[ $secs =~ ^[0-9]+$ && $secs -ge 1 && $secs -le 600 ]] || die 2 "burn: SECONDS must be 1..600, got '$secs'"
  need_tool timeout awk
  local rc=0
  timeout "$secs" awk 'BEGIN { for (;;) x++ }' || rc=$?
  [[ $rc -eq 124 ]] || die 1 "burn: the busy loop ended with $rc before its $secs s"
  log "burn: ${secs} s of one CPU in user mode"
}

# ───────────────────────────── main ─────────────────────────────
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  curl) cmd_curl ;;
  load) shift; cmd_load "$@" ;;
  churn) shift; cmd_churn "$@" ;;
  burn) shift; cmd_burn "$@" ;;
  conntrack) shift; cmd_conntrack "$@" ;;
  synflood) shift; cmd_synflood "$@" ;;
  rules) shift; cmd_rules "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
