/// `net.backlog_drops`: packets dropped because a CPU's input backlog was full.
///
/// Fires when /proc/net/softnet_stat's dropped column rose on any CPU: the kernel drops there only when
/// the per-CPU backlog already holds netdev_max_backlog packets. time_squeeze alone (NET_RX's round
/// ended with work left, on netdev_budget or netdev_budget_usecs) defers work without losing it: it is
/// evidence, and with no drops the rule is ruled out with that number. The share is the backlog drops'
/// part of the packets lost.
public struct BacklogDropsRule: DiagnoseRule {
    public let id = "net.backlog_drops"
    public let meaning = "softnet backlog drops (netdev_max_backlog) or time squeeze (netdev_budget)"

    /// Red Hat, RHEL network troubleshooting and performance tuning guide ("Tuning the network device
    /// backlog queue"): when softnet_stat's second column increments, "set the
    /// net.core.netdev_max_backlog parameter to a double of the current value"; the same guide raises
    /// netdev_budget and netdev_budget_usecs when the third column increments (ktrace doubles them too).
    static let raiseFactor: Int64 = 2
    /// Documentation/admin-guide/sysctl/net.rst: netdev_max_backlog's default, when the input lacks it.
    static let defaultMaxBacklog: Int64 = 1000

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard let softnet = c.input.softnet, !softnet.isEmpty else { return .notApplicable("no /proc/net/softnet_stat") }
        let dropped = softnet.reduce(UInt64(0)) { $0 + $1.dropped }
        let squeeze = softnet.reduce(UInt64(0)) { $0 + $1.timeSqueeze }
        guard dropped > 0 else {
            let text = squeeze > 0
                ? "no backlog drops; NET_RX ran out of budget \(squeeze) times (time_squeeze): work deferred, not lost"
                : "no backlog drops and no time squeeze"
            return .ruledOut(RuledOut(id: id, text, Double(squeeze), .count, source: DiagnoseSource.softnet))
        }
        let worst = softnet.max { ($0.dropped, $1.cpu) < ($1.dropped, $0.cpu) }!
        let sys = c.input.sysctls ?? [:]
        let maxBacklog = sys["net.core.netdev_max_backlog"]
        var ev = [
            Evidence("packets dropped, input backlog full (all CPUs)", Double(dropped), .packets, source: DiagnoseSource.softnet),
            Evidence("dropped on CPU \(worst.cpu)", Double(worst.dropped), .packets, source: DiagnoseSource.softnet),
        ]
        if let freed = c.lost.evidence(.cpuBacklog) { ev.append(freed) }
        if squeeze > 0 {
            ev.append(Evidence("NET_RX rounds out of budget (time_squeeze)", Double(squeeze), .count, source: DiagnoseSource.softnet))
        }
        for key in ["net.core.netdev_max_backlog", "net.core.netdev_budget", "net.core.netdev_budget_usecs"] {
            if let v = sys[key] { ev.append(Evidence(key, Double(v), .value, source: DiagnoseSource.sysctl(key), window: Evidence.atEnd)) }
        }
        let backlog = maxBacklog ?? Self.defaultMaxBacklog
        var tries = [TryChange("lengthen each CPU's input backlog, doubling it (Red Hat's tuning guide, when softnet_stat's dropped column grows)",
                               "sysctl -w net.core.netdev_max_backlog=\(backlog * Self.raiseFactor)")]
        if squeeze > 0 {
            let budget = ["net.core.netdev_budget", "net.core.netdev_budget_usecs"].compactMap { k in
                sys[k].map { "sysctl -w \(k)=\($0 * Self.raiseFactor)" }
            }
            if !budget.isEmpty {
                tries.append(TryChange("let each NET_RX round do more before it yields, doubling its budget (Red Hat's tuning guide, "
                                       + "when time_squeeze grows)", budget.joined(separator: " && ")))
            }
        }
        let concentrated = Double(worst.dropped) > Double(dropped) * DiagnoseThreshold.majority
        if concentrated, c.cpuCount > 1, let d = c.deviceSteered(to: worst.cpu) {
            tries.append(contentsOf: RxSpread.tries(c, ns: d.ns, dev: d.dev, how: d.how).prefix(1))
        }
        // A backlog drains as fast as its CPU's NET_RX runs: drops on the CPU with most NET_RX, that CPU
        // busy beyond 70%, follow from what saturates it (net.rx_one_cpu, when that rule finds it).
        let saturated = concentrated && c.hotNetRx?.cpu == worst.cpu
            && (c.cpu(worst.cpu)?.busyFraction ?? 0) >= DiagnoseThreshold.highUtilisation
        return .finding(Finding(
            id: id, title: "input backlog full: \(dropped) packets dropped", share: c.lost.share(dropped), evidence: ev,
            cause: "Packets were queued to CPU \(worst.cpu)'s input backlog (netdev_max_backlog = \(backlog)) faster than its NET_RX "
                + "drained them, so the kernel dropped \(dropped) (\(DiagnoseFormat.rate(dropped, c.window)))"
                + (squeeze > 0 ? ", and NET_RX ran out of budget \(squeeze) times" : "") + ".",
            tries: tries,
            confirm: Confirm("ktrace diagnose -d 5", "dropped on CPU \(worst.cpu) (\(DiagnoseSource.softnet), column 2)", .zero),
            follows: saturated ? "net.rx_one_cpu" : nil))
    }
}
