/// The listener rules: `net.syn_flood` (the SYN queue overflows) and `net.listen_overflow` (the accept
/// queue overflows). Both fire on the kernel's own counters, which it raises only when a queue is full:
/// no threshold of ktrace's decides that a queue overflowed.

/// Values and steps both rules use, with their sources.
enum ListenTuning {
    /// Documentation/networking/ip-sysctl.rst, somaxconn: "Defaults to 4096. (Was 128 before linux-5.4)".
    static let somaxconnDefault: Int64 = 4096
    /// Step for a per-listener limit that overflowed: double it. ktrace's choice (ip-sysctl.rst says "try
    /// increasing" tcp_max_syn_backlog without a number); the next run's counters show if it was enough.
    static let raiseFactor: Int64 = 2

    /// somaxconn to try: the documented default when below it, else double.
    static func somaxconn(_ current: Int64?) -> Int64 {
        guard let current else { return somaxconnDefault }
        return current < somaxconnDefault ? somaxconnDefault : current * raiseFactor
    }

    /// The namespace whose counter `key` rose most (the earlier on a tie).
    static func busiest(_ c: DiagnoseContext, _ value: (NetNamespace) -> UInt64) -> NetNamespace? {
        let nss = c.namespaces.filter { $0.counters != nil }
        return nss.enumerated().max { (value($0.1), $1.0) < (value($1.1), $0.0) }?.1
    }

    /// Whether somaxconn is what limits the listener's queue: its backlog reached the cap (or the listener
    /// or the cap is unknown, when raising the cap is the one change that cannot be wrong).
    static func cappedBySomaxconn(_ l: Listener?, _ somax: Int64?) -> Bool {
        guard let l, let somax else { return true }
        return Int64(l.backlog) >= somax
    }

    static func describe(_ l: Listener) -> String {
        let who = l.comm.map { c in l.pid.map { "\(c) (pid \($0))" } ?? c } ?? "a process"
        return "\(who) listening on \(l.address) with backlog \(l.backlog)"
    }
}

