import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// `ktrace kthreads`' programs, attached while this object lives.
public final class KthreadsSession {
    private let handle: OpaquePointer
    public let attachKind: AttachKind
    /// Every optional decoder, and why it is not decoding when it is not.
    public let decoders: [DecoderStatus]

    /// An optional decoder, as Sources/CKtrace/kthreads.c describes it (its one description).
    struct Decoder {
        let name: String, bit: UInt32, events: [(String, String)], classic: Bool, missingHint: String
    }
    static let optional: [Decoder] = {
        var all: [Decoder] = [], info = kt_decoder_info(), i: Int32 = 0
        while kt_kthreads_decoder(i, &info) == 0 {
            let events = withUnsafeBytes(of: info.tracepoints) { raw in
                raw.bindMemory(to: UnsafePointer<CChar>?.self).compactMap { $0.map { String(cString: $0) } }
            }.map { tp in
                let parts = tp.split(separator: "/", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }
            all.append(Decoder(name: String(cString: info.name), bit: info.bit, events: events, classic: info.classic != 0,
                               missingHint: String(cString: info.missing_hint)))
            i += 1
        }
        return all
    }()

    /// kallsyms, read once at the start: names start functions and work items, and says what the kernel counts.
    public let symbols: KernelSymbols
    /// Whether the scheduler's run times leave hard and soft irq time out, so that time on top of a
    /// thread is not also its own (see `irqTimeAccounted(symbols:cmdline:)`).
    public let irqTimeAccounted: Bool

    /// Whether the kernel side counts who queues work items (`readQueuers`).
    public let countsQueuers: Bool

    /// Loads kallsyms, then loads and attaches what this kernel has. smpboot_thread_fn's and
    /// irq_thread's addresses go to the kernel side, so that smpboot threads and threaded irq handlers
    /// are named by their own function. With `queuers`, the task current at each workqueue_queue_work is
    /// counted too (for diagnose; off, the verifier drops that code and its table has one entry).
    public init(attach: AttachKind, queuers: Bool = false) throws(KernelError) {
        let symbols: KernelSymbols
        do { symbols = try KernelSymbols.load() } catch { throw KernelError("\(error)") }
        self.symbols = symbols
        irqTimeAccounted = Self.irqTimeAccounted(symbols: symbols, cmdline: (try? String(contentsOfFile: "/proc/cmdline", encoding: .utf8)) ?? "")
        let smpbootFn = symbols.address(of: "smpboot_thread_fn") ?? 0, irqThreadFn = symbols.address(of: "irq_thread") ?? 0
        var problems: [String: String] = [:]
        var bits: UInt32 = 0
        for d in Self.optional {
            if let (cat, ev) = d.events.first(where: { kt_tracepoint_exists($0.0, $0.1) == 0 }) {
                problems[d.name] = "no tracepoint \(cat)/\(ev)" + d.missingHint
            } else if attach == .tp && !d.classic {
                problems[d.name] = "read through tp_btf or raw_tp only, not with --attach tracepoint"
            } else {
                bits |= d.bit
            }
        }
        var h: OpaquePointer?
        do {
            try cCall { kt_kthreads_open(&h, attach.cValue, bits, smpbootFn, irqThreadFn, queuers ? 1 : 0, $0, $1) }
        } catch {
            // An optional tracepoint this kernel types differently must not cost the thread table:
            // retry with the decoders every kernel has, and say why the others are off.
            let basic = bits & UInt32(KT_DEC_IRQ | KT_DEC_WORKQUEUE)
            guard basic != bits else { throw error }
            let first = error.message.split(separator: "\n").prefix(2).joined(separator: " ")
            do { try cCall { kt_kthreads_open(&h, attach.cValue, basic, smpbootFn, irqThreadFn, queuers ? 1 : 0, $0, $1) } } catch { throw error }
            for d in Self.optional where bits & d.bit != 0 && basic & d.bit == 0 {
                problems[d.name] = "did not load with the others (\(first))"
            }
            bits = basic
        }
        guard let h else { throw KernelError("kt_kthreads_open returned no handle") }
        handle = h
        attachKind = AttachKind(cValue: kt_kthreads_attach_kind(h))
        // auto may have fallen back to classic tracepoints, which the BTF-only decoders do not have.
        if attachKind == .tp {
            for d in Self.optional where !d.classic && problems[d.name] == nil {
                problems[d.name] = "read through tp_btf or raw_tp only; this kernel attached classic tracepoints"
            }
        }
        decoders = Self.optional.map { DecoderStatus(name: $0.name, problem: problems[$0.name]) }
        countsQueuers = kt_kthreads_queuers_capacity(h) > 0
    }

    /// Who queued work items: per work function and queuer, cumulative since attach, with the items not
    /// counted for want of room. Empty unless opened with `queuers`.
    public func readQueuers() -> (counts: [QueuerKey: QueuerCount], full: UInt64) {
        let cap = Int(kt_kthreads_queuers_capacity(handle))
        guard cap > 0 else { return ([:], 0) }
        var keys = [kt_queuer_key](repeating: kt_queuer_key(), count: cap)
        var vals = [kt_queuer](repeating: kt_queuer(), count: cap)
        let n = kt_kthreads_read_queuers(handle, &keys, &vals, Int32(cap))
        var out: [QueuerKey: QueuerCount] = [:]
        for i in 0..<Int(max(n, 0)) {
            let k = keys[i]
            out[QueuerKey(function: k.fn, cgroup: k.cgroup, tgid: k.tgid, context: QueueContext(rawValue: k.ctx) ?? .task)] =
                QueuerCount(comm: cString(vals[i].comm), count: vals[i].count)
        }
        var st = kt_kthreads_stats()
        return (out, kt_kthreads_read_stats(handle, &st) == 0 ? st.queuers_full : 0)
    }

    deinit { kt_kthreads_close(handle) }

    /// The cumulative totals now, with the maxima of the interval this read ends.
    public func read() throws(KernelError) -> KthreadsSnapshot {
        var threadCap: Int32 = 0, cap32: Int32 = 0
        kt_kthreads_capacity(handle, &threadCap, &cap32)
        let cap = Int(cap32)
        var snap = KthreadsSnapshot()
        var mkeys = [kt_activity_key](repeating: kt_activity_key(), count: cap)
        var mvals = [kt_activity_max](repeating: kt_activity_max(), count: cap)
        let nm = kt_kthreads_read_maxima(handle, &mkeys, &mvals, Int32(cap))
        if nm < 0 { throw KernelError("reading kthreads maxima: \(errnoText(nm))") }
        snap.stealNs = Self.stealNs()
        for i in 0..<Int(nm) {
            guard let k = ActivityKey(mkeys[i]) else { continue }
            snap.maxima[k] = ActivityMax(maxNs: mvals[i].max_ns, waitMaxNs: mvals[i].wait_max_ns)
        }
        var tids = [UInt32](repeating: 0, count: Int(threadCap))
        var threads = [kt_kthread](repeating: kt_kthread(), count: Int(threadCap))
        // The threads' totals are cumulative: the interval ends where they, and the slices running on the
        // CPUs, are read (the maxima's ended at the epoch flip above, milliseconds before), timed around that.
        var cpus = [kt_kcpu](repeating: kt_kcpu(), count: 4096)
        let t0 = Kernel.monotonicNs()
        let nt = kt_kthreads_read_threads(handle, &tids, &threads, threadCap)
        let nc = kt_kthreads_read_cpus(handle, &cpus, Int32(cpus.count))
        let t1 = Kernel.monotonicNs()
        snap.monoNs = t0 + (t1 - t0) / 2
        snap.monoErrNs = (t1 - t0 + 1) / 2
        var lastSum: [UInt32: UInt64] = [:]
        for i in 0..<Int(max(nt, 0)) {
            let t = threads[i]
            var row = ThreadTotals(comm: cString(t.comm))
            row.schedNs = t.sched_ns; row.wallNs = t.wall_ns; row.irqNs = t.irq_ns; row.softirqNs = t.softirq_ns
            row.switches = t.switches; row.threadFn = t.threadfn
            snap.threads[tids[i]] = row
            lastSum[tids[i]] = t.last_sum
        }
        addRunningSlices(&snap, lastSum, cpus.prefix(Int(max(nc, 0))), now: t1)
        var dkeys = [kt_activity_key](repeating: kt_activity_key(), count: cap)
        var dvals = [kt_activity](repeating: kt_activity(), count: cap)
        let nd = kt_kthreads_read_activities(handle, &dkeys, &dvals, Int32(cap))
        for i in 0..<Int(max(nd, 0)) {
            guard let k = ActivityKey(dkeys[i]) else { continue }
            let v = dvals[i]
            var d = ActivityTotals()
            d.count = v.count; d.ns = v.ns; d.waitNs = v.wait_ns; d.waits = v.waits
            d.pagesScanned = v.pages_scanned; d.pagesReclaimed = v.pages_reclaimed
            snap.activities[k] = d
        }
        var st = kt_kthreads_stats()
        let rc = kt_kthreads_read_stats(handle, &st)
        if rc != 0 { throw KernelError("reading kthreads counters: \(errnoText(rc))") }
        snap.losses.threadsFull = st.threads_full; snap.losses.activitiesFull = st.activities_full
        snap.losses.maxFull = st.max_full; snap.losses.openFull = st.open_full; snap.losses.unmatched = st.unmatched
        return snap
    }

    /// A thread on a CPU now has run since its switch-in: count that much, so that one that has not yielded
    /// all interval (ksoftirqd under a flood) is not shown idle. The scheduler's account of it comes from
    /// /proc/TID/schedstat, which includes the running slice.
    private func addRunningSlices(_ snap: inout KthreadsSnapshot, _ lastSum: [UInt32: UInt64], _ cpus: ArraySlice<kt_kcpu>,
                                  now: UInt64) {
        for c in cpus where c.in_ts > 0 && c.in_ts < now && c.tid != 0 {
            guard var t = snap.threads[c.tid] else { continue }
            let wall = now - c.in_ts
            t.wallNs += wall
            let last = lastSum[c.tid] ?? 0
            if last > 0, let sum = Self.schedRuntime(c.tid), sum > last { t.schedNs += sum - last } else if last == 0 { t.schedNs += wall }
            snap.threads[c.tid] = t
        }
    }

    /// /proc/TID/schedstat's first field: the task's sum_exec_runtime now.
    static func schedRuntime(_ tid: UInt32) -> UInt64? {
        firstLine("/proc/\(tid)/schedstat")?.split(separator: " ").first.flatMap { UInt64($0) }
    }

    /// All CPUs' steal time so far, from /proc/stat's "cpu" line (USER_HZ ticks), 0 when unreadable.
    static func stealNs() -> UInt64 {
        let fields = firstLine("/proc/stat")?.split(separator: " ") ?? []
        guard fields.first == "cpu", fields.count > 8, let ticks = UInt64(fields[8]) else { return 0 }
        let hz = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return ticks / hz * 1_000_000_000 + ticks % hz * 1_000_000_000 / hz  // no overflow after years of steal
    }

    static func firstLine(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 512)
        let ok = buf.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { fgets($0, Int32(p.count), f) } != nil
        }
        return ok ? String(decoding: buf.prefix { $0 != 0 && $0 != 10 }, as: UTF8.self) : nil
    }

    /// The function exists only in CONFIG_IRQ_TIME_ACCOUNTING kernels, whose run times leave irqs out
    /// unless booted with tsc=noirqtime (an x86 TSC found unstable also turns it off: not seen here).
    public static func irqTimeAccounted(symbols: KernelSymbols, cmdline: String) -> Bool {
        symbols.address(of: "irqtime_account_irq") != nil && !cmdline.contains("tsc=noirqtime")
    }

    /// Drop the threads gone from /proc and idle from `last` to `now` (and their items) from the
    /// kernel's tables, so that a long run does not fill them. Call after the interval has been reported.
    public func forgetExited(from last: KthreadsSnapshot, to now: KthreadsSnapshot) {
        forget(now.threads.keys.filter { tid in
            now.threads[tid]?.wallNs == last.threads[tid]?.wallNs && access("/proc/\(tid)", F_OK) != 0
        }, in: now)
    }

    /// Drop threads that have exited (and their items) from the kernel's tables, so that a long run
    /// does not fill them. Call after an interval has been reported.
    public func forget(_ tids: [UInt32], in snap: KthreadsSnapshot) {
        for tid in tids {
            let keys = snap.activities.keys.filter { $0.tid == tid }.map {
                kt_activity_key(tid: $0.tid, kind: $0.kind.rawValue, id: $0.id)
            }
            kt_kthreads_forget(handle, tid, keys, Int32(keys.count))
        }
    }
}

extension ActivityKey {
    init?(_ k: kt_activity_key) {
        guard let kind = ActivityKind(rawValue: k.kind) else { return nil }
        self.init(tid: k.tid, kind: kind, id: k.id)
    }
}

/// Where a work item was queued from (enum kt_queue_ctx): a task, or an interrupt on top of one.
public enum QueueContext: UInt32, Sendable { case task = 0, softirq = 1, hardirq = 2 }

/// A work function and the one who queued it: a process and its cgroup v2 id, or an interrupt context.
public struct QueuerKey: Hashable, Sendable {
    public var function: UInt64
    public var cgroup: UInt64
    public var tgid: UInt32
    public var context: QueueContext
}

public struct QueuerCount: Sendable {
    public var comm: String
    public var count: UInt64
}
