/// The diagnosis as a person reads it: a few lines per finding, biggest first, then what was ruled out
/// and what could not be checked. Fixed formatting, so the same input gives the same bytes.
public enum DiagnoseText {
    public static func render(_ d: Diagnosis) -> String {
        var out = "ktrace diagnose: \(fixed(d.windowSeconds, 2)) s on \(d.cpuCount) CPU\(d.cpuCount == 1 ? "" : "s")"
        if let k = d.kernel { out += " (Linux \(k))" }
        out += "; \(count(d.findings.count, "finding")), \(d.ruledOut.count) ruled out"
        if !d.notEvaluated.isEmpty { out += ", \(d.notEvaluated.count) not evaluated" }
        out += "\n"
        if d.findings.isEmpty { out += "\nNo finding: nothing measured explains a busy CPU, lost packets or a high load.\n" }
        for (i, f) in d.findings.enumerated() {
            out += "\n\(i + 1). \(f.id): \(f.title)\n"
            out += "   explains \(DiagnoseFormat.pct(f.share.value)) \(f.share.basis.phrase(cpu: f.share.cpu))\n"
            out += "   cause: \(f.cause)\n"
            out += "   evidence:\n"
            for e in f.evidence {
                let when = e.window == Evidence.windowed ? "" : ", \(e.window)"
                out += "     \(e.text): \(value(e.value, e.unit))  (\(e.source)\(when))\n"
            }
            for (j, t) in f.tries.enumerated() {
                out += "   \(j == 0 ? "try:" : "or: ") \(t.change)\n"
                out += "         $ \(t.command)\n"
            }
            out += "   confirm: run `\(f.confirm.command)`: \(f.confirm.number) should \(expect(f.confirm.expect))\n"
        }
        if !d.ruledOut.isEmpty {
            out += "\nruled out:\n"
            let w = d.ruledOut.map(\.id.count).max() ?? 0
            for r in d.ruledOut {
                out += "  " + r.id + String(repeating: " ", count: w - r.id.count) + "  \(r.text)  (\(r.source))\n"
            }
        }
        if !d.notEvaluated.isEmpty {
            out += "\nnot evaluated:\n"
            let w = d.notEvaluated.map(\.id.count).max() ?? 0
            for n in d.notEvaluated {
                out += "  " + n.id + String(repeating: " ", count: w - n.id.count) + "  \(n.missing)\n"
            }
        }
        if let s = d.netRxSplit, s.total > 0 {
            // Largest first; equal counts in table order (the sort is not stable).
            let parts = s.rows.enumerated().filter { $0.1.samples > 0 }.sorted { ($0.1.samples, $1.0) > ($1.1.samples, $0.0) }
                .map(\.1).map { "\(NetRxStage.named($0.stage)?.name ?? $0.stage) \(DiagnoseFormat.pct(Double($0.samples) / Double(s.total)))" }
            out += "\nNET_RX by stage (\(s.total) samples): " + parts.joined(separator: ", ") + "\n"
        }
        if let d = d.drops { out += "\n" + drops(d) + "\n" }
        return out
    }

    static func drops(_ d: DropSummary) -> String {
        let head = "Drops by reason and location (\(DiagnoseSource.kfreeSkb)"
        guard d.total > 0 else { return head + "): none" }
        var parts = d.top.map { "\($0.label) \($0.count)" }
        if d.others > 0 { parts.append("others \(d.others)") }
        if d.notCounted > 0 { parts.append("not counted by pair (table full or program skipped) \(d.notCounted)") }
        return head + ", \(d.total) packets): " + parts.joined(separator: ", ")
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    static func expect(_ e: Expectation) -> String {
        switch e {
        case .down: "go down"
        case .up: "go up"
        case .zero: "fall to 0"
        }
    }

    /// A number with its unit as the report prints it.
    static func value(_ v: Double, _ unit: EvidenceUnit) -> String {
        switch unit {
        case .ratio: DiagnoseFormat.pct(v)
        case .percent: fixed(v, 1) + "%"
        case .seconds: fixed(v, 2) + " s"
        case .milliseconds: fixed(v, 2) + " ms"
        case .perSecond: (v < 10 ? fixed(v, 1) : fixed(v, 0)) + "/s"
        case .packets: plain(v) + " packets"
        case .entries: plain(v) + " entries"
        case .rules: plain(v) + " rules"
        case .tasks: fixed(v, 1, trim: true) + " tasks"
        case .count, .value: plain(v)
        }
    }

    static func plain(_ v: Double) -> String { v == v.rounded() ? fixed(v, 0) : fixed(v, 2, trim: true) }
}

/// The diagnosis as one JSON object (schema: docs/diagnose.md).
public enum DiagnoseJSON {
    public static func render(_ d: Diagnosis) -> String { object(d).text + "\n" }

