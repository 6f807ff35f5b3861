import CSupport
/// What building a table found, besides the table.
public struct UnwindTableBuild: Sendable {
    public var table: UnwindTable
    /// The sections read, e.g. `.eh_frame`, `.debug_frame (debug file)`.
    public var sections: [String] = []
    /// FDEs whose rows went into the table.
    public var fdes = 0
    /// FDEs left out: outside every executable segment, empty, or overlapping one already in.
    public var skippedFDEs = 0
    /// FDEs whose CFA program failed to parse: their whole range is `.unsupported`.
    public var failedFDEs = 0
    /// Malformed entries and skipped sections, one line each (the first few).
    public var problems: [String] = []
    /// The file's PT_LOAD segments: a mapping's bias comes from the one holding its file offset.
    public var segments: [ELFSegment] = []
    /// The separate debug file read, if any.
    public var debugFile: String?
}

/// Compiles an x86-64 ELF file's `.eh_frame` and `.debug_frame` into an `UnwindTable`.
///
/// `.eh_frame` is read first; a `.debug_frame` FDE (from the file itself or its separate debug file) only
/// adds code that no `.eh_frame` FDE covers. FDEs outside the executable PT_LOAD segments are dropped
/// (the linker leaves FDEs of discarded functions at address 0 in `.debug_frame`).
public enum UnwindTableBuilder {
    static let EM_X86_64: UInt16 = 62
    static let SHF_COMPRESSED: UInt64 = 0x800
    static let SHT_NOBITS: UInt32 = 8

    public static func build(path: String, debugFilePath: String? = nil) throws -> UnwindTableBuild {
        try withMappedFile(path) { bytes in
            if let debugFilePath {
                return try withMappedFile(debugFilePath) { try build(elf: bytes, debugFile: $0) }
            }
            return try build(elf: bytes, debugFile: nil)
        }
    }

    /// As `build(path:)`, with the file's separate debug file when one of this build with a `.debug_frame`
    /// is found where gdb and perf look (by build id under `debugRoots`, or by `.gnu_debuglink`), in the
    /// process's root first when `path` is read through /proc/PID/root. Its FDEs add code the file's
    /// `.eh_frame` does not cover (hand-written assembly, code built without unwind tables).
    public static func build(path: String, debugRoots: [String]) throws -> UnwindTableBuild {
        try withMappedFile(path) { bytes in
            let (root, inner) = splitProcRoot(path)
            let finder = DebugFileFinder(debugRoots: debugRoots)
            if let elf = try? ELFFile(bytes: bytes, symbols: false),
               let debug = finder.findPath(for: elf, binaryPath: inner, rootPrefix: root,
                                           accept: { $0.sections.contains { $0.name == CFISection.debugFrame.rawValue } }) {
                var b = try withMappedFile(debug) { try build(elf: bytes, debugFile: $0) }
                b.debugFile = debug
                return b
            }
            return try build(elf: bytes, debugFile: nil)
        }
    }

    /// "/proc/PID/root" and the path inside it, or nil and the path itself.
    static func splitProcRoot(_ path: String) -> (root: String?, path: String) {
        let parts = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "proc", Int(parts[2]) != nil,
              parts[3].hasPrefix("root/") else { return (nil, path) }
        let root = "/proc/\(parts[2])/root"
        return (root, String(path.dropFirst(root.count)))
    }

