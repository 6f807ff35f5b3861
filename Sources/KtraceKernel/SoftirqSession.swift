import CKtrace
import KtraceCore

/// `ktrace softirq`'s programs, attached while this object lives.
public final class SoftirqSession {
    private let handle: OpaquePointer
    public let attachKind: AttachKind

    /// Loads and attaches (`cpu` nil: all CPUs; `latency`: also the raise tracepoint).
    public init(attach: AttachKind, cpu: Int?, latency: Bool) throws(KernelError) {
        var h: OpaquePointer?
        try cCall { kt_softirq_open(&h, attach.cValue, Int32(cpu ?? -1), latency ? 1 : 0, $0, $1) }
        guard let h else { throw KernelError("kt_softirq_open returned no handle") }
        handle = h
        attachKind = AttachKind(cValue: kt_softirq_attach_kind(h))
        countsUntraced = kt_softirq_counts_untraced(h) != 0
    }

    /// Whether runs the kernel counted (/proc/softirqs) but no tracepoint showed are counted
    /// (VecStats.untraced): needs the per-CPU variables in the kernel's BTF and group scheduling.
    public let countsUntraced: Bool

    deinit { kt_softirq_close(handle) }

    /// Ends the current interval: the per-CPU, per-vector stats gathered since the last read, and when
    /// the interval ended (CLOCK_MONOTONIC ns), which is when the next one began, give or take errNs.
    public func read() throws(KernelError) -> (perCPU: [[VecStats]], endNs: UInt64, errNs: UInt64) {
        let ncpu = Kernel.possibleCPUs, nvec = Int(KT_NR_VEC)
        var raw = [kt_vec_stats](repeating: kt_vec_stats(), count: ncpu * nvec)
        var flip: UInt64 = 0, err: UInt64 = 0
        let rc = kt_softirq_read(handle, &raw, Int32(ncpu), &flip, &err)
        if rc != 0 { throw KernelError("reading softirq stats: \(errnoText(rc))") }
        return ((0..<ncpu).map { c in (0..<nvec).map { VecStats(raw[c * nvec + $0]) } }, flip, err)
    }
}

extension VecStats {
    init(_ s: kt_vec_stats) {
        self.init()
        count = s.count
        totalNs = s.total_ns
        maxNs = s.max_ns
        ksoftirqdCount = s.ksoftirqd_count
        ksoftirqdNs = s.ksoftirqd_ns
        latCount = s.lat_count
        latTotalNs = s.lat_total_ns
        latMaxNs = s.lat_max_ns
        orphanExits = s.orphan_exits
        lostExits = s.lost_exits
        untraced = s.untraced
        hist = withUnsafeBytes(of: s.hist) { Array($0.bindMemory(to: UInt64.self)) }
        latHist = withUnsafeBytes(of: s.lat_hist) { Array($0.bindMemory(to: UInt64.self)) }
    }
}
