extension OutputFormat {
    /// One JSON document (schemas in docs/stacks.md and docs/timeline.md).
    public static let json = OutputFormat(name: "json", suffixes: [".json"])
}

extension OutputWriter where Model == StackOutput {
    static var json: Self {
        Self(.json) { m in
            Array((StackProfile.json(m.counts, m.symbolizer, run: m.run, perThread: m.perThread, unit: m.jsonUnit).text + "\n").utf8)
        }
    }
}
