/// The rules that cost one stage of the receive path from NET_RX stacks: `net.netfilter_rules`,
/// `net.conntrack_cost`, `net.bridge_netfilter`. Each fires when its stage takes at least
/// `DiagnoseThreshold.stageShare` of NET_RX samples (relative: no source gives a number) and that costs
/// at least `minimumShare` of the hottest NET_RX CPU. The share is the stage's cost on that CPU.

/// The stage's share and cost, or the outcome that ends the rule.
enum StageCheck {
    case measured(share: Double, cost: Share, split: NetRxSplit)
    case outcome(RuleOutcome)

    /// The outcome that ends the rule (only called when not measured).
    var outcome: RuleOutcome {
        if case .outcome(let o) = self { return o }
        return .notApplicable("internal: stage measured")
    }

    /// `scale` turns the stage's share into the part of it a change would save (1: all of it).
    static func of(_ c: DiagnoseContext, id: String, stage: String, inclusive: Bool,
                   scale: (NetRxSplit) -> Double = { _ in 1 }, label: String? = nil) -> StageCheck {
        if let e = c.splitError { return .outcome(.notApplicable(e)) }
        guard let split = c.split else { return .outcome(.notApplicable("no kernel stacks sampled in NET_RX")) }
        let name = label ?? NetRxStage.named(stage)?.name ?? stage
        guard split.total > 0 else {
            return .outcome(.ruledOut(RuledOut(id: id, "no NET_RX stack samples in the window", 0, .count, source: DiagnoseSource.stackShare)))
        }
        let share = (inclusive ? split.inclusiveShare(stage) : split.share(stage)) * scale(split)
        guard let cost = c.stageCost(share) else {
            return .outcome(.notApplicable("no per-CPU softirq times to cost the \(name) stage with"))
        }
        let pct = DiagnoseFormat.pct
        if share < DiagnoseThreshold.stageShare {
            return .outcome(.ruledOut(RuledOut(
                id: id, "\(name) is \(pct(share)) of NET_RX samples, under twice an even split (\(pct(DiagnoseThreshold.stageShare)))",
                share, .ratio, source: DiagnoseSource.stackShare)))
        }
        if cost.value < DiagnoseThreshold.minimumShare {
            return .outcome(.ruledOut(RuledOut(
                id: id, "\(name) is \(pct(share)) of NET_RX, but that is \(pct(cost.value)) of CPU \(cost.cpu ?? 0)",
                cost.value, .ratio, source: DiagnoseSource.stackShare)))
        }
        return .measured(share: share, cost: cost, split: split)
    }

    /// The two evidence lines every stage finding starts with.
    static func evidence(stage: String, share: Double, cost: Share, split: NetRxSplit, inclusive: Bool) -> [Evidence] {
        let name = NetRxStage.named(stage)?.name ?? stage
        let top = split.row(stage)?.topFunction.map { " (mostly \($0))" } ?? ""
        return [
            Evidence("NET_RX samples \(inclusive ? "passing through" : "in") \(name)\(top)", share, .ratio, source: DiagnoseSource.stackShare),
            Evidence("CPU \(cost.cpu ?? 0)'s time in \(name)", cost.value, .ratio,
                     source: DiagnoseSource.stackShare + " x " + DiagnoseSource.softirqTracepoints),
        ]
    }

    /// The finding's own number, measured again: the stage's time on the CPU, its share of NET_RX samples
    /// times NET_RX's time there. A change that removes part of a stage's work moves that cost more than
    /// the share, since the rest of NET_RX stays (the lab's 5000 unmatched rules with established flows
    /// accepted first: the rules' share of NET_RX samples 0.89 -> 0.63, their cost 0.20 -> 0.06 of CPU 0).
    static func costConfirm(stage: String, cost: Share, frames: String) -> Confirm {
        let name = NetRxStage.named(stage)?.name ?? stage
        return Confirm("ktrace diagnose -d 5", "CPU \(cost.cpu ?? 0)'s time in \(name) (\(frames) in NET_RX stacks x NET_RX time)", .down)
    }
}

