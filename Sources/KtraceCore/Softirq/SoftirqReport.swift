/// Text table and JSON lines for `ktrace softirq`.
public struct SoftirqReport {
    public var perCPU = false
    public var distributions = false
    public var latency = false

    public init(perCPU: Bool = false, distributions: Bool = false, latency: Bool = false) {
        self.perCPU = perCPU
        self.distributions = distributions
        self.latency = latency
    }

    // MARK: text

    public func table(_ iv: SoftirqInterval, timestamp: String? = nil) -> String {
        var out: [String] = []
        if let timestamp { out.append(timestamp) }
        if perCPU {
            for cpu in iv.activeCPUs {
                out.append("CPU \(cpu):")
                out.append(contentsOf: rows(iv.perCPU[cpu]))
            }
            if iv.activeCPUs.isEmpty { out.append("(no softirq ran)") }
        } else {
            out.append(contentsOf: rows(iv.total))
        }
        if distributions {
            for v in SoftirqVector.allCases {
                let s = iv.total[v.rawValue]
                if s.count > 0 {
                    out.append("")
                    out.append("softirq = \(v.name) (run time)")
                    out.append(Log2Histogram.render(s.hist))
                }
                if latency, s.latCount > 0 {
                    out.append("")
                    out.append("softirq = \(v.name) (raise to entry)")
                    out.append(Log2Histogram.render(s.latHist))
                }
            }
        }
        let orphans = iv.orphanExits
        if orphans > 0 {
            out.append("note: \(orphans) softirq exit(s) without their entry were discarded (ktrace attached mid-softirq)")
        }
        if iv.lostExits > 0 {
            out.append("note: \(iv.lostExits) softirq run(s) whose exit was never seen were not timed")
        }
        if iv.untraced > 0 {
            let which = SoftirqVector.allCases.filter { iv.total[$0.rawValue].untraced > 0 }
                .map { "\(iv.total[$0.rawValue].untraced) \($0.name)" }.joined(separator: ", ")
            out.append("note: \(iv.untraced) softirq run(s) counted by the kernel (/proc/softirqs) were shown by no tracepoint "
                       + "and are not in the table (\(which))")
        }
        return out.joined(separator: "\n") + "\n"
    }

    func rows(_ vecs: [VecStats]) -> [String] {
        var header = [col("SOFTIRQ", 10, left: true), col("COUNT", 10), col("TOTAL_us", 12), col("AVG_us", 9),
                      col("MAX_us", 9), col("KSOFTIRQD_us", 13), col("KSOFTIRQD%", 11)]
        if latency { header += [col("LAT_COUNT", 10), col("LAT_AVG_us", 11), col("LAT_MAX_us", 11)] }
        var lines = [header.joined()]
        for v in SoftirqVector.allCases {
            let s = vecs[v.rawValue]
            var row = [col(v.name, 10, left: true), col(String(s.count), 10), col(us(s.totalNs), 12),
                       col(us(s.avgNs), 9), col(us(s.maxNs), 9), col(us(s.ksoftirqdNs), 13),
                       col(percent(s.ksoftirqdShare, valid: s.totalNs > 0), 11)]
            if latency { row += [col(String(s.latCount), 10), col(us(s.latAvgNs), 11), col(us(s.latMaxNs), 11)] }
            lines.append(row.joined())
        }
        return lines
    }

    // MARK: JSON

    /// One JSON object (one line) for one interval. Schema in docs/softirq.md.
    public func json(_ iv: SoftirqInterval, timestamp: String? = nil) -> String {
        var obj: [(String, JSONValue)] = []
        if let timestamp { obj.append(("time", .string(timestamp))) }
        obj.append(("interval_s", .double((iv.seconds * 1e6).rounded() / 1e6)))
        if iv.endNs > 0 {
            obj.append(("start_mono_ns", .uint(iv.startNs)))
            obj.append(("end_mono_ns", .uint(iv.endNs)))
            obj.append(("edge_error_ns", .array([.uint(iv.startErrNs), .uint(iv.endErrNs)])))
        }
        obj.append(("vectors", .array(SoftirqVector.allCases.map { jsonVec($0, iv.total[$0.rawValue]) })))
        if perCPU {
            obj.append(("per_cpu", .array(iv.activeCPUs.map { cpu in
                .object([("cpu", .int(Int64(cpu))),
                         ("vectors", .array(SoftirqVector.allCases.map { jsonVec($0, iv.perCPU[cpu][$0.rawValue]) }))])
            })))
        }
        obj.append(("orphan_exits", .uint(iv.orphanExits)))
        obj.append(("lost_exits", .uint(iv.lostExits)))
        obj.append(("untraced", .uint(iv.untraced)))
        return JSONValue.object(obj).text
    }

    func jsonVec(_ v: SoftirqVector, _ s: VecStats) -> JSONValue {
        var o: [(String, JSONValue)] = [
            ("name", .string(v.name)), ("count", .uint(s.count)), ("total_ns", .uint(s.totalNs)),
            ("avg_ns", .uint(s.avgNs)), ("max_ns", .uint(s.maxNs)),
            ("ksoftirqd_count", .uint(s.ksoftirqdCount)), ("ksoftirqd_ns", .uint(s.ksoftirqdNs)),
            ("inline_count", .uint(s.inlineCount)), ("inline_ns", .uint(s.inlineNs)),
            ("untraced", .uint(s.untraced)),
        ]
        if latency {
            o += [("lat_count", .uint(s.latCount)), ("lat_avg_ns", .uint(s.latAvgNs)), ("lat_max_ns", .uint(s.latMaxNs))]
        }
        if distributions {
            o.append(("hist_log2_ns", .array(trimmed(s.hist).map { .uint($0) })))
            if latency { o.append(("lat_hist_log2_ns", .array(trimmed(s.latHist).map { .uint($0) }))) }
        }
        return .object(o)
    }

    /// Histogram without its trailing empty buckets (index i still means [2^i, 2^(i+1)) ns).
    func trimmed(_ h: [UInt64]) -> [UInt64] {
        guard let last = h.lastIndex(where: { $0 > 0 }) else { return [] }
        return Array(h[...last])
    }

    // MARK: formatting

    func us(_ ns: UInt64) -> String {
        let tenths = (ns + 50) / 100
        return "\(tenths / 10).\(tenths % 10)"
    }

    func percent(_ x: Double, valid: Bool) -> String {
        guard valid else { return "-" }
        let tenths = Int((x * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    func col(_ s: String, _ w: Int, left: Bool = false) -> String {
        left ? Log2Histogram.pad(s, w) : " " + Log2Histogram.pad(s, w - 1, left: true)
    }
}
