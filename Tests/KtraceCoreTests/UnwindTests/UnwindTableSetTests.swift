import Foundation
import Testing
@testable import KtraceCore

/// The tables a recording loads: one slice per file however many processes map it, the bias of each
/// mapping from its file's segments, and every refusal with its reason.
@Suite struct UnwindTableSetTests {
    /// A PIE mapped as the loader maps it: the executable segment (file offset 0x1000) at base + 0x1000.
    static func maps(_ path: String, base: UInt64, inode: UInt64 = 42) -> [MemoryMapping] {
        [MemoryMapping(start: base, end: base + 0x1000, offset: 0, perms: "r--p", inode: inode, path: path, device: "fe:01"),
         MemoryMapping(start: base + 0x1000, end: base + 0x2000, offset: 0x1000, perms: "r-xp", inode: inode, path: path, device: "fe:01"),
         MemoryMapping(start: 0x7ffd_0000_0000, end: 0x7ffd_0002_1000, offset: 0, perms: "rw-p", inode: 0, path: "[stack]", device: "00:00")]
    }

    @Test func oneSlicePerFileAndTheBiasOfEachMapping() throws {
        let elf = try UnwindFixtures.url("unwind-o2.elf").path
        let table = try UnwindTableBuilder.build(path: elf).table
        var set = UnwindTableSet(capacity: 1 << 20, maxMappings: 64, mode: .tables)
        var builds = 0
        let build = { (p: String) throws -> UnwindTableBuild in builds += 1; return try UnwindTableBuilder.build(path: p) }
        let a = set.mappings(of: Self.maps(elf, base: 0x5555_5555_4000), root: "", build: build).mappings
        let b = set.mappings(of: Self.maps(elf, base: 0x5600_0000_0000), root: "", build: build).mappings
        #expect(builds == 1 && set.rows(from: 0).count == table.rows.count)
        #expect(a == [.init(start: 0x5555_5555_5000, end: 0x5555_5555_6000, bias: 0x5555_5555_4000, first: 0, count: UInt32(table.rows.count))])
        #expect(b.first?.bias == 0x5600_0000_0000 && b.first?.first == 0)
        // A pc of the second process, less its bias, finds the file's own row.
        let pc: UInt64 = 0x5600_0000_0000 + UInt64(table.rows[1].pc)
        #expect(table.lookup(pc - b[0].bias) == table.rows[1])
        #expect(set.rows(from: table.rows.count).isEmpty)
    }

    @Test func refusalsSayWhy() throws {
        let elf = try UnwindFixtures.url("unwind-o2.elf").path
        let rows = try UnwindTableBuilder.build(path: elf).table.rows.count
        var small = UnwindTableSet(capacity: rows - 1, maxMappings: 64, mode: .tables)
        #expect(small.mappings(of: Self.maps(elf, base: 0x1000_0000), root: "", build: { try UnwindTableBuilder.build(path: $0) }).mappings.isEmpty)
        #expect(small.refused[elf]?.hasPrefix("no room for its \(rows) rows") == true, "\(small.refused)")
        var set = UnwindTableSet(capacity: 1 << 20, maxMappings: 64, mode: .tables)
        let missing = set.mappings(of: Self.maps("/nonexistent/lib.so", base: 0x1000_0000), root: "",
                                   build: { try UnwindTableBuilder.build(path: $0) }).mappings
        #expect(missing.isEmpty && set.refused["/nonexistent/lib.so"]?.contains("cannot open") == true, "\(set.refused)")
        // A file that could not be opened is tried again (through the next process that maps it).
        var tries = 0
        for _ in 0..<2 {
            _ = set.mappings(of: Self.maps("/lib/gone.so", base: 0x1000_0000, inode: 9), root: "",
                             build: { _ in tries += 1; throw SymbolizeError("cannot open /lib/gone.so: No such file or directory") })
        }
        #expect(tries == 2)
        // A deleted or replaced file is not read at all: its path names other code now.
        var deleted = Self.maps(elf + " (deleted)", base: 0x1000_0000, inode: 11)
        deleted[1].path = elf + " (deleted)"
        #expect(set.mappings(of: deleted, root: "", build: { _ in Issue.record("read a deleted file"); throw SymbolizeError("x") }).mappings.isEmpty)
        #expect(set.refused[elf] == "deleted or replaced since it was mapped")
        // The same file under another root (a container's /proc/PID/root) is read from there.
        var seen: [String] = []
        _ = set.mappings(of: Self.maps("/lib/x.so", base: 0x1000_0000, inode: 7), root: "/proc/1/root",
                         build: { seen.append($0); throw SymbolizeError("gone") })
        #expect(seen == ["/proc/1/root/lib/x.so"] && set.refused["/lib/x.so"] == "gone")
    }

