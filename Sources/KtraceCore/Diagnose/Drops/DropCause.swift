/// What a drop on `skb:kfree_skb` says about where a packet was lost, for the rules that cite drops as
/// evidence of their finding. A drop belongs to a cause by its reason, named as in the kernel's
/// include/net/dropreason-core.h (enum skb_drop_reason, without SKB_DROP_REASON_); or, where the kernel
/// gave none (its tracepoint has no reason before 5.17) or left it NOT_SPECIFIED, by the function that
/// freed the packet. Both are globs (`FunctionGlob`: `*` matches any run of characters).
public struct DropCause: Sendable {
    /// How evidence names the drops.
    public let name: String
    public let reasons: [String]
    public let locations: [String]

    /// The reason that says only that the kernel did not say (dropreason-core.h: "drop reason is not specified").
    static let notSpecified = "NOT_SPECIFIED"

    public func matches(_ d: DropCount) -> Bool {
        if let r = d.reason, r != Self.notSpecified {
            return reasons.contains { FunctionGlob.matches($0, r) }
        }
        guard let location = d.location else { return false }
        let function = FunctionGlob.functionName(String(location.prefix { $0 != " " }))  // "func [module]" -> "func"
        return locations.contains { FunctionGlob.matches($0, function) }
    }
}

extension DropCause {
    /// NETFILTER_DROP, "dropped by netfilter": every NF_DROP verdict, freed in nf_hook_slow (an nftables
    /// rule's in nft_do_chain on 6.18). A rule's DROP and conntrack's own (a full table: nf_conntrack_in
    /// returns NF_DROP) have the same reason.
    public static let netfilter = DropCause(
        name: "dropped by a netfilter verdict, a rule's or conntrack's", reasons: ["NETFILTER_DROP"],
        locations: ["nf_hook_slow", "nf_conntrack_*", "__nf_conntrack_*", "nf_ct_*"])

    /// CPU_BACKLOG, "failed to enqueue the skb to the per CPU backlog queue" (netdev_max_backlog, or the RPS
    /// flow limit): enqueue_to_backlog, which softnet_stat's dropped column counts too.
    public static let cpuBacklog = DropCause(
        name: "dropped at a full input backlog", reasons: ["CPU_BACKLOG"], locations: ["enqueue_to_backlog"])

    /// TCP_LISTEN_OVERFLOW, "listener queue full" (6.15+: tcp_check_req when the accept queue is full), what
    /// ListenOverflows counts. Older kernels free these in tcp_v4_rcv with every other TCP drop: no location
    /// tells them apart.
    public static let listenOverflow = DropCause(
        name: "dropped at a full accept queue", reasons: ["TCP_LISTEN_OVERFLOW"], locations: [])
}
