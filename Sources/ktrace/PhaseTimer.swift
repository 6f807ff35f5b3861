import KtraceCore
import KtraceKernel

/// Phase timings for -v: where the time between the end of sampling and the output goes.
struct PhaseTimer {
    private var last = Kernel.monotonicNs()
    private(set) var phases: [(String, Double)] = []

    mutating func mark(_ name: String) {
        let now = Kernel.monotonicNs()
        phases.append((name, Double(now - last) / 1e6))
        last = now
    }

    var summary: String { phases.map { "\($0.0) \(fixed($0.1, 1)) ms" }.joined(separator: ", ") }
}
