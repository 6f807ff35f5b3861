/// Folded stacks: the line format of flamegraph.pl / inferno ("comm;root;...;leaf COUNT").

public struct FoldedStack: Hashable, Sendable {
    /// Root first: the process comm, then outermost to innermost frame.
    public var frames: [String]
    public var count: UInt64

    public init(frames: [String], count: UInt64) {
        self.frames = frames
        self.count = count
    }
}

public struct FoldedParseError: Error, CustomStringConvertible {
    /// 1-based line number in the parsed text.
    public let line: Int
    public let message: String

    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

public struct FoldedProfile: Sendable {
    public var stacks: [FoldedStack]

    public init(stacks: [FoldedStack]) {
        self.stacks = stacks
    }

    /// Parse flamegraph.pl / inferno folded text: one line per stack, frames joined by ";", then whitespace
    /// and the count (the LAST whitespace-separated token is the count; frames may contain spaces).
    /// Blank lines and lines without a trailing number are reported. Identical stacks are summed,
    /// keeping the order of first appearance. A final newline (or CRLF line ends) is accepted.
    public static func parse(_ text: String) throws -> FoldedProfile {
        var stacks: [FoldedStack] = []
        var index: [[String]: Int] = [:]
        // Split on bytes: as Characters, "\r\n" is a single grapheme and would not split on "\n".
        let lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (i, line) in lines.enumerated() {
            let number = i + 1
            let bytes = Array(line)
            if i == lines.count - 1, bytes.isEmpty { break }  // text ended with a newline
            let (frames, count) = try parseLine(bytes, number: number)
            if let at = index[frames] {
                let (sum, overflow) = stacks[at].count.addingReportingOverflow(count)
                if overflow { throw FoldedParseError(line: number, message: "sample count total for this stack exceeds 2^64") }
                stacks[at].count = sum
            } else {
                index[frames] = stacks.count
                stacks.append(FoldedStack(frames: frames, count: count))
            }
        }
        return FoldedProfile(stacks: stacks)
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0B || b == 0x0C }

    private static func parseLine(_ b: [UInt8], number: Int) throws -> ([String], UInt64) {
        var end = b.count
        while end > 0, isSpace(b[end - 1]) { end -= 1 }
        if end == 0 { throw FoldedParseError(line: number, message: "blank line") }
        var start = end
        while start > 0, !isSpace(b[start - 1]) { start -= 1 }
        let token = b[start..<end]
        guard let count = parseCount(token) else {
            let shown = String(decoding: token.prefix(40), as: UTF8.self)
            let why = token.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
                ? "sample count \(shown) does not fit in 64 bits"
                : "expected a sample count at the end of the line, found \"\(shown)\""
            throw FoldedParseError(line: number, message: why)
        }
        var stackEnd = start
        while stackEnd > 0, isSpace(b[stackEnd - 1]) { stackEnd -= 1 }
        if stackEnd == 0 { throw FoldedParseError(line: number, message: "missing stack before the sample count") }
        let frames = b[0..<stackEnd].split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
        return (frames, count)
    }

    private static func parseCount(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var v: UInt64 = 0
        for d in digits {
            guard d >= 0x30, d <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d - 0x30))
            if o1 || o2 { return nil }
            v = s
        }
        return v
    }

    /// Lines sorted by stack text (byte order), "a;b;c 12\n". Merges duplicates.
    public func render() -> String {
        var merged: [String: UInt64] = [:]
        for s in stacks {
            merged[s.frames.joined(separator: ";"), default: 0].addSaturating(s.count)
        }
        let keys = merged.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var out = ""
        for k in keys {
            out += k
            out += " "
            out += String(merged[k]!)
            out += "\n"
        }
        return out
    }

    /// Sum of all counts, saturating at UInt64.max.
    public var totalSamples: UInt64 {
        var t: UInt64 = 0
        for s in stacks { t.addSaturating(s.count) }
        return t
    }

    /// Strip `_[k]`, `_[i]`, `_[j]`, `_[w]` annotation suffixes from every frame. Stacks that become
    /// identical are merged (first appearance keeps its position).
    public func strippingAnnotations() -> FoldedProfile {
        var out: [FoldedStack] = []
        var index: [[String]: Int] = [:]
        for s in stacks {
            let frames = s.frames.map { FrameAnnotation.split($0).name }
            if let at = index[frames] {
                out[at].count.addSaturating(s.count)
            } else {
                index[frames] = out.count
                out.append(FoldedStack(frames: frames, count: s.count))
            }
        }
        return FoldedProfile(stacks: out)
    }
}

/// The perf / flamegraph.pl frame suffixes: kernel, inlined, JIT, waker.
enum FrameAnnotation: Character {
    case kernel = "k", inlined = "i", jit = "j", waker = "w"

    /// The frame name without its suffix, and the suffix if there was one.
    static func split(_ frame: String) -> (name: String, annotation: FrameAnnotation?) {
        let u = frame.utf8
        guard u.count >= 4 else { return (frame, nil) }
        let tail = Array(u.suffix(4))
        guard tail[0] == UInt8(ascii: "_"), tail[1] == UInt8(ascii: "["), tail[3] == UInt8(ascii: "]"),
              let a = FrameAnnotation(rawValue: Character(Unicode.Scalar(tail[2])))
        else { return (frame, nil) }
        return (String(frame.utf8.dropLast(4))!, a)
    }
}

extension UInt64 {
    mutating func addSaturating(_ x: UInt64) {
        let (s, o) = addingReportingOverflow(x)
        self = o ? .max : s
    }
}