/// `net.syn_flood`: SYNs arrive faster than a listener's SYN queue holds them.
///
/// Fires when the kernel answered SYNs with cookies (SyncookiesSent / TCPReqQFullDoCookies) or dropped
/// them (TCPReqQFullDrop): both happen only when a listener's request queue is full. Whether the senders
/// complete the handshake (SyncookiesRecv against SyncookiesSent, a majority rule) tells a flood from
/// sources that never answer apart from a legitimate rate the queue is too small for. The share is the
/// dropped SYNs' part of the packets lost, or, without drops, the TCP listen stage's cost on the hottest
/// NET_RX CPU.
public struct SynFloodRule: DiagnoseRule {
    public let id = "net.syn_flood"
    public let meaning = "a SYN flood: SYN rate, SYN-queue overflows, SYN cookies"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        func cookies(_ ns: NetNamespace) -> UInt64 { max(ns.counter("TcpExt.SyncookiesSent"), ns.counter("TcpExt.TCPReqQFullDoCookies")) }
        func dropped(_ ns: NetNamespace) -> UInt64 { ns.counter("TcpExt.TCPReqQFullDrop") }
        guard let ns = ListenTuning.busiest(c, { cookies($0) + dropped($0) }) else {
            return .notApplicable("no TCP counters (/proc/net/netstat) from any namespace")
        }
        let sent = cookies(ns), drops = dropped(ns), recv = ns.counter("TcpExt.SyncookiesRecv")
        guard sent + drops > 0 else {
            return .ruledOut(RuledOut(id: id, "no SYN queue overflowed: no SYN cookies sent, no SYNs dropped for a full queue", 0, .count,
                                      source: DiagnoseSource.netstat))
        }
        let label = Shell.label(ns)
        let rate = { DiagnoseFormat.rate($0, c.window) }
        let pct = DiagnoseFormat.pct
        let syncookies = ns.sysctl("net.ipv4.tcp_syncookies")
        let synBacklog = ns.sysctl("net.ipv4.tcp_max_syn_backlog")
        let somax = ns.sysctl("net.core.somaxconn")
        var ev: [Evidence] = []
        if sent > 0 {
            ev.append(Evidence("SYNs answered with cookies, queue full (\(label))", Double(sent) / c.window, .perSecond, source: DiagnoseSource.netstat))
            ev.append(Evidence("cookies returned (handshakes completed)", Double(recv) / c.window, .perSecond, source: DiagnoseSource.netstat))
        }
        if drops > 0 {
            ev.append(Evidence("SYNs dropped, queue full and no cookies (\(label))", Double(drops), .packets, source: DiagnoseSource.netstat))
        }
        for (key, v) in [("net.ipv4.tcp_syncookies", syncookies), ("net.ipv4.tcp_max_syn_backlog", synBacklog), ("net.core.somaxconn", somax)] {
            if let v { ev.append(Evidence(key, Double(v), .value, source: DiagnoseSource.sysctl(key), window: Evidence.atEnd)) }
        }
        let listener = (ns.listeners ?? []).count == 1 ? ns.listeners![0] : nil
        if let l = listener {
            ev.append(Evidence("backlog of \(l.address)", Double(l.backlog), .entries, source: DiagnoseSource.listeners, window: Evidence.atEnd))
        }
        let listenShare = c.split.map { $0.share("tcp_listen") } ?? 0
        let cost = c.split != nil && (c.split?.total ?? 0) > 0 ? c.stageCost(listenShare) : nil
        if let cost {
            ev.append(Evidence("CPU \(cost.cpu ?? 0)'s time in TCP listen/SYN handling", cost.value, .ratio,
                               source: DiagnoseSource.stackShare + " x " + DiagnoseSource.softirqTracepoints))
        }
        let who = listener.map { ListenTuning.describe($0) } ?? "a listener"
        let cause: String
        if drops > 0 && syncookies == 0 {
            cause = "SYNs reach \(who) in \(label) faster than its SYN queue (the listen backlog, capped by somaxconn) holds them, "
                + "and SYN cookies are off (tcp_syncookies=0), so the kernel dropped \(drops) SYNs (\(rate(drops))): new connections fail."
        } else if drops > 0 {
            cause = "SYNs reach \(who) in \(label) faster than its SYN queue holds them: the kernel dropped \(drops) (\(rate(drops))) "
                + "and answered \(sent) with cookies."
        } else if Double(recv) < Double(sent) * DiagnoseThreshold.majority {
            cause = "SYNs reach \(who) in \(label) faster than its SYN queue holds them, from sources that never complete the handshake: "
                + "\(sent) answered with cookies (\(rate(sent))), \(recv) came back"
                + (cost.map { "; answering them costs \(pct($0.value)) of CPU \($0.cpu ?? 0)" } ?? "") + "."
        } else {
            cause = "More legitimate connections reach \(who) in \(label) than its SYN queue holds: \(sent) answered with cookies "
                + "(\(rate(sent))) and \(recv) came back; ip-sysctl.rst: cookies must not carry a legitimate connection rate."
        }
        var tries: [TryChange] = []
        if syncookies == 0 {
            tries.append(TryChange("turn SYN cookies on, the kernel's defence against a SYN flood (ip-sysctl.rst, tcp_syncookies; default 1)",
                                   Shell.sysctl(ns, "net.ipv4.tcp_syncookies", 1)))
        }
        var raise = [String]()
        if let b = synBacklog { raise.append(Shell.sysctl(ns, "net.ipv4.tcp_max_syn_backlog", b * ListenTuning.raiseFactor)) }
        if ListenTuning.cappedBySomaxconn(listener, somax) {
            raise.append(Shell.sysctl(ns, "net.core.somaxconn", ListenTuning.somaxconn(somax)))
        }
        let appBacklog = listener.map { l in
            ListenTuning.cappedBySomaxconn(l, somax) ? "" : "; \(l.comm ?? "the application") asks for a backlog of only \(l.backlog): raise it in its configuration"
        } ?? ""
        if !raise.isEmpty {
            tries.append(TryChange(
                "give the listener a longer SYN queue (ip-sysctl.rst: under overload, increase tcp_max_syn_backlog and check somaxconn); "
                    + "the queue is the application's listen backlog capped by somaxconn" + appBacklog,
                raise.joined(separator: " && ")))
        }
        // Spreading receive work helps only where it costs: a flood that NET_RX absorbs in a few percent
        // of a CPU (the lab's synflood: 0.2%) gains nothing from RPS on whichever device that CPU serves.
        if let hot = c.hotNetRx, c.fractionOfCPU(hot.cpu, ns: hot.ns) >= DiagnoseThreshold.minimumShare,
           let d = c.deviceSteered(to: hot.cpu), c.cpuCount > 1 {
            tries.append(contentsOf: RxSpread.tries(c, ns: d.ns, dev: d.dev, how: d.how).prefix(1))
        }
        let share = drops > 0 ? c.lost.share(drops) : (cost ?? Share(0, of: .cpu))
        return .finding(Finding(
            id: id, title: drops > 0 ? "SYN queue overflow: \(drops) SYNs dropped" : "SYN flood absorbed by SYN cookies (\(rate(sent)))",
            share: share, evidence: ev, cause: cause, tries: tries,
            confirm: drops > 0
                ? Confirm("ktrace diagnose -d 5", "TcpExt.TCPReqQFullDrop (\(DiagnoseSource.netstat))", .zero)
                : Confirm("ktrace diagnose -d 5", "TcpExt.SyncookiesSent (\(DiagnoseSource.netstat)) and the TCP listen/SYN share of NET_RX", .down)))
    }
}

