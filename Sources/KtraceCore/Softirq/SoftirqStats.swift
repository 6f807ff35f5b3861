/// Per-vector softirq statistics for one interval, as the BPF side counts them (struct kt_vec_stats),
/// and the arithmetic the reports need. Pure values: unit tests build them from fixtures.
public struct VecStats: Equatable, Sendable {
    public static let histSlots = 64

    public var count: UInt64 = 0
    public var totalNs: UInt64 = 0
    public var maxNs: UInt64 = 0
    public var ksoftirqdCount: UInt64 = 0
    public var ksoftirqdNs: UInt64 = 0
    public var latCount: UInt64 = 0
    public var latTotalNs: UInt64 = 0
    public var latMaxNs: UInt64 = 0
    public var orphanExits: UInt64 = 0
    public var lostExits: UInt64 = 0
    /// Runs the kernel counted (/proc/softirqs) that no tracepoint showed, so neither counted nor timed.
    public var untraced: UInt64 = 0
    /// log2 buckets of nanoseconds: slot i holds [2^i, 2^(i+1)) ns (slot 0 also holds 0).
    public var hist = [UInt64](repeating: 0, count: VecStats.histSlots)
    public var latHist = [UInt64](repeating: 0, count: VecStats.histSlots)

    public init() {}

    public var avgNs: UInt64 { count == 0 ? 0 : totalNs / count }
    public var latAvgNs: UInt64 { latCount == 0 ? 0 : latTotalNs / latCount }
    public var inlineNs: UInt64 { totalNs - min(ksoftirqdNs, totalNs) }
    public var inlineCount: UInt64 { count - min(ksoftirqdCount, count) }

    /// Share of run time served by ksoftirqd, 0...1 (0 when nothing ran).
    public var ksoftirqdShare: Double { totalNs == 0 ? 0 : Double(ksoftirqdNs) / Double(totalNs) }

    /// Combine two disjoint sets of events (other CPUs, or consecutive intervals): sums add, maxima take
    /// the larger.
    public mutating func merge(_ o: VecStats) {
        count &+= o.count
        totalNs &+= o.totalNs
        maxNs = max(maxNs, o.maxNs)
        ksoftirqdCount &+= o.ksoftirqdCount
        ksoftirqdNs &+= o.ksoftirqdNs
        latCount &+= o.latCount
        latTotalNs &+= o.latTotalNs
        latMaxNs = max(latMaxNs, o.latMaxNs)
        orphanExits &+= o.orphanExits
        lostExits &+= o.lostExits
        untraced &+= o.untraced
        for i in 0..<min(hist.count, o.hist.count) { hist[i] &+= o.hist[i] }
        for i in 0..<min(latHist.count, o.latHist.count) { latHist[i] &+= o.latHist[i] }
    }

    /// The log2 bucket a duration falls into, matching the BPF side's kt_slot().
    public static func slot(forNs ns: UInt64) -> Int {
        let s = ns <= 1 ? 0 : 63 - ns.leadingZeroBitCount
        return min(s, histSlots - 1)
    }
}

/// One interval of `ktrace softirq`: per-CPU, per-vector stats.
public struct SoftirqInterval: Sendable {
    /// perCPU[cpu][vector.rawValue]
    public var perCPU: [[VecStats]]
    /// Measured length of the interval.
    public var seconds: Double
    /// The interval's bounds on CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns and of perf), so reports
    /// can be lined up with traces; 0 when unknown.
    public var startNs: UInt64
    public var endNs: UInt64
    /// How far each bound may be off: the interval ended when the epoch flip landed, somewhere between two
    /// clock reads around it (bounds are their midpoint).
    public var startErrNs: UInt64
    public var endErrNs: UInt64

    public init(perCPU: [[VecStats]], seconds: Double, startNs: UInt64 = 0, endNs: UInt64 = 0, startErrNs: UInt64 = 0, endErrNs: UInt64 = 0) {
        self.perCPU = perCPU
        self.seconds = seconds
        self.startNs = startNs
        self.endNs = endNs
        self.startErrNs = startErrNs
        self.endErrNs = endErrNs
    }

    /// Per-vector totals over all CPUs.
    public var total: [VecStats] {
        var out = [VecStats](repeating: VecStats(), count: SoftirqVector.allCases.count)
        for cpu in perCPU {
            for (v, s) in cpu.enumerated() where v < out.count { out[v].merge(s) }
        }
        return out
    }

    /// CPUs that saw any softirq in this interval.
    public var activeCPUs: [Int] {
        perCPU.indices.filter { perCPU[$0].contains { $0.count > 0 || $0.latCount > 0 } }
    }

    public var orphanExits: UInt64 { total.reduce(0) { $0 + $1.orphanExits } }
    public var lostExits: UInt64 { total.reduce(0) { $0 + $1.lostExits } }
    public var untraced: UInt64 { total.reduce(0) { $0 + $1.untraced } }
}
