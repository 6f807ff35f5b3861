/// Plain-text timeline: per CPU, one line per span in time order:
///
///     +12.345ms    3.2ms  net_rx  [ksoftirqd/0]  net_rx_action > __netif_receive_skb > br_handle_frame
///
/// start relative to the window, duration, what ran, the task, and the stack.
/// - Softirq slices: what = vector name; task = the interrupted task "comm (tid)", or "[ksoftirqd/N]"
///   when ksoftirqd served it; stack = the longest common stack of this CPU's samples taken inside the
///   slice (blank when none fell inside).
/// - Sampled task time: what = "run" ("idle" for the idle task); consecutive samples of one task on the
///   CPU are cut where a gap or a switch away interrupts them (the flame chart rule), and further where
///   the stack changes phase: a line grows while its samples keep its common stack; a sample that would
///   shorten it starts a new line once the line holds 2 samples (or when it shares nothing, or when it
///   agrees with the sample after it more deeply). Stack = the common stack of the line's samples, so
///   noisy leaves fold into their phase. The line ends where the next one starts (or at the run's end).
/// Stacks read root → leaf, trimmed from the root side to `stackWidth` characters so the leaf stays.
/// `collapse` merges consecutive lines of a CPU with the same what/task/stack into one "×N" line whose
/// duration is the sum. --trace calls follow, per thread (`callLines`).
public enum TimelineText {
    public static let stackWidth = 100

    struct Line {
        var start: UInt64
        var end: UInt64
        var dur: UInt64
        var what: String
        var task: String
        var stack: String
        var count = 1
    }

    public static func render(_ t: Timeline, collapse: Bool) -> String {
        var out: [String] = []
        let window = t.endNs > t.startNs ? t.endNs - t.startNs : 0
        out.append("ktrace timeline: \(duration(window)) window, \(t.exportCPUs.count) CPU(s), \(t.samples.count) samples every "
            + "\(duration(t.samplePeriodNs)), \(t.slices.count) softirq slices, \(t.switches.count) switches"
            + (t.calls.isEmpty ? "" : ", \(t.calls.count) function entry/exit events"))

        var perCPU: [(cpu: Int, lines: [Line])] = []
        let slices = t.exportSlicesByCPU()
        let away = t.exportAwayIndex(t.switches)
        var samplesByCPU: [Int: [TimelineSample]] = [:]
        for s in t.samples { samplesByCPU[s.cpu, default: []].append(s) }
        for cpu in t.exportCPUs {
            let samples = FlameChart.stableSorted(samplesByCPU[cpu] ?? []) { $0.ts < $1.ts }
            var lines = taskLines(samples, cpu: cpu, t, away: away)
            for r in slices[cpu] ?? [] {
                let inside = samples[lowerBound(samples, r.start)..<lowerBound(samples, r.end)]
                    .filter { $0.softirq == nil || $0.softirq == r.slice.vector }
                let stack = inside.isEmpty ? [] : inside.dropFirst().reduce(inside.first!.exportFrames) { common($0, $1.exportFrames) }
                let task = r.slice.ksoftirqd ? "[\(r.slice.comm)]" : taskLabel(r.slice.comm, r.slice.tid, cpu)
                lines.append(Line(start: r.start, end: r.end, dur: r.end - r.start, what: r.slice.vector.name, task: task, stack: trim(stack)))
            }
            // Outer first on a tie, so a task line precedes the softirq slices inside it.
            lines = FlameChart.stableSorted(lines) { ($0.start, $1.end) < ($1.start, $0.end) }
            if collapse {
                var merged: [Line] = []
                for l in lines {
                    if var last = merged.last, last.what == l.what, last.task == l.task, last.stack == l.stack {
                        last.count += 1
                        last.dur += l.dur
                        last.end = l.end
                        merged[merged.count - 1] = last
                    } else {
                        merged.append(l)
                    }
                }
                lines = merged
            }
            if !lines.isEmpty { perCPU.append((cpu, lines)) }
        }

        // Column widths across all CPUs so the whole listing lines up.
        let all = perCPU.flatMap(\.lines)
        let when = { (l: Line) in "+" + fixed(t.relNs(l.start), 1_000_000, 3) + "ms" }
        let what = { (l: Line) in l.count > 1 ? "\(l.what) ×\(l.count)" : l.what }
        let wWhen = all.map { when($0).count }.max() ?? 0
        let wDur = all.map { duration($0.dur).count }.max() ?? 0
        let wWhat = all.map { what($0).count }.max() ?? 0
        let wTask = all.map(\.task.count).max() ?? 0
        for (cpu, lines) in perCPU {
            out.append("CPU \(cpu)")
            for l in lines {
                let row = "  " + pad(when(l), wWhen, right: true) + "  " + pad(duration(l.dur), wDur, right: true)
                    + "  " + pad(what(l), wWhat) + "  " + (l.stack.isEmpty ? l.task : pad(l.task, wTask) + "  " + l.stack)
                out.append(row)
            }
        }
        let threadCalls = t.exportCalls()
        out += callLines(threadCalls, t)
        let threadWork = t.exportWork()
        out += workLines(threadWork, t)
        if perCPU.isEmpty && threadCalls.isEmpty && threadWork.isEmpty { out.append("(nothing recorded)") }
        return out.joined(separator: "\n") + "\n"
    }

