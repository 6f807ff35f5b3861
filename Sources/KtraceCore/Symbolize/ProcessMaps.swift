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
    public static func parse(_ text: String) -> [MemoryMapping] {
        var out: [MemoryMapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            // "start-end perms offset dev inode   path": five space-separated fields, then the path
            // (which may itself contain spaces) after any run of padding.
            var rest = line[...]
            func field() -> Substring? {
                rest = rest.drop { $0 == " " }
                guard !rest.isEmpty else { return nil }
                let f = rest.prefix { $0 != " " }
                rest = rest.dropFirst(f.count)
                return f
            }
            guard let range = field(), let perms = field(), let off = field(), let dev = field(),
                  let ino = field() else { continue }
            let bounds = range.split(separator: "-")
            guard bounds.count == 2, let start = UInt64(bounds[0], radix: 16), let end = UInt64(bounds[1], radix: 16),
                  let offset = UInt64(off, radix: 16), let inode = UInt64(ino) else { continue }
            out.append(MemoryMapping(start: start, end: end, offset: offset, perms: String(perms), inode: inode,
                                     path: String(rest.drop { $0 == " " }), device: String(dev)))
        }
        return out
    }

    public static func read(pid: Int32) throws -> [MemoryMapping] {
        let path = "/proc/\(pid)/maps"
        guard let data = readWholeFile(path) else {
            throw SymbolizeError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        return parse(String(decoding: data, as: UTF8.self))
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