/// `net.netfilter_rules`: packet-filter rule evaluation costs a large part of NET_RX.
public struct NetfilterRulesRule: DiagnoseRule {
    public let id = "net.netfilter_rules"
    public let meaning = "packet-filter rule evaluation (ipt_do_table, nft_do_chain) costs a large part of NET_RX"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        let check = StageCheck.of(c, id: id, stage: "netfilter_rules", inclusive: false)
        guard case .measured(let share, let cost, let split) = check else { return check.outcome }
        var ev = StageCheck.evidence(stage: "netfilter_rules", share: share, cost: cost, split: split, inclusive: false)
        let pct = DiagnoseFormat.pct
        // The longest chain is the likeliest walk; on a tie the earlier namespace, then table and chain name.
        let chains = c.namespaces.flatMap { ns in (ns.chains ?? []).map { (ns, $0) } }
        let longest = chains.max { a, b in
            (a.1.rules, b.1.table, b.1.chain) < (b.1.rules, a.1.table, a.1.chain)
        }
        let cost2 = "rule evaluation is \(pct(share)) of NET_RX, \(pct(cost.value)) of CPU \(cost.cpu ?? 0)"
        guard let found = longest else {
            return .finding(Finding(
                id: id, title: "packet-filter rules cost \(pct(share)) of receive processing", share: cost, evidence: ev,
                cause: "Each received packet is matched against the packet-filter rules one rule at a time: \(cost2).",
                tries: [TryChange("list the rules with their hit counts to find the long chain the packets walk",
                                  Shell.inNetns(c.hotDevice?.ns, "iptables-save -c"))],
                confirm: StageCheck.costConfirm(stage: "netfilter_rules", cost: cost, frames: "ipt_do_table, nft_do_chain")))
        }
        let (ns, chain) = found
        ev.append(Evidence("rules in \(chain.table) \(chain.chain) (\(Shell.label(ns)))", Double(chain.rules), .rules,
                           source: DiagnoseSource.rules, window: Evidence.atEnd))
        let nft = chain.tool == "nft"
        let early = nft
            ? "nft insert rule \(chain.family) \(chain.table) \(chain.chain) ct state established,related accept"
            : "\(chain.tool) -w -t \(chain.table) -I \(chain.chain) 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
        let list = nft
            ? "nft -a list chain \(chain.family) \(chain.table) \(chain.chain)"
            : "\(chain.tool) -w -t \(chain.table) -L \(chain.chain) -n -v -x --line-numbers"
        return .finding(Finding(
            id: id, title: "packet-filter rules cost \(pct(share)) of receive processing", share: cost, evidence: ev,
            cause: "Packets walk the \(chain.rules) rules of \(chain.table) \(chain.chain) in \(Shell.label(ns)) one at a time, "
                + "so the cost grows with the rule count: \(cost2).",
            tries: [
                TryChange("accept packets of established flows at the top of \(chain.chain), so only a flow's first packet walks "
                          + "its \(chain.rules) rules", Shell.inNetns(ns, early)),
                TryChange("replace per-address or per-port rules with one set lookup (an nft set or an ipset): one hash lookup "
                          + "instead of \(chain.rules) comparisons; list the chain with its counters to choose them",
                          Shell.inNetns(ns, list)),
            ],
            confirm: StageCheck.costConfirm(stage: "netfilter_rules", cost: cost, frames: "ipt_do_table, nft_do_chain")))
    }
}

/// `net.conntrack_cost`: conntrack lookups and inserts cost much of NET_RX.
public struct ConntrackCostRule: DiagnoseRule {
    public let id = "net.conntrack_cost"
    public let meaning = "conntrack lookups and inserts cost much of NET_RX (candidates for NOTRACK)"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        let check = StageCheck.of(c, id: id, stage: "conntrack", inclusive: false)
        guard case .measured(let share, let cost, let split) = check else { return check.outcome }
        var ev = StageCheck.evidence(stage: "conntrack", share: share, cost: cost, split: split, inclusive: false)
        let pct = DiagnoseFormat.pct
        let hot = c.hotDevice
        if let ct = hot?.ns.conntrack {
            ev.append(Evidence("conntrack entries in \(Shell.label(hot!.ns))", Double(ct.count), .entries,
                               source: DiagnoseSource.sysctl("net.netfilter.nf_conntrack_count"), window: Evidence.atEnd))
        }
        let nat = split.share("nat")
        let natNote = nat > 0 ? "; this path is also NATed (NAT is \(pct(nat)) of NET_RX) and NAT needs conntrack, so narrow the "
            + "rule to flows that are not" : ""
        let iface = hot.map { " -i \($0.dev.name)" } ?? ""
        return .finding(Finding(
            id: id, title: "connection tracking costs \(pct(share)) of receive processing", share: cost, evidence: ev,
            cause: "Every packet looks up or creates its flow's conntrack entry: conntrack is \(pct(share)) of NET_RX, "
                + "\(pct(cost.value)) of CPU \(cost.cpu ?? 0), paid even by traffic no stateful rule or NAT needs.",
            tries: [TryChange("exempt traffic that needs no state from tracking with a raw-table NOTRACK rule"
                              + (hot.map { " on \($0.dev.name)" } ?? "") + " (narrow it with -p and --dport to that traffic)\(natNote)",
                              Shell.inNetns(hot?.ns, "iptables -w -t raw -I PREROUTING\(iface) -j CT --notrack"))],
            confirm: StageCheck.costConfirm(stage: "conntrack", cost: cost, frames: "nf_conntrack_in")))
    }
}

