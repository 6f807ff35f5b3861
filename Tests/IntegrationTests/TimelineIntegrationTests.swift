import Foundation
import KtraceCore
import KtraceTestSupport
import Testing

/// The X events of a Chrome trace written by `ktrace timeline`.
struct ChromeEvent: Decodable {
    let name: String
    let cat: String?
    let ph: String
    let ts: Double?
    let dur: Double?
    let pid: Int?
    let tid: Int?
}

struct ChromeFile: Decodable {
    struct Other: Decodable { let startNs: UInt64; let endNs: UInt64 }
    let traceEvents: [ChromeEvent]
    let otherData: Other
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[s.count / 2]
}

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct TimelineIntegrationTests {
    /// phase_a (30 ms), phase_b (20 ms), phase_c (10 ms), repeated: the timeline shows them in that order
    /// with those durations (within 10%) — the folded output of the same run has no order at all.
    @Test func phasesInOrderWithDurations() throws {
        let w = try Workload.start("phases", seconds: 6)
        defer { _ = w.wait(timeout: 30) }
        usleep(300_000)
        let dir = FileManager.default.temporaryDirectory
        let json = dir.appendingPathComponent("ktt-phases-\(getpid()).json").path
        let speedscope = dir.appendingPathComponent("ktt-phases-\(getpid()).speedscope.json").path
        defer { try? FileManager.default.removeItem(atPath: json); try? FileManager.default.removeItem(atPath: speedscope) }
        let r = try run(Env.ktrace, ["timeline", "--pid", String(w.pid), "-F", "1999", "-d", "3", "-o", json], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let problems = TraceValidator.validateChromeTrace(data)
        #expect(problems.isEmpty, "invalid trace: \(problems.prefix(5))")

        let trace = try JSONDecoder().decode(ChromeFile.self, from: data)
        let spans = trace.traceEvents
            .filter { $0.ph == "X" && $0.tid == Int(w.pid) && ["phase_a", "phase_b", "phase_c"].contains($0.name) }
            .sorted { ($0.ts ?? 0) < ($1.ts ?? 0) }
        // A phase preempted midway shows as two spans with the same name, split at the switch: one phase
        // run is the stretch from the first of them to the end of the last.
        var phases: [(name: String, start: Double, end: Double)] = []
        for e in spans {
            let start = e.ts ?? 0, end = start + (e.dur ?? 0)
            if let last = phases.last, last.name == e.name { phases[phases.count - 1].end = end }
            else { phases.append((e.name, start, end)) }
        }
        try #require(phases.count >= 60, "only \(phases.count) phase runs")
        // Order: each phase is followed by the next one, cyclically.
        let next = ["phase_a": "phase_b", "phase_b": "phase_c", "phase_c": "phase_a"]
        let inOrder = zip(phases, phases.dropFirst()).filter { next[$0.name] == $1.name }.count
        #expect(inOrder == phases.count - 1, "phases out of order: \(phases.prefix(12).map(\.name))")
        for (name, ms) in [("phase_a", 30.0), ("phase_b", 20.0), ("phase_c", 10.0)] {
            let got = median(phases.filter { $0.name == name }.map { ($0.end - $0.start) / 1000 })
            #expect(abs(got - ms) <= ms * 0.1, "\(name): median \(got) ms, expected \(ms) ms")
        }

        let s = try run(Env.ktrace, ["timeline", "--pid", String(w.pid), "-F", "999", "-d", "1", "-o", speedscope], timeout: 60)
        #expect(s.status == 0, "\(s.stderr)")
        let sproblems = TraceValidator.validateSpeedscope(try Data(contentsOf: URL(fileURLWithPath: speedscope)))
        #expect(sproblems.isEmpty, "invalid speedscope file: \(sproblems.prefix(5))")
    }

    /// Softirq slices in the timeline add up, per vector, to what `ktrace softirq` reports for the same
    /// window (within 2%).
    @Test func softirqSlicesMatchSoftirqTotals() throws {
        try underLoad("ktttl", "paced", seconds: 12, warmup: 1) {
            let json = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-sirq-\(getpid()).json").path
            defer { try? FileManager.default.removeItem(atPath: json) }
            let tl = try Spawned(Env.ktrace, ["timeline", "-a", "-F", "99", "-d", "6", "-o", json], streamStdout: false)
            usleep(1_500_000)
            let sr = try run(Env.ktrace, ["softirq", "--json", "3", "1"], timeout: 30)
            let tr = tl.wait(timeout: 60)
            #expect(sr.status == 0 && tr.status == 0, "\(sr.stderr) \(tr.stderr)")
            #expect(tr.stderr.contains("; 0 events dropped"), "\(tr.stderr)")
            let report = try JSONDecoder().decode(SoftirqWindow.self, from: Data(sr.stdout.utf8))
            let trace = try JSONDecoder().decode(ChromeFile.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
            // Slices whose run ended inside the softirq report's window (BPF files a run under the interval of
            // its exit).
            let lo = Double(report.start_mono_ns) - Double(trace.otherData.startNs)
            let hi = Double(report.end_mono_ns) - Double(trace.otherData.startNs)
            var sums: [String: (count: Int, ns: Double)] = [:]
            for e in trace.traceEvents where e.ph == "X" && e.cat == "softirq" {
                let end = ((e.ts ?? 0) + (e.dur ?? 0)) * 1000
                guard end >= lo && end < hi else { continue }
                sums[e.name, default: (0, 0)].count += 1
                sums[e.name, default: (0, 0)].ns += (e.dur ?? 0) * 1000
            }
            for v in report.vectors where v.count > 50 {
                let got = sums[v.name] ?? (0, 0)
                #expect(abs(Double(got.count) - Double(v.count)) <= Double(v.count) * 0.02,
                        "\(v.name): \(got.count) slices, softirq counted \(v.count)")
                // Both tools time every run at once, and each one's durations include one of the other's
                // probes (240-300 ns each, measured with kernel.bpf_stats_enabled): allow 2%, or 500 ns per
                // run for vectors whose runs last only a few microseconds.
                #expect(abs(got.ns - Double(v.total_ns)) <= max(Double(v.total_ns) * 0.02, 500 * Double(v.count)),
                        "\(v.name): slices sum to \(Int(got.ns)) ns, softirq reports \(v.total_ns) ns")
            }
            #expect((report.vectors.first { $0.name == "net_rx" }?.count ?? 0) > 10_000, "load produced too little NET_RX")
        }
    }

    /// --trace needs fentry/fexit; where the kernel cannot attach them ktrace says why, in one line.
    /// A malformed list is refused before anything loads, on every kernel.
    @Test func traceExplainsWhenUnavailable() throws {
        let bad = try run(Env.ktrace, ["timeline", "--trace", "vfs_read,,x", "-d", "1"], timeout: 30)
        #expect(bad.status == 64 && bad.stderr.contains("'' is not a kernel function name"), "\(bad.stderr)")
        let many = try run(Env.ktrace, ["timeline", "--trace", "a,b,c,d,e,f,g,h,i", "-d", "1"], timeout: 30)
        #expect(many.status == 64 && many.stderr.contains("at most 8 functions"), "\(many.stderr)")

        let r = try run(Env.ktrace, ["timeline", "--trace", "vfs_read", "-d", "1"], timeout: 30)
        guard r.status != 0 else {
            print("SKIP: traceExplainsWhenUnavailable: fentry/fexit attached on this kernel, the unavailability message is not exercised")
            return
        }
        #expect(r.stderr.hasPrefix("ktrace: error: --trace vfs_read: fentry/fexit is not available on this kernel ("), "\(r.stderr)")
        #expect(r.stderr.contains("the sampled timeline works without it"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    /// --trace vfs_read against a workload that read()s in a loop: its calls appear as vfs_read slices on
    /// the workload thread's call track, about as many as it made, in a valid trace. Skipped, saying why,
    /// where fentry/fexit cannot attach.
    @Test func traceRecordsVfsReadCalls() throws {
        let probe = try run(Env.ktrace, ["timeline", "--trace", "vfs_read", "-d", "0.1", "-o", "/dev/null"], timeout: 30)
        if probe.status != 0 {
            print("SKIP: traceRecordsVfsReadCalls: \(probe.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            return
        }
        let missing = try run(Env.ktrace, ["timeline", "--trace", "vfs_read,kt_no_such_function", "-d", "0.1"], timeout: 30)
        #expect(missing.status != 0 && missing.stderr.contains("--trace kt_no_such_function: no such kernel function in BTF"),
                "\(missing.stderr)")

        let w = try Workload.start("reads", seconds: 4)
        usleep(300_000)
        let json = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-trace-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: json) }
        let r = try run(Env.ktrace, ["timeline", "--pid", String(w.pid), "--trace", "vfs_read", "-d", "2", "-o", json], timeout: 60)
        let wr = w.wait(timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("; 0 events dropped"), "\(r.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let problems = TraceValidator.validateChromeTrace(data)
        #expect(problems.isEmpty, "invalid trace: \(problems.prefix(5))")

        let trace = try JSONDecoder().decode(ChromeFile.self, from: data)
        let calls = trace.traceEvents.filter { $0.ph == "X" && $0.cat == "func" && $0.tid == Int(w.pid) + 10_000_000 }
        let total = Double(wr.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try #require(total > 1000, "workload made only \(total) reads: \(wr.stdout)")
        // 2 s of a 4 s run: about half of its reads (it also reads its own binary and libraries at start).
        #expect(Double(calls.count) > total * 0.3 && Double(calls.count) < total * 0.7,
                "\(calls.count) vfs_read slices, the workload made \(Int(total)) reads in 4 s")
        #expect(calls.allSatisfy { $0.name == "vfs_read" && ($0.dur ?? -1) >= 0 })
        #expect(median(calls.map { $0.dur ?? 0 }) < 1000, "a 1-byte read of /dev/zero takes well under 1 ms")
    }
}

struct SoftirqWindow: Decodable {
    struct Vec: Decodable { let name: String; let count: UInt64; let total_ns: UInt64 }
    let start_mono_ns: UInt64
    let end_mono_ns: UInt64
    let vectors: [Vec]
}