    @Test func mappingsBeyondTheLimitAreCounted() throws {
        let elf = try UnwindFixtures.url("unwind-o2.elf").path
        var set = UnwindTableSet(capacity: 1 << 20, maxMappings: 2, mode: .tables)
        let maps = (0..<3).flatMap { i in Self.maps(elf, base: 0x1000_0000 * UInt64(i + 1), inode: UInt64(10 + i)) }
        let (m, dropped) = set.mappings(of: maps, root: "", build: { try UnwindTableBuilder.build(path: $0) })
        #expect(m.map(\.start) == [0x1000_1000, 0x2000_1000] && dropped == 1)
    }

    /// The bias from the executable segment holding the mapping's offset, also where that segment does not
    /// begin on a page (lld: code at file offset 0x570, vaddr 0x1570, mapped from offset 0 at base + 0x1000),
    /// and never from a segment that is not executable.
    @Test func biasOfUnalignedSegments() {
        let ro = ELFSegment(offset: 0, vaddr: 0, filesz: 0x570, memsz: 0x570, flags: 4)
        let rx = ELFSegment(offset: 0x570, vaddr: 0x1570, filesz: 0x2000, memsz: 0x2000, flags: 5)
        let base: UInt64 = 0x5555_0000_0000
        let code = MemoryMapping(start: base + 0x1000, end: base + 0x4000, offset: 0, perms: "r-xp", inode: 1, path: "/x")
        #expect(UnwindTableSet.bias(of: code, segments: [ro, rx]) == base)
        // ld.bfd's page-aligned layout, as the fixture: offset 0x1000 at vaddr 0x1000.
        let bfd = ELFSegment(offset: 0x1000, vaddr: 0x1000, filesz: 0x829, memsz: 0x829, flags: 5)
        let m = MemoryMapping(start: base + 0x1000, end: base + 0x2000, offset: 0x1000, perms: "r-xp", inode: 1, path: "/x")
        #expect(UnwindTableSet.bias(of: m, segments: [bfd]) == base)
        // An offset in no executable segment: no bias (frame pointers there), whatever the others say.
        let data = MemoryMapping(start: base, end: base + 0x1000, offset: 0x8000, perms: "r-xp", inode: 1, path: "/x")
        #expect(UnwindTableSet.bias(of: data, segments: [ro, rx, bfd]) == nil)
    }

    @Test func summaryLine() {
        var u = UnwindSummary()
        u.stacks = 100
        u.tableFrames = 900
        u.framePointerFrames = 100
        u.truncated = 2
        u.processes = 1
        u.rows = 77
        u.buildMs = 3
        #expect(u.line == "user stacks: 100 walked with unwind tables (1 processes, 77 rows, built in 3 ms); frames after the first: 90.0% from tables, 10.0% through frame pointers; 2 cut at 64 frames")
        u.refused = ["/usr/bin/x": "no .eh_frame or .debug_frame"]
        #expect(u.line.hasSuffix("; no table for 1 files, frame pointers there (/usr/bin/x: no .eh_frame or .debug_frame)"))
    }
}
