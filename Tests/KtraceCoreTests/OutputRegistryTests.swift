import Foundation
import Testing
@testable import KtraceCore

/// The one output registry: which format an -o path or --format names, and that writing through it
/// gives the golden files byte for byte.
@Suite struct OutputRegistryTests {
    /// A continuous profile's files are named for their intervals' starts (UTC, to the second) and
    /// numbered, so that a directory listing sorts them as they follow one another: also two intervals
    /// begun within one second, and across a day's end. Fails if the stamp is local time or rounded to the
    /// nearest second (other names), or the number unpadded ("-10" sorts before "-9").
    @Test func intervalFilesSortByStart() {
        let s: Int64 = 1_796_687_999   // 2026-12-07T23:59:59Z
        let starts: [Int64] = [s * 1_000_000_000 + 400_000_000, s * 1_000_000_000 + 900_000_000, (s + 1) * 1_000_000_000 + 100_000_000]
        let names = starts.enumerated().map { IntervalFileName.name(startUnixNs: $0.element, number: $0.offset + 9, fileExtension: "pb.gz") }
        #expect(names == ["ktrace-20261207T235959Z-0009.pb.gz", "ktrace-20261207T235959Z-0010.pb.gz", "ktrace-20261208T000000Z-0011.pb.gz"])
        #expect(names.sorted() == names)
        #expect(IntervalFileName.name(startUnixNs: 0, number: 1, fileExtension: "folded") == "ktrace-19700101T000000Z-0001.folded")
    }

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
