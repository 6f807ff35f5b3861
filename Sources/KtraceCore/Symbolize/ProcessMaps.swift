import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// One line of /proc/PID/maps.
public struct MemoryMapping: Sendable, Equatable {
    public var start, end, offset: UInt64
    public var perms: String
    public var inode: UInt64
    /// Path, "[vdso]"/"[heap]"/..., or "" for anonymous memory. May end in " (deleted)".
    public var path: String
    /// "major:minor" in hex as maps prints it; with `inode` it identifies the file.
    public var device: String

    public init(start: UInt64, end: UInt64, offset: UInt64, perms: String, inode: UInt64, path: String,
                device: String = "") {
        self.start = start; self.end = end; self.offset = offset
        self.perms = perms; self.inode = inode; self.path = path; self.device = device
    }

    public var isExecutable: Bool { perms.contains("x") }
    /// Whether the file was removed or replaced after it was mapped (the path may now hold another file).
    public var isDeleted: Bool { path.hasSuffix(" (deleted)") }
    /// The path without its " (deleted)" mark.
    public var filePath: String { isDeleted ? String(path.dropLast(" (deleted)".count)) : path }
    public func contains(_ address: UInt64) -> Bool { address >= start && address < end }
}

public enum ProcessMaps {
    /// Lines that do not parse are skipped.
    public static func parse(_ text: String, executableOnly: Bool = false) -> [MemoryMapping] {
        Array(text.utf8).withUnsafeBufferPointer { parse(bytes: $0, executableOnly: executableOnly) }
    }

    /// The parser over the file's bytes. Each line is "start-end perms offset dev inode   path": five
    /// space-separated fields, then the path (which may itself contain spaces) after any run of padding.
    /// Bytes, not a String split into Substrings: unwind tables re-read every followed process's maps each
    /// second, and the String form was most of that cost (about a third of `stacks -a --unwind auto`'s CPU
    /// on an idle machine). With `executableOnly` a line whose permissions lack x builds no strings at all.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>, executableOnly: Bool = false) -> [MemoryMapping] {
        var out: [MemoryMapping] = []
        let n = bytes.count
        var i = 0
        while i < n {
            var eol = i
            while eol < n && bytes[eol] != 0x0A { eol += 1 }
            defer { i = eol + 1 }
            var p = i
            /// The next run of non-space bytes on this line, after any spaces.
            func field() -> Range<Int>? {
                while p < eol && bytes[p] == 0x20 { p += 1 }
                let s = p
                while p < eol && bytes[p] != 0x20 { p += 1 }
                return s < p ? s..<p : nil
            }
            guard let range = field(), let perms = field(), let off = field(), let dev = field(),
                  let ino = field() else { continue }
            if executableOnly && !bytes[perms].contains(UInt8(ascii: "x")) { continue }
            guard let dash = bytes[range].firstIndex(of: UInt8(ascii: "-")),
                  let start = hex(bytes[range.lowerBound..<dash]), let end = hex(bytes[(dash + 1)..<range.upperBound]),
                  let offset = hex(bytes[off]), let inode = decimal(bytes[ino]) else { continue }
            while p < eol && bytes[p] == 0x20 { p += 1 }
            out.append(MemoryMapping(start: start, end: end, offset: offset, perms: string(bytes[perms]), inode: inode,
                                     path: string(bytes[p..<eol]), device: string(bytes[dev])))
        }
        return out
    }

    /// The maps of a process; `executableOnly` keeps only mappings whose permissions include x.
    public static func read(pid: Int32, executableOnly: Bool = false) throws -> [MemoryMapping] {
        let path = "/proc/\(pid)/maps"
        guard let data = readWholeFileBytes(path, expected: 1 << 16) else {
            throw SymbolizeError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return data.withUnsafeBufferPointer { parse(bytes: $0, executableOnly: executableOnly) }
    }

    private static func string(_ b: Slice<UnsafeBufferPointer<UInt8>>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: b), as: UTF8.self)
    }

    /// Hex digits only, at least one, no overflow.
    private static func hex(_ b: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64? {
        guard !b.isEmpty, b.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in b {
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x61 + 10
            case 0x41...0x46: d = c - 0x41 + 10
            default: return nil
            }
            v = v << 4 | UInt64(d)
        }
        return v
    }

    /// Decimal digits only, at least one, no overflow.
    private static func decimal(_ b: Slice<UnsafeBufferPointer<UInt8>>) -> UInt64? {
        guard !b.isEmpty else { return nil }
        var v: UInt64 = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }
}

/// read(2) until EOF: procfs files report size 0, so size-based readers can come back empty.
func readWholeFile(_ path: String) -> Data? {
    readWholeFileBytes(path, expected: 1 << 16).map { Data($0) }
}

/// The whole file as bytes, read straight into one buffer reserved for `expected` bytes.
func readWholeFileBytes(_ path: String, expected: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out = [UInt8]()
    out.reserveCapacity(expected)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
}

/// Bytes of another process's memory (the vdso image): needs ptrace-read access, i.e. root or same user.
func readProcessMemory(pid: Int32, address: UInt64, count: Int) -> Data? {
    guard count > 0, count <= 1 << 20, address <= UInt64(Int64.max) else { return nil }
    let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: count)
    let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(address)) }
    return n == count ? Data(buf) : nil
}