    public static func object(_ d: Diagnosis) -> JSONValue {
        var top: [(String, JSONValue)] = [("window_s", .double(round(d.windowSeconds, 3))), ("cpus", .int(Int64(d.cpuCount)))]
        if let k = d.kernel { top.append(("kernel", .string(k))) }
        top.append(("findings", .array(d.findings.enumerated().map { finding($1, rank: $0 + 1) })))
        top.append(("ruled_out", .array(d.ruledOut.map { r in
            .object([("id", .string(r.id)), ("text", .string(r.text)), ("value", number(r.value, r.unit)),
                     ("unit", .string(r.unit.rawValue)), ("source", .string(r.source))])
        })))
        top.append(("not_evaluated", .array(d.notEvaluated.map { .object([("id", .string($0.id)), ("missing", .string($0.missing))]) })))
        if let s = d.netRxSplit {
            top.append(("net_rx_stages", .object([
                ("samples", .uint(s.total)), ("skipped", .uint(s.skipped)),
                ("stages", .array(s.rows.map { r in
                    var o: [(String, JSONValue)] = [
                        ("stage", .string(r.stage)), ("samples", .uint(r.samples)),
                        ("share", .double(round(s.total > 0 ? Double(r.samples) / Double(s.total) : 0, 4))),
                        ("inclusive_share", .double(round(s.total > 0 ? Double(r.inclusiveSamples) / Double(s.total) : 0, 4))),
                    ]
                    if let f = r.topFunction { o.append(("top_function", .string(f))) }
                    return .object(o)
                })),
            ])))
        }
        if let drops = d.drops {
            top.append(("drops", .object([
                ("packets", .uint(drops.total)),
                ("top", .array(drops.top.map { r in
                    var o: [(String, JSONValue)] = []
                    if let reason = r.reason { o.append(("reason", .string(reason))) }
                    if let location = r.location { o.append(("location", .string(location))) }
                    o.append(("count", .uint(r.count)))
                    return .object(o)
                })),
                ("others", .uint(drops.others)), ("not_counted", .uint(drops.notCounted)),
            ])))
        }
        return .object(top)
    }

    static func finding(_ f: Finding, rank: Int) -> JSONValue {
        var o: [(String, JSONValue)] = [
            ("rank", .int(Int64(rank))), ("id", .string(f.id)), ("title", .string(f.title)),
            ("share", .double(round(f.share.value, 4))), ("share_of", .string(f.share.basis.rawValue)),
        ]
        if let cpu = f.share.cpu { o.append(("cpu", .int(Int64(cpu)))) }
        o.append(("evidence", .array(f.evidence.map { e in
            .object([("text", .string(e.text)), ("value", number(e.value, e.unit)), ("unit", .string(e.unit.rawValue)),
                     ("source", .string(e.source)), ("window", .string(e.window))])
        })))
        o.append(("cause", .string(f.cause)))
        o.append(("try", .array(f.tries.map { .object([("change", .string($0.change)), ("command", .string($0.command))]) })))
        o.append(("confirm", .object([("command", .string(f.confirm.command)), ("number", .string(f.confirm.number)),
                                      ("expect", .string(f.confirm.expect.rawValue))])))
        return .object(o)
    }

    /// Whole units as integers, fractions to 4 decimals, rates and others to 3: stable across runs.
    static func number(_ v: Double, _ unit: EvidenceUnit) -> JSONValue {
        let whole: Set<EvidenceUnit> = [.packets, .count, .entries, .rules, .value]
        if unit == .ratio { return .double(round(v, 4)) }
        if whole.contains(unit), v == v.rounded(), abs(v) < 9e15 { return .int(Int64(v)) }
        return .double(round(v, 3))
    }

    static func round(_ v: Double, _ places: Int) -> Double {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        return (v * scale).rounded() / scale
    }
}