    public static func build(elf bytes: UnsafeRawBufferPointer,
                             debugFile: UnsafeRawBufferPointer? = nil) throws -> UnwindTableBuild {
        let elf = try ELFFile(bytes: bytes, symbols: false)
        guard elf.machine == EM_X86_64 else { throw SymbolizeError("not an x86-64 ELF file (e_machine \(elf.machine))") }
        var result = UnwindTableBuild(table: UnwindTable(rows: []))
        result.segments = elf.loadSegments
        let code = elf.loadSegments.filter { $0.isExecutable && $0.vaddr &+ $0.memsz >= $0.vaddr }
            .map { $0.vaddr..<($0.vaddr &+ $0.memsz) }

        var ranges: [FunctionRows] = []
        ranges += entries(.ehFrame, in: elf, bytes: bytes, label: ".eh_frame", into: &result)
        let ehRanges = ranges.map { $0.begin..<$0.end }.sorted { $0.lowerBound < $1.lowerBound }
        var debugRanges = entries(.debugFrame, in: elf, bytes: bytes, label: ".debug_frame", into: &result)
        if let debugFile, let debugELF = try? ELFFile(bytes: debugFile, symbols: false) {
            debugRanges += entries(.debugFrame, in: debugELF, bytes: debugFile, label: ".debug_frame (debug file)",
                                   into: &result)
        }
        for r in debugRanges {
            if overlaps(r.begin..<r.end, ehRanges) { result.skippedFDEs += 1 } else { ranges.append(r) }
        }

        ranges = ranges.filter { r in
            let inCode = r.end > r.begin && code.contains { $0.lowerBound <= r.begin && r.end <= $0.upperBound }
            if !inCode { result.skippedFDEs += 1 }
            return inCode
        }
        ranges.sort { $0.begin != $1.begin ? $0.begin < $1.begin : $0.end > $1.end }

        var table = UnwindTable(rows: [])
        var coveredEnd: UInt64 = 0
        for r in ranges {
            guard r.end > coveredEnd else { result.skippedFDEs += 1; continue }  // inside an earlier FDE
            guard r.end <= UInt64(UInt32.max) else {
                throw SymbolizeError("code at 0x\(String(r.begin, radix: 16)) is beyond the table's 32-bit offsets")
            }
            let start = max(r.begin, coveredEnd)  // an overlap keeps the earlier FDE's rows
            // The row in effect at `start`, then every later one.
            var inEffect = r.rows.first!
            for row in r.rows where row.pc <= start { inEffect = row }
            table.append(UnwindRow(pc: UInt32(start), inEffect))
            for row in r.rows where row.pc > start { table.append(UnwindRow(pc: UInt32(row.pc), row)) }
            table.append(UnwindRow(pc: UInt32(r.end), cfa: .uncovered))
            coveredEnd = r.end
            result.fdes += 1
            if r.failed { result.failedFDEs += 1 }
        }
        result.table = table
        return result
    }

    /// The share of code bytes whose CFA comes from rbp, over a sample of the file's `.eh_frame` FDEs
    /// spread evenly across it (every n-th, n the count over `sample` rounded down: all of them below twice
    /// `sample`, else `sample` to twice that); nil when it has none. `auto` tells a file built with frame pointers by
    /// this without building its table: ktrace's own binary (Swift, frame pointers) took 540 ms to build
    /// here, only to be left to its frame pointers.
    public static func rbpShare(path: String, sample: Int = 2048) throws -> Double? {
        try withMappedFile(path) { try rbpShare(elf: $0, sample: sample) }
    }

    public static func rbpShare(elf bytes: UnsafeRawBufferPointer, sample: Int = 2048) throws -> Double? {
        let elf = try ELFFile(bytes: bytes, symbols: false)
        guard elf.machine == EM_X86_64 else { throw SymbolizeError("not an x86-64 ELF file (e_machine \(elf.machine))") }
        var scratch = UnwindTableBuild(table: UnwindTable(rows: []))
        // Bytes of code summed as Double: a crafted file's FDEs can cover more than 2^64 bytes in all, and
        // a UInt64 sum trapped on it (found by scripts/fuzz-parsers.sh).
        var rbp = 0.0, all = 0.0
        for f in entries(.ehFrame, in: elf, bytes: bytes, label: ".eh_frame", into: &scratch, sample: sample) {
            for (i, row) in f.rows.enumerated() {
                let end = i + 1 < f.rows.count ? f.rows[i + 1].pc : f.end
                guard end > row.pc else { continue }
                all += Double(end - row.pc)
                if case .register(DWARFRegister.rbp, _) = row.cfa { rbp += Double(end - row.pc) }
            }
        }
        return all == 0 ? nil : rbp / all
    }

    /// One FDE's range and rows (never empty).
    struct FunctionRows {
        var begin, end: UInt64
        var rows: [CFIRow]
        var failed: Bool
    }

