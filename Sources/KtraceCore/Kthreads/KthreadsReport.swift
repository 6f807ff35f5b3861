/// Text table and JSON lines for `ktrace kthreads`.
public struct KthreadsReport: Sendable {
    public var top: Int      // threads shown per interval
    public var activities: Int  // activities shown per thread (JSON, under "doing": all)

    public init(top: Int = 20, activities: Int = 3) { self.top = top; self.activities = activities }

    // MARK: text

    public func table(_ iv: KthreadsInterval, timestamp: String? = nil) -> String {
        var out: [String] = []
        let secs = max(iv.seconds, 1e-9)
        func cpus(_ ns: UInt64) -> String { fixed(Double(ns) / 1e9 / secs, 3) }
        let own = iv.threads.reduce(0) { $0 + $1.ownNs }, irq = iv.threads.reduce(0) { $0 + $1.irqNs }
        let sirq = iv.threads.reduce(0) { $0 + $1.softirqNs }
        out.append((timestamp.map { $0 + "  " } ?? "") +
                   "kernel threads: \(iv.ran) ran in \(fixed(iv.seconds, 2)) s; \(cpus(own)) CPUs of their own, " +
                   "\(cpus(irq)) hard irq and \(cpus(sirq)) softirq on top")
        out.append([col("TID", 8), " ", col("THREAD", 24, left: true), col("CPU%", 7), col("OWN_ms", 10), col("IRQ_ms", 9),
                    col("SOFTIRQ_ms", 11), col("SWITCHES", 9), "  FUNCTION"].joined())
        for t in iv.threads.prefix(top) {
            out.append([col(String(t.tid), 8), " ", col(t.name, 24, left: true), col(percent(t.ownNs, secs), 7),
                        col(ms(t.ownNs), 10), col(ms(t.irqNs), 9), col(ms(t.softirqNs), 11),
                        col(String(t.switches), 9), "  " + (t.threadFn ?? "-")].joined())
            for d in t.activities.prefix(activities) { out.append("           " + activityText(d)) }
            if t.activities.count > activities { out.append("           (\(t.activities.count - activities) more)") }
        }
        if iv.threads.count > top { out.append("(\(iv.threads.count - top) more threads; --top N shows more)") }
        if iv.threads.isEmpty { out.append("(no kernel thread ran)") }
        let missing = iv.decoders.filter { $0.problem != nil }
        if !missing.isEmpty {
            out.append("not decoded on this kernel: " + missing.map { "\($0.name) (\($0.problem!))" }.joined(separator: "; "))
        }
        if let note = clocksNote(iv) { out.append(note) }
        out.append(contentsOf: lossNotes(iv.losses))
        return out.joined(separator: "\n") + "\n"
    }

    func activityText(_ d: ActivityRow) -> String {
        var s = Log2Histogram.pad("\(d.kind.name) \(d.name)", 40)
        switch d.kind {
        case .migrate, .rcuCallback:
            s += " \(d.count)×"
        case .reclaim:
            s += " \(d.count) passes, \(d.pagesScanned) pages scanned, \(d.pagesReclaimed) reclaimed"
        default:
            s += " " + Log2Histogram.pad(ms(d.ns) + " ms", 12, left: true) + " " +
                Log2Histogram.pad("\(d.count)×", 9, left: true) + "  max " + ms(d.maxNs) + " ms"
            if d.waits > 0 { s += ", queued→start avg " + ms(d.waitNs / d.waits) + " max " + ms(d.waitMaxNs) + " ms" }
        }
        return s
    }

    /// The two accounts of time on CPU part on busy or virtual machines: say by how much, and why.
    func clocksNote(_ iv: KthreadsInterval) -> String? {
        let on = iv.threads.reduce(0) { $0 + $1.oncpuNs }, wall = iv.threads.reduce(0) { $0 + $1.wallNs }
        guard on >= 10_000_000, abs(Double(wall) - Double(on)) > 0.1 * Double(on) else { return nil }
        let pct = fixed(abs(Double(wall) / Double(on) - 1) * 100, 0)
        return "clocks: CPU% and OWN are the scheduler's account (top's); the wall clock between switches (perf sched's, " +
            "which times the items) was \(pct)% \(wall > on ? "more" : "less"): the scheduler charges a task woken " +
            "with preemption from its wakeup" + (iv.stealNs > 0 ? ", and leaves out the \(ms(iv.stealNs)) ms the hypervisor stole" : "")
    }

