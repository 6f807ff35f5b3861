import Foundation
import Testing
@testable import KtraceCore

// Fixtures (recorded on Debian 12, gcc 12.2, binutils 2.40; the commands are in unwind-fixture.c):
//   unwind-o2.elf                  cc -O2 -fomit-frame-pointer -o unwind-o2.elf unwind-fixture.c
//   unwind-debugframe.elf          cc -O2 -fomit-frame-pointer -fno-asynchronous-unwind-tables -g
//                                     -o unwind-debugframe.elf unwind-fixture.c   (its functions in .debug_frame,
//                                     crt1's _start and the PLT in .eh_frame)
//   unwind-debugframe.debug        objcopy --only-keep-debug --compress-debug-sections=zlib unwind-debugframe.elf
//                                     unwind-debugframe.debug   (binutils 2.40: its .debug_frame SHF_COMPRESSED, zlib)
//   unwind-debugframe-stripped.elf objcopy --strip-debug --add-gnu-debuglink=unwind-debugframe.debug
//                                     unwind-debugframe.elf unwind-debugframe-stripped.elf
//   unwind-o2.frames.txt           readelf --debug-dump=frames-interp unwind-o2.elf
//   unwind-debugframe.frames.txt   readelf --debug-dump=frames-interp unwind-debugframe.elf

enum UnwindFixtures {
    static func url(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    }

    /// The executable segments and `.plt*` sections of an ELF file, for the readelf comparison.
    static func codeAndPLT(_ path: String) throws -> (code: [Range<UInt64>], plt: [Range<UInt64>]) {
        let elf = try ELFFile(path: path)
        let code = elf.loadSegments.filter(\.isExecutable).map { $0.vaddr..<($0.vaddr + $0.memsz) }
        let plt = elf.sections.filter { $0.name.hasPrefix(".plt") }.map { $0.addr..<($0.addr + $0.size) }
        return (code, plt)
    }

    /// Builds the table of `elf` and compares it with readelf's rows (`frames`: readelf's output).
    static func check(elf path: String, frames: String) throws -> (build: UnwindTableBuild, checked: Int) {
        let build = try UnwindTableBuilder.build(path: path)
        let (code, plt) = try codeAndPLT(path)
        let readelf = ReadelfFrames(frames)
        #expect(readelf.fdes.count > 0, "readelf printed no FDE for \(path)")
        let (checked, mismatches) = readelf.compare(with: build.table, code: code, plt: plt)
        #expect(mismatches.isEmpty, "\(path): \(mismatches.joined(separator: "\n"))")
        return (build, checked)
    }
}

@Suite struct UnwindTableTests {
    // MARK: golden: recorded ELF files against recorded readelf output (no tools needed)

    @Test func ehFrameMatchesReadelf() throws {
        let elf = try UnwindFixtures.url("unwind-o2.elf").path
        let frames = try String(contentsOf: UnwindFixtures.url("unwind-o2.frames.txt"), encoding: .utf8)
        let (build, checked) = try UnwindFixtures.check(elf: elf, frames: frames)
        #expect(checked > 150)
        #expect(build.problems.isEmpty, "\(build.problems)")
        #expect(build.sections == [".eh_frame"])
        #expect(build.failedFDEs == 0)
        let t = build.table
        // The PLT (0x1020..0x10f0): PLT0 as rsp+16/24, then the entries' expression.
        #expect(t.lookup(0x1020) == UnwindRow(pc: 0x1020, cfa: .rsp, cfaOffset: 16))
        #expect(t.lookup(0x1030) == UnwindRow(pc: 0x1030, cfa: .plt, cfaOffset: 8))
        // _start: the return address is undefined, the end of the stack.
        #expect(t.lookup(0x1170)?.cfa == .endOfStack)
        // level2 (alloca): rbp-based CFA with rbp saved at CFA-16.
        #expect(t.lookup(0x16e0) == UnwindRow(pc: 0x16d9, cfa: .rbp, cfaOffset: 16, rbp: .saved, rbpSlot: 2))
        // Rows are strictly increasing, adjacent rules differ, the last row ends the table.
        for (a, b) in zip(t.rows, t.rows.dropFirst()) {
            #expect(a.pc < b.pc)
            #expect(!a.sameRule(as: b))
        }
        #expect(t.rows.last?.cfa == .uncovered)
        #expect(t.coverage.supportedShare == 1, "\(t.coverage)")
    }

