import KtraceCore

/// /proc/softirqs: the kernel's own per-CPU count of softirq runs, ktrace's ground truth in tests.
public struct ProcSoftirqs: Equatable, Sendable {
    /// counts[vector][cpu]
    public var counts: [SoftirqVector: [UInt64]]

    public init(counts: [SoftirqVector: [UInt64]]) { self.counts = counts }

    public static func parse(_ text: String) -> ProcSoftirqs {
        var counts: [SoftirqVector: [UInt64]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, first.hasSuffix(":"),
                  let vec = SoftirqVector(name: String(first.dropLast())) else { continue }
            counts[vec] = fields.dropFirst().compactMap { UInt64($0) }
        }
        return ProcSoftirqs(counts: counts)
    }

    public func total(_ v: SoftirqVector) -> UInt64 { counts[v]?.reduce(0, +) ?? 0 }

    /// Events between two readings (counters only grow; a CPU that appeared counts from zero).
    public func delta(since earlier: ProcSoftirqs) -> ProcSoftirqs {
        var out: [SoftirqVector: [UInt64]] = [:]
        for (v, now) in counts {
            let then = earlier.counts[v] ?? []
            out[v] = now.enumerated().map { i, c in c &- (i < then.count ? then[i] : 0) }
        }
        return ProcSoftirqs(counts: out)
    }
}