    func lossNotes(_ l: KthreadsLosses) -> [String] {
        var out: [String] = []
        if l.threadsFull > 0 { out.append("lost: \(l.threadsFull) events of threads beyond the thread table (8192)") }
        if l.activitiesFull > 0 { out.append("lost: \(l.activitiesFull) items beyond the item table (16384)") }
        if l.maxFull > 0 { out.append("lost: \(l.maxFull) maxima beyond their table (16384): max columns are low") }
        if l.openFull > 0 { out.append("lost: \(l.openFull) item starts not remembered (table full): not timed") }
        if l.unmatched > 0 { out.append("note: \(l.unmatched) ends whose start came before tracing were not timed") }
        return out
    }

    // MARK: JSON

    /// One JSON object (one line) per interval. Schema in docs/kthreads.md.
    public func json(_ iv: KthreadsInterval, timestamp: String? = nil) -> String {
        var obj: [(String, JSONValue)] = []
        if let timestamp { obj.append(("time", .string(timestamp))) }
        obj.append(("interval_s", .double((iv.seconds * 1e6).rounded() / 1e6)))
        obj.append(("start_mono_ns", .uint(iv.startNs)))
        obj.append(("end_mono_ns", .uint(iv.endNs)))
        obj.append(("edge_error_ns", .array([.uint(iv.startErrNs), .uint(iv.endErrNs)])))
        obj.append(("threads_ran", .int(Int64(iv.ran))))
        obj.append(("steal_ns", .uint(iv.stealNs)))
        obj.append(("threads", .array(iv.threads.prefix(top).map(jsonThread))))
        obj.append(("decoders", .array(iv.decoders.map {
            .object([("name", .string($0.name)), ("decoding", .bool($0.problem == nil)),
                     ("reason", $0.problem.map { .string($0) } ?? .null)])
        })))
        let l = iv.losses
        obj.append(("lost", .object([("threads_full", .uint(l.threadsFull)), ("items_full", .uint(l.activitiesFull)),
                                     ("maxima_full", .uint(l.maxFull)), ("starts_full", .uint(l.openFull)),
                                     ("unmatched_ends", .uint(l.unmatched))])))
        return JSONValue.object(obj).text
    }

    func jsonThread(_ t: ThreadRow) -> JSONValue {
        .object([
            ("tid", .uint(UInt64(t.tid))), ("name", .string(t.name)),
            ("thread_fn", t.threadFn.map { .string($0) } ?? .null),
            ("oncpu_ns", .uint(t.oncpuNs)), ("wall_ns", .uint(t.wallNs)), ("own_ns", .uint(t.ownNs)), ("irq_ns", .uint(t.irqNs)),
            ("softirq_ns", .uint(t.softirqNs)), ("switches", .uint(t.switches)),
            ("doing", .array(t.activities.map(jsonActivity))),
        ])
    }

    func jsonActivity(_ d: ActivityRow) -> JSONValue {
        var o: [(String, JSONValue)] = [("kind", .string(d.kind.name)), ("name", .string(d.name)), ("count", .uint(d.count))]
        switch d.kind {
        case .migrate, .rcuCallback: break
        case .reclaim: o += [("pages_scanned", .uint(d.pagesScanned)), ("pages_reclaimed", .uint(d.pagesReclaimed))]
        default: o += [("ns", .uint(d.ns)), ("max_ns", .uint(d.maxNs))]
        }
        if d.kind == .work {
            o += [("waits", .uint(d.waits)), ("wait_ns", .uint(d.waitNs)), ("wait_max_ns", .uint(d.waitMaxNs))]
        }
        return .object(o)
    }

    // MARK: formatting

    func ms(_ ns: UInt64) -> String { fixed(Double(ns) / 1e6, 2) }
    func percent(_ ns: UInt64, _ secs: Double) -> String { fixed(Double(ns) / 1e7 / secs, 1) + "%" }
    func col(_ s: String, _ w: Int, left: Bool = false) -> String {
        left ? Log2Histogram.pad(s, w) : " " + Log2Histogram.pad(s, w - 1, left: true)
    }
}
