import Testing
import KtraceTestSupport
@testable import KtraceCore

private func diff(_ before: String, _ after: String) throws -> DiffProfile {
    DiffProfile(before: InternedProfile(try FoldedProfile.parse(before)), after: InternedProfile(try FoldedProfile.parse(after)))
}

private func frame(_ frames: [FlameGraphFrame], _ name: String) -> FlameGraphFrame? { frames.first { $0.name == name } }

struct DiffProfileTests {
    static let before = "p;main;a 50\np;main;b 30\np;main;c 20\np;main;gone 10\n"
    static let after = "p;main;a 20\np;main;b 30\np;main;c 50\np;main;new 5\n"

    /// The union of both inputs, stack by stack; one kernel frame and one user frame of a name stay apart.
    @Test func unionOfStacks() throws {
        let d = try diff(Self.before + "p;vfs_read_[k] 3\n", Self.after + "p;vfs_read 4\n")
        #expect(d.renderFolded() == """
            p;main;a 50 20
            p;main;b 30 30
            p;main;c 20 50
            p;main;gone 10 0
            p;main;new 0 5
            p;vfs_read 0 4
            p;vfs_read_[k] 3 0

            """)
        #expect(d.totalBefore == 113 && d.totalAfter == 109)
        #expect(d.onlyInBefore == (2, 13) && d.onlyInAfter == (2, 9))
        #expect(d.changed == (grew: 3, shrank: 3))
    }

    /// As difffolded.pl -n: BEFORE scaled to AFTER's total, each stack rounded down.
    @Test func normalizeScalesBeforeDown() throws {
        let d = try diff("p;a 3\np;b 7\n", "p;a 10\np;b 10\n").normalized()
        #expect(d.stacks.map(\.before) == [6, 14] && d.stacks.map(\.after) == [10, 10])
        let odd = try diff("p;a 1\np;b 2\n", "p;a 1\np;b 1\n").normalized()  // 1·2/3 and 2·2/3
        #expect(odd.stacks.map(\.before) == [0, 1])
        let big = try diff("p;a \(UInt64.max - 1)\n", "p;a 3\n").normalized()  // no overflow in the product
        #expect(big.stacks.map(\.before) == [3])
        let empty = try diff("p;a 0\n", "p;a 3\n").normalized()
        #expect(empty.totalBefore == 0)
    }

    /// AFTER's widths; a frame's colour and +/-% come from its own change (flamegraph.pl's reading);
    /// the tooltip carries both inclusive counts.
    @Test func svgColoursByOwnChange() throws {
        let frames = FlameGraphFrame.parse(FlameGraphSVG.render(try diff(Self.before, Self.after)))
        let a = try #require(frame(frames, "a")), c = try #require(frame(frames, "c")), b = try #require(frame(frames, "b"))
        #expect(a.samples == 20 && a.before == 50 && a.after == 20 && a.deltaPercent == -28.57)
        #expect(c.samples == 50 && c.deltaPercent == 28.57 && c.fill == (255, 0, 0), "the largest growth is full red")
        #expect(a.fill == (0, 0, 255), "a shrank as much as c grew: full blue")
        #expect(b.fill == (255, 255, 255) && b.deltaPercent == 0)
        let main = try #require(frame(frames, "main"))
        #expect(main.samples == 105 && main.before == 110 && main.after == 105 && main.deltaPercent == 0)
        let new = try #require(frame(frames, "new"))
        #expect(new.deltaPercent == 4.76 && new.fill == (255, 175, 175), "+5 against the largest change, 30: 210·25/30")
        #expect(frame(frames, "gone") == nil, "a stack with no AFTER samples has no width")
    }

    /// --negate: BEFORE's widths, so what went away is drawn; the colours still read AFTER against BEFORE.
    @Test func negateDrawsBefore() throws {
        let frames = FlameGraphFrame.parse(FlameGraphSVG.render(try diff(Self.before, Self.after), drawBefore: true))
        let gone = try #require(frame(frames, "gone"))
        #expect(gone.samples == 10 && gone.before == 10 && gone.after == 0 && gone.deltaPercent == -9.09)
        #expect(gone.fill == (140, 140, 255), "-10 against 30: 210·20/30")
        let a = try #require(frame(frames, "a"))
        #expect(a.samples == 50 && a.fill == (0, 0, 255))
        #expect(frame(frames, "new") == nil)
    }

    @Test func identicalProfilesAreWhite() throws {
        let frames = FlameGraphFrame.parse(FlameGraphSVG.render(try diff(Self.before, Self.before)))
        #expect(frames.count == 7 && frames.allSatisfy { $0.fill == (255, 255, 255) && $0.deltaPercent == 0 })
    }
}
