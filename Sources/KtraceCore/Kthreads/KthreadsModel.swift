/// `ktrace kthreads`: what kernel threads did, as the kernel counted it. The session reads cumulative
/// totals; an interval is the difference of two reads, so a counter is never reset under an update.

/// What a thread did, by decoder (the kinds of bpf/ktrace.h's `kt_activity_kind`).
public enum ActivityKind: UInt32, CaseIterable, Sendable {
    case softirq = 1, work, shrinker, reclaim, commit, migrate, rcuCallback

    public var name: String {
        switch self {
        case .softirq: "softirq"
        case .work: "work"
        case .shrinker: "shrinker"
        case .reclaim: "reclaim"
        case .commit: "commit"
        case .migrate: "migrate"
        case .rcuCallback: "rcu_callback"
        }
    }

    /// Whether the activity's id is a kernel text address to name with kallsyms.
    public var idIsFunction: Bool { self == .work || self == .shrinker || self == .rcuCallback }
}

public struct ActivityKey: Hashable, Sendable {
    public var tid: UInt32
    public var kind: ActivityKind
    public var id: UInt64
    public init(tid: UInt32, kind: ActivityKind, id: UInt64) { self.tid = tid; self.kind = kind; self.id = id }
}

/// Cumulative totals of one (thread, activity).
public struct ActivityTotals: Sendable, Equatable {
    public var count: UInt64 = 0
    public var ns: UInt64 = 0
    public var waitNs: UInt64 = 0
    public var waits: UInt64 = 0
    public var pagesScanned: UInt64 = 0
    public var pagesReclaimed: UInt64 = 0
    public init() {}
}

/// Cumulative totals of one kernel thread.
public struct ThreadTotals: Sendable, Equatable {
    public var comm: String
    public var schedNs: UInt64 = 0   // the scheduler's account (sum_exec_runtime): no steal; no irq time on irqtime kernels
    public var wallNs: UInt64 = 0    // wall clock between its switches
    public var irqNs: UInt64 = 0
    public var softirqNs: UInt64 = 0
    public var switches: UInt64 = 0
    public var threadFn: UInt64 = 0
    public init(comm: String) { self.comm = comm }
}

/// Maxima of one interval (kept per interval by the kernel, since maxima cannot be differenced).
public struct ActivityMax: Sendable, Equatable {
    public var maxNs: UInt64 = 0
    public var waitMaxNs: UInt64 = 0
    public init(maxNs: UInt64 = 0, waitMaxNs: UInt64 = 0) { self.maxNs = maxNs; self.waitMaxNs = waitMaxNs }
}

/// Counters of events the kernel side could not count (cumulative).
public struct KthreadsLosses: Sendable, Equatable {
    public var threadsFull: UInt64 = 0
    public var activitiesFull: UInt64 = 0
    public var maxFull: UInt64 = 0
    public var openFull: UInt64 = 0
    public var unmatched: UInt64 = 0
    public init() {}
    public var any: Bool { threadsFull + activitiesFull + maxFull + openFull > 0 }
    static func - (a: Self, b: Self) -> Self {
        var d = Self()
        d.threadsFull = a.threadsFull &- b.threadsFull
        d.activitiesFull = a.activitiesFull &- b.activitiesFull
        d.maxFull = a.maxFull &- b.maxFull
        d.openFull = a.openFull &- b.openFull
        d.unmatched = a.unmatched &- b.unmatched
        return d
    }
    static func + (a: Self, b: Self) -> Self {
        var d = a
        d.threadsFull &+= b.threadsFull
        d.activitiesFull &+= b.activitiesFull
        d.maxFull &+= b.maxFull
        d.openFull &+= b.openFull
        d.unmatched &+= b.unmatched
        return d
    }
}

/// One read of the kernel's cumulative totals.
public struct KthreadsSnapshot: Sendable {
    public var threads: [UInt32: ThreadTotals]
    public var activities: [ActivityKey: ActivityTotals]
    public var maxima: [ActivityKey: ActivityMax]  // of the interval that ended at this read
    public var losses: KthreadsLosses
    /// When the threads' totals were read (CLOCK_MONOTONIC), the middle of that read, and how far either
    /// end of it lies (a switch counted in this read happened before monoNs + monoErrNs).
    public var monoNs: UInt64
    public var monoErrNs: UInt64 = 0
    public var stealNs: UInt64  // all CPUs' steal time so far (/proc/stat): what the hypervisor took
    public init(threads: [UInt32: ThreadTotals] = [:], activities: [ActivityKey: ActivityTotals] = [:],
                maxima: [ActivityKey: ActivityMax] = [:], losses: KthreadsLosses = .init(), monoNs: UInt64 = 0,
                stealNs: UInt64 = 0) {
        self.threads = threads; self.activities = activities; self.maxima = maxima; self.losses = losses; self.monoNs = monoNs
        self.stealNs = stealNs
    }
}

/// A decoder the kernel may lack, and why it is not decoding when it is not.
public struct DecoderStatus: Sendable, Equatable {
    public var name: String
    public var problem: String?  // nil: decoding
    public init(name: String, problem: String?) { self.name = name; self.problem = problem }
}

/// One activity of a thread in one interval.
public struct ActivityRow: Sendable, Equatable {
    public var kind: ActivityKind
    public var id: UInt64
    public var name: String
    public var count: UInt64
    public var ns: UInt64
    public var maxNs: UInt64
    public var waits: UInt64
    public var waitNs: UInt64
    public var waitMaxNs: UInt64
    public var pagesScanned: UInt64
    public var pagesReclaimed: UInt64
}

