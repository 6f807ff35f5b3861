/// `memory.reclaim`: kswapd or direct reclaim under memory pressure.
///
/// Fires on any of: tasks entered direct reclaim (vmstat allocstall_* rose: the kernel's own sign that
/// kswapd fell behind, Documentation/admin-guide/sysctl/vm.rst), memory PSI "some" avg10 at or above
/// psi.rst's example trigger, or kswapd using at least `minimumShare` of a CPU. The share is the larger
/// of PSI memory some (of wall time stalled) and kswapd's CPU time (of one CPU).
public struct MemoryReclaimRule: DiagnoseRule {
    public let id = "memory.reclaim"
    public let meaning = "kswapd or direct reclaim under memory pressure"

    /// Documentation/accounting/psi.rst's example trigger, "some 150000 1000000": 150 ms of partial
    /// memory stall per 1 s window, i.e. 15%. Compared with avg10, in percent.
    static let psiMemorySomePercent = 15.0
    /// vm.rst: watermark_scale_factor's default (10, i.e. 0.1% of memory), when the input lacks it.
    static let defaultWatermarkScale: Int64 = 10
    /// Step: double. ktrace's choice; vm.rst names the knob for "a high rate of threads entering direct
    /// reclaim (allocstall)" without a value.
    static let raiseFactor: Int64 = 2

    public init() {}

    public func evaluate(_ c: DiagnoseContext) -> RuleOutcome {
        let vm = c.input.vmstat
        let psiSome = c.input.psi?.memorySome
        guard vm != nil || psiSome != nil else { return .notApplicable("no /proc/vmstat deltas and no memory PSI") }
        let v = vm ?? [:]
        let allocstall = v.filter { $0.key.hasPrefix("allocstall") }.values.reduce(0, +)
        let scanDirect = v["pgscan_direct"] ?? 0, scanKswapd = v["pgscan_kswapd"] ?? 0
        let stealDirect = v["pgsteal_direct"] ?? 0, stealKswapd = v["pgsteal_kswapd"] ?? 0
        let kswapdNs = (c.input.kthreads ?? []).filter { $0.name.hasPrefix("kswapd") }.reduce(UInt64(0)) { $0 + $1.ownNs }
        let kswapd = c.cpuFraction(ns: kswapdNs)
        let pct = DiagnoseFormat.pct
        let pressured = (psiSome ?? 0) >= Self.psiMemorySomePercent
        guard allocstall > 0 || pressured || kswapd >= DiagnoseThreshold.minimumShare else {
            let psiText = psiSome.map { ", memory PSI some \(fixed($0, 1))%" } ?? ""
            return .ruledOut(RuledOut(id: id, "no direct reclaim (allocstall 0), kswapd \(pct(kswapd)) of a CPU\(psiText)", kswapd, .ratio,
                                      source: DiagnoseSource.vmstat))
        }
        var ev: [Evidence] = []
        if vm != nil {
            ev.append(Evidence("tasks entering direct reclaim (allocstall)", Double(allocstall), .count, source: DiagnoseSource.vmstat))
            ev.append(Evidence("pages scanned by direct reclaim", Double(scanDirect), .count, source: DiagnoseSource.vmstat))
            ev.append(Evidence("pages reclaimed by direct reclaim", Double(stealDirect), .count, source: DiagnoseSource.vmstat))
            ev.append(Evidence("pages scanned by kswapd", Double(scanKswapd), .count, source: DiagnoseSource.vmstat))
            ev.append(Evidence("pages reclaimed by kswapd", Double(stealKswapd), .count, source: DiagnoseSource.vmstat))
        }
        if c.input.kthreads != nil { ev.append(Evidence("kswapd's CPU time", kswapd, .ratio, source: DiagnoseSource.kthreads)) }
        if let p = c.input.psi {
            if let s = p.memorySome { ev.append(Evidence("memory PSI some", s, .percent, source: DiagnoseSource.psi("memory"), window: "avg10")) }
            if let f = p.memoryFull { ev.append(Evidence("memory PSI full", f, .percent, source: DiagnoseSource.psi("memory"), window: "avg10")) }
        }
        let stall = psiSome.map { Share($0 / 100, of: .stallTime) }
        let cpu = Share(kswapd, of: .cpu)
        let share = (stall?.value ?? -1) >= cpu.value ? stall! : cpu
        let psiText = psiSome.map { "; some task waited on memory \(fixed($0, 1))% of the last 10 s" } ?? ""
        let cause = allocstall > 0
            ? "Allocations outran kswapd: tasks entered direct reclaim \(allocstall) times (\(DiagnoseFormat.rate(allocstall, c.window))) "
                + "and scanned \(scanDirect) pages themselves\(psiText)."
            : "Memory is being reclaimed: kswapd used \(pct(kswapd)) of a CPU and scanned \(scanKswapd) pages\(psiText)."
        var tries: [TryChange] = []
        if allocstall > 0 {
            let wsf = c.input.sysctls?["vm.watermark_scale_factor"] ?? Self.defaultWatermarkScale
            tries.append(TryChange("wake kswapd earlier, so allocations find free pages instead of reclaiming themselves (vm.rst: "
                                   + "watermark_scale_factor, for a high rate of allocstall)",
                                   "sysctl -w vm.watermark_scale_factor=\(wsf * Self.raiseFactor)"))
        }
        tries.append(TryChange("find the tasks and code paths that allocate into reclaim: their memory use (or their cgroup's "
                               + "memory.max) is the real change",
                               "ktrace stacks -a --event tracepoint:vmscan:mm_vmscan_direct_reclaim_begin -d 10"))
        return .finding(Finding(
            id: id, title: allocstall > 0 ? "memory pressure: direct reclaim \(allocstall) times" : "memory pressure: kswapd reclaiming",
            share: share, evidence: ev, cause: cause, tries: tries,
            confirm: Confirm("ktrace diagnose -d 5",
                             allocstall > 0 ? "allocstall (\(DiagnoseSource.vmstat)) and memory PSI some" : "kswapd's CPU time", .down)))
    }
}
