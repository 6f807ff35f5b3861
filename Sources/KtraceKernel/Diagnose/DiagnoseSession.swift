import FoundationEssentials
import Glibc
import KtraceCore

/// `ktrace diagnose`'s one window: the softirq, kernel-thread, stack-sampling and drop-counting programs
/// attached together, and /proc and /sys read at the window's start and end (task states also during it;
/// TCP listeners and packet-filter rule counts, gauges, at its end only), turned into a `DiagnoseInput`.
/// What cannot be measured here is left out of the input and named in `notMeasured`, once.
public final class DiagnoseSession {
    public struct Options: Sendable {
        public var attach: AttachKind = .auto
        /// Sampling rate of the kernel stacks split into NET_RX stages.
        public var stackHz: UInt64 = 99
        /// With --pid/--comm: the processes of interest. Only they are listed as busy processes, and only
        /// their network namespaces (with the host's) are read.
        public var focus: (@Sendable (_ pid: Int, _ comm: String) -> Bool)?
        /// Most network namespaces read (the initial one and named ones first).
        public var maxNamespaces = 64
        public init() {}
    }

    let options: Options
    let softirq: SoftirqSession?
    let kthreads: KthreadsSession?
    let profile: ProfileSession?
    let drops: DropsSession?
    /// The packet-filter listings run in each namespace at the window's end.
    let ruleListings = RuleListings.installed()
    /// What this run could not measure, each said once: the rules that need it report "not evaluated".
    public private(set) var notMeasured: [String] = []

    private var start: Baseline?
    private var tasks = TaskStateSampler()
    private var lastTaskWalk: UInt64 = 0

    /// What was read when the window opened.
    struct Baseline {
        var monoNs: UInt64
        var stat: [Int: [UInt64]]
        var softnet: [SoftnetCPU]?
        var vmstat: [String: UInt64]?
        var processes: [Int: TaskStatText.Fields]
        var kthreads: KthreadsSnapshot?
        var queuers: [QueuerKey: QueuerCount]
        var namespaces: [UInt64: NetnsReadout]
    }

    /// Attaches what this kernel allows: each session that fails is named in `notMeasured`, and the
    /// others go on. Throws only when none attaches.
    public init(_ options: Options) throws(KernelError) {
        self.options = options
        var missing: [String] = []
        do { softirq = try SoftirqSession(attach: options.attach, cpu: nil, latency: false) } catch {
            softirq = nil
            missing.append("softirq time per vector and CPU (\(error.message))")
        }
        do { kthreads = try KthreadsSession(attach: options.attach, queuers: true) } catch {
            kthreads = nil
            missing.append("kernel threads and work items (\(error.message))")
        }
        var c = ProfileConfig()
        c.attach = options.attach
        c.frequency = options.stackHz
        c.userStacks = false
        c.aggregate = true
        c.trackSoftirq = true
        c.stackStorage = 8192
        c.countEntries = 16384
        do { profile = try ProfileSession(c) } catch {
            profile = nil
            missing.append("kernel stacks in NET_RX (\(error.message))")
        }
        do { drops = try DropsSession(attach: options.attach) } catch {
            drops = nil
            missing.append("packets dropped by reason and location (\(error.message))")
        }
        if softirq == nil && kthreads == nil && profile == nil && drops == nil {
            throw KernelError("no tracing program attached: " + missing.joined(separator: "; "))
        }
        if let k = kthreads, let wq = k.decoders.first(where: { $0.name == "workqueue" }), let p = wq.problem {
            missing.append("work items run by kworkers (\(p))")
        }
        if let k = kthreads, !k.countsQueuers, kthreads?.decoders.first(where: { $0.name == "workqueue" })?.problem == nil {
            missing.append("who queued work items (the workqueue decoder did not count them)")
        }
        if let absent = ruleListings.missing { missing.append(absent) }
        notMeasured = missing
    }