    @Test func debugFrameMatchesReadelf() throws {
        let elf = try UnwindFixtures.url("unwind-debugframe.elf").path
        let frames = try String(contentsOf: UnwindFixtures.url("unwind-debugframe.frames.txt"), encoding: .utf8)
        let (build, checked) = try UnwindFixtures.check(elf: elf, frames: frames)
        #expect(checked > 150)
        #expect(build.sections == [".eh_frame", ".debug_frame"])
        #expect(build.problems.isEmpty, "\(build.problems)")
        // The same functions as the .eh_frame build: level2 at the same address, same rows.
        let eh = try UnwindTableBuilder.build(path: UnwindFixtures.url("unwind-o2.elf").path).table
        #expect(build.table.lookup(0x16e0) == eh.lookup(0x16e0))
        // A separate debug file supplies .debug_frame the same way (here: the file itself).
        let split = try UnwindTableBuilder.build(path: elf, debugFilePath: elf)
        #expect(split.table == build.table)
        #expect(split.sections.last == ".debug_frame (debug file)")
    }

    /// A stripped binary whose functions are only in its debug file's compressed `.debug_frame`, as a
    /// Debian -dbgsym file holds it: found by build id under a debug root and by `.gnu_debuglink` beside
    /// the binary, inflated, and the same table as the unstripped file's. Fails if the debug file is not
    /// found, the section is not inflated (no level2 row), or inflated wrong (other rows).
    @Test func compressedDebugFrameFromTheDebugFile() throws {
        let full = try UnwindTableBuilder.build(path: UnwindFixtures.url("unwind-debugframe.elf").path)
        let stripped = try UnwindFixtures.url("unwind-debugframe-stripped.elf").path
        let debug = try UnwindFixtures.url("unwind-debugframe.debug").path
        // Alone (no debug file looked for), the stripped file has only crt1's and the PLT's FDEs: level2
        // has no row.
        let alone = try UnwindTableBuilder.build(path: stripped)
        #expect(alone.debugFile == nil && alone.table.lookup(0x16e0) != full.table.lookup(0x16e0))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kt-debugroot-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let id = try #require(try ELFFile(path: stripped).buildID)
        let byID = dir.appendingPathComponent(".build-id/\(id.prefix(2))")
        try FileManager.default.createDirectory(at: byID, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: debug, toPath: byID.appendingPathComponent("\(id.dropFirst(2)).debug").path)
        let viaID = try UnwindTableBuilder.build(path: stripped, debugRoots: [dir.path])
        #expect(viaID.debugFile?.hasPrefix(dir.path) == true)
        #expect(viaID.sections.contains(".debug_frame (debug file) (compressed)"), "\(viaID.sections)")
        #expect(viaID.problems.isEmpty, "\(viaID.problems)")
        #expect(viaID.table == full.table)

        // By .gnu_debuglink: the debug file beside the binary (the fixtures' own directory).
        let viaLink = try UnwindTableBuilder.build(path: stripped, debugRoots: ["/nonexistent"])
        #expect(viaLink.debugFile == debug && viaLink.table == full.table)
    }

