/// `net.conntrack_full`: the connection-tracking table is full and packets are dropped.
///
/// Fires on the kernel's own signal, no threshold of ktrace's: /proc/net/stat/nf_conntrack's `drop` rose,
/// which the kernel counts when a new entry finds the table at nf_conntrack_max and nothing evictable
/// (it logs "nf_conntrack: table full, dropping packet"). The share is those drops' part of all packets
/// lost. A full table that coped by evicting (`early_drop` only) is ruled out with that number.
public struct ConntrackFullRule: DiagnoseRule {
    public let id = "net.conntrack_full"
    public let meaning = "the connection-tracking table is full and packets are dropped"

    /// Step when raising the limit: double it. ktrace's choice, not a source's: the table reached its
    /// limit within one window, so the step must be large; the new count shows if it was enough.
    static let raiseFactor: UInt64 = 2

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        let tracked = c.namespaces.filter { $0.conntrack != nil }
        guard !tracked.isEmpty else {
            return .notApplicable("no conntrack counters (/proc/net/stat/nf_conntrack): nf_conntrack not loaded, or not read")
        }
        let fill = { (ns: NetNamespace) -> Double in
            let ct = ns.conntrack!
            return ct.max > 0 ? Double(ct.count) / Double(ct.max) : 0
        }
        // Most drops; on a tie the fullest table, then the earlier namespace.
        let ns = tracked.enumerated().max { a, b in
            (a.1.conntrack!.drop, fill(a.1), b.0) < (b.1.conntrack!.drop, fill(b.1), a.0)
        }!.1
        let ct = ns.conntrack!
        let pct = DiagnoseFormat.pct
        guard ct.drop > 0 else {
            let coped = ct.earlyDrop > 0 ? "; full \(ct.earlyDrop) times, coped by evicting unconfirmed entries" : ""
            return .ruledOut(RuledOut(id: id, "no packets dropped for a full conntrack table; fullest: \(ct.count) of \(ct.max) "
                                      + "entries (\(pct(fill(ns))))\(coped)", fill(ns), .ratio, source: DiagnoseSource.conntrackStat))
        }
        let label = Shell.label(ns)
        var ev = [
            Evidence("packets dropped, conntrack table full (\(label))", Double(ct.drop), .packets, source: DiagnoseSource.conntrackStat),
            Evidence("conntrack entries", Double(ct.count), .entries, source: DiagnoseSource.sysctl("net.netfilter.nf_conntrack_count"),
                     window: Evidence.atEnd),
            Evidence("conntrack limit", Double(ct.max), .entries, source: DiagnoseSource.sysctl("net.netfilter.nf_conntrack_max"),
                     window: Evidence.atEnd),
        ]
        if let freed = c.lost.evidence(.netfilter) { ev.insert(freed, at: 1) }
        if ct.earlyDrop > 0 {
            ev.append(Evidence("entries evicted to make room (early_drop)", Double(ct.earlyDrop), .count, source: DiagnoseSource.conntrackStat))
        }
        if ct.insertFailed > 0 {
            ev.append(Evidence("inserts failed (insert_failed)", Double(ct.insertFailed), .count, source: DiagnoseSource.conntrackStat))
        }
        let newMax = max(ct.max, ct.count) * Self.raiseFactor
        // nf_conntrack_max is one limit for all namespaces, and nf_conntrack_buckets is writable only in
        // the initial one: both are set from the host. nf_conntrack-sysctl.rst: the limit defaults to the
        // bucket count, so raising both keeps the documented ratio (hash chains of 2 when full).
        var tries = [TryChange(
            "raise the table's limit (one limit for all namespaces, set from the host) to \(newMax), and the hash table with it: "
                + "the limit defaults to the bucket count (nf_conntrack-sysctl.rst)",
            "sysctl -w net.netfilter.nf_conntrack_max=\(newMax) && sysctl -w net.netfilter.nf_conntrack_buckets=\(newMax)")]
        let dev = (ns.devices ?? []).filter { ($0.rxPackets ?? 0) > 0 }.max { ($0.rxPackets ?? 0, $1.name) < ($1.rxPackets ?? 0, $0.name) }
        if let dev {
            tries.append(TryChange("or exempt traffic on \(dev.name) that needs no state (no NAT, no stateful rule) from tracking; "
                                   + "narrow it with -p and --dport", Shell.inNetns(ns, "iptables -w -t raw -I PREROUTING -i \(dev.name) -j CT --notrack")))
        }
        return .finding(Finding(
            id: id, title: "the conntrack table is full: \(ct.drop) packets dropped", share: c.lost.share(ct.drop), evidence: ev,
            cause: "The conntrack table of \(label) holds \(ct.count) of its \(ct.max) entries, so the kernel drops each packet "
                + "that would start a new connection: \(ct.drop) in \(c.windowText) (\(DiagnoseFormat.rate(ct.drop, c.window))).",
            tries: tries,
            confirm: Confirm("ktrace diagnose -d 5", "conntrack drop (\(DiagnoseSource.conntrackStat))", .zero)))
    }
}
