import Foundation
import Testing
@testable import KtraceCore

@Suite struct FoldedTests {
    static func fixture(_ name: String) throws -> String {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "txt", subdirectory: "Fixtures"))
        return try String(contentsOf: url, encoding: .utf8)
    }

    @Test func parsesFixture() throws {
        let p = try FoldedProfile.parse(Self.fixture("folded-ksoftirqd"))
        #expect(p.stacks.count == 23)
        #expect(p.totalSamples == 2183)
        let first = try #require(p.stacks.first)
        #expect(first.frames.first == "ksoftirqd/0")
        #expect(first.frames.last == "ip_rcv_[k]")
        #expect(first.frames.count == 12)
        #expect(first.count == 812)
    }

    @Test func renderRoundTrip() throws {
        let sorted = "a;b 3\na;b;c 1\nb 7\nzz top;x 2\n"
        #expect(try FoldedProfile.parse(sorted).render() == sorted)

        let p = try FoldedProfile.parse(Self.fixture("folded-ksoftirqd"))
        let text = p.render()
        let again = try FoldedProfile.parse(text)
        #expect(again.render() == text)
        #expect(Set(again.stacks) == Set(p.stacks))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines == lines.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }

    /// ktrace writes its own output from interned stacks: the text must be what FoldedProfile writes.
    @Test func internedRenderMatchesFolded() throws {
        var p = try FoldedProfile.parse(Self.fixture("folded-ksoftirqd"))
        // Unmerged duplicates, and two stacks that only become equal once joined ("a;b" vs "a","b").
        p.stacks += p.stacks.prefix(3)
        p.stacks += [FoldedStack(frames: ["x", "a;b"], count: 2), FoldedStack(frames: ["x", "a", "b"], count: 5)]
        let interned = InternedProfile(p)
        #expect(interned.table.names.count < p.stacks.reduce(0) { $0 + $1.frames.count })
        #expect(interned.renderFolded(annotate: true) == p.render())
        #expect(interned.renderFolded(annotate: true).contains("x;a;b 7\n"))
        #expect(FlameGraphSVG.render(interned) == FlameGraphSVG.render(p))
    }

    @Test func framesMayContainSpacesAndNumbers() throws {
        let p = try FoldedProfile.parse("foo 123;bar 5\n[unknown] (libc.so.6);x 9 \t 3\nsp  ace;y\t7")
        #expect(p.stacks == [
            FoldedStack(frames: ["foo 123", "bar"], count: 5),
            FoldedStack(frames: ["[unknown] (libc.so.6)", "x 9"], count: 3),
            FoldedStack(frames: ["sp  ace", "y"], count: 7),
        ])
    }

    @Test func duplicatesAreSummed() throws {
        let p = try FoldedProfile.parse("a;b 1\nc 4\na;b 2\n")
        #expect(p.stacks == [FoldedStack(frames: ["a", "b"], count: 3), FoldedStack(frames: ["c"], count: 4)])
        #expect(p.totalSamples == 7)

        let built = FoldedProfile(stacks: [
            FoldedStack(frames: ["x", "y"], count: 2), FoldedStack(frames: ["a"], count: 1),
            FoldedStack(frames: ["x", "y"], count: 5),
        ])
        #expect(built.render() == "a 1\nx;y 7\n")
    }

    @Test func acceptsCRLFAndTrailingNewlineAndEmptyText() throws {
        let p = try FoldedProfile.parse("a;b 1\r\nc 2\r\n")
        #expect(p.stacks == [FoldedStack(frames: ["a", "b"], count: 1), FoldedStack(frames: ["c"], count: 2)])
        #expect(try FoldedProfile.parse("").stacks.isEmpty)
        #expect(try FoldedProfile.parse("a 1").stacks.count == 1)
    }

    @Test(arguments: [
        ("a;b 1\n\nc 2\n", 2, "blank line"),
        ("a;b 1\n   \t\nc 2\n", 2, "blank line"),
        ("a;b 1\nc 2\na;b;c\n", 3, "expected a sample count at the end of the line, found \"a;b;c\""),
        ("a;b x", 1, "expected a sample count at the end of the line, found \"x\""),
        ("a;b 1.5", 1, "expected a sample count at the end of the line, found \"1.5\""),
        ("a;b -3", 1, "expected a sample count at the end of the line, found \"-3\""),
        ("ok 1\n42\n", 2, "missing stack before the sample count"),
        ("a 99999999999999999999999", 1, "sample count 99999999999999999999999 does not fit in 64 bits"),
        ("a 18446744073709551615\na 1\n", 2, "sample count total for this stack exceeds 2^64"),
        ("a 1\n\n", 2, "blank line"),
    ])
    func reportsBadLines(text: String, line: Int, message: String) {
        #expect {
            try FoldedProfile.parse(text)
        } throws: { error in
            guard let e = error as? FoldedParseError else { return false }
            return e.line == line && e.message == message && e.description == "line \(line): \(message)"
        }
    }

    @Test func suffixesBecomeKinds() {
        let p = FoldedProfile(stacks: [
            FoldedStack(frames: ["comm", "foo_[k]", "bar_[i]", "baz_[j]", "w_[w]", "keep_[x]", "[softirq:net_rx]", "_[k]",
                                 "[unknown] (libc.so.6)", "main"], count: 1),
            FoldedStack(frames: ["a", "f_[k]"], count: 2),
            FoldedStack(frames: ["a", "f"], count: 3),
        ])
        let i = InternedProfile(p)
        let first = i.stacks[0].frames
        #expect(first.map { i.table[$0] } == ["comm", "foo", "bar", "baz", "w", "keep_[x]", "[softirq:net_rx]", "", "[unknown] (libc.so.6)", "main"])
        #expect(first.map { i.table.kind($0) } == [.user, .kernel, .inlined, .jit, .waker, .user, .pseudo, .kernel, .user, .user])
        // Written back: as read with annotations, names alone without; equal lines merge.
        #expect(i.renderFolded(annotate: true) == p.render())
        #expect(i.renderFolded(annotate: false) == "a;f 5\ncomm;foo;bar;baz;w;keep_[x];[softirq:net_rx];;[unknown] (libc.so.6);main 1\n")
    }

    @Test func totalSaturates() {
        let p = FoldedProfile(stacks: [FoldedStack(frames: ["a"], count: .max), FoldedStack(frames: ["b"], count: 1)])
        #expect(p.totalSamples == .max)
    }
}
