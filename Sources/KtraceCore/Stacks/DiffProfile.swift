/// Two profiles of the same code, stack by stack: what a differential flame graph draws. Both inputs are
/// re-interned into one table, so a stack is the same stack in BEFORE and AFTER when its frames (name and
/// kind) are the same.

public struct DiffProfile: Sendable {
    public struct Stack: Sendable, Equatable {
        /// Root first, as in `InternedStack`.
        public var frames: [Int32]
        public var before: UInt64
        public var after: UInt64
    }

    public var table: FrameTable
    /// The union of both inputs' stacks, identical ones merged, in order of first appearance.
    public var stacks: [Stack]

    public init(before: InternedProfile, after: InternedProfile) {
        var table = FrameTable()
        var index: [[Int32]: Int] = [:]
        var stacks: [Stack] = []
        for (profile, isAfter) in [(before, false), (after, true)] {
            var remap: [Int32: Int32] = [:]
            for s in profile.stacks where s.count > 0 {
                let frames = s.frames.map { f in
                    if let id = remap[f] { return id }
                    let id = table.id(profile.table[f], kind: profile.table.kind(f))
                    remap[f] = id
                    return id
                }
                let at = index[frames] ?? {
                    index[frames] = stacks.count
                    stacks.append(Stack(frames: frames, before: 0, after: 0))
                    return stacks.count - 1
                }()
                if isAfter { stacks[at].after.addSaturating(s.count) } else { stacks[at].before.addSaturating(s.count) }
            }
        }
        self.table = table
        self.stacks = stacks
    }

    public var totalBefore: UInt64 { stacks.reduce(into: UInt64(0)) { $0.addSaturating($1.before) } }
    public var totalAfter: UInt64 { stacks.reduce(into: UInt64(0)) { $0.addSaturating($1.after) } }

    /// BEFORE scaled to AFTER's total, each stack rounded down (as `difffolded.pl -n`), so that a run
    /// that was longer or sampled faster does not show everything as grown.
    public func normalized() -> DiffProfile {
        let tb = totalBefore, ta = totalAfter
        guard tb > 0, tb != ta else { return self }
        var out = self
        for i in out.stacks.indices {
            // before ≤ tb, so the quotient fits: before·ta/tb ≤ ta.
            out.stacks[i].before = tb.dividingFullWidth(out.stacks[i].before.multipliedFullWidth(by: ta)).quotient
        }
        return out
    }

    /// Stacks with samples in BEFORE and none in AFTER: a graph of AFTER cannot show them.
    public var onlyInBefore: (stacks: Int, samples: UInt64) { only { $0.before > 0 && $0.after == 0 ? $0.before : nil } }
    public var onlyInAfter: (stacks: Int, samples: UInt64) { only { $0.after > 0 && $0.before == 0 ? $0.after : nil } }

    private func only(_ weight: (Stack) -> UInt64?) -> (stacks: Int, samples: UInt64) {
        var n = 0, total: UInt64 = 0
        for s in stacks { if let w = weight(s) { n += 1; total.addSaturating(w) } }
        return (n, total)
    }

    /// How many stacks grew and how many shrank.
    public var changed: (grew: Int, shrank: Int) {
        (stacks.count { $0.after > $0.before }, stacks.count { $0.after < $0.before })
    }

    /// `difffolded.pl`'s output: "stack BEFORE AFTER" per line, in byte order, frames with their kind
    /// suffixes as the inputs had them. flamegraph.pl draws it as a differential graph.
    public func renderFolded() -> String {
        var lines = stacks.map { s in
            (s.frames.map { table.foldedName($0, annotate: true) }.joined(separator: ";"), s.before, s.after)
        }
        lines.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var out = ""
        for (k, b, a) in lines { out += "\(k) \(b) \(a)\n" }
        return out
    }
}

extension Int64 {
    /// after − before for sample counts, saturating.
    static func change(from before: UInt64, to after: UInt64) -> Int64 {
        after >= before ? Int64(clamping: after - before) : -Int64(clamping: before - after)
    }

    mutating func addSaturating(_ x: Int64) {
        let (s, o) = addingReportingOverflow(x)
        self = o ? (x > 0 ? .max : .min) : s
    }
}
