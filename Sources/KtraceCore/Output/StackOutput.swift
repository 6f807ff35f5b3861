/// What every stack format (folded, svg, json, pprof) is written from: the counted stacks, their namer,
/// and how the command (stacks, offcpu, a continuous profile's interval) shapes and describes them.
public struct StackOutput {
    public var counts: [StackCount]
    public var symbolizer: StackSymbolizer
    /// The JSON document's header.
    public var run: StackProfile.Summary
    /// Pseudo-frames added to each stack.
    public var labels: StackLabels = []
    /// A stack's count in the graph's unit (microseconds off the CPU); nil: as counted.
    public var weight: ((StackCount) -> UInt64)?
    public var perThread = false
    /// Folded: kernel frames suffixed with _[k].
    public var annotate = false
    public var graph = FlameGraphOptions()
    /// JSON: the unit of the counts when they are not samples ("ns" off the CPU).
    public var jsonUnit: String?
    public var pprof: Pprof.Header

    public init(counts: [StackCount], symbolizer: StackSymbolizer, run: StackProfile.Summary, pprof: Pprof.Header) {
        self.counts = counts
        self.symbolizer = symbolizer
        self.run = run
        self.pprof = pprof
    }

    /// Root-first stacks for folded text and flame graphs.
    public func interned() -> InternedProfile {
        StackProfile.interned(counts, symbolizer, labels: labels, weight: weight)
    }
}

extension OutputRegistry where Model == StackOutput {
    /// stacks, offcpu and continuous profiles.
    public static var stacks: Self { Self([.folded, .svg, .json, .pprof], fallback: .folded) }
}

extension Pprof.Header {
    /// A profile of the recording (or interval) `run` describes: its start, as counted when sampling began,
    /// not as the clock reads when the file is written (symbolizing can take seconds).
    public init(kind: Pprof.Kind, run: StackProfile.Summary, perThread: Bool, comments: [String]) {
        self.init(kind: kind, startUnixNs: run.startUnixNs, durationNs: Int64(run.seconds * 1e9), perThread: perThread, comments: comments)
    }
}
