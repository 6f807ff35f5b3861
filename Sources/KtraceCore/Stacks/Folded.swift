/// Folded stacks: the line format of flamegraph.pl / inferno ("comm;root;...;leaf COUNT"). Its reader and
/// writer, the only code that knows perf's frame suffixes.

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

    /// Lines sorted by stack text (byte order), "a;b;c 12\n". Merges duplicates; frame suffixes are
    /// written back as they were read.
    public func render() -> String { InternedProfile(self).renderFolded(annotate: true) }

    /// Sum of all counts, saturating at UInt64.max.
    public var totalSamples: UInt64 {
        var t: UInt64 = 0
        for s in stacks { t.addSaturating(s.count) }
        return t
    }
}

extension FrameKind {
    /// perf's / flamegraph.pl's suffix for this kind.
    public var foldedSuffix: String? {
        switch self {
        case .kernel: "_[k]"
        case .jit: "_[j]"
        case .inlined: "_[i]"
        case .waker: "_[w]"
        case .user, .pseudo: nil
        }
    }
}

extension FrameTable {
    /// The name as folded text writes it.
    public func foldedName(_ id: Int32, annotate: Bool) -> String {
        guard annotate, let suffix = kinds[Int(id)].foldedSuffix else { return names[Int(id)] }
        return names[Int(id)] + suffix
    }
}

extension InternedProfile {
    /// Folded text: identical stacks merged, lines in byte order. `annotate` writes each frame's kind
    /// suffix (`_[k]` for kernel frames).
    public func renderFolded(annotate: Bool = false) -> String {
        var merged: [[Int32]: UInt64] = [:]
        for s in stacks { merged[s.frames, default: 0].addSaturating(s.count) }
        // Distinct ids can still join into equal lines (a kernel and a user frame of one name without
        // annotation, a name containing ";"): merge those too.
        var joined: [String: UInt64] = [:]
        for (frames, count) in merged {
            joined[frames.map { table.foldedName($0, annotate: annotate) }.joined(separator: ";"), default: 0].addSaturating(count)
        }
        var lines = joined.map { ($0.key, $0.value) }
        lines.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        var out = ""
        for (k, count) in lines {
            out += k
            out += " "
            out += String(count)
            out += "\n"
        }
        return out
    }

    /// Folded input from any tool, in the one stack form: each frame's perf suffix becomes its kind.
    public init(_ profile: FoldedProfile) {
        var table = FrameTable()
        var ids: [String: Int32] = [:]
        stacks = profile.stacks.map { s in
            InternedStack(frames: s.frames.map { raw in
                if let id = ids[raw] { return id }
                let (name, kind) = FoldedFrame.classify(raw)
                let id = table.id(name, kind: kind)
                ids[raw] = id
                return id
            }, count: s.count)
        }
        self.table = table
    }
}

/// How folded text written by other tools marks a frame: perf's / flamegraph.pl's suffixes. The only
/// place a suffix is parsed.
enum FoldedFrame {
    /// `_[k]` kernel, `_[j]` JIT, `_[i]` inlined, `_[w]` waker; without one, `[...]` names are
    /// placeholders (softirq, unknown...) and the rest user code.
    static func classify(_ raw: String) -> (name: String, kind: FrameKind) {
        let u = raw.utf8
        if u.count >= 4 {
            let tail = Array(u.suffix(4))
            if tail[0] == UInt8(ascii: "_"), tail[1] == UInt8(ascii: "["), tail[3] == UInt8(ascii: "]") {
                let kind: FrameKind? = switch tail[2] {
                case UInt8(ascii: "k"): .kernel
                case UInt8(ascii: "j"): .jit
                case UInt8(ascii: "i"): .inlined
                case UInt8(ascii: "w"): .waker
                default: nil
                }
                if let kind { return (String(raw.utf8.dropLast(4))!, kind) }
            }
        }
        return (raw, FrameKind.user(named: raw))
    }
}

extension UInt64 {
    mutating func addSaturating(_ x: UInt64) {
        let (s, o) = addingReportingOverflow(x)
        self = o ? .max : s
    }
}
