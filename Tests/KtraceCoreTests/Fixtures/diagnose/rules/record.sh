#!/bin/sh
# Records the packet-filter listings RuleChainsTextTests parse, in a throwaway network namespace (as root;
# recorded on Debian 12: iptables 1.8.9 (nf_tables), nftables 1.0.6, Linux 6.18). nft-empty.json is
# `nft -j list ruleset` in the namespace before any rule; iptables-save then prints nothing.
set -eu
out=$(dirname "$0")
ns=ktl-fix-$$
ip netns add "$ns"
trap 'ip netns delete "$ns"' EXIT
netns() { ip netns exec "$ns" "$@"; }
netns nft -j list ruleset >"$out/nft-empty.json"
# iptables-nft: a user chain jumped to from FORWARD, a NAT rule, an empty user chain in raw.
netns iptables -N KT-USER
netns iptables -A KT-USER -s 10.0.0.1 -j DROP
netns iptables -A KT-USER -s 10.0.0.2 -j DROP
netns iptables -A KT-USER -s 10.0.0.3 -j RETURN
netns iptables -A FORWARD -i veth0 -j KT-USER
netns iptables -A FORWARD -p tcp --dport 22 -j ACCEPT
netns iptables -A FORWARD -p tcp --dport 80 -j ACCEPT
netns iptables -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
netns iptables -A INPUT -i lo -j ACCEPT
netns iptables -t nat -A POSTROUTING -s 10.231.0.0/16 -j MASQUERADE
netns iptables -t raw -N KT-EMPTY
netns ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
netns ip6tables -A INPUT -i lo -j ACCEPT
# nft's own tables: a hooked chain jumping to a regular one, a set, a NAT base chain.
netns nft -f - <<'NFT'
table inet ktfix {
	set blocked {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2 }
	}
	chain input {
		type filter hook input priority 10; policy accept;
		ip saddr @blocked drop
		tcp dport 8080 accept
		jump helper
	}
	chain helper {
		udp dport 53 accept
		counter
	}
}
table ip ktnat {
	chain pre {
		type nat hook prerouting priority -100; policy accept;
		tcp dport 8081 dnat to 10.231.1.2:80
	}
}
NFT
netns iptables-save >"$out/iptables-save.txt"
netns ip6tables-save >"$out/ip6tables-save.txt"
netns nft -j list ruleset >"$out/nft-ruleset.json"