    /// Opens the window: counting starts now, and every counter is read once.
    public func begin() throws(KernelError) {
        // The namespaces first: reading them takes a thread, a mount and a sysfs each (up to 1.2 s here),
        // and the programs' counts below must start with the window's clock, as finish() ends them with it.
        var namespaces: [UInt64: NetnsReadout] = [:]
        for ns in chosenNamespaces() {
            if case .success(let r) = NetnsReader.read(ns.path) { namespaces[ns.inode] = r }
        }
        if let profile { try profile.start() }
        _ = try softirq?.read()  // the interval before this is not the window's
        let kth = try kthreads?.read()
        let queuers = kthreads?.readQueuers().counts ?? [:]
        try drops?.start()
        start = Baseline(monoNs: Kernel.monotonicNs(), stat: ProcStatText.perCPU(ProcFiles.read("/proc/stat") ?? ""),
                         softnet: ProcFiles.read("/proc/net/softnet_stat").map(SoftnetText.parse),
                         vmstat: ProcFiles.read("/proc/vmstat").map(VMStatText.parse),
                         processes: ProcFiles.processStats(), kthreads: kth, queuers: queuers, namespaces: namespaces)
        sampleTasks()
    }

    /// The monotonic time the window opened.
    public var beganNs: UInt64? { start?.monoNs }

    /// Called while recording: walks the tasks' states twice a second at most.
    public func poll() {
        if Kernel.monotonicNs() - lastTaskWalk >= 500_000_000 { sampleTasks() }
    }

    private func sampleTasks() {
        let walk = ProcFiles.taskStates()
        tasks.add(running: walk.running, blocked: walk.blocked)
        lastTaskWalk = Kernel.monotonicNs()
    }

    /// Closes the window and returns everything it measured.
    public func finish() throws(KernelError) -> DiagnoseInput {
        guard let start else { throw KernelError("diagnose: the window was never opened") }
        sampleTasks()
        let sirq = try softirq?.read()
        let kth = try kthreads?.read()
        let queuersNow = kthreads?.readQueuers()
        let dropsNow = try drops?.read()
        let statNow = ProcStatText.perCPU(ProcFiles.read("/proc/stat") ?? "")
        let endNs = Kernel.monotonicNs()
        profile?.stop()
        var input = DiagnoseInput(windowSeconds: Double(endNs - start.monoNs) / 1e9)
        input.kernel = Self.kernelRelease()
        input.cpus = ProcStatText.delta(start.stat, statNow, hz: ProcFiles.userHz)
        if let sirq { input.softirq = Self.softirqTimes(sirq.perCPU) }
        if let kthreads, let a = start.kthreads, let b = kth { input.kthreads = Self.kthreadObservations(kthreads, from: a, to: b) }
        if let kthreads, let q = queuersNow, kthreads.countsQueuers {
            input.workQueuers = Self.workQueuers(from: start.queuers, to: q.counts, symbols: kthreads.symbols)
            if q.full > 0 { note("who queued \(q.full) work items (the queuer table was full)") }
        }
        if let profile { input.netRxStacks = Self.netRxStacks(profile, symbols: kthreads?.symbols) }
        if let dropsNow { Self.fillDrops(&input, dropsNow, symbols: kthreads?.symbols ?? (try? KernelSymbols.load())) }
        if let a = start.softnet, let b = ProcFiles.read("/proc/net/softnet_stat").map(SoftnetText.parse) { input.softnet = SoftnetText.delta(a, b) }
        if let a = start.vmstat, let b = ProcFiles.read("/proc/vmstat").map(VMStatText.parse) { input.vmstat = SNMPText.delta(a, b) }
        let procs = ProcFiles.processStats()
        let focused = start.processes.filter { options.focus?($0.key, $0.value.comm) ?? true }
        input.processes = ProcessCPUDelta.top(focused, procs, hz: ProcFiles.userHz, top: 10)
        if let l = ProcFiles.read("/proc/loadavg").flatMap(LoadavgText.parse) { input.load = tasks.observation(loadavg: l) }
        input.psi = Self.psi()
        if input.psi == nil { note("pressure stall information (no /proc/pressure: a kernel without CONFIG_PSI, or psi=0)") }
        var global: [String: Int64] = [:]
        for key in ["net.core.netdev_budget", "net.core.netdev_budget_usecs", "net.core.netdev_max_backlog",
                    "net.core.rps_sock_flow_entries", "vm.watermark_scale_factor"] {
            if let v = ProcFiles.read(DiagnoseSource.sysctl(key)).flatMap({ Int64($0.trimmed) }) { global[key] = v }
        }
        input.sysctls = global
        input.namespaces = readNamespaces(start: start.namespaces)
        return input
    }