    /// --trace calls, per thread, one line per call in start order, indented two spaces per depth:
    ///
    ///     +12.345ms    3.2µs      vfs_read  (exit lost)
    static func callLines(_ threads: [ThreadCalls], _ t: Timeline) -> [String] {
        let all = threads.flatMap(\.calls)
        let when = { (c: FunctionCall) in "+" + fixed(t.relNs(c.start), 1_000_000, 3) + "ms" }
        let wWhen = all.map { when($0).count }.max() ?? 0
        let wDur = all.map { duration($0.end - $0.start).count }.max() ?? 0
        var out: [String] = []
        for th in threads {
            out.append(th.label)
            for c in th.calls {
                var notes: [String] = []
                if c.begin == .beforeWindow { notes.append("began before the recording") }
                if c.begin == .lostEntry { notes.append("entry lost") }
                if c.finish == .lostExit { notes.append("exit lost") }
                if c.finish == .windowEnd { notes.append("still running at the end") }
                out.append("  " + pad(when(c), wWhen, right: true) + "  " + pad(duration(c.end - c.start), wDur, right: true) + "  "
                           + String(repeating: "  ", count: c.depth) + c.function
                           + (notes.isEmpty ? "" : "  (" + notes.joined(separator: ", ") + ")"))
            }
        }
        return out
    }

    /// Work items, per kworker, one line per item in start order:
    ///
    ///     +12.345ms   27.1ms  cleanup_net
    static func workLines(_ threads: [ThreadWork], _ t: Timeline) -> [String] {
        let all = threads.flatMap(\.items)
        let when = { (start: UInt64) in "+" + fixed(t.relNs(start), 1_000_000, 3) + "ms" }
        let wWhen = all.map { when($0.start).count }.max() ?? 0
        let wDur = all.map { duration($0.end - $0.start).count }.max() ?? 0
        var out: [String] = []
        for th in threads {
            out.append(th.label)
            for w in th.items {
                out.append("  " + pad(when(w.start), wWhen, right: true) + "  " + pad(duration(w.end - w.start), wDur, right: true) + "  " + w.function)
            }
        }
        return out
    }

