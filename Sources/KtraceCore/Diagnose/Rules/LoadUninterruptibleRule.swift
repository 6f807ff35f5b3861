/// `load.uninterruptible`: the load average comes from D-state tasks.
///
/// Linux's load average counts tasks in state D as well as R. The rule looks at the window's own demand
/// (R + D tasks, averaged over its samples; the 1-minute average lags): it fires when that demand is above
/// the CPU count and D tasks are most of it (a majority). The share is D's part of R + D.
public struct LoadUninterruptibleRule: DiagnoseRule {
    public let id = "load.uninterruptible"
    public let meaning = "the load average comes from D-state tasks, grouped by wait channel and kernel stack"

    /// Load is worth explaining above the CPU count: Brendan Gregg, "Linux Load Averages: Solving the
    /// Mystery" (2017): "if they are higher than your CPU count, then you might have a performance
    /// problem"; the USE method's CPU saturation check is the same (runnable tasks > CPU count).
    static func demandIsHigh(_ demand: Double, cpus: Int) -> Bool { demand > Double(cpus) }

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard let load = c.input.load else { return .notApplicable("no task-state counts (/proc/*/stat) or /proc/loadavg") }
        guard c.cpuCount > 0 else { return .notApplicable("no CPU count (/proc/stat)") }
        let r = load.running, d = load.uninterruptible
        let demand = r + d
        let tasks = DiagnoseFormat.tasks
        guard Self.demandIsHigh(demand, cpus: c.cpuCount) else {
            return .ruledOut(RuledOut(id: id, "R + D tasks average \(tasks(demand)), not above the \(c.cpuCount) CPUs", demand, .tasks,
                                      source: DiagnoseSource.taskStates))
        }
        let dShare = d / demand
        let pct = DiagnoseFormat.pct
        guard dShare >= DiagnoseThreshold.majority else {
            return .ruledOut(RuledOut(id: id, "D tasks are \(pct(dShare)) of the load (R \(tasks(r)), D \(tasks(d)))", dShare, .ratio,
                                      source: DiagnoseSource.taskStates))
        }
        var ev = [
            Evidence("load average, 1 min", load.load1, .value, source: DiagnoseSource.loadavg, window: "1 min"),
            Evidence("tasks in D (uninterruptible)", d, .tasks, source: DiagnoseSource.taskStates),
            Evidence("tasks in R (running or runnable)", r, .tasks, source: DiagnoseSource.taskStates),
            Evidence("CPUs", Double(c.cpuCount), .count, source: DiagnoseSource.procStat, window: Evidence.atEnd),
        ]
        let groups = (load.dByWchan ?? []).sorted { ($0.tasks, $1.wchan) > ($1.tasks, $0.wchan) }
        for g in groups.prefix(3) {
            let who = (g.comms ?? []).prefix(3).joined(separator: ", ")
            ev.append(Evidence("D tasks in \(g.wchan)" + (who.isEmpty ? "" : " (\(who))"), g.tasks, .tasks, source: DiagnoseSource.taskStates))
        }
        if let p = c.input.psi {
            if let s = p.ioSome { ev.append(Evidence("io PSI some", s, .percent, source: DiagnoseSource.psi("io"), window: "avg10")) }
            if let f = p.ioFull { ev.append(Evidence("io PSI full", f, .percent, source: DiagnoseSource.psi("io"), window: "avg10")) }
        }
        let top = groups.first
        var cause = "Tasks in uninterruptible sleep, which the load average counts though they use no CPU, are \(pct(dShare)) of it "
            + "(\(tasks(d)) of \(tasks(demand)) tasks on \(c.cpuCount) CPUs)"
        if let g = top {
            let who = (g.comms ?? []).prefix(3).joined(separator: ", ")
            cause += "; \(tasks(g.tasks)) wait in \(g.wchan)" + (who.isEmpty ? "" : " (\(who))")
            if let path = Self.path(g.stack) { cause += ", kernel stack " + path }
            if let f = g.files?.first { cause += ", on \(f)" }
            cause += ", so whatever is behind \(g.wchan) (a device, a server, a lock) is slow"
        }
        cause += "."
        return .finding(Finding(
            id: id, title: "the load average is D-state tasks: \(tasks(d)) of \(tasks(demand))", share: Share(dShare, of: .loadAverage),
            evidence: ev, cause: cause,
            tries: [TryChange("see the kernel stacks they wait in and for how long; the change is to what sits behind "
                              + (top.map { $0.wchan } ?? "the wait") + ", which the stacks name",
                              "ktrace offcpu --state D -d 10 -o d-state.svg")],
            confirm: Confirm("ktrace offcpu --state D -d 10", "D-state time" + (top.map { " under \($0.wchan)" } ?? ""), .down)))
    }

    /// The wait's kernel stack as a path from the system call (or the stack's root) to the leaf, the
    /// entry frames left out: `vfs_read > filemap_read > filemap_get_pages > folio_wait_bit_common`.
    static func path(_ stack: [String]?) -> String? {
        guard var s = stack?.filter({ $0 != "..." }), !s.isEmpty else { return nil }
        if let sys = s.lastIndex(where: { $0.hasPrefix("do_syscall") || $0.hasPrefix("entry_SYSCALL") || $0 == "ret_from_fork" }) {
            s = Array(s[(sys + 1)...])
        }
        s = Array(s.suffix(6))
        return s.isEmpty ? nil : s.joined(separator: " > ")
    }
}
