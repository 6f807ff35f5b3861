import FoundationEssentials
import Glibc

/// Finds the separate debug file of a stripped binary the way gdb and perf do.
struct DebugFileFinder {
    var debugRoots: [String]

    /// `binaryPath` is the path as the target sees it (from its maps); `rootPrefix` ("/proc/PID/root")
    /// is tried before the host view so containers find their own debug files.
    func find(for elf: ELFFile, binaryPath: String, rootPrefix: String?) -> ELFFile? {
        var candidates: [String] = []
        if let id = elf.buildID, id.count > 2 {
            // /usr/lib/debug/.build-id/ab/cdef....debug
            for root in debugRoots {
                candidates.append("\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug")
            }
        }
        if let link = elf.debugLink {
            let dir = parentDirectory(of: binaryPath)
            candidates.append("\(dir)/\(link.name)")
            candidates.append("\(dir)/.debug/\(link.name)")
            for root in debugRoots { candidates.append("\(root)\(dir)/\(link.name)") }
        }
        var seen = Set<String>()
        for c in candidates {
            for path in [rootPrefix.map { $0 + c }, c].compactMap({ $0 }) where seen.insert(path).inserted {
                if let debug = load(path, matching: elf) { return debug }
            }
        }
        return nil
    }

    /// The candidate only counts if it is the debug file of *this* build: same build-id when both
    /// have one, else the CRC recorded in `.gnu_debuglink`. A stale debug file would name wrong code.
    private func load(_ path: String, matching elf: ELFFile) -> ELFFile? {
        try? withMappedFile(path) { bytes -> ELFFile? in
            guard let debug = try? ELFFile(bytes: bytes), debug.hasSymtab else { return nil }
            if let a = elf.buildID, let b = debug.buildID { return a == b ? debug : nil }
            if let link = elf.debugLink { return CRC32.checksum(bytes) == link.crc ? debug : nil }
            return debug
        } ?? nil
    }
}