    /// Lines for the sampled tasks of one CPU (`samples` sorted by ts).
    static func taskLines(_ samples: [TimelineSample], cpu: Int, _ t: Timeline, away: TimelineAwayIndex) -> [Line] {
        var lines: [Line] = []
        var i = 0
        while i < samples.count {
            // One task's consecutive samples on this CPU.
            var j = i + 1
            while j < samples.count, TimelineThreadKey(samples[j]) == TimelineThreadKey(samples[i]) { j += 1 }
            let sub = Array(samples[i..<j])
            var runs = FlameChart.stretches(samples: sub, periodNs: t.samplePeriodNs, away: away.away(for: sub, periodNs: t.samplePeriodNs))
            // The next task's first sample shows this one was off the CPU by then.
            if j < samples.count, let last = runs.indices.last, samples[j].ts > sub.last!.ts {
                runs[last].end = min(runs[last].end, samples[j].ts)
            }
            let task = taskLabel(sub[0].comm, sub[0].tid, cpu)
            let what = sub[0].tid == 0 ? "idle" : "run"
            for run in runs {
                var groups: [(first: Int, count: Int, stack: [String])] = []
                for k in run.range {
                    let f = sub[k].exportFrames
                    if var g = groups.last {
                        let n = FlameChart.commonPrefixCount(g.stack, f)
                        // A lone sample joins the next line unless that next sample starts a steadier
                        // phase: it agrees with its own successor deeper than with this line.
                        let nextAgrees = k + 1 < run.range.upperBound
                            && FlameChart.commonPrefixCount(f, sub[k + 1].exportFrames) > n
                        if !(n < g.stack.count && (g.count >= 2 || n == 0 || nextAgrees)) {
                            g.count += 1
                            g.stack = Array(g.stack.prefix(n))
                            groups[groups.count - 1] = g
                            continue
                        }
                    }
                    groups.append((k, 1, f))
                }
                for (gi, g) in groups.enumerated() {
                    let start = sub[g.first].ts
                    let end = gi + 1 < groups.count ? sub[groups[gi + 1].first].ts : run.end
                    lines.append(Line(start: start, end: end, dur: end - start, what: what, task: task, stack: trim(g.stack)))
                }
            }
            i = j
        }
        return lines
    }

    static func taskLabel(_ comm: String, _ tid: Int32, _ cpu: Int) -> String {
        tid == 0 ? (comm.isEmpty ? "swapper/\(cpu)" : comm) : "\(comm) (\(tid))"
    }

    static func common(_ a: [String], _ b: [String]) -> [String] {
        Array(a.prefix(FlameChart.commonPrefixCount(a, b)))
    }

    /// Root → leaf joined by " > ", dropping root-side frames first (the leaf says what is running).
    static func trim(_ frames: [String], width: Int = stackWidth) -> String {
        let full = frames.joined(separator: " > ")
        if full.count <= width { return full }
        var kept: [String] = []
        var len = 4 // "… > "
        for f in frames.reversed() {
            let add = f.count + (kept.isEmpty ? 0 : 3)
            if len + add > width { break }
            kept.insert(f, at: 0)
            len += add
        }
        if kept.isEmpty { return "…" + String(frames.last!.suffix(width - 1)) }
        return "… > " + kept.joined(separator: " > ")
    }

    /// First index whose ts >= x.
    static func lowerBound(_ a: [TimelineSample], _ x: UInt64) -> Int {
        a.partitionPoint { $0.ts >= x }
    }

    /// "850ns", "12.3µs", "3.2ms", "1.234s".
    static func duration(_ ns: UInt64) -> String {
        if ns < 1_000 { return "\(ns)ns" }
        // Thresholds leave room for rounding, so 999.96µs prints as "1.0ms", not "1000.0µs".
        if ns < 999_950 { return fixed(ns, 1_000, 1) + "µs" }
        if ns < 999_950_000 { return fixed(ns, 1_000_000, 1) + "ms" }
        return fixed(ns, 1_000_000_000, 3) + "s"
    }

    /// v / unit with `decimals` digits, rounded half up, in integer arithmetic (no locale, no float drift).
    static func fixed(_ v: UInt64, _ unit: UInt64, _ decimals: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let q = unit / scale // unit is a power of ten >= scale
        let n = (v + q / 2) / q
        let ip = n / scale, fr = n % scale
        if decimals == 0 { return String(ip) }
        let f = String(fr)
        return String(ip) + "." + String(repeating: "0", count: decimals - f.count) + f
    }

    static func pad(_ s: String, _ w: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, w - s.count))
        return right ? fill + s : s + fill
    }
}