/// One thread in one interval.
public struct ThreadRow: Sendable, Equatable {
    public var tid: UInt32
    public var name: String          // /proc's comm when the thread still exists (kworkers show their workqueue), else the kernel's
    public var threadFn: String?     // its start function, named
    public var oncpuNs: UInt64       // its CPU time as the scheduler (and top) counts it, irq and softirq on top included
    public var wallNs: UInt64        // wall clock between its switches: above oncpuNs by the steal time a hypervisor took
    public var irqNs: UInt64
    public var softirqNs: UInt64
    public var switches: UInt64
    public var activities: [ActivityRow]     // largest first (time, then count)

    /// Its own CPU time: on-CPU less what interrupted it.
    public var ownNs: UInt64 { oncpuNs > irqNs + softirqNs ? oncpuNs - irqNs - softirqNs : 0 }
}

/// The difference of two snapshots, named and ordered.
public struct KthreadsInterval: Sendable {
    public var startNs: UInt64
    public var endNs: UInt64
    /// How far each bound may be off: half the time the threads' totals took to read.
    public var startErrNs: UInt64 = 0, endErrNs: UInt64 = 0
    public var threads: [ThreadRow]   // busiest first (own CPU, then on-CPU, then tid)
    public var ran: Int               // threads that were on a CPU in this interval
    public var losses: KthreadsLosses
    public var decoders: [DecoderStatus]
    public var stealNs: UInt64        // all CPUs
    public var seconds: Double { Double(endNs &- startNs) / 1e9 }

    /// - Parameters:
    ///   - names: kernel address -> function name (kallsyms).
    ///   - threadName: tid -> the name /proc gives it now, when it still exists.
    ///   - matching: keep only threads whose name this accepts (`--comm`).
    ///   - irqTimeAccounted: the kernel's run times leave irq time out (CONFIG_IRQ_TIME_ACCOUNTING), so
    ///     the irq and softirq time on top is added back to make the on-CPU time.
    public init(from a: KthreadsSnapshot, to b: KthreadsSnapshot, decoders: [DecoderStatus] = [],
                irqTimeAccounted: Bool = false,
                names: (UInt64) -> String?, threadName: (UInt32) -> String? = { _ in nil },
                matching: (String) -> Bool = { _ in true }) {
        startNs = a.monoNs
        endNs = b.monoNs
        startErrNs = a.monoErrNs
        endErrNs = b.monoErrNs
        losses = b.losses - a.losses
        stealNs = b.stealNs &- a.stealNs
        self.decoders = decoders
        var byThread: [UInt32: [ActivityRow]] = [:]
        for (key, t) in b.activities {
            var p = a.activities[key] ?? ActivityTotals()
            if t.count < p.count { p = ActivityTotals() }  // a new thread under a dead one's tid
            guard t.count > p.count else { continue }
            let m = b.maxima[key] ?? ActivityMax()
            byThread[key.tid, default: []].append(ActivityRow(
                kind: key.kind, id: key.id, name: KthreadsInterval.activityName(key, names),
                count: t.count - p.count, ns: t.ns &- p.ns, maxNs: m.maxNs, waits: t.waits &- p.waits,
                waitNs: t.waitNs &- p.waitNs, waitMaxNs: m.waitMaxNs,
                pagesScanned: t.pagesScanned &- p.pagesScanned, pagesReclaimed: t.pagesReclaimed &- p.pagesReclaimed))
        }
        var rows: [ThreadRow] = []
        for (tid, t) in b.threads {
            var p = a.threads[tid] ?? ThreadTotals(comm: t.comm)
            if t.switches < p.switches || t.wallNs < p.wallNs || t.schedNs < p.schedNs { p = ThreadTotals(comm: t.comm) }
            let activities = (byThread[tid] ?? []).sorted {
                ($0.ns, $0.count, $1.name) > ($1.ns, $1.count, $0.name)
            }
            let irq = t.irqNs &- p.irqNs, sirq = t.softirqNs &- p.softirqNs
            let sched = t.schedNs &- p.schedNs
            let on = irqTimeAccounted && sched > 0 ? sched + irq + sirq : sched
            guard on > 0 || !activities.isEmpty else { continue }
            let name = threadName(tid) ?? t.comm
            guard matching(name) || matching(t.comm) else { continue }
            rows.append(ThreadRow(tid: tid, name: name, threadFn: t.threadFn == 0 ? nil : names(t.threadFn),
                                  oncpuNs: on, wallNs: t.wallNs &- p.wallNs, irqNs: irq, softirqNs: sirq,
                                  switches: t.switches &- p.switches, activities: activities))
        }
        threads = rows.sorted { ($0.ownNs, $0.oncpuNs, $1.tid) > ($1.ownNs, $1.oncpuNs, $0.tid) }
        ran = rows.count { $0.oncpuNs > 0 }
    }

    static func activityName(_ key: ActivityKey, _ names: (UInt64) -> String?) -> String {
        switch key.kind {
        case .softirq: SoftirqVector(rawValue: Int(key.id))?.name ?? "vector \(key.id)"
        case .reclaim: "lru_shrink_inactive"
        case .commit: "jbd2_commit"
        case .migrate: "task_migrations"
        case .work, .shrinker, .rcuCallback:
            key.id == 0 ? "(unknown)" : names(key.id) ?? "0x" + String(key.id, radix: 16)
        }
    }
}
