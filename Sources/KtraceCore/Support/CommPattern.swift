/// `--comm PATTERN`, one meaning in every command: the exact task name, or a shell glob where `*` matches
/// any run of characters and `?` one. Compared byte by byte, as the kernel's filter compares its comm.
public struct CommPattern: Sendable, Hashable, CustomStringConvertible {
    /// Longest task name the kernel keeps (TASK_COMM_LEN less its NUL): what a kernel filter compares.
    public static let maxLength = 15
    /// Longest name /proc/PID/comm shows: a kworker's comm with its workqueue ("kworker/u8:2-events_unbound",
    /// the kernel's 64-byte buffer), what `kthreads` matches besides the comm.
    public static let maxProcLength = 63

    public let pattern: String
    private let bytes: [UInt8]

    /// The pattern, or why it cannot match a task name: it is empty, or its characters other than `*`
    /// (each `?` stands for one) are not 1 to `maxLength` bytes.
    public init(_ pattern: String, maxLength: Int = CommPattern.maxLength) throws(CommPatternError) {
        if pattern.isEmpty { throw CommPatternError("needs a name or a glob") }
        let literal = pattern.utf8.count { $0 != Self.star }
        if literal == 0 || literal > maxLength { throw CommPatternError("'\(pattern)': a task name has 1 to \(maxLength) characters") }
        self.pattern = pattern
        bytes = Array(pattern.utf8)
    }

    public var description: String { pattern }

    public func matches(_ name: String) -> Bool {
        let s = Array(name.utf8)
        // Greedy with backtracking to the last `*`: linear in practice, never exponential.
        var p = 0, i = 0, star: Int?, resume = 0
        while i < s.count {
            if p < bytes.count && bytes[p] == Self.star {
                star = p
                resume = i
                p += 1
            } else if p < bytes.count && (bytes[p] == Self.any || bytes[p] == s[i]) {
                p += 1
                i += 1
            } else if let st = star {
                p = st + 1
                resume += 1
                i = resume
            } else {
                return false
            }
        }
        while p < bytes.count && bytes[p] == Self.star { p += 1 }
        return p == bytes.count
    }

    /// What the kernel's filter takes: text compared byte by byte (a `?` in it matches any one byte),
    /// the whole name or (`prefix`) its beginning. nil when a `*` is anywhere but at the end, which
    /// the kernel cannot filter by.
    public var kernelForm: (text: String, prefix: Bool)? {
        var end = bytes.count
        while end > 0 && bytes[end - 1] == Self.star { end -= 1 }
        if bytes[..<end].contains(Self.star) { return nil }
        return (String(decoding: bytes[..<end], as: UTF8.self), end < bytes.count)
    }

    private static let star = UInt8(ascii: "*"), any = UInt8(ascii: "?")
}

/// Why a `--comm` pattern was refused, worded to follow the option's name.
public struct CommPatternError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
