extension OutputFormat {
    /// speedscope's own JSON (https://www.speedscope.app).
    public static let speedscope = OutputFormat(name: "speedscope", suffixes: [".speedscope.json"])
}

extension OutputWriter where Model == TimelineOutput {
    static var speedscope: Self { .lines(.speedscope) { Speedscope.render($0.timeline, name: $0.name) } }
}
