/// One rule of the catalogue: a stable id that automation keys on, what it means, and its evaluation
/// of one window's input. A rule is driven by measured quantities only; it returns a finding, a ruled-out
/// entry with the number that cleared its suspect, or "not applicable" naming the data it lacked.
public protocol DiagnoseRule: Sendable {
    var id: String { get }
    /// One line for the catalogue (docs/diagnose.md).
    var meaning: String { get }
    func evaluate(_ c: DiagnoseContext) -> RuleOutcome
}

/// The catalogue, in its documented order (the tie-break of the ranking).
public enum DiagnoseCatalogue {
    public static let rules: [any DiagnoseRule] = [
        NetRxOneCPURule(), NetfilterRulesRule(), BridgeNetfilterRule(), ConntrackFullRule(), ConntrackCostRule(),
        SynFloodRule(), ListenOverflowRule(), BacklogDropsRule(), KworkerWorkRule(), MemoryReclaimRule(),
        LoadUninterruptibleRule(), CPUUserRule(),
    ]

    public static var ids: [String] { rules.map(\.id) }
}

/// A window's diagnosis: findings ranked by share, then what was ruled out and what could not be checked.
public struct Diagnosis: Sendable {
    public var windowSeconds: Double
    public var cpuCount: Int
    public var kernel: String?
    /// Biggest share first; equal shares in catalogue order; a consequence right after its cause.
    public var findings: [Finding]
    /// In catalogue order.
    public var ruledOut: [RuledOut]
    public var notEvaluated: [NotEvaluated]
    /// The receive path's stages, when NET_RX stacks were sampled.
    public var netRxSplit: NetRxSplit?
    /// The largest drops by reason and location, when `skb:kfree_skb` was read.
    public var drops: DropSummary?

    public init(_ input: DiagnoseInput, rules: [any DiagnoseRule] = DiagnoseCatalogue.rules) {
        let c = DiagnoseContext(input)
        windowSeconds = input.windowSeconds
        cpuCount = c.cpuCount
        kernel = input.kernel
        netRxSplit = c.split
        drops = DropSummary(input)
        var found: [(Int, Finding)] = [], ruled: [RuledOut] = [], missing: [NotEvaluated] = []
        for (order, rule) in rules.enumerated() {
            switch rule.evaluate(c) {
            case .finding(let f): found.append((order, f))
            case .ruledOut(let r): ruled.append(r)
            case .notApplicable(let why): missing.append(NotEvaluated(id: rule.id, missing: why))
            }
        }
        // Shares are compared as printed (to 0.1%), so a difference in the noise never reorders findings.
        found.sort { a, b in
            let (sa, sb) = ((a.1.share.value * 1000).rounded(), (b.1.share.value * 1000).rounded())
            return sa != sb ? sa > sb : a.0 < b.0
        }
        // A consequence goes right after the finding it follows, when that one was found (one level).
        var ranked = found.map(\.1)
        for f in ranked where f.follows != nil {
            guard let i = ranked.firstIndex(where: { $0.id == f.id }), let j = ranked.firstIndex(where: { $0.id == f.follows }),
                  i < j else { continue }
            let moved = ranked.remove(at: i)
            ranked.insert(moved, at: j)  // j - 1 after the removal: right after the finding it follows
        }
        findings = ranked
        ruledOut = ruled
        notEvaluated = missing
    }
}