/// `net.listen_overflow`: a listener's accept queue overflowed.
///
/// Fires when ListenOverflows rose: the kernel counts it only when a completed handshake (or a SYN)
/// finds the accept queue at its backlog. The listener named is the one whose accept queue is fullest
/// at the window's end. The share is the overflows' part of the packets lost.
public struct ListenOverflowRule: DiagnoseRule {
    public let id = "net.listen_overflow"
    public let meaning = "accept-queue overflow (somaxconn, listen backlog)"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard let ns = ListenTuning.busiest(c, { $0.counter("TcpExt.ListenOverflows") }) else {
            return .notApplicable("no TCP counters (/proc/net/netstat) from any namespace")
        }
        let overflows = ns.counter("TcpExt.ListenOverflows")
        guard overflows > 0 else {
            return .ruledOut(RuledOut(id: id, "no accept queue overflowed (ListenOverflows 0)", 0, .count, source: DiagnoseSource.netstat))
        }
        let label = Shell.label(ns)
        let somax = ns.sysctl("net.core.somaxconn")
        let fullness = { (l: Listener) -> Double in l.backlog > 0 ? Double(l.acceptQueue) / Double(l.backlog) : 0 }
        let listener = (ns.listeners ?? []).max { (fullness($0), $0.acceptQueue, $1.address) < (fullness($1), $1.acceptQueue, $0.address) }
        var ev = [Evidence("connections dropped, accept queue full (\(label))", Double(overflows), .packets, source: DiagnoseSource.netstat)]
        if let freed = c.lost.evidence(.listenOverflow) { ev.append(freed) }
        let listenDrops = ns.counter("TcpExt.ListenDrops")
        if listenDrops > 0 {
            ev.append(Evidence("all listen drops", Double(listenDrops), .packets, source: DiagnoseSource.netstat))
        }
        if let somax { ev.append(Evidence("net.core.somaxconn", Double(somax), .value, source: DiagnoseSource.sysctl("net.core.somaxconn"), window: Evidence.atEnd)) }
        if let l = listener {
            ev.append(Evidence("accept queue of \(l.address), of its backlog \(l.backlog)", fullness(l), .ratio,
                               source: DiagnoseSource.listeners, window: Evidence.atEnd))
        }
        let who = listener.map { ListenTuning.describe($0) } ?? "a listener"
        let app = listener?.comm ?? "the application"
        var tries: [TryChange] = []
        if ListenTuning.cappedBySomaxconn(listener, somax) {
            tries.append(TryChange(
                "raise somaxconn, the cap on every listen() backlog (ip-sysctl.rst: 4096 by default since Linux 5.4, 128 before), "
                    + "then \(app)'s own backlog, which listen(2) truncates to it",
                Shell.sysctl(ns, "net.core.somaxconn", ListenTuning.somaxconn(somax))))
        } else if let l = listener {
            tries.append(TryChange(
                "raise \(app)'s listen backlog (\(l.backlog)) in its configuration: somaxconn (\(somax ?? 0)) allows more; "
                    + "watch its accept queue (Recv-Q) against the backlog (Send-Q)",
                Shell.inNetns(ns, "ss -ltn 'sport = :\(l.address.split(separator: ":").last ?? "")'")))
        }
        if let pid = listener?.pid {
            tries.append(TryChange("see where \(app) waits instead of accepting", "ktrace offcpu --pid \(pid) -d 10 -o offcpu.svg"))
        }
        return .finding(Finding(
            id: id, title: "accept queue overflow: \(overflows) connections dropped", share: c.lost.share(overflows), evidence: ev,
            cause: "The accept queue of \(who) in \(label) filled: \(app) accepts connections more slowly than handshakes complete, "
                + "and the kernel dropped \(overflows) of them (\(DiagnoseFormat.rate(overflows, c.window))).",
            tries: tries,
            confirm: Confirm("ktrace diagnose -d 5", "TcpExt.ListenOverflows (\(DiagnoseSource.netstat))", .zero)))
    }
}
