extension OutputFormat {
    /// An interactive flame graph.
    public static let svg = OutputFormat(name: "svg", suffixes: [".svg"])
}

extension OutputWriter where Model == StackOutput {
    static var svg: Self { Self(.svg) { Array(FlameGraphSVG.render($0.interned(), options: $0.graph).utf8) } }
}