    static func overlaps(_ r: Range<UInt64>, _ sorted: [Range<UInt64>]) -> Bool {
        // The first range ending after r.lowerBound, by binary search.
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid].upperBound <= r.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        // Ranges sorted by start need not be sorted by end: look at a few from there.
        for i in lo..<min(sorted.count, lo + 4) where sorted[i].overlaps(r) { return true }
        return false
    }

    /// The rows of the section's FDEs; `sample`: of every n-th, n the count over `sample` rounded down.
    static func entries(_ kind: CFISection, in elf: ELFFile, bytes: UnsafeRawBufferPointer, label: String,
                        into result: inout UnwindTableBuild, sample: Int? = nil) -> [FunctionRows] {
        guard let s = elf.sections.first(where: { $0.name == kind.rawValue }), s.type != SHT_NOBITS, s.size > 0 else {
            return []
        }
        guard s.offset <= UInt64(bytes.count), s.size <= UInt64(bytes.count) - s.offset else {
            result.problems.append("\(label): runs past the end of the file")
            return []
        }
        let stored = UnsafeRawBufferPointer(rebasing: bytes[Int(s.offset)..<Int(s.offset + s.size)])
        guard s.flags & SHF_COMPRESSED != 0 else {
            return entries(kind, section: stored, header: s, in: elf, label: label, into: &result, sample: sample)
        }
        do {
            let inflated = try decompressed(stored)
            return inflated.withUnsafeBytes {
                entries(kind, section: $0, header: s, in: elf, label: label + " (compressed)", into: &result, sample: sample)
            }
        } catch {
            result.problems.append("\(label): \(error)")
            return []
        }
    }

    /// Largest section inflated: far above any real `.debug_frame` (a 100 MB program's is a few MB), and
    /// a bound on what a crafted header can make ktrace allocate.
    static let maxInflated: UInt64 = 256 << 20

    /// The contents of an SHF_COMPRESSED section (ELF gABI: an Elf64_Chdr, then the stream). Only zlib,
    /// which binutils' `--compress-debug-sections` (Debian's dh_strip) writes. The size the header claims
    /// is allocated only if deflate could produce it from the bytes there (at most 1032 to 1), and the
    /// stream must come out exactly that long.
    static func decompressed(_ stored: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard stored.count >= 24 else { throw SymbolizeError("compressed, but too short for its header") }
        let type = stored.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let size = stored.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        guard type == 1 else { throw SymbolizeError("compressed with type \(type) (only zlib, 1, is read)") }
        let body = UnsafeRawBufferPointer(rebasing: stored[24...])
        guard size > 0, size <= maxInflated, size <= UInt64(body.count) * 1032 else {
            throw SymbolizeError("compressed, claims \(size) bytes from \(body.count): refused")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = out.withUnsafeMutableBytes { kt_inflate_zlib(body.baseAddress, body.count, $0.baseAddress, $0.count) }
        guard rc == 0 else { throw SymbolizeError("compressed, and the zlib stream does not inflate to the \(size) bytes its header says") }
        return out
    }

    private static func entries(_ kind: CFISection, section: UnsafeRawBufferPointer, header s: ELFSection, in elf: ELFFile,
                                label: String, into result: inout UnwindTableBuild, sample: Int?) -> [FunctionRows] {
        let text = elf.sections.first { $0.name == ".text" }?.addr
        let got = elf.sections.first { $0.name == ".got" }?.addr
        let parsed = CallFrameEntries(bytes: section, section: kind, address: s.addr, textAddress: text, dataAddress: got)
        result.sections.append(label)
        for p in parsed.problems { result.problems.append("\(label): \(p)") }
        if parsed.problemCount > parsed.problems.count {
            result.problems.append("\(label): \(parsed.problemCount - parsed.problems.count) more malformed entries")
        }
        let bases = PointerEncoding.Bases(section: s.addr, text: text, data: got)
        var initial: [Int: CFAProgram.State?] = [:]
        var out: [FunctionRows] = []
        let step = sample.map { max(1, parsed.fdes.count / max($0, 1)) } ?? 1
        out.reserveCapacity(parsed.fdes.count / step + 1)
        for fde in stride(from: 0, to: parsed.fdes.count, by: step).lazy.map({ parsed.fdes[$0] }) where fde.pcEnd > fde.pcBegin {
            let cie = parsed.cies[fde.cieOffset]!
            let program = CFAProgram(cie: cie, bytes: section, bases: bases)
            if initial[cie.offset] == nil { initial[cie.offset] = .some(try? program.initialState()) }
            var rows: [CFIRow] = []
            var failed = false
            if let state = initial[cie.offset]!, (try? program.rows(for: fde, initial: state, into: &rows)) != nil {
                // rows filled
            } else {
                failed = true
            }
            if failed || rows.isEmpty {
                rows = [CFIRow(pc: fde.pcBegin, cfa: .expression, rbp: .unspecified, ra: .unspecified, rsp: .unspecified)]
            }
            out.append(FunctionRows(begin: fde.pcBegin, end: fde.pcEnd, rows: rows, failed: failed))
        }
        return out
    }
}
