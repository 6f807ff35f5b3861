/// What `ktrace exporter` serves: cumulative counters and histograms, built from the intervals the
/// sessions read (each a difference, so nothing is counted twice), rendered in Prometheus text format.
///
/// Cardinality is bounded: softirq series exist per (vector, CPU, context) once one ran there; kernel
/// threads and work functions are admitted by their time, at most `maxThreads` and `maxFunctions`, the
/// rest counted under `thread="other"` / `function="other"`. A series, once admitted, stays, so every
/// counter only grows.
public struct ExporterMetrics {
    /// Histogram buckets: the BPF side's log2 slots end at powers of two of nanoseconds, so bucket
    /// boundaries at 2^10..2^30 ns (1.024 us .. 1.07 s) are exact cumulative sums of slots.
    public static let bucketSlots = 10...30

    public var maxThreads: Int
    public var maxFunctions: Int

    struct SoftirqKey: Hashable, Comparable {
        var vector: Int, cpu: Int, ksoftirqd: Bool
        static func < (a: Self, b: Self) -> Bool { (a.vector, a.cpu, a.ksoftirqd ? 1 : 0) < (b.vector, b.cpu, b.ksoftirqd ? 1 : 0) }
    }
    struct Totals { var count: UInt64 = 0; var ns: UInt64 = 0 }

    private var softirq: [SoftirqKey: Totals] = [:]
    private var runHist: [Int: VecStats] = [:]   // by vector: hist, count, totalNs (all CPUs)
    private var softirqOrphans: UInt64 = 0, softirqLostExits: UInt64 = 0
    /// Per vector: runs the kernel counted that no tracepoint showed (VecStats.untraced).
    private var softirqUntraced = [UInt64](repeating: 0, count: SoftirqVector.allCases.count)
    public private(set) var latency = false
    private var threads: [String: UInt64] = [:]          // on-CPU ns by thread name
    private var threadIrq: [String: (irq: UInt64, softirq: UInt64)] = [:]
    private var functions: [String: Totals] = [:]        // work items by function
    private var kthreadLosses = KthreadsLosses()

    public init(maxThreads: Int = 50, maxFunctions: Int = 20) {
        self.maxThreads = maxThreads
        self.maxFunctions = maxFunctions
    }

    // MARK: Adding intervals

    public mutating func add(_ iv: SoftirqInterval, latency: Bool) {
        self.latency = latency
        for vecs in iv.perCPU {
            for (v, s) in vecs.enumerated() where v < softirqUntraced.count { softirqUntraced[v] &+= s.untraced }
        }
        for (cpu, vecs) in iv.perCPU.enumerated() {
            for (v, s) in vecs.enumerated() where s.count > 0 || s.latCount > 0 {
                let k = s.ksoftirqdCount, kns = s.ksoftirqdNs
                softirq[SoftirqKey(vector: v, cpu: cpu, ksoftirqd: true), default: Totals()].add(k, kns)
                softirq[SoftirqKey(vector: v, cpu: cpu, ksoftirqd: false), default: Totals()].add(s.inlineCount, s.inlineNs)
                runHist[v, default: VecStats()].merge(s)
                softirqOrphans &+= s.orphanExits
                softirqLostExits &+= s.lostExits
            }
        }
    }

    public mutating func add(_ iv: KthreadsInterval) {
        var byName: [String: ThreadRow] = [:]
        for t in iv.threads {
            var r = byName[t.name] ?? ThreadRow(tid: t.tid, name: t.name, threadFn: nil, oncpuNs: 0, wallNs: 0, irqNs: 0,
                                               softirqNs: 0, switches: 0, activities: [])
            r.oncpuNs &+= t.oncpuNs; r.irqNs &+= t.irqNs; r.softirqNs &+= t.softirqNs
            r.activities += t.activities
            byName[t.name] = r
        }
        // Admit the busiest new names first, while there is room.
        for t in byName.values.sorted(by: { ($0.oncpuNs, $1.name) > ($1.oncpuNs, $0.name) }) {
            let name = Self.admit(t.name, into: threads.keys, max: maxThreads)
            threads[name, default: 0] &+= t.oncpuNs
            var i = threadIrq[name] ?? (0, 0)
            i.irq &+= t.irqNs; i.softirq &+= t.softirqNs
            threadIrq[name] = i
        }
        var work: [String: Totals] = [:]
        for t in byName.values { for d in t.activities where d.kind == .work { work[d.name, default: Totals()].add(d.count, d.ns) } }
        for (fn, tot) in work.sorted(by: { ($0.value.ns, $1.key) > ($1.value.ns, $0.key) }) {
            functions[Self.admit(fn, into: functions.keys, max: maxFunctions), default: Totals()].add(tot.count, tot.ns)
        }
        kthreadLosses = kthreadLosses + iv.losses
    }

    /// `name` if it has a series or there is room for one (besides "other"), else "other".
    static func admit(_ name: String, into names: Dictionary<String, some Any>.Keys, max: Int) -> String {
        if names.contains(name) { return name }
        return names.count - (names.contains("other") ? 1 : 0) < max ? name : "other"
    }

    // MARK: Rendering

    /// The whole scrape, in Prometheus text format.
    public func render(softirqs: Bool, kthreads: Bool) -> String {
        var p = PrometheusText()
        if softirqs { renderSoftirq(&p) }
        if kthreads { renderKthreads(&p) }
        return p.text
    }

