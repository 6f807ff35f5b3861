import FoundationEssentials
import Glibc

/// A JIT's perf map, `/tmp/perf-PID.map`, as perf reads it: one "START SIZE name" line per compiled
/// function, START and SIZE in hex (an optional 0x), the name the rest of the line. Node writes it with
/// `--perf-basic-prof`, Java with `-XX:+DumpPerfMapAtExit` or `jcmd PID Compiler.perfmap`.
///
/// The file is written by the traced process, so it is input from anyone: lines that do not parse are
/// skipped, names are cut at `maxNameBytes`, and a file over `maxFileBytes` is not read at all.
public struct PerfMap: Sendable {
    public static let maxFileBytes = 256 << 20
    public static let maxNameBytes = 1024

    private var starts: [UInt64] = []
    private var ends: [UInt64] = []     // exclusive
    private var maxEnds: [UInt64] = []  // running max of ends, to find enclosing entries
    private var names: [String] = []

    public var count: Int { starts.count }

    public init(_ text: String) {
        var t = text
        self = t.withUTF8 { PerfMap(bytes: UnsafeRawBufferPointer($0)) }
    }

    public init(bytes: UnsafeRawBufferPointer) {
        var entries: [(start: UInt64, end: UInt64, line: Int, name: String)] = []
        let n = bytes.count
        var i = 0, lineNo = 0
        while i < n {
            var eol = i
            while eol < n && bytes[eol] != 0x0a { eol += 1 }
            defer { i = eol + 1; lineNo += 1 }
            var p = i
            func hex() -> UInt64? {
                while p < eol && (bytes[p] == 0x20 || bytes[p] == 0x09) { p += 1 }
                if p + 1 < eol && bytes[p] == 0x30 && (bytes[p + 1] | 0x20) == 0x78 { p += 2 }
                var v: UInt64 = 0, digits = 0
                while p < eol {
                    let c = bytes[p]
                    let d: UInt8
                    switch c {
                    case 0x30...0x39: d = c - 0x30
                    case 0x61...0x66: d = c - 0x61 + 10
                    case 0x41...0x46: d = c - 0x41 + 10
                    default:
                        return digits > 0 && (c == 0x20 || c == 0x09) ? v : nil
                    }
                    digits += 1
                    if digits > 16 { return nil }
                    v = v << 4 | UInt64(d)
                    p += 1
                }
                return nil  // a number must be followed by more fields
            }
            guard let start = hex(), let size = hex(), size > 0 else { continue }
            while p < eol && (bytes[p] == 0x20 || bytes[p] == 0x09) { p += 1 }
            var last = eol
            while last > p && (bytes[last - 1] == 0x0d || bytes[last - 1] == 0x20) { last -= 1 }
            guard last > p else { continue }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[p..<min(last, p + Self.maxNameBytes)]), as: UTF8.self)
            let (end, overflow) = start.addingReportingOverflow(size)
            entries.append((start, overflow ? .max : end, lineNo, name))
        }
        // By start; for one start, the last line wins (a JIT that reuses an address writes the new code later).
        entries.sort { $0.start != $1.start ? $0.start < $1.start : $0.line > $1.line }
        for e in entries {
            if let s = starts.last, s == e.start { continue }
            starts.append(e.start)
            ends.append(e.end)
            maxEnds.append(max(maxEnds.last ?? 0, e.end))
            names.append(e.name)
        }
    }

    /// The name of the innermost entry covering `address`, or nil.
    public func lookup(_ address: UInt64) -> String? {
        var j = starts.partitionPoint { $0 > address } - 1
        while j >= 0, maxEnds[j] > address {
            if ends[j] > address { return names[j] }
            j -= 1
        }
        return nil
    }

    /// The file at `path`, read with read(2) (a writer may truncate it under us; a mapping would fault).
    /// nil: absent, unreadable, not a regular file, or larger than `maxFileBytes`.
    /// `owners`: the uids the file may belong to (the process's, and root), as perf refuses a map someone
    /// else planted; nil: any.
    public static func load(_ path: String, owners: Set<UInt32>? = nil) -> PerfMap? {
        guard let bytes = readRegularFile(path, limit: maxFileBytes, owners: owners, noFollow: true) else { return nil }
        return bytes.withUnsafeBytes { PerfMap(bytes: $0) }
    }
}

/// The whole of a regular file of at most `limit` bytes (nil otherwise, or when it cannot be read).
/// `owners`: refuse a file whose owner is not among these uids; `noFollow`: refuse a symbolic link as the
/// last component.
func readRegularFile(_ path: String, limit: Int, owners: Set<UInt32>? = nil, noFollow: Bool = false) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0))
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= limit else { return nil }
    if let owners, !owners.contains(st.st_uid) { return nil }
    var out = [UInt8]()
    out.reserveCapacity(Int(st.st_size) + 1)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        if out.count + n > limit { return nil }  // grew past the limit while being read
        out.append(contentsOf: chunk[0..<n])
    }
}

/// Where a process's perf map is and whether it changed since it was read.
struct PerfMapFile {
    var path: String
    var size: Int64
    var mtime: timespec

    /// Status of `path` (nil: none).
    static func current(_ path: String) -> PerfMapFile? {
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return PerfMapFile(path: path, size: Int64(st.st_size), mtime: st.st_mtim)
    }

    func sameVersion(_ o: PerfMapFile) -> Bool {
        path == o.path && size == o.size && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec
    }
}
