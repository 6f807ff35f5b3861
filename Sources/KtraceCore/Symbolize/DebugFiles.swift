import FoundationEssentials
import Glibc

/// Finds the separate debug file of a stripped binary the way gdb and perf do.
struct DebugFileFinder {
    var debugRoots: [String]

    /// `binaryPath` is the path as the target sees it (from its maps); `rootPrefix` ("/proc/PID/root")
    /// is tried before the host view so containers find their own debug files.
    func find(for elf: ELFFile, binaryPath: String, rootPrefix: String?) -> ELFFile? {
        for path in candidates(for: elf, binaryPath: binaryPath, rootPrefix: rootPrefix) {
            if let debug = load(path, matching: elf, symbols: true, accept: \.hasSymtab) { return debug }
        }
        return nil
    }

    /// The path of the first debug file of this build that `accept` takes (the unwinder's: one with a
    /// `.debug_frame`), in the order `find` tries them.
    func findPath(for elf: ELFFile, binaryPath: String, rootPrefix: String?, accept: (ELFFile) -> Bool) -> String? {
        candidates(for: elf, binaryPath: binaryPath, rootPrefix: rootPrefix).first {
            load($0, matching: elf, symbols: false, accept: accept) != nil
        }
    }

    /// By build id under each debug root, then by `.gnu_debuglink` beside the binary, in `.debug/` and
    /// under each root; each in the target's root first.
    private func candidates(for elf: ELFFile, binaryPath: String, rootPrefix: String?) -> [String] {
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
        return candidates.flatMap { c in [rootPrefix.map { $0 + c }, c].compactMap { $0 } }.filter { seen.insert($0).inserted }
    }

    /// The candidate only counts if it is the debug file of *this* build: same build-id when both
    /// have one, else the CRC recorded in `.gnu_debuglink`. A stale debug file would name wrong code.
    private func load(_ path: String, matching elf: ELFFile, symbols: Bool, accept: (ELFFile) -> Bool) -> ELFFile? {
        try? withMappedFile(path) { bytes -> ELFFile? in
            guard let debug = try? ELFFile(bytes: bytes, symbols: symbols), accept(debug) else { return nil }
            if let a = elf.buildID, let b = debug.buildID { return a == b ? debug : nil }
            if let link = elf.debugLink { return CRC32.checksum(bytes) == link.crc ? debug : nil }
            return debug
        } ?? nil
    }
}