    private func renderSoftirq(_ p: inout PrometheusText) {
        let keys = softirq.keys.sorted()
        func labels(_ k: SoftirqKey) -> [(String, String)] {
            [("vector", SoftirqVector(rawValue: k.vector)?.name ?? String(k.vector)), ("cpu", String(k.cpu)),
             ("context", k.ksoftirqd ? "ksoftirqd" : "inline")]
        }
        p.family("ktrace_softirq_runs_total", .counter, help: "Softirq handler runs completed, by vector, CPU and context (ksoftirqd or inline at irq exit).")
        for k in keys { p.sample("ktrace_softirq_runs_total", labels(k), Double(softirq[k]!.count)) }
        p.family("ktrace_softirq_time_seconds_total", .counter, help: "Time spent in softirq handlers, by vector, CPU and context.")
        for k in keys { p.sample("ktrace_softirq_time_seconds_total", labels(k), Double(softirq[k]!.ns) / 1e9) }
        p.family("ktrace_softirq_run_seconds", .histogram, help: "Run time of one softirq handler run, all CPUs, by vector.")
        for (v, s) in runHist.sorted(by: { $0.key < $1.key }) {
            p.histogram("ktrace_softirq_run_seconds", [("vector", SoftirqVector(rawValue: v)?.name ?? String(v))],
                        buckets: Self.buckets(s.hist), count: s.count, sum: Double(s.totalNs) / 1e9)
        }
        if latency {
            p.family("ktrace_softirq_raise_delay_seconds", .histogram, help: "Delay from a softirq's raise to its handler's entry, by vector.")
            for (v, s) in runHist.sorted(by: { $0.key < $1.key }) where s.latCount > 0 {
                p.histogram("ktrace_softirq_raise_delay_seconds", [("vector", SoftirqVector(rawValue: v)?.name ?? String(v))],
                            buckets: Self.buckets(s.latHist), count: s.latCount, sum: Double(s.latTotalNs) / 1e9)
            }
        }
        p.family("ktrace_softirq_untimed_exits_total", .counter,
                 help: "Softirq exits that could not be timed: reason=orphan (entry not seen), reason=lost (exit never seen).")
        p.sample("ktrace_softirq_untimed_exits_total", [("reason", "orphan")], Double(softirqOrphans))
        p.sample("ktrace_softirq_untimed_exits_total", [("reason", "lost")], Double(softirqLostExits))
        p.family("ktrace_softirq_untraced_runs_total", .counter,
                 help: "Softirq runs the kernel counted (/proc/softirqs) that no tracepoint showed, so in no other series, by vector.")
        for v in SoftirqVector.allCases where softirqUntraced[v.rawValue] > 0 {
            p.sample("ktrace_softirq_untraced_runs_total", [("vector", v.name)], Double(softirqUntraced[v.rawValue]))
        }
    }

    private func renderKthreads(_ p: inout PrometheusText) {
        let names = threads.keys.sorted()
        p.family("ktrace_kthread_cpu_seconds_total", .counter,
                 help: "On-CPU time of kernel threads by name, irq and softirq time on top of them included; thread=\"other\" past the series bound.")
        for n in names { p.sample("ktrace_kthread_cpu_seconds_total", [("thread", n)], Double(threads[n]!) / 1e9) }
        p.family("ktrace_kthread_interrupted_seconds_total", .counter, help: "Irq and softirq time that ran on top of kernel threads, by name and context.")
        for n in names {
            let i = threadIrq[n] ?? (0, 0)
            p.sample("ktrace_kthread_interrupted_seconds_total", [("thread", n), ("context", "irq")], Double(i.irq) / 1e9)
            p.sample("ktrace_kthread_interrupted_seconds_total", [("thread", n), ("context", "softirq")], Double(i.softirq) / 1e9)
        }
        let fns = functions.keys.sorted()
        p.family("ktrace_kthread_work_items_total", .counter, help: "Workqueue items run, by work function; function=\"other\" past the series bound.")
        for f in fns { p.sample("ktrace_kthread_work_items_total", [("function", f)], Double(functions[f]!.count)) }
        p.family("ktrace_kthread_work_seconds_total", .counter, help: "Time kworkers spent running work items, by work function.")
        for f in fns { p.sample("ktrace_kthread_work_seconds_total", [("function", f)], Double(functions[f]!.ns) / 1e9) }
        p.family("ktrace_kthreads_lost_total", .counter, help: "Events the kernel side could not record, by the table that was full.")
        for (what, n) in [("threads", kthreadLosses.threadsFull), ("items", kthreadLosses.activitiesFull), ("maxima", kthreadLosses.maxFull),
                          ("open", kthreadLosses.openFull)] {
            p.sample("ktrace_kthreads_lost_total", [("table", what)], Double(n))
        }
    }

    /// Cumulative counts at each bucket bound, from log2 slots (slot i: [2^i, 2^(i+1)) ns).
    static func buckets(_ slots: [UInt64]) -> [(le: Double, count: UInt64)] {
        var cum: UInt64 = 0, out: [(le: Double, count: UInt64)] = []
        for (i, n) in slots.enumerated() {
            cum &+= n
            if bucketSlots.contains(i + 1) { out.append((le: Double(UInt64(1) << UInt64(i + 1)) / 1e9, count: cum)) }
        }
        return out
    }
}

extension ExporterMetrics.Totals {
    mutating func add(_ c: UInt64, _ ns: UInt64) { count &+= c; self.ns &+= ns }
}