    private func note(_ what: String) { if !notMeasured.contains(what) { notMeasured.append(what) } }

    /// The namespaces to read: all (the initial one and named ones first), or with a focus the initial
    /// one and those of the focused processes; at most `maxNamespaces`.
    private func chosenNamespaces() -> [NetnsRef] {
        var all = NetnsReader.namespaces()
        if let focus = options.focus {
            all = all.filter { ns in
                ns.isInit || ns.pids.contains { pid in focus(pid, ProcFiles.read("/proc/\(pid)/comm")?.trimmed ?? "") }
            }
        }
        return Array(all.prefix(options.maxNamespaces))
    }

    private func readNamespaces(start: [UInt64: NetnsReadout]) -> [NetNamespace] {
        let interrupts = InterruptsText.parse(ProcFiles.read("/proc/interrupts") ?? "")
        let affinity = ProcFiles.irqAffinity(interrupts.map(\.irq))
        let busy = Dictionary((ProcFiles.processStats()).map { ($0.key, $0.value.utime + $0.value.stime) }, uniquingKeysWith: { a, _ in a })
        var out: [NetNamespace] = [], failures: [String] = []
        var problems: [(what: String, why: String, namespaces: [String])] = []
        // Every namespace's counters first, right after the window closed; then each one's listeners and
        // rule listings (a few ms each, 3 s when a tool hangs), so no namespace's counters run past the
        // window by the time the others' listings took.
        let chosen = chosenNamespaces()
        let counted = chosen.map { NetnsReader.read($0.path) }
        for (ns, first) in zip(chosen, counted) {
            let read = first.flatMap { counters -> Result<NetnsReadout, KernelError> in
                NetnsReader.read(ns.path, endGauges: .init(rules: ruleListings)).map { listed in
                    var r = counters
                    r.listeners = listed.listeners
                    r.chains = listed.chains
                    r.problems = listed.problems
                    return r
                }
            }
            switch read {
            case .failure(let e): failures.append(e.message)
            case .success(let end):
                // Named by their busiest processes first: the one a person recognises.
                let pids = ns.pids.sorted { (busy[$0] ?? 0, $1) > (busy[$1] ?? 0, $0) }.prefix(5)
                let procs = pids.compactMap { pid in ProcFiles.read("/proc/\(pid)/comm").map { ProcessRef(pid: pid, comm: $0.trimmed) } }
                let owners = ProcFiles.socketOwners(Set((end.listeners ?? []).map(\.inode)), pids: ns.pids)
                let namespace = NetNamespace(inode: ns.inode, name: ns.name, isInit: ns.isInit, processes: procs, start: start[ns.inode], end: end,
                                        interrupts: interrupts, affinity: affinity, owners: owners)
                out.append(namespace)
                for p in end.problems {
                    if let i = problems.firstIndex(where: { $0.what == p.what && $0.why == p.why }) {
                        problems[i].namespaces.append(Shell.label(namespace))
                    } else {
                        problems.append((p.what, p.why, [Shell.label(namespace)]))
                    }
                }
            }
        }
        if !failures.isEmpty {
            note("\(failures.count) network namespace\(failures.count == 1 ? "" : "s") (\(failures[0]))")
        }
        // A tool failing the same way in every namespace is said once, with where.
        for p in problems {
            let more = p.namespaces.count > 1 ? " and \(p.namespaces.count - 1) more" : ""
            note("\(p.what) in \(p.namespaces[0])\(more) (\(p.why))")
        }
        return out
    }

