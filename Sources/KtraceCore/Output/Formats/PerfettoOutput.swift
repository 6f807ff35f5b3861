extension OutputFormat {
    /// Chrome's trace event JSON, which ui.perfetto.dev and chrome://tracing open.
    public static let perfetto = OutputFormat(name: "perfetto", suffixes: [".json"])
}

extension OutputWriter where Model == TimelineOutput {
    static var perfetto: Self { .lines(.perfetto) { ChromeTrace.render($0.timeline) } }
}
