import Testing
@testable import KtraceCore

/// The Foundation-free formatting helpers the CLI prints numbers and paths with.
struct TextFormatTests {
    @Test(arguments: [
        (1.25, 1, false, "1.3"), (0.0, 2, false, "0.00"), (12.3, 2, false, "12.30"), (12.3, 2, true, "12.3"),
        (-0.04, 1, false, "0.0"), (-1.5, 0, false, "-2"), (99.999, 2, false, "100.00"), (1e300, 1, false, "0"),
        (0.5, 0, false, "1"), (7.0, 3, true, "7"),
    ])
    func fixedDecimals(value: Double, places: Int, trim: Bool, expected: String) {
        #expect(fixed(value, places, trim: trim) == expected)
    }

    @Test func trimmedStripsOnlyTheEnds() {
        #expect(" \t 12 34\n\r".trimmed == "12 34")
        #expect("v\r\n".trimmed == "v")  // "\r\n" is one Character
        #expect("\u{00A0}\u{2003}x\u{000B}\u{000C}".trimmed == "x")
        #expect("".trimmed == "")
        #expect(" \n ".trimmed == "")
        #expect("x".trimmed == "x")
        #expect("CapEff:\t0000003fffffffff"[...].dropFirst(7).trimmed == "0000003fffffffff")
    }

    @Test func parentDirectoryLikeDirname() {
        #expect(parentDirectory(of: "/a/b/c.svg") == "/a/b")
        #expect(parentDirectory(of: "/c.svg") == "/")
        #expect(parentDirectory(of: "c.svg") == "")
        #expect(parentDirectory(of: "out/c.svg") == "out")
        #expect(parentDirectory(of: "/a/b/") == "/a")
        #expect(parentDirectory(of: "/") == "/")
    }

    @Test func hexOfBytes() {
        #expect(hexString([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(hexString([UInt8]()) == "")
    }
}