/// `net.bridge_netfilter`: bridged traffic goes through iptables (bridge-nf-call-iptables).
///
/// br_netfilter hands frames entering a bridge port to the IP hooks, so its cost is everything run under
/// `br_nf_*` frames (rules, conntrack, NAT), not its own functions only: the inclusive share. Part of it
/// is not extra: a frame the bridge passes up to the host (br_pass_frame_up) would meet the same hooks in
/// ip_rcv. Only frames forwarded between ports (br_handle_frame_finish -> __br_forward) pay for hooks
/// they would otherwise skip, so the inclusive share is scaled by the forwarded part of the frames the
/// bridge decided on (measured from the same stacks; all of it when the stacks show no decision).
public struct BridgeNetfilterRule: DiagnoseRule {
    public let id = "net.bridge_netfilter"
    public let meaning = "bridged traffic goes through iptables (bridge-nf-call-iptables)"

    static let keys = ["net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"]

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        let nsOn = c.namespaces.filter { ns in Self.keys.contains { ns.sysctl($0) == 1 } }
        let known = c.namespaces.contains { ns in Self.keys.contains { ns.sysctl($0) != nil } }
        if known && nsOn.isEmpty {
            return .ruledOut(RuledOut(id: id, "bridge-nf-call-iptables is 0 (or br_netfilter absent) in every namespace", 0, .value,
                                      source: DiagnoseSource.sysctl(Self.keys[0])))
        }
        let check = StageCheck.of(c, id: id, stage: "bridge_netfilter", inclusive: true, scale: Self.forwardedPart,
                                    label: "bridge netfilter on frames forwarded between ports")
        guard case .measured(let share, let cost, let split) = check else { return check.outcome }
        var ev = StageCheck.evidence(stage: "bridge_netfilter", share: split.inclusiveShare("bridge_netfilter"), cost: cost, split: split,
                                     inclusive: true)
        ev.append(Evidence("bridged frames forwarded between ports, not passed up to the host", Self.forwardedPart(split), .ratio,
                           source: DiagnoseSource.stackShare))
        // The namespace of the hot device when it is one with the sysctl on, else the first that has it on.
        let ns = nsOn.first { $0.inode == c.hotDevice?.ns.inode } ?? nsOn.first ?? c.hotDevice?.ns
        let on = Self.keys.filter { ns?.sysctl($0) == 1 }
        for k in on {
            ev.append(Evidence("\(k) in \(ns.map(Shell.label) ?? "the namespace")", 1, .value, source: DiagnoseSource.sysctl(k),
                               window: Evidence.atEnd))
        }
        let pct = DiagnoseFormat.pct
        let command = (on.isEmpty ? [Self.keys[0]] : on).map { Shell.sysctl(ns, $0, 0) }.joined(separator: " && ")
        return .finding(Finding(
            id: id, title: "bridged frames go through iptables: \(pct(share)) of receive processing", share: cost, evidence: ev,
            cause: "Frames that only cross the bridge in \(ns.map(Shell.label) ?? "this namespace") are handed to the IP hooks "
                + "(bridge-nf-call-iptables=1), so they pay for iptables and conntrack: the frames the bridge forwards between its "
                + "ports add \(pct(share)) of NET_RX under br_nf_*, \(pct(cost.value)) of CPU \(cost.cpu ?? 0).",
            tries: [TryChange("stop handing bridged frames to iptables, if no rule needs to see them (Kubernetes' kube-proxy and "
                              + "Docker's inter-container isolation do: check first)", command)],
            confirm: StageCheck.costConfirm(stage: "bridge_netfilter", cost: cost, frames: "br_nf_*")))
    }

    /// Of the NET_RX samples where the bridge decided a frame's fate, the part it forwarded to a port.
    /// br_pass_frame_up is often a tail call, gone from the stack: a frame passed up then shows as
    /// br_handle_frame_finish calling the host's receive path (netif_receive_skb, ip_rcv) directly (6.18,
    /// the lab's SYN-ACKs routed by the host: br_handle_frame_finish;netif_receive_skb;...;ip_forward).
    /// Only the frames br_handle_frame_finish called count: the receive path below it (netif_receive_skb
    /// taking the frame off the backlog) is on every bridged frame's stack.
    static func forwardedPart(_ split: NetRxSplit) -> Double {
        var forwarded: UInt64 = 0, passedUp: UInt64 = 0
        for s in split.stacks {
            guard let i = s.functions.lastIndex(of: "br_handle_frame_finish") else { continue }
            let called = s.functions[(i + 1)...]
            if called.contains(where: forwardFrames.contains) {
                forwarded += s.count
            } else if called.contains(where: hostFrames.contains) {
                passedUp += s.count
            }
        }
        return forwarded + passedUp == 0 ? 1 : Double(forwarded) / Double(forwarded + passedUp)
    }

    /// The bridge sending a frame out of its ports (known, flooded or a clone of it).
    static let forwardFrames: Set<String> = ["__br_forward", "br_forward", "br_forward_finish", "br_flood", "maybe_deliver", "deliver_clone"]
    /// The host's own receive path, entered when the bridge passes a frame up.
    static let hostFrames: Set<String> = ["br_pass_frame_up", "br_netif_receive_skb", "netif_receive_skb", "__netif_receive_skb",
                                          "__netif_receive_skb_one_core", "ip_rcv", "ipv6_rcv"]
}
