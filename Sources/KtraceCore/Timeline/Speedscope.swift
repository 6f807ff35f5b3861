/// speedscope file format (https://www.speedscope.app/file-format-schema.json).
///
/// One evented profile per traced thread, "comm (tid)" (idle: "swapper/N"), from its flame chart spans
/// (same spans as the Chrome trace), then one per thread with --trace calls, "comm (tid) calls", whose
/// frames are the functions, then one per CPU with softirqs, "CPU N softirq", whose frames are
/// the vector names. Values are ns relative to the window start, every profile spans the same
/// [0, end] so their time axes line up. The active profile is the most sampled thread.
public enum Speedscope {
    public static let schema = "https://www.speedscope.app/file-format-schema.json"

    public static func render(_ t: Timeline, name: String) -> String {
        var frames: [String] = []
        var frameIndex: [String: Int] = [:]
        func frame(_ n: String) -> Int {
            if let i = frameIndex[n] { return i }
            frames.append(n)
            frameIndex[n] = frames.count - 1
            return frames.count - 1
        }

        // Spans first: the common end value must cover every close.
        var tracks: [(name: String, spans: [FlameSpan], weight: Int)] = []
        let away = t.exportAwayIndex(t.exportSwitches())
        for th in t.exportThreads() {
            tracks.append((th.label, FlameChart.spans(samples: th.samples, periodNs: t.samplePeriodNs,
                                                           away: away.away(for: th.samples, periodNs: t.samplePeriodNs)), th.samples.count))
        }
        for th in t.exportCalls() {
            tracks.append((th.label, th.calls.map { FlameSpan(name: $0.function, depth: $0.depth, start: $0.start, end: $0.end) }, 0))
        }
        for th in t.exportWork() {
            tracks.append((th.label, th.items.map { FlameSpan(name: $0.function, depth: 0, start: $0.start, end: $0.end) }, 0))
        }
        let slices = t.exportSlicesByCPU()
        for cpu in slices.keys.sorted() {
            let spans = slices[cpu]!.map { FlameSpan(name: $0.slice.vector.name, depth: 0, start: $0.start, end: $0.end) }
            tracks.append(("CPU \(cpu) softirq", nestedDepths(spans), 0))
        }
        if tracks.isEmpty { tracks.append(("(nothing recorded)", [], 0)) } // speedscope rejects a file without profiles
        var endValue = t.relNs(t.endNs)
        for tr in tracks { for s in tr.spans { endValue = max(endValue, t.relNs(s.end)) } }

        var profiles: [String] = []
        for tr in tracks {
            var events: [String] = []
            var open: [(frame: Int, end: UInt64)] = []
            func closeUntil(_ at: UInt64?) {
                // Deepest first, so every close matches the frame on top of the stack.
                while let top = open.last, at.map({ top.end <= $0 }) ?? true {
                    events.append(#"{"type":"C","at":\#(top.end),"frame":\#(top.frame)}"#)
                    open.removeLast()
                }
            }
            for s in tr.spans {
                let start = t.relNs(s.start), end = t.relNs(s.end)
                closeUntil(start)
                let f = frame(s.name)
                events.append(#"{"type":"O","at":\#(start),"frame":\#(f)}"#)
                open.append((f, end))
            }
            closeUntil(nil)
            profiles.append(#"{"type":"evented","name":\#(JSONValue.string(tr.name).text),"unit":"nanoseconds","startValue":0,"endValue":\#(endValue),"events":[\#n"#
                + events.joined(separator: ",\n") + "\n]}")
        }

        let active = tracks.indices.max { tracks[$0].weight < tracks[$1].weight } ?? 0
        let frameList = frames.map { #"{"name":\#(JSONValue.string($0).text)}"# }.joined(separator: ",")
        return #"{"$schema":"\#(schema)","shared":{"frames":[\#(frameList)]},"profiles":[\#n"#
            + profiles.joined(separator: ",\n")
            + #"],"name":\#(JSONValue.string(name).text),"activeProfileIndex":\#(active),"exporter":"ktrace"}"# + "\n"
    }

    /// Depths for spans already sorted and properly nested (softirq slices are flat unless data is odd).
    static func nestedDepths(_ spans: [FlameSpan]) -> [FlameSpan] {
        var ends: [UInt64] = []
        return spans.map { s in
            while let e = ends.last, e <= s.start { ends.removeLast() }
            var d = s
            d.depth = ends.count
            ends.append(s.end)
            return d
        }
    }
}
