import Foundation
import Testing
@testable import KtraceCore

/// The one output registry: which format an -o path or --format names, and that writing through it
/// gives the golden files byte for byte.
@Suite struct OutputRegistryTests {
    @Test func stacksFormatsFromThePath() {
        let r = OutputRegistry<StackOutput>.stacks
        #expect(r.resolve(nil, path: nil) == .folded)
        #expect(r.resolve(nil, path: "k.svg") == .svg)
        #expect(r.resolve(nil, path: "k.json") == .json)
        #expect(r.resolve(nil, path: "k.speedscope.json") == .json)
        #expect(r.resolve(nil, path: "cpu.pb.gz") == .pprof && r.resolve(nil, path: "cpu.pprof") == .pprof)
        #expect(r.resolve(nil, path: "all.folded") == .folded && r.resolve(nil, path: "all.txt") == .folded)
        #expect(r.resolve("svg", path: "k.json") == .svg)
        #expect(r.resolve("perfetto", path: nil) == nil)
        #expect(r.formatList == "folded, svg, json or pprof")
        #expect(OutputFormat.pprof.fileExtension == "pb.gz" && OutputFormat.folded.fileExtension == "folded")
    }

    @Test func timelineFormatsFromThePath() {
        let r = OutputRegistry<TimelineOutput>.timeline
        #expect(r.resolve(nil, path: nil) == .text)
        #expect(r.resolve(nil, path: "t.json") == .perfetto)
        #expect(r.resolve(nil, path: "t.speedscope.json") == .speedscope)
        #expect(r.resolve(nil, path: "t.svg") == .text)
        #expect(r.resolve("pprof", path: nil) == nil)
        #expect(r.formatList == "perfetto, speedscope or text")
    }

    @Test func stackWritersAsBefore() throws {
        let (rec, s, run) = try GoldenOutputTests.stacksRun()
        var out = StackOutput(counts: rec.counts, symbolizer: s, run: run,
                              pprof: Pprof.Header(kind: .onCPU(periodNs: 1), startUnixNs: 0, durationNs: 1, perThread: true))
        out.labels = .softirq
        out.perThread = true
        out.graph.title = run.title
        out.graph.subtitle = run.subtitle
        let r = OutputRegistry<StackOutput>.stacks
        func text(_ f: OutputFormat) throws -> String { String(decoding: try r.write(out, as: f), as: UTF8.self) }
        try GoldenOutputTests.expectGolden(try text(.folded), "stacks.folded")
        try GoldenOutputTests.expectGolden(try text(.svg), "stacks.svg")
        try GoldenOutputTests.expectGolden(try text(.json), "stacks.json")
        out.annotate = true
        try GoldenOutputTests.expectGolden(try text(.folded), "stacks-annotated.folded")
        #expect(try r.write(out, as: .pprof).starts(with: [0x1f, 0x8b]))
    }

    @Test func timelineWritersAsBefore() throws {
        let out = TimelineOutput(timeline: try GoldenOutputTests.timeline(), name: "ktrace timeline: all CPUs", collapse: false)
        let r = OutputRegistry<TimelineOutput>.timeline
        func text(_ o: TimelineOutput, _ f: OutputFormat) throws -> String { String(decoding: try r.write(o, as: f), as: UTF8.self) }
        try GoldenOutputTests.expectGolden(try text(out, .perfetto), "timeline.json")
        try GoldenOutputTests.expectGolden(try text(out, .speedscope), "timeline.speedscope.json")
        try GoldenOutputTests.expectGolden(try text(out, .text), "timeline.txt")
        var collapsed = out
        collapsed.collapse = true
        try GoldenOutputTests.expectGolden(try text(collapsed, .text), "timeline-collapsed.txt")
    }
}
