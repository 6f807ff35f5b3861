extension OutputFormat {
    /// Lines to read on a terminal.
    public static let text = OutputFormat(name: "text", suffixes: [".txt"])
}

extension OutputWriter where Model == TimelineOutput {
    static var text: Self { .lines(.text) { TimelineText.render($0.timeline, collapse: $0.collapse) } }
}
