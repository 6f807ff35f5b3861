import Foundation
import KtraceCore
import KtraceTestSupport
import Testing

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct DiffIntegrationTests {
    /// `ktrace stacks` of the burn workload at weights A/B/C ms a round, written to a temporary file.
    private func profile(_ weights: [String], to path: String) throws -> FoldedProfile {
        let w = try Workload.start("burn", args: ["4.5"] + weights)
        defer { _ = w.wait(timeout: 30) }
        usleep(300_000)
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "-F", "499", "-d", "3"], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        try r.stdout.write(toFile: path, atomically: false, encoding: .utf8)
        return try FoldedProfile.parse(r.stdout)
    }

    /// One workload whose phases changed weight, 5/3/2 ms a round before and 2/3/5 after: the diff of two
    /// real profiles says burn_a shrank and burn_c grew by 30 points each, burn_b stayed, in blue, red
    /// and pale; the folded form carries both counts. Where FLAMEGRAPH_DIR points at a FlameGraph checkout,
    /// difffolded.pl and flamegraph.pl on the same two files give every frame the same change.
    @Test func knownChangeOfTwoRuns() throws {
        let dir = FileManager.default.temporaryDirectory.path
        let before = "\(dir)/ktt-diff-before-\(getpid()).folded", after = "\(dir)/ktt-diff-after-\(getpid()).folded"
        let svg = "\(dir)/ktt-diff-\(getpid()).svg"
        defer { for f in [before, after, svg] { try? FileManager.default.removeItem(atPath: f) } }
        let pb = try profile(["5", "3", "2"], to: before), pa = try profile(["2", "3", "5"], to: after)
        try #require(pb.totalSamples > 800 && pa.totalSamples > 800, "\(pb.totalSamples) and \(pa.totalSamples) samples")

        let r = try run(Env.ktrace, ["diff", before, after, "--normalize", "-o", svg], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("ktrace: diff: before \(pb.totalSamples) samples"), "\(r.stderr)")
        let frames = FlameGraphFrame.parse(try String(contentsOfFile: svg, encoding: .utf8))
        for (fn, want) in [("burn_a", -0.3), ("burn_b", 0.0), ("burn_c", 0.3)] {
            let f = try #require(frames.first { $0.name == fn }, "no \(fn) frame")
            // The whole change under the frame (its own and its callees', clock_gettime), in AFTER's total.
            let change = (Double(f.after!) - Double(f.before!)) / Double(pa.totalSamples)
            #expect(abs(change - want) <= 0.05, "\(fn): \(Int(change * 100)) points, expected \(Int(want * 100))")
        }
        let a = frames.first { $0.name == "burn_a" }!, c = frames.first { $0.name == "burn_c" }!
        #expect(a.fill.b == 255 && a.fill.r < 200, "burn_a shrank: blue, not \(a.fill)")
        #expect(c.fill.r == 255 && c.fill.b < 200, "burn_c grew: red, not \(c.fill)")

        let folded = try run(Env.ktrace, ["diff", before, after, "--format", "folded"], timeout: 30)
        let rows = folded.stdout.split(separator: "\n").map { $0.split(separator: " ") }
        #expect(rows.allSatisfy { $0.count >= 3 } && rows.reduce(UInt64(0)) { $0 + UInt64($1.last!)! } == pa.totalSamples)

        let missing = try run(Env.ktrace, ["diff", before, "/nonexistent.folded"], timeout: 30)
        #expect(missing.status != 0 && missing.stderr == "ktrace: error: cannot read /nonexistent.folded\n", "\(missing.stderr)")

        guard let fg = ProcessInfo.processInfo.environment["FLAMEGRAPH_DIR"], FileManager.default.isExecutableFile(atPath: "\(fg)/difffolded.pl") else {
            print("SKIP: knownChangeOfTwoRuns: FLAMEGRAPH_DIR unset, no comparison with difffolded.pl + flamegraph.pl")
            return
        }
        let peer = try run("/bin/sh", ["-c", "\"$0/difffolded.pl\" -n \"$1\" \"$2\" | \"$0/flamegraph.pl\"", fg, before, after], timeout: 60)
        #expect(peer.status == 0, "\(peer.stderr)")
        // Every frame but the root, as (name, change in %): the same multiset, to flamegraph.pl's rounding.
        func changes(_ f: [FlameGraphFrame]) -> [(String, Double)] {
            f.filter { $0.name != "all" }.map { ($0.name, $0.deltaPercent ?? .nan) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        let ours = changes(frames), theirs = changes(FlameGraphFrame.parse(peer.stdout))
        #expect(ours.count == theirs.count && ours.count > 5, "\(ours.count) frames here, \(theirs.count) in flamegraph.pl's")
        let differ = zip(ours, theirs).filter { $0.0.0 != $0.1.0 || abs($0.0.1 - $0.1.1) > 0.011 }
        #expect(differ.isEmpty, "frames whose change differs from flamegraph.pl's: \(differ.prefix(5))")
        print("diff vs flamegraph.pl: \(ours.count) frames, \(differ.count) differ")
    }
}
