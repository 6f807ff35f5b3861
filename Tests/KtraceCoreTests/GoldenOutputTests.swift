import Foundation
import Testing
@testable import KtraceCore

/// Every output, byte for byte, against files written by ktrace before the one-stack-form redesign
/// from the same recorded kernel data (`ktrace stacks -a -F 199 -d 2 --by-softirq --per-thread` and
/// `ktrace timeline -a -F 199 -d 1`, with a C++ and a C workload running; Fixtures/golden/).
@Suite struct GoldenOutputTests {
    static func golden(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/golden"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Compares with the golden file; on a difference, writes the output to /tmp/ktrace-golden-NAME to diff.
    static func expectGolden(_ actual: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try golden(name)
        if actual != expected { try? actual.write(toFile: "/tmp/ktrace-golden-\(name)", atomically: true, encoding: .utf8) }
        #expect(actual == expected, "differs from Fixtures/golden/\(name): see /tmp/ktrace-golden-\(name)", sourceLocation: sourceLocation)
    }

    /// The recorded stacks run, named and described as the CLI does.
    static func stacksRun() throws -> (RecordedSession, StackSymbolizer, StackProfile.Summary) {
        let rec = try RecordedSession(fixture: "stacks-input")
        let s = try rec.symbolizer()
        s.prefetch(unnamed: StackProfile.unnamed(rec.counts, s))
        let st = rec.meta["stats"]!.split(separator: " ").map { UInt64($0)! }
        var losses = ProfileLosses()
        (losses.samples, losses.kernelStackFull, losses.kernelStackErrors, losses.userStackFull, losses.userStackErrors,
         losses.countFull, losses.eventsDropped) = (st[0], st[1], st[2], st[3], st[4], st[5], st[6])
        let run = StackProfile.Summary(target: rec.meta["describe"]!, seconds: Double(rec.meta["seconds"]!)!, event: rec.meta["event"]!,
                                   rate: rec.meta["rate"]!, losses: losses)
        return (rec, s, run)
    }

    @Test func foldedAsBefore() throws {
        let (rec, s, _) = try Self.stacksRun()
        let p = StackProfile.interned(rec.counts, s, labels: .softirq)
        try Self.expectGolden(p.renderFolded(annotate: false), "stacks.folded")
        try Self.expectGolden(p.renderFolded(annotate: true), "stacks-annotated.folded")
    }

    @Test func svgAsBefore() throws {
        let (rec, s, run) = try Self.stacksRun()
        var o = FlameGraphOptions()
        o.title = run.title
        o.subtitle = run.subtitle
        try Self.expectGolden(FlameGraphSVG.render(StackProfile.interned(rec.counts, s, labels: .softirq), options: o), "stacks.svg")
    }

    @Test func jsonAsBefore() throws {
        let (rec, s, run) = try Self.stacksRun()
        try Self.expectGolden(StackProfile.json(rec.counts, s, run: run, perThread: true).text + "\n", "stacks.json")
    }

    @Test func flamegraphOfFoldedInputAsBefore() throws {
        let mixed = try FoldedProfile.parse(FoldedTests.fixture("folded-mixed"))
        try Self.expectGolden(FlameGraphSVG.render(mixed), "flamegraph-mixed.svg")
        var o = FlameGraphOptions()
        o.title = "T"
        o.inverted = true
        let ksoftirqd = try FoldedProfile.parse(FoldedTests.fixture("folded-ksoftirqd"))
        try Self.expectGolden(FlameGraphSVG.render(ksoftirqd, options: o), "flamegraph-ksoftirqd.svg")
    }

    static func timeline() throws -> Timeline {
        let rec = try RecordedSession(fixture: "timeline-input")
        return Timeline.build(rec.events, symbolizer: try rec.symbolizer(), functions: [], startNs: UInt64(rec.meta["start"]!)!,
                              endNs: UInt64(rec.meta["end"]!)!, samplePeriodNs: UInt64(rec.meta["period"]!)!)
    }

    @Test func timelineExportsAsBefore() throws {
        let t = try Self.timeline()
        #expect(t.samples.count > 100 && t.slices.count > 50 && t.switches.count > 50)
        try Self.expectGolden(ChromeTrace.render(t), "timeline.json")
        try Self.expectGolden(Speedscope.render(t, name: "ktrace timeline: all CPUs"), "timeline.speedscope.json")
        try Self.expectGolden(TimelineText.render(t, collapse: false), "timeline.txt")
        try Self.expectGolden(TimelineText.render(t, collapse: true), "timeline-collapsed.txt")
    }
}
