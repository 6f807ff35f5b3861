/// `cpu.user`: the time is applications' own CPU, not the kernel's.
///
/// Fires when some CPU is busy beyond the USE method's 70%, user-mode time is most of the machine's busy
/// time (a majority), and it is at least `minimumShare` of the machine. The share is user time's fraction
/// of the machine's CPU time. The change is in the application: the finding points at its stacks.
public struct CPUUserRule: DiagnoseRule {
    public let id = "cpu.user"
    public let meaning = "the time is applications' own CPU, not the kernel's; point at ktrace stacks for the process"

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        guard let cpus = c.cpus, !cpus.isEmpty, let hot = c.hottestCPU else { return .notApplicable("no per-CPU utilisation (/proc/stat)") }
        let user = cpus.reduce(0) { $0 + $1.user + $1.nice }
        let kernel = cpus.reduce(0) { $0 + $1.kernel }
        let machine = cpus.reduce(0) { $0 + $1.total }
        let busy = user + kernel
        let pct = DiagnoseFormat.pct
        guard hot.busyFraction >= DiagnoseThreshold.highUtilisation else {
            return .ruledOut(RuledOut(id: id, "no CPU above the USE method's 70%: the busiest, CPU \(hot.cpu), is \(pct(hot.busyFraction))",
                                      hot.busyFraction, .ratio, source: DiagnoseSource.procStat))
        }
        let userOfBusy = busy > 0 ? user / busy : 0
        guard userOfBusy > DiagnoseThreshold.majority else {
            return .ruledOut(RuledOut(id: id, "applications' own time is \(pct(userOfBusy)) of busy CPU time; the kernel's is "
                                      + "\(pct(1 - userOfBusy))", userOfBusy, .ratio, source: DiagnoseSource.procStat))
        }
        let share = machine > 0 ? user / machine : 0
        guard share >= DiagnoseThreshold.minimumShare else {
            return .ruledOut(RuledOut(id: id, "applications' own time is \(pct(share)) of the machine", share, .ratio, source: DiagnoseSource.procStat))
        }
        var ev = [
            Evidence("user time, of all CPUs", share, .ratio, source: DiagnoseSource.procStat),
            Evidence("user time, of busy time", userOfBusy, .ratio, source: DiagnoseSource.procStat),
            Evidence("CPU \(hot.cpu) busy", hot.busyFraction, .ratio, source: DiagnoseSource.procStat),
        ]
        let procs = (c.input.processes ?? []).sorted { ($0.userSeconds, $1.pid) > ($1.userSeconds, $0.pid) }
        for p in procs.prefix(3) where p.userSeconds > 0 {
            ev.append(Evidence("\(p.comm) (pid \(p.pid)) user time, of one CPU", p.userSeconds / c.window, .ratio, source: DiagnoseSource.procPidStat))
        }
        let top = procs.first { $0.userSeconds > 0 }
        let cause = "The busy time is applications' own, in user mode: \(pct(share)) of the machine, \(pct(userOfBusy)) of all busy time"
            + (top.map { "; \($0.comm) (pid \($0.pid)) alone uses \(pct($0.userSeconds / c.window)) of a CPU" } ?? "")
            + ". The kernel is not where the time goes."
        let tries = [top.map { p in
            TryChange("see where \(p.comm) computes: the change is in the application (or more CPUs for it)",
                      "ktrace stacks --pid \(p.pid) -d 10 -o \(p.comm.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }).svg")
        } ?? TryChange("see where the applications compute: the change is in them", "ktrace stacks -a -d 10 -o cpu.svg")]
        return .finding(Finding(
            id: id, title: "applications' own CPU time: \(pct(share)) of the machine", share: Share(share, of: .machineCPU), evidence: ev,
            cause: cause, tries: tries,
            confirm: Confirm(tries[0].command, "the hottest user function's share" + (top.map { " in \($0.comm)" } ?? ""), .down)))
    }
}