    /// A compressed section that lies about itself is refused with a reason, never inflated past the size
    /// it claims, and never allocated beyond what its bytes could inflate to.
    @Test func compressedSectionsThatLieAreRefused() throws {
        func header(type: UInt32, size: UInt64) -> [UInt8] {
            withUnsafeBytes(of: type.littleEndian, Array.init) + [0, 0, 0, 0] + withUnsafeBytes(of: size.littleEndian, Array.init)
                + withUnsafeBytes(of: UInt64(8).littleEndian, Array.init)
        }
        // "hello" as a zlib stream (zlib.compress(b"hello")).
        let hello: [UInt8] = [0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02, 0x15]
        func inflate(_ b: [UInt8]) -> Result<[UInt8], Error> {
            Result { try b.withUnsafeBytes { try UnwindTableBuilder.decompressed($0) } }
        }
        #expect(try inflate(header(type: 1, size: 5) + hello).get() == Array("hello".utf8))
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 1, size: 4) + hello).get() }   // longer than said
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 1, size: 6) + hello).get() }   // shorter
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 1, size: 5) + hello.dropLast(3)).get() } // cut
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 2, size: 5) + hello).get() }   // zstd
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 1, size: 1 << 40) + hello).get() } // huge
        #expect(throws: SymbolizeError.self) { try inflate(header(type: 1, size: 13 * 1032 + 1) + hello).get() } // ratio
        #expect(throws: SymbolizeError.self) { try inflate(Array(header(type: 1, size: 5).prefix(20))).get() }
    }

    @Test func rowEncodingRoundTrips() throws {
        let t = try UnwindTableBuilder.build(path: UnwindFixtures.url("unwind-o2.elf").path).table
        let bytes = t.encoded
        #expect(bytes.count == t.rows.count * UnwindRow.size)
        for (i, row) in t.rows.enumerated() {
            #expect(UnwindRow(encoded: bytes[i * 8..<(i + 1) * 8]) == row)
        }
        // The layout, byte by byte: pc, then rule = cfa | rbp << 3 | slot << 5 | cfa_off << 13.
        let row = UnwindRow(pc: 0x1234_5678, cfa: .rbp, cfaOffset: 70000, rbp: .saved, rbpSlot: 2)
        #expect(row.rule == 2 | 1 << 3 | 2 << 5 | 70000 << 13)
        #expect(row.encoded == [0x78, 0x56, 0x34, 0x12, 0x4a, 0x00, 0x2e, 0x22])
        #expect(UnwindRow(encoded: row.encoded) == row)
        #expect(UnwindRow(encoded: [0, 0, 0]) == nil)
    }

    @Test func lookupAgreesWithLinearSearch() throws {
        let t = try UnwindTableBuilder.build(path: UnwindFixtures.url("unwind-o2.elf").path).table
        let first = UInt64(t.rows.first!.pc), last = UInt64(t.rows.last!.pc)
        for pc in (first - 4)...(last + 4) {
            #expect(t.lookup(pc) == t.rows.last { UInt64($0.pc) <= pc })
        }
        #expect(t.lookup(0) == nil)
        #expect(t.lookup(UInt64(UInt32.max) + 1) == nil)
        #expect(t.maxLookupSteps == Int(ceil(log2(Double(t.rows.count + 1)))))
    }

    /// The linker's index (.eh_frame_hdr) lists exactly the FDEs the walk of .eh_frame finds.
    static func headerAgreesWithWalk(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let elf = try ELFFile(data: data)
        let hdr = try #require(elf.sections.first { $0.name == ".eh_frame_hdr" })
        let eh = try #require(elf.sections.first { $0.name == ".eh_frame" })
        try data.withUnsafeBytes { raw in
            let h = try #require(EHFrameHeader(bytes: UnsafeRawBufferPointer(rebasing: raw[Int(hdr.offset)..<Int(hdr.offset + hdr.size)]),
                                               address: hdr.addr))
            #expect(h.ehFrame == eh.addr)
            let e = CallFrameEntries(bytes: UnsafeRawBufferPointer(rebasing: raw[Int(eh.offset)..<Int(eh.offset + eh.size)]),
                                     section: .ehFrame, address: eh.addr)
            #expect(e.problemCount == 0, "\(e.problems)")
            #expect(h.entries.count == e.fdes.count)
            #expect(h.entries.map(\.pc) == e.fdes.map(\.pcBegin).sorted())
            #expect(Set(h.entries.map { Int($0.fde - eh.addr) }) == Set(e.fdes.map(\.offset)))
        }
    }

    @Test func ehFrameHeaderListsTheSameFDEs() throws {
        try Self.headerAgreesWithWalk(UnwindFixtures.url("unwind-o2.elf").path)
        if FileManager.default.fileExists(atPath: "/lib/x86_64-linux-gnu/libc.so.6") {
            try Self.headerAgreesWithWalk("/lib/x86_64-linux-gnu/libc.so.6")
        }
    }

    // MARK: hand-made CFI

    /// A minimal .eh_frame: one CIE (zR, sdata4|pcrel) and one FDE over [0x1000, 0x1100) whose program is
    /// `program`, inside an ELF-less parse.
    static func rows(program: [UInt8], cieInitial: [UInt8] = [0x0c, 0x07, 0x08, 0x90, 0x01]) -> (rows: [CFIRow], failed: Bool) {
        var cie: [UInt8] = [0, 0, 0, 0, 1] + Array("zR".utf8) + [0, 1, 0x78, 16, 1, 0x1b] + cieInitial
        while (cie.count + 4) % 8 != 0 { cie.append(0) }
        let cieBytes = le32(UInt32(cie.count)) + cie
        let fdeStart = cieBytes.count
        var fde: [UInt8] = le32(UInt32(fdeStart + 4))  // CIE pointer: back to offset 0
        // pc begin: sdata4 pcrel, section at address 0: 0x1000 - (offset of this field).
        fde += le32(UInt32(truncatingIfNeeded: 0x1000 - (fdeStart + 8)))
        fde += le32(0x100) + [0] + program
        let section = cieBytes + le32(UInt32(fde.count)) + fde + le32(0)
        return section.withUnsafeBytes { raw in
            let e = CallFrameEntries(bytes: raw, section: .ehFrame, address: 0)
            guard let f = e.fdes.first, let c = e.cies[f.cieOffset] else { return ([], true) }
            let p = CFAProgram(cie: c, bytes: raw, bases: .init(section: 0))
            var rows: [CFIRow] = []
            do {
                try p.rows(for: f, initial: p.initialState(), into: &rows)
                return (rows, false)
            } catch { return (rows, true) }
        }
    }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } }

    @Test func rememberRestoreStateAndRegisterRules() {
        // push rbp; mov rsp,rbp; ...; remember; leave-like; restore; the end.
        let (rows, failed) = Self.rows(program: [
            0x41, 0x0e, 16, 0x86, 2,    // +1: CFA rsp+16, rbp at CFA-16
            0x43, 0x0d, 6,              // +3: CFA rbp+16
            0x44, 0x0a,                 // +4: remember
            0x0c, 7, 8, 0xc6,           //     CFA rsp+8, rbp restored
            0x41, 0x0b,                 // +1: back to rbp+16, rbp at CFA-16
            0x41, 0x07, 6,              // +1: rbp undefined
            0x41, 0x09, 16, 0,          // +1: ra in rax
        ])
        #expect(!failed)
        let compact = rows.map { UnwindRow(pc: UInt32($0.pc), $0) }
        #expect(compact == [
            UnwindRow(pc: 0x1000, cfa: .rsp, cfaOffset: 8),
            UnwindRow(pc: 0x1001, cfa: .rsp, cfaOffset: 16, rbp: .saved, rbpSlot: 2),
            UnwindRow(pc: 0x1004, cfa: .rbp, cfaOffset: 16, rbp: .saved, rbpSlot: 2),
            UnwindRow(pc: 0x1008, cfa: .rsp, cfaOffset: 8),
            UnwindRow(pc: 0x1009, cfa: .rbp, cfaOffset: 16, rbp: .saved, rbpSlot: 2),
            UnwindRow(pc: 0x100a, cfa: .rbp, cfaOffset: 16, rbp: .undefined),
            UnwindRow(pc: 0x100b, cfa: .raElsewhere),
        ])
    }

    @Test func pltExpressionsAreRecognisedOthersAreNot() {
        let plt: [UInt8] = [0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22]
        var ibt = plt; ibt[6] = 0x39
        var x32 = plt; x32[6] = 0x3a  // x32's IBT PLT: not an x86-64 layout
        let deref: [UInt8] = [0x77, 0xa0, 0x01, 0x06]  // glibc's __restore_rt: *(rsp+160)
        for (expr, want) in [(plt, UnwindRow.CFA.plt), (ibt, .pltIBT), (x32, .unsupported), (deref, .unsupported)] {
            let (rows, failed) = Self.rows(program: [0x0f, UInt8(expr.count)] + expr)
            #expect(!failed)
            #expect(rows.map { UnwindRow(pc: UInt32($0.pc), $0).cfa } == [want])
        }
        // rsp+8 plus 8 from the 11th byte of each 16-byte PLT entry.
        let u = ReferenceUnwinder(mappings: [UnwindMapping(start: 0x1000, end: 0x2000, bias: 0, table:
            UnwindTable(rows: [UnwindRow(pc: 0x1000, cfa: .plt, cfaOffset: 8), UnwindRow(pc: 0x1100, cfa: .uncovered)]))])
        let mem: [UInt64: UInt64] = [0x7000 + 8 - 8: 0xaaaa, 0x7000 + 16 - 8: 0xbbbb]
        #expect(u.unwind(rip: 0x1010, rsp: 0x7000, rbp: nil) { mem[$0] }.frames.prefix(2) == [0x1010, 0xaaaa])
        #expect(u.unwind(rip: 0x101b, rsp: 0x7000, rbp: nil) { mem[$0] }.frames.prefix(2) == [0x101b, 0xbbbb])
    }

    /// A row the walk cannot follow (glibc's __vfork after its syscall: the return address in rdi) falls
    /// back to frame pointers, as the BPF walker does, instead of ending the stack there: the callers of a
    /// vfork were lost with tables and found with frame pointers alone. Without the fallback it stops.
    @Test func unfollowableRowsFallBackToFramePointers() {
        let table = UnwindTable(rows: [UnwindRow(pc: 0x1000, cfa: .raElsewhere), UnwindRow(pc: 0x1100, cfa: .uncovered)])
        let m = [UnwindMapping(start: 0x1000, end: 0x2000, bias: 0, table: table)]
        // rbp 0x7100: [rbp] the caller's rbp (0), [rbp+8] its return address.
        let mem: [UInt64: UInt64] = [0x7100: 0, 0x7108: 0x5555]
        let hybrid = ReferenceUnwinder(mappings: m).unwind(rip: 0x1008, rsp: 0x7000, rbp: 0x7100) { mem[$0] }
        #expect(hybrid.frames.prefix(2) == [0x1008, 0x5555] && hybrid.viaFramePointer.first == true, "\(hybrid)")
        // 0x5555 has no row, so its caller is sought through rbp, now 0: the chain's end, not a failed read.
        #expect(hybrid.frames == [0x1008, 0x5555] && hybrid.stop == .endOfStack, "\(hybrid)")
        let strict = ReferenceUnwinder(mappings: m, framePointerFallback: false).unwind(rip: 0x1008, rsp: 0x7000, rbp: 0x7100) { mem[$0] }
        #expect(strict.frames == [0x1008] && strict.stop == .unsupported(.raElsewhere), "\(strict)")
    }

    /// scripts/fuzz-parsers.sh's first crash (2026-12-07, kept as fuzz-rbpshare-overflow.elf): FDEs whose
    /// ranges add up to more than 2^64 bytes trapped `rbpShare`'s UInt64 sum. It must return a share in
    /// [0, 1] or none, and building the table must not crash either.
    @Test func rbpShareSurvivesRangesPast64Bits() throws {
        let path = try UnwindFixtures.url("fuzz-rbpshare-overflow.elf").path
        let share = try? UnwindTableBuilder.rbpShare(path: path)
        if let s = share ?? nil { #expect(s >= 0 && s <= 1, "\(s)") }
        _ = try? UnwindTableBuilder.build(path: path)
    }

    @Test func argsSizeNopAndAdvanceVariants() {
        let (rows, failed) = Self.rows(program: [
            0x00, 0x2e, 0x10,           // nop, GNU_args_size 16
            0x02, 0x10, 0x0e, 24,       // advance_loc1 16: rsp+24
            0x03, 0x10, 0x00, 0x0e, 32, // advance_loc2 16: rsp+32
            0x04, 0x10, 0, 0, 0, 0x13, 0x7e,  // advance_loc4 16: def_cfa_offset_sf -2*-8 = 16
            0x08, 16,                   // ra same value: no longer at CFA-8
        ])
        #expect(!failed)
        #expect(rows.map { UnwindRow(pc: UInt32($0.pc), $0) } == [
            UnwindRow(pc: 0x1000, cfa: .rsp, cfaOffset: 8), UnwindRow(pc: 0x1010, cfa: .rsp, cfaOffset: 24),
            UnwindRow(pc: 0x1020, cfa: .rsp, cfaOffset: 32), UnwindRow(pc: 0x1030, cfa: .raElsewhere),
        ])
    }

    @Test func unknownOpcodesAndTruncationFailCleanly() {
        #expect(Self.rows(program: [0x41, 0x3c]).failed)          // an opcode no one defines
        #expect(Self.rows(program: [0x0b]).failed)                // restore_state without remember
        #expect(Self.rows(program: [0x0f, 0x40, 0x77]).failed)    // expression block past the end
        #expect(Self.rows(program: Array(repeating: 0x0a, count: 100)).failed)  // remember nested too deep
    }

    /// Corrupted .eh_frame bytes never crash the builder, and every table it returns is well formed.
    @Test func corruptedCFINeverCrashes() throws {
        let data = try Data(contentsOf: UnwindFixtures.url("unwind-o2.elf"))
        let elf = try ELFFile(data: data)
        let eh = try #require(elf.sections.first { $0.name == ".eh_frame" })
        var rng = SystemRandomNumberGenerator()
        let bytes = [UInt8](data)
        var built = 0
        for round in 0..<3000 {
            var mutated = bytes
            for _ in 0..<(1 + round % 8) {
                let at = Int(eh.offset) + Int.random(in: 0..<Int(eh.size), using: &rng)
                mutated[at] = round % 3 == 0 ? UInt8.random(in: 0...255, using: &rng) : mutated[at] ^ (1 << UInt8(round % 8))
            }
            if let b = try? mutated.withUnsafeBytes({ try UnwindTableBuilder.build(elf: $0) }) {
                built += 1
                for (x, y) in zip(b.table.rows, b.table.rows.dropFirst()) { #expect(x.pc < y.pc) }
            }
        }
        #expect(built > 0)
    }
}
