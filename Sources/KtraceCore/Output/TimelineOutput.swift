/// What every timeline format (perfetto, speedscope, text) is written from.
public struct TimelineOutput {
    public var timeline: Timeline
    /// speedscope's profile name.
    public var name: String
    /// Text: consecutive identical lines merged.
    public var collapse: Bool

    public init(timeline: Timeline, name: String, collapse: Bool) {
        self.timeline = timeline
        self.name = name
        self.collapse = collapse
    }
}

extension OutputRegistry where Model == TimelineOutput {
    public static var timeline: Self { Self([.perfetto, .speedscope, .text], fallback: .text) }
}

extension OutputWriter {
    /// A writer of text that ends in a newline, as files of lines do.
    static func lines(_ format: OutputFormat, _ text: @escaping (Model) -> String) -> Self {
        Self(format) { m in
            let t = text(m)
            return Array((t.hasSuffix("\n") ? t : t + "\n").utf8)
        }
    }
}