    static func kernelRelease() -> String? {
        var u = utsname()
        guard uname(&u) == 0 else { return nil }
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func psi() -> PSIObservation? {
        guard let cpu = ProcFiles.read("/proc/pressure/cpu").map(PSIText.avg10) else { return nil }
        let mem = ProcFiles.read("/proc/pressure/memory").map(PSIText.avg10), io = ProcFiles.read("/proc/pressure/io").map(PSIText.avg10)
        return PSIObservation(cpuSome: cpu.some, memorySome: mem?.some, memoryFull: mem?.full, ioSome: io?.some, ioFull: io?.full)
    }

    static func softirqTimes(_ perCPU: [[VecStats]]) -> [SoftirqCPUTime] {
        perCPU.enumerated().flatMap { cpu, vecs in
            vecs.enumerated().compactMap { v, s -> SoftirqCPUTime? in
                guard s.count > 0 || s.totalNs > 0, let vec = SoftirqVector(rawValue: v) else { return nil }
                return SoftirqCPUTime(cpu: cpu, vector: vec.name, ns: s.totalNs, runs: s.count, ksoftirqdNs: s.ksoftirqdNs)
            }
        }
    }

    static func kthreadObservations(_ k: KthreadsSession, from a: KthreadsSnapshot, to b: KthreadsSnapshot) -> [KthreadObservation] {
        let iv = KthreadsInterval(from: a, to: b, decoders: k.decoders, irqTimeAccounted: k.irqTimeAccounted,
                                  names: { k.symbols.name(for: $0) }, threadName: { processName(Int32(bitPattern: $0)) })
        return iv.threads.prefix(40).map { t in
            KthreadObservation(tid: Int(t.tid), name: t.name, ownNs: t.ownNs, softirqNs: t.softirqNs,
                               items: t.activities.map { KthreadItem(kind: $0.kind.name, name: $0.name, ns: $0.ns, count: $0.count) })
        }
    }

    /// Work items queued in the window per function and queuer (the 500 largest counts): a process with
    /// its cgroup's path, or `[softirq]`/`[hardirq]` with pid 0 for items queued from an interrupt.
    static func workQueuers(from a: [QueuerKey: QueuerCount], to b: [QueuerKey: QueuerCount], symbols: KernelSymbols) -> [WorkQueuer] {
        let rows = b.compactMap { k, v -> (QueuerKey, QueuerCount)? in
            let d = v.count - min(v.count, a[k]?.count ?? 0)
            return d > 0 ? (k, QueuerCount(comm: v.comm, count: d)) : nil
        }.sorted { ($0.1.count, $1.0.tgid) > ($1.1.count, $0.0.tgid) }.prefix(500)
        let paths = ProcFiles.cgroupPaths(Set(rows.filter { $0.0.context == .task && $0.0.cgroup != 0 }.map { $0.0.cgroup }))
        return rows.map { k, v -> WorkQueuer in
            let fn = symbols.name(for: k.function) ?? "0x" + String(k.function, radix: 16)
            switch k.context {
            case .task:
                let cg = k.cgroup == 0 ? nil : (paths[k.cgroup] ?? "id \(k.cgroup)")
                return WorkQueuer(function: fn, comm: v.comm, pid: Int(k.tgid), cgroup: cg, count: v.count)
            case .softirq: return WorkQueuer(function: fn, comm: "[softirq]", pid: 0, count: v.count)
            case .hardirq: return WorkQueuer(function: fn, comm: "[hardirq]", pid: 0, count: v.count)
            }
        }
    }

    /// The drops by reason and location, named (the largest `DropNaming.listed` pairs), and those not listed.
    static func fillDrops(_ input: inout DiagnoseInput, _ d: (pairs: [DropNaming.Raw], notCounted: UInt64), symbols: KernelSymbols?) {
        let named = DropNaming.counts(d.pairs, reasons: DropsSession.reasonNames(), symbol: { symbols?.name(for: $0) })
        input.drops = named.listed
        input.dropsNotListed = named.notListed
        input.dropsNotCounted = d.notCounted
    }

    /// The kernel stacks sampled in NET_RX, folded root first with ktrace's [softirq:net_rx] frame.
    static func netRxStacks(_ p: ProfileSession, symbols: KernelSymbols?) -> [String] {
        let losses = p.losses()
        let counts = p.counts(max: Int(min(16384, losses.samples + 4096))).filter { $0.softirq == .netRx }
        guard !counts.isEmpty else { return [] }
        let loader = symbols.map { KernelSymbolsLoader($0) } ?? KernelSymbolsLoader(report: { _ in })
        let s = StackSymbolizer(source: p, kernelSymbols: loader, userNames: UserSymbolizer(), demangle: false)
        StackProfile.prepareNaming(counts, s)
        let folded = StackProfile.interned(counts, s, labels: .softirq).renderFolded()
        return folded.split(separator: "\n").map(String.init)
    }
}
