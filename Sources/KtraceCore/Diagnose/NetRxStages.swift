/// The stages of the receive path, as data: each with the kernel functions that belong to it and what
/// it means. A NET_RX sample belongs to the stage of its deepest frame that matches any stage (see
/// `NetRxSplit`). Patterns are globs on the function name: `*` matches any run of characters; compiler
/// suffixes (`.isra.0`, `.constprop.0`, `.cold`) and perf's `_[k]` are removed before matching.
public struct NetRxStage: Sendable, Equatable {
    /// Stable key, used in JSON.
    public let id: String
    /// Name for people.
    public let name: String
    public let meaning: String
    public let patterns: [String]
}

extension NetRxStage {
    /// Table order is the order of the receive path, and the priority when a name matches two stages
    /// (none of these patterns overlap today; the order makes it deterministic if one ever does).
    public static let table: [NetRxStage] = [
        NetRxStage(id: "driver", name: "driver/NAPI",
                   meaning: "the device's poll loop and the core receive dispatch (net_rx_action, NAPI poll, __netif_receive_skb)",
                   patterns: ["net_rx_action", "__napi_poll", "napi_poll", "*_poll", "process_backlog", "napi_complete_done",
                              "__netif_receive_skb*", "netif_receive_skb*", "napi_consume_skb", "*_napi_*"]),
        NetRxStage(id: "gro", name: "GRO",
                   meaning: "generic receive offload: merging segments of one flow before the stack sees them",
                   patterns: ["gro_*", "*_gro_*", "*_gro", "napi_gro_receive", "dev_gro_receive"]),
        NetRxStage(id: "bridge", name: "bridge",
                   meaning: "the software bridge: forwarding-database lookup, flooding, passing frames to a port",
                   patterns: ["br_handle_frame", "br_handle_frame_finish", "br_forward", "__br_forward", "br_forward_finish",
                              "br_pass_frame_up", "br_netif_receive_skb", "br_dev_xmit", "br_flood", "maybe_deliver",
                              "deliver_clone", "br_fdb_*", "__br_fdb_*", "br_vlan_*", "br_allowed_ingress", "br_multicast_*"]),
        NetRxStage(id: "bridge_netfilter", name: "bridge netfilter",
                   meaning: "br_netfilter: bridged frames handed to the IP hooks (bridge-nf-call-iptables)",
                   patterns: ["br_nf_*"]),
        NetRxStage(id: "netfilter_rules", name: "netfilter rules",
                   meaning: "packet-filter rule evaluation: iptables tables and nft chains, walked rule by rule",
                   patterns: ["ipt_do_table", "ip6t_do_table", "ebt_do_table", "arpt_do_table", "nft_do_chain*", "nft_immediate_eval",
                              "nft_cmp_eval", "nft_payload_eval", "nft_meta_get_eval", "nft_lookup_eval"]),
        NetRxStage(id: "conntrack", name: "conntrack",
                   meaning: "connection tracking: looking up, creating and confirming the flow's entry",
                   patterns: ["nf_conntrack_*", "__nf_conntrack_*", "nf_ct_*", "__nf_ct_*", "resolve_normal_ct", "init_conntrack",
                              "hash_conntrack*", "ipv4_conntrack_*", "ipv6_conntrack_*", "nf_confirm", "ipv4_confirm"]),
        NetRxStage(id: "nat", name: "NAT",
                   meaning: "network address translation: choosing and rewriting addresses and ports (DNAT, masquerade)",
                   patterns: ["nf_nat_*", "__nf_nat_*", "l4proto_manip_pkt", "nf_csum_update", "masquerade_*", "nf_xfrm_me_harder"]),
        NetRxStage(id: "routing", name: "routing/forwarding",
                   meaning: "IP receive, the route lookup and forwarding to another interface",
                   patterns: ["ip_rcv*", "ip6_rcv*", "ipv6_rcv", "ip_sublist_rcv*", "ip_list_rcv", "ip_route_input*", "ip_route_use_hint",
                              "fib_*", "fib4_*", "fib6_*", "ip6_route_input*", "ip_forward*", "ip6_forward*", "ip_local_deliver*",
                              "ip_protocol_deliver_rcu", "ip_output", "ip_finish_output*", "ip6_output", "ip6_finish_output*",
                              "neigh_*", "dst_*"]),
        NetRxStage(id: "tcp_listen", name: "TCP listen/SYN",
                   meaning: "a listener's handshake: SYN queue, request sockets, SYN-ACKs and SYN cookies",
                   patterns: ["tcp_conn_request", "tcp_v4_conn_request", "tcp_v6_conn_request", "tcp_v4_syn_recv_sock",
                              "tcp_v6_syn_recv_sock", "inet_csk_*", "tcp_check_req", "tcp_make_synack", "tcp_v4_send_synack",
                              "tcp_v6_send_synack", "inet_reqsk_alloc", "reqsk_*", "cookie_v4_*", "cookie_v6_*",
                              "__cookie_v4_*", "__cookie_v6_*", "tcp_syn_flood_action", "tcp_openreq_init_rwin",
                              "tcp_create_openreq_child", "inet_ehash_*"]),
        NetRxStage(id: "socket", name: "socket delivery",
                   meaning: "finding the socket and queueing the data to it (TCP established, UDP), waking the reader",
                   patterns: ["tcp_v4_rcv", "tcp_v6_rcv", "tcp_v4_do_rcv", "tcp_v6_do_rcv", "tcp_rcv_established", "tcp_data_queue",
                              "tcp_ack", "tcp_add_backlog", "__inet_lookup_*", "inet_lookup*", "__inet6_lookup_*", "udp_rcv",
                              "udpv6_rcv", "__udp4_lib_rcv", "__udp6_lib_rcv", "udp_unicast_rcv_skb", "udp_queue_rcv*",
                              "__udp_enqueue_schedule_skb", "sock_def_readable", "sk_filter_trim_cap", "raw_local_deliver"]),
        NetRxStage(id: "transmit", name: "transmit/qdisc",
                   meaning: "sending from within NET_RX: forwarded packets, SYN-ACKs and RSTs through the qdisc to a device",
                   patterns: ["dev_queue_xmit", "__dev_queue_xmit", "dev_hard_start_xmit", "sch_direct_xmit", "__qdisc_run",
                              "*_xmit", "*_start_xmit", "validate_xmit_skb*", "netif_rx*", "__netif_rx", "enqueue_to_backlog"]),
    ]

    /// Samples in which no frame matched a stage.
    public static let otherID = "other"

    public static func named(_ id: String) -> NetRxStage? { table.first { $0.id == id } }
}

/// Function-name globs: `*` matches any run of characters. Linear, with backtracking to the last `*`.
enum FunctionGlob {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.utf8), s = Array(name.utf8)
        var pi = 0, si = 0, star: Int?, resume = 0
        while si < s.count {
            if pi < p.count && p[pi] == UInt8(ascii: "*") {
                star = pi; resume = si; pi += 1
            } else if pi < p.count && p[pi] == s[si] {
                pi += 1; si += 1
            } else if let st = star {
                pi = st + 1; resume += 1; si = resume
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }

    /// The function name a frame stands for: perf's kind suffix and compiler clone suffixes removed
    /// ("finish_task_switch.isra.0_[k]" -> "finish_task_switch").
    static func functionName(_ frame: String) -> String {
        var name = FoldedFrame.classify(frame).name
        if let dot = name.firstIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        return name
    }
}
