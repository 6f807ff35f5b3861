/// NET_RX time split into receive-path stages, from kernel stacks sampled in NET_RX.
///
/// Input is ktrace's folded form, root first (`comm;outer;...;leaf COUNT`). A sample counts as NET_RX when
/// it carries ktrace's `[softirq:net_rx]` frame (`--by-softirq`), or, without any `[softirq:...]` frame,
/// when `net_rx_action` is on its stack; every other sample is skipped (and counted as such).
///
/// Each NET_RX sample goes to one stage: the stage of its deepest (leaf-most) frame that matches a stage,
/// so a packet filter's helpers count as rule evaluation and conntrack called from a bridge hook counts
/// as conntrack. Samples where no frame matches are "other". Shares are of NET_RX samples, so they sum
/// to 1. The inclusive count is how many samples have any frame of the stage (anywhere on the stack):
/// what a stage costs with everything it calls, as a flame graph's tower shows it.
public struct NetRxSplit: Sendable, Equatable {
    public struct Row: Sendable, Equatable {
        public var stage: String
        /// Samples whose deepest matching frame is this stage's.
        public var samples: UInt64
        /// Samples with a frame of this stage anywhere on the stack.
        public var inclusiveSamples: UInt64
        /// This stage's function seen in most samples (as their deepest match), for evidence.
        public var topFunction: String?
    }

    /// NET_RX samples.
    public var total: UInt64
    /// Samples that were not NET_RX (another vector, or no net_rx_action).
    public var skipped: UInt64
    /// One row per stage in table order, then "other".
    public var rows: [Row]
    /// The NET_RX samples as function names (root first, suffixes removed), for rules that ask which
    /// functions occur together on a stack.
    public var stacks: [(functions: [String], count: UInt64)] = []

    public static func == (a: NetRxSplit, b: NetRxSplit) -> Bool { a.total == b.total && a.skipped == b.skipped && a.rows == b.rows }

    /// NET_RX samples whose stack satisfies `predicate` (given the set of its function names).
    public func samples(where predicate: (Set<String>) -> Bool) -> UInt64 {
        var n: UInt64 = 0
        for s in stacks where predicate(Set(s.functions)) { n.addSaturating(s.count) }
        return n
    }

    public func row(_ stage: String) -> Row? { rows.first { $0.stage == stage } }

    /// The stage's share of NET_RX samples (0 without samples).
    public func share(_ stage: String) -> Double {
        guard total > 0, let r = row(stage) else { return 0 }
        return Double(r.samples) / Double(total)
    }

    public func inclusiveShare(_ stage: String) -> Double {
        guard total > 0, let r = row(stage) else { return 0 }
        return Double(r.inclusiveSamples) / Double(total)
    }

    public init(total: UInt64, skipped: UInt64, rows: [Row]) {
        self.total = total; self.skipped = skipped; self.rows = rows
    }

    /// Split folded lines (`NetRxSplit` doc): parse errors are thrown with their line.
    public init(folded lines: [String]) throws {
        let profile = try FoldedProfile.parse(lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n")
        self.init(profile)
    }

    public init(_ profile: FoldedProfile, stages: [NetRxStage] = NetRxStage.table) {
        var samples = [UInt64](repeating: 0, count: stages.count + 1)
        var inclusive = [UInt64](repeating: 0, count: stages.count + 1)
        var functions = [[String: UInt64]](repeating: [:], count: stages.count)
        var memo: [String: (Int?, String)] = [:]
        var total: UInt64 = 0, skipped: UInt64 = 0
        var kept: [(functions: [String], count: UInt64)] = []

        func classify(_ frame: String) -> (Int?, String) {
            if let m = memo[frame] { return m }
            let name = FunctionGlob.functionName(frame)
            let stage = stages.firstIndex { $0.patterns.contains { FunctionGlob.matches($0, name) } }
            memo[frame] = (stage, name)
            return (stage, name)
        }

        for s in profile.stacks {
            guard NetRxSplit.isNetRx(s.frames) else { skipped.addSaturating(s.count); continue }
            total.addSaturating(s.count)
            kept.append((s.frames.map { classify($0).1 }, s.count))
            var deepest: (Int, String)?
            var seen = Set<Int>()
            for frame in s.frames.reversed() {
                let (stage, name) = classify(frame)
                guard let stage else { continue }
                if deepest == nil { deepest = (stage, name) }
                seen.insert(stage)
            }
            if let deepest {
                samples[deepest.0].addSaturating(s.count)
                functions[deepest.0][deepest.1, default: 0].addSaturating(s.count)
            } else {
                samples[stages.count].addSaturating(s.count)
                inclusive[stages.count].addSaturating(s.count)
            }
            for stage in seen { inclusive[stage].addSaturating(s.count) }
        }
        var rows: [Row] = []
        for (i, st) in stages.enumerated() {
            // Most samples first, then by name: deterministic when two functions tie.
            let top = functions[i].max { ($0.value, $1.key) < ($1.value, $0.key) }?.key
            rows.append(Row(stage: st.id, samples: samples[i], inclusiveSamples: inclusive[i], topFunction: top))
        }
        rows.append(Row(stage: NetRxStage.otherID, samples: samples[stages.count], inclusiveSamples: inclusive[stages.count],
                        topFunction: nil))
        self.init(total: total, skipped: skipped, rows: rows)
        stacks = kept
    }

    static func isNetRx(_ frames: [String]) -> Bool {
        var marked = false
        for f in frames where f.hasPrefix("[softirq:") {
            if f == "[softirq:net_rx]" { return true }
            marked = true
        }
        return !marked && frames.contains { FunctionGlob.functionName($0) == "net_rx_action" }
    }
}
