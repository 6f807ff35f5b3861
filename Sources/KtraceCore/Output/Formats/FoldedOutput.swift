extension OutputFormat {
    /// One "frame;frame;… count" line per stack, root first: flamegraph.pl, inferno and speedscope read it.
    public static let folded = OutputFormat(name: "folded", suffixes: [".folded"])
}

extension OutputWriter where Model == StackOutput {
    static var folded: Self { Self(.folded) { Array($0.interned().renderFolded(annotate: $0.annotate).utf8) } }
}
