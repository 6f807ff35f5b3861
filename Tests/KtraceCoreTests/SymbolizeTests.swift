import Foundation
import Testing
@testable import KtraceCore

// Fixtures (recorded once on a 6.18 x86-64 VM, Debian 12 gcc 12.2):
//   symbolize-kallsyms.txt         head -5, ~300 lines around net_rx_action, the lines around _etext,
//                                  and the only module line (`grep '\[' /proc/kallsyms`) of /proc/kallsyms
//   symbolize-kallsyms-hidden.txt  the same file read as uid 65534 with kptr_restrict=0 and
//                                  perf_event_paranoid=2: every address is 0
//   symbolize-maps.txt             /proc/PID/maps of `sleep 30`
//   symbolize-prog.elf             gcc -O1 -g -fno-omit-frame-pointer -pie -fPIE -o symbolize-prog.elf symbolize-prog.c
//                                  && strip --strip-debug symbolize-prog.elf      (keeps .symtab)
//   symbolize-prog.debug           objcopy --only-keep-debug symbolize-prog.elf symbolize-prog.debug
//   symbolize-prog-stripped.elf    strip --strip-all -o symbolize-prog-stripped.elf symbolize-prog.elf
//                                  && objcopy --add-gnu-debuglink=symbolize-prog.debug symbolize-prog-stripped.elf
// `nm -S symbolize-prog.elf` at creation time (addresses below come from it):
//   0000000000001000                  T _init            (size 0)
//   0000000000001080 0000000000000022 T _start
//   00000000000010b0                  t deregister_tm_clones (size 0)
//   0000000000001180 0000000000000006 T leaf_add
//   00000000000011c0 000000000000004a t middle_static
//   0000000000001240 000000000000000e W weak_entry
//   0000000000001280 000000000000000e T exported_alias   } same address: the global alias wins
//   0000000000001280 000000000000000e t local_impl       }
//   000000000000128e 0000000000000046 T main
// Build ID 883bcb3cbd97a15c94cdeff9666be57769f27786; .gnu_debuglink CRC 0x3815edf2.

@Suite struct SymbolizeTests {
    static func fixtureURL(_ name: String, _ ext: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"))
    }
    static func text(_ name: String) throws -> String {
        try String(contentsOf: fixtureURL(name, "txt"), encoding: .utf8)
    }

    // MARK: kallsyms

    /// PLT entries are named as objdump -d and perf name them (objdump's list for the fixture, recorded;
    /// .plt.got's __cxa_finalize@plt is named by objdump from .rela.dyn, which ktrace leaves unnamed).
    @Test func pltEntriesNamed() throws {
        let elf = try ELFFile(path: try UnwindFixtures.url("unwind-o2.elf").path)
        let want: [(UInt64, String)] = [(0x1030, "qsort@plt"), (0x1040, "fread@plt"), (0x1050, "fclose@plt"), (0x1060, "snprintf@plt"),
            (0x1070, "memset@plt"), (0x1080, "fgets@plt"), (0x1090, "strcmp@plt"), (0x10a0, "fprintf@plt"), (0x10b0, "memcpy@plt"),
            (0x10c0, "__isoc99_sscanf@plt"), (0x10d0, "fopen@plt"), (0x10e0, "fwrite@plt")]
        #expect(elf.pltSymbols.map(\.value) == want.map(\.0) && elf.pltSymbols.map(\.name) == want.map(\.1), "\(elf.pltSymbols)")
        let table = SymbolTable(elf.symtab + elf.pltSymbols)
        #expect(table.lookup(0x1035) == "qsort@plt" && table.lookup(0x1020) == nil)  // .plt's header: no entry
    }

    @Test func kallsymsNamesAndBounds() throws {
        let k = try KernelSymbols(kallsyms: Self.text("symbolize-kallsyms"))
        #expect(k.count > 300)
        #expect(k.name(for: 0xffff_ffff_81e6_6b00) == "net_rx_action")
        #expect(k.name(for: 0xffff_ffff_81e6_6b42) == "net_rx_action")
        #expect(k.name(for: 0xffff_ffff_81e6_6dff) == "net_rx_action")
        #expect(k.name(for: 0xffff_ffff_81e6_6e00) == "__pfx_busy_poll_stop.constprop.0")
        #expect(k.name(for: 0xffff_ffff_81e6_6af8) == "__pfx_net_rx_action")
        // Below the first symbol.
        #expect(k.name(for: 0xffff_ffff_80ff_ffff) == nil)
        #expect(k.name(for: 0) == nil)
        // Four names at _stext's address: the function, not the section markers.
        #expect(k.name(for: 0xffff_ffff_8100_0000) == "srso_alias_untrain_ret")
        // The last text symbol stops at _etext; rodata beyond it is nobody's.
        #expect(k.name(for: 0xffff_ffff_8220_90c4) == "__SCT__tp_func_ma_write")
        #expect(k.name(for: 0xffff_ffff_8220_90c8) == nil)
        #expect(k.name(for: 0xffff_ffff_8230_0000) == nil)
        #expect(k.name(for: 0xffff_ffff_8240_0010) == nil)
    }

    /// /proc/kallsyms is read in pieces that split lines anywhere: the result must not depend on where.
    @Test(arguments: [1, 7, 4096])
    func kallsymsReadInPiecesMatchesWhole(piece: Int) throws {
        let text = try Self.text("symbolize-kallsyms")
        let whole = try KernelSymbols(kallsyms: text)
        let bytes = Array(text.utf8)
        var parser = KernelSymbols.Parser(expectedLines: 16)
        var at = 0
        while at < bytes.count {
            let end = min(at + piece, bytes.count)
            bytes[at..<end].withUnsafeBufferPointer { parser.feed($0, final: false) }
            at = end
        }
        [UInt8]().withUnsafeBufferPointer { parser.feed($0, final: true) }
        let pieces = try KernelSymbols(parser, kptrRestrict: nil)
        #expect(pieces.count == whole.count)
        var checked = 0
        for line in text.split(separator: "\n") {
            guard let a = UInt64(line.prefix(16), radix: 16) else { continue }
            for addr in [a, a &+ 1, a &- 1, a &+ 0x800] {
                #expect(pieces.name(for: addr) == whole.name(for: addr), "at \(String(addr, radix: 16))")
                checked += 1
            }
        }
        #expect(checked > 1000)
    }

    @Test func kallsymsModuleSuffix() throws {
        let k = try KernelSymbols(kallsyms: Self.text("symbolize-kallsyms"))
        #expect(k.name(for: 0xffff_ffff_c020_1000) == "ftrace_trampoline [__builtin__ftrace]")
        #expect(k.name(for: 0xffff_ffff_c020_1080) == "ftrace_trampoline [__builtin__ftrace]")
        // Nothing after it to bound it: at most a page.
        #expect(k.name(for: 0xffff_ffff_c020_3000) == nil)
        #expect(k.name(for: .max) == nil)
    }

    @Test func kallsymsModuleBoundaries() throws {
        let text = """
        ffffffff81000000 T _stext
        ffffffff81000100 T start_kernel
        ffffffff81000200 T _etext
        ffffffffc0000000 t alpha_one\t[alpha]
        ffffffffc0000040 T alpha_two\t[alpha]
        ffffffffc0000400 d alpha_data\t[alpha]
        ffffffffc0001000 t beta_one\t[beta]
        ffffffffc0001100 t beta_two\t[beta]
        ffffffffc0009000 t gamma_one\t[gamma]
        ffffffffc0009010 W gamma_weak\t[gamma]
        ffffffffc0009010 t gamma_local\t[gamma]
        """
        let k = try KernelSymbols(kallsyms: text)
        #expect(k.name(for: 0xffff_ffff_8100_0150) == "start_kernel")
        #expect(k.name(for: 0xffff_ffff_8100_0200) == nil)
        #expect(k.name(for: 0xffff_ffff_c000_0020) == "alpha_one [alpha]")
        #expect(k.name(for: 0xffff_ffff_c000_03ff) == "alpha_two [alpha]")
        #expect(k.name(for: 0xffff_ffff_c000_0400) == nil)  // module data is a barrier
        #expect(k.name(for: 0xffff_ffff_c000_10ff) == "beta_one [beta]")
        // beta_two's successor is another module: capped at a page, not stretched to gamma.
        #expect(k.name(for: 0xffff_ffff_c000_1fff) == "beta_two [beta]")
        #expect(k.name(for: 0xffff_ffff_c000_2100) == nil)
        #expect(k.name(for: 0xffff_ffff_c000_9010) == "gamma_weak [gamma]")  // weak over local
        #expect(k.count == 8)
    }

    /// Addresses are kept as low halves with the high half once per run (CompactColumns.swift): names
    /// and bounds hold across a change of high half, and a lookup between runs finds the run below.
    /// Fails if a run boundary is off by one, or a lookup in a high half with no symbol of its own
    /// searches the wrong run.
    @Test func kallsymsAcrossHighHalves() throws {
        let text = """
        00000000fffff000 T low_last
        0000000100000000 T high_first
        0000000100000100 T high_second
        0000000100000180 d high_data
        0000000300000000 T third_only
        """
        let k = try KernelSymbols(kallsyms: text)
        #expect(k.name(for: 0xffff_efff) == nil)
        #expect(k.name(for: 0xffff_f000) == "low_last")
        #expect(k.name(for: 0xffff_ffff) == "low_last")
        #expect(k.name(for: 0x1_0000_0000) == "high_first")
        #expect(k.name(for: 0x1_0000_00ff) == "high_first")
        #expect(k.name(for: 0x1_0000_017f) == "high_second")
        #expect(k.name(for: 0x1_0000_0180) == nil)            // the data barrier
        #expect(k.name(for: 0x2_0000_0000) == nil)            // a high half without symbols: past the barrier
        #expect(k.name(for: 0x3_0000_0fff) == "third_only")   // the last one reaches a page
        #expect(k.name(for: 0x3_0000_1000) == nil)
        #expect(k.address(of: "high_second") == 0x1_0000_0100)
        #expect(k.address(of: "third_only") == 0x3_0000_0000)
    }

    /// The columns read back every value exactly, and `lastIndex(atOrBelow:)` agrees with a binary search
    /// over the plain sorted array, on random addresses in a few high halves (0 and 0xffffffff among them),
    /// with repeats, at and around every address, at the extremes, and in high halves that hold no address
    /// (below, between and above the others: the run below must answer).
    @Test func compactColumnsReadBackExactly() {
        var rng = SeededGenerator(seed: 7)
        let highs: [UInt64] = [1, 3, 0xffff_fffd, 0xffff_ffff]
        var sorted = (0..<3000).map { _ in highs.randomElement(using: &rng)! << 32 | UInt64(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        sorted += sorted.prefix(50)  // repeats
        sorted.sort()
        let column = SortedAddresses(sorted)
        #expect(column.count == sorted.count)
        var queries: [UInt64] = [0, 1, .max, .max - 1, 0x1_0000_0000, 0xffff_ffff, 0xffff_fffe_0000_0000]
        for a in sorted { queries += [a, a &- 1, a &+ 1] }
        for empty: UInt64 in [0, 2, 0x8000_0000, 0xffff_fffe] {
            queries += [empty << 32, empty << 32 | 0xffff_ffff] + (0..<20).map { _ in empty << 32 | UInt64(UInt32.random(in: 0...UInt32.max, using: &rng)) }
        }
        for (i, a) in sorted.enumerated() { #expect(column[i] == a) }
        for q in queries {
            let past = sorted.partitionPoint { $0 > q }
            let want = past > 0 ? past - 1 : nil
            let got = column.lastIndex(atOrBelow: q)
            // Among equal addresses any index holds the same address.
            #expect(got.map { column[$0] } == want.map { sorted[$0] }, "query \(String(q, radix: 16))")
        }
        let values: [UInt32] = [0, 1, 254, 255, 256, 65534, 65535, 65536, .max]
        let bytes = NarrowColumn<UInt8>(values), shorts = NarrowColumn<UInt16>(values)
        for (i, v) in values.enumerated() {
            #expect(bytes[i] == UInt64(v))
            #expect(shorts[i] == UInt64(v))
        }
    }

    /// Names kept as numbered words decode to exactly the bytes given, whatever their underscores (leading,
    /// doubled, trailing, none), with module suffixes, and past the first 127 words (numbers of two bytes
    /// and more); a name is found by its code, and a word in no name finds nothing. Fails if a separator is
    /// dropped or doubled, a module is joined as a word, or a multi-byte number is misread.
    @Test func symbolNamesDecodeExactly() throws {
        var names = SymbolNames()
        var added: [(offset: Int, length: Int, name: String)] = []
        let fixture = try Self.text("symbolize-kallsyms").split(separator: "\n").compactMap { $0.split(separator: " ").dropFirst(2).first }
        let shapes = ["", "_", "__", "a__b_", "_x", "x_", "x.isra.0", "__x64_sys_read", "a_b_c_d_e_f_g"]
        let many = (0..<300).map { "w\($0)_common_\($0 * 7)" }
        for text in shapes + fixture.map(String.init) + many {
            let bytes = Array(text.utf8)
            let at = bytes.withUnsafeBufferPointer { names.append($0, module: nil) }
            added.append((at, names.count - at, text))
        }
        let module = Array("nf_conntrack".utf8), modular = Array("nf_ct_get_tuple".utf8)
        let at = modular.withUnsafeBufferPointer { n in module.withUnsafeBufferPointer { names.append(n, module: $0) } }
        added.append((at, names.count - at, "nf_ct_get_tuple [nf_conntrack]"))
        names.finish()
        for a in added { #expect(names.name(offset: a.offset, length: a.length) == a.name) }
        let w299 = added.first { $0.name == "w299_common_2093" }!
        #expect(names.code(of: Array("w299_common_2093".utf8)).map { names.codes[w299.offset..<w299.offset + w299.length].elementsEqual($0) } == true)
        #expect(names.code(of: Array("sys_zzqx".utf8)) == nil)
    }

    /// The in-place gather that sorts the kallsyms parser's arrays by one order agrees with building a
    /// new array in that order, and leaves the order as it found it (it marks visited entries).
    @Test func gatherInPlaceMatchesMap() {
        var rng = SeededGenerator(seed: 11)
        for n in [0, 1, 2, 3, 17, 1000] {
            let values = (0..<n).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) }
            var order = (0..<Int32(n)).shuffled(using: &rng)
            let want = order.map { values[Int($0)] }, orderBefore = order
            var got = values
            KernelSymbols.Parser.gather(&got, by: &order)
            #expect(got == want)
            #expect(order == orderBefore)
        }
    }

    @Test func kallsymsHiddenThrowsClearMessage() throws {
        let hidden = try Self.text("symbolize-kallsyms-hidden")
        let error = try #require(throws: SymbolizeError.self) { try KernelSymbols(kallsyms: hidden) }
        #expect(error.message.hasPrefix("kernel addresses are hidden (/proc/sys/kernel/kptr_restrict="))
        #expect(error.message.contains("run as root or set kernel.kptr_restrict=0"))
        let two = try #require(throws: SymbolizeError.self) { try KernelSymbols(kallsyms: hidden, kptrRestrict: "2\n") }
        #expect(two.message == "kernel addresses are hidden (/proc/sys/kernel/kptr_restrict=2): run as root or set kernel.kptr_restrict=0")
        #expect(throws: SymbolizeError.self) { try KernelSymbols(kallsyms: "") }
    }

    // MARK: maps

    @Test func parsesRecordedMaps() throws {
        let maps = ProcessMaps.parse(try Self.text("symbolize-maps"))
        #expect(maps.count == 37)
        #expect(maps[0] == MemoryMapping(start: 0x561c_a681_0000, end: 0x561c_a681_2000, offset: 0, perms: "r--p",
                                         inode: 254_651, path: "/usr/bin/sleep", device: "fe:00"))
        let text = try #require(maps.first { $0.path.hasSuffix("libc.so.6") && $0.isExecutable })
        #expect(text.start == 0x7efd_5e14_0000 && text.end == 0x7efd_5e29_6000 && text.offset == 0x26000)
        #expect(maps.contains { $0.path == "" && $0.perms == "rw-p" })
        #expect(maps.contains { $0.path == "[vdso]" && $0.isExecutable })
        #expect(maps.last?.path == "[vsyscall]" && maps.last?.start == 0xffff_ffff_ff60_0000)
    }

    @Test func parsesPathsWithSpaces() {
        let m = ProcessMaps.parse("7f0000000000-7f0000001000 r-xp 00001000 08:02 42   /opt/my app/lib x.so (deleted)\n")
        #expect(m.count == 1)
        #expect(m.first?.path == "/opt/my app/lib x.so (deleted)")
        #expect(ProcessMaps.parse("garbage\n\n").isEmpty)
    }

    /// The byte parser against the String parser it replaced (kept here as the reference), on every
    /// process's maps on this machine and on malformed lines; `executableOnly` is the same list filtered.
    /// Fails if a field is cut at the wrong byte, a path loses its spaces or a line is kept or dropped
    /// differently.
    @Test func byteParserAgreesWithTheStringParser() throws {
        var texts = try [Self.text("symbolize-maps"),
                         "7f00-7f01 r-xp 0 08:02 42\n7f-7g r-xp 0 0:0 1 /x\n7f00-7f01 r-xp 0 0:0 99999999999999999999 /y\n"
                            + " 10-20  r-xp  00 0:0  7  \n10-20 --xp 0 0:0 7 /z\u{00e9} (deleted)\n\n\n-1 r 0 0 0\n"]
        for pid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap({ Int32($0) }) {
            if let d = FileManager.default.contents(atPath: "/proc/\(pid)/maps") { texts.append(String(decoding: d, as: UTF8.self)) }
        }
        #expect(texts.count > 3)
        for text in texts {
            let all = ProcessMaps.parse(text)
            #expect(all == Self.referenceParse(text))
            #expect(ProcessMaps.parse(text, executableOnly: true) == all.filter(\.isExecutable))
        }
    }

    private static func referenceParse(_ text: String) -> [MemoryMapping] {
        var out: [MemoryMapping] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
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

    // MARK: ELF

    @Test func parsesELFFixture() throws {
        let elf = try ELFFile(path: Self.fixtureURL("symbolize-prog", "elf").path)
        #expect(elf.type == ELFFile.ET_DYN)
        #expect(elf.buildID == "883bcb3cbd97a15c94cdeff9666be57769f27786")
        #expect(elf.hasSymtab)
        let names = Set(elf.symtab.map(\.name))
        #expect(names.isSuperset(of: ["leaf_add", "middle_static", "weak_entry", "exported_alias", "local_impl", "main", "_start"]))
        #expect(!names.contains("__abi_tag") && !names.contains("completed.0"))  // objects are not code
        #expect(elf.loadSegments.count == 4)
        #expect(elf.virtualAddress(forFileOffset: 0x1180) == 0x1180)
        // The RW segment is where file offset and vaddr differ (0x2dd0 -> 0x3dd0).
        #expect(elf.virtualAddress(forFileOffset: 0x2de0) == 0x3de0)
        #expect(elf.virtualAddress(forFileOffset: 0x10_0000) == nil)

        let stripped = try ELFFile(path: Self.fixtureURL("symbolize-prog-stripped", "elf").path)
        #expect(!stripped.hasSymtab && stripped.symtab.isEmpty)
        #expect(stripped.buildID == elf.buildID)
        #expect(stripped.debugLink?.name == "symbolize-prog.debug")
        #expect(stripped.debugLink?.crc == 0x3815_edf2)
        let debugData = try Data(contentsOf: Self.fixtureURL("symbolize-prog", "debug"))
        #expect(debugData.withUnsafeBytes { CRC32.checksum($0) } == 0x3815_edf2)
    }

    @Test func symbolLookupRespectsSizes() throws {
        let elf = try ELFFile(path: Self.fixtureURL("symbolize-prog", "elf").path)
        let t = SymbolTable(elf.symtab)
        #expect(t.lookup(0x1180) == "leaf_add")
        #expect(t.lookup(0x1185) == "leaf_add")
        #expect(t.lookup(0x1186) == nil)  // alignment padding after leaf_add
        #expect(t.lookup(0x11bf) == nil)
        #expect(t.lookup(0x11c0) == "middle_static")
        #expect(t.lookup(0x1209) == "middle_static")
        #expect(t.lookup(0x120a) == nil)
        #expect(t.lookup(0x1245) == "weak_entry")
        #expect(t.lookup(0x1284) == "exported_alias")  // global beats the local alias
        #expect(t.lookup(0x12a0) == "main")
        #expect(t.lookup(0x1000) == "_init")  // size 0: exact address only
        #expect(t.lookup(0x1004) == nil)
        #expect(t.lookup(0x10b4) == nil)
        #expect(t.lookup(0x0fff) == nil)
        #expect(t.lookup(.max) == nil)
    }

    @Test func nestedAndOverlappingSymbols() {
        let t = SymbolTable([
            ELFSymbol(name: "outer", value: 0x1000, size: 0x100, binding: 1),
            ELFSymbol(name: "inner", value: 0x1040, size: 0x10, binding: 0),
            ELFSymbol(name: "__weak_alias", value: 0x1000, size: 0x100, binding: 2),
            ELFSymbol(name: "label", value: 0x1080, size: 0, binding: 0),
        ])
        #expect(t.lookup(0x1010) == "outer")
        #expect(t.lookup(0x1044) == "inner")
        #expect(t.lookup(0x1050) == "outer")  // after inner ends, the enclosing symbol still covers it
        #expect(t.lookup(0x1080) == "label")
        #expect(t.lookup(0x1081) == "outer")
        #expect(t.lookup(0x1100) == nil)
    }

    @Test func malformedELFDoesNotTrap() throws {
        let bytes = try Data(contentsOf: Self.fixtureURL("symbolize-prog", "elf"))
        #expect(throws: SymbolizeError.self) { try ELFFile(data: Data("not an elf".utf8)) }
        for cut in [64, 100, 0x400, 0x1000, bytes.count - 10] {
            _ = try? ELFFile(data: bytes.prefix(cut))  // must not crash; partial results are fine
        }
        var scrambled = bytes
        for i in stride(from: 0x28, to: 0x40, by: 1) { scrambled[i] = 0xff }  // e_shoff, counts
        _ = try? ELFFile(data: scrambled)
    }

    // MARK: user symbolizer

    /// A PIE laid out as the kernel would map it at `base`, pointing at a fixture file.
    static func pieMappings(_ path: String, base: UInt64) -> [MemoryMapping] {
        [
            MemoryMapping(start: base, end: base + 0x1000, offset: 0, perms: "r--p", inode: 7, path: path),
            MemoryMapping(start: base + 0x1000, end: base + 0x2000, offset: 0x1000, perms: "r-xp", inode: 7, path: path),
            MemoryMapping(start: base + 0x2000, end: base + 0x3000, offset: 0x2000, perms: "r--p", inode: 7, path: path),
            MemoryMapping(start: base + 0x3000, end: base + 0x5000, offset: 0x2000, perms: "rw-p", inode: 7, path: path),
            MemoryMapping(start: 0x7fff_0000_0000, end: 0x7fff_0002_1000, offset: 0, perms: "rw-p", inode: 0, path: "[stack]"),
        ]
    }

    static let fakePid: Int32 = .max  // no such /proc entry: files are read by plain path

    @Test func pieTranslation() throws {
        let path = try Self.fixtureURL("symbolize-prog", "elf").path
        let base: UInt64 = 0x55d3_a9c0_0000
        let s = UserSymbolizer(debugRoots: [])
        s.capture(pid: Self.fakePid, mappings: Self.pieMappings(path, base: base))
        #expect(s.name(pid: Self.fakePid, address: base + 0x1183) == "leaf_add")
        #expect(s.name(pid: Self.fakePid, address: base + 0x11f0) == "middle_static")
        #expect(s.name(pid: Self.fakePid, address: base + 0x1286) == "exported_alias")
        #expect(s.name(pid: Self.fakePid, address: base + 0x12c0) == "main")
        // Unnamed frames show their mapping and the offset into it (into the file for a file).
        #expect(s.name(pid: Self.fakePid, address: base + 0x1190) == "[symbolize-prog.elf+0x1190]")  // padding
        #expect(s.frame(pid: Self.fakePid, address: base + 0x1190).unnamed?.reason.kind == .noSymbol)
        #expect(s.name(pid: Self.fakePid, address: base + 0x3010) == "[symbolize-prog.elf+0x2010]")  // data
        #expect(s.frame(pid: Self.fakePid, address: base + 0x3010).unnamed?.reason.kind == .notCode)
        #expect(s.name(pid: Self.fakePid, address: 0x7fff_0000_0100) == "[stack+0x100]")
        #expect(s.name(pid: Self.fakePid, address: 0x1234) == "[unmapped]")
        #expect(s.symbolSource(pid: Self.fakePid, address: base + 0x1183) == ".symtab")

        // Text mapped somewhere unrelated to its offset: still file offset -> PT_LOAD -> vaddr.
        let odd: [MemoryMapping] = [MemoryMapping(start: 0x4000_0000, end: 0x4000_1000, offset: 0x1000,
                                                 perms: "r-xp", inode: 7, path: path)]
        s.capture(pid: Self.fakePid - 1, mappings: odd)
        #expect(s.name(pid: Self.fakePid - 1, address: 0x4000_0180) == "leaf_add")
        #expect(s.name(pid: Self.fakePid - 1, address: 0x4000_0240) == "weak_entry")
    }

    @Test func strippedBinaryUsesDebuglinkNextToIt() throws {
        let path = try Self.fixtureURL("symbolize-prog-stripped", "elf").path
        let base: UInt64 = 0x5600_0000_0000
        let s = UserSymbolizer(debugRoots: [])
        s.capture(pid: Self.fakePid, mappings: Self.pieMappings(path, base: base))
        #expect(s.name(pid: Self.fakePid, address: base + 0x11f0) == "middle_static")  // a local: only in .symtab
        #expect(s.name(pid: Self.fakePid, address: base + 0x1183) == "leaf_add")
        #expect(s.name(pid: Self.fakePid, address: base + 0x1190) == "[symbolize-prog-stripped.elf+0x1190]")
        #expect(s.symbolSource(pid: Self.fakePid, address: base + 0x1183) == "debug file")
    }

    @Test func strippedBinaryUsesBuildIDDebugRoot() throws {
        let fm = FileManager.default
        let tmp = fm.temporaryDirectory.appendingPathComponent("ktrace-symbolize-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tmp) }
        let bin = tmp.appendingPathComponent("bin/prog")
        let idDir = tmp.appendingPathComponent("debug/.build-id/88")
        try fm.createDirectory(at: bin.deletingLastPathComponent(), withIntermediateDirectories: true)
        try fm.createDirectory(at: idDir, withIntermediateDirectories: true)
        try fm.copyItem(at: Self.fixtureURL("symbolize-prog-stripped", "elf"), to: bin)
        let base: UInt64 = 0x5600_0000_0000

        // No debug file anywhere: .dynsym of this program has no defined functions.
        let none = UserSymbolizer(debugRoots: [tmp.appendingPathComponent("debug").path])
        none.capture(pid: Self.fakePid, mappings: Self.pieMappings(bin.path, base: base))
        #expect(none.name(pid: Self.fakePid, address: base + 0x1183) == "[prog+0x1183]")
        #expect(none.symbolSource(pid: Self.fakePid, address: base + 0x1183) == ".dynsym")

        try fm.copyItem(at: Self.fixtureURL("symbolize-prog", "debug"),
                        to: idDir.appendingPathComponent("3bcb3cbd97a15c94cdeff9666be57769f27786.debug"))
        let s = UserSymbolizer(debugRoots: [tmp.appendingPathComponent("debug").path])
        s.capture(pid: Self.fakePid, mappings: Self.pieMappings(bin.path, base: base))
        #expect(s.name(pid: Self.fakePid, address: base + 0x1183) == "leaf_add")
        #expect(s.name(pid: Self.fakePid, address: base + 0x11c4) == "middle_static")
        #expect(s.symbolSource(pid: Self.fakePid, address: base + 0x1183) == "debug file")
    }

    @Test func debugFileWithOtherBuildIDIsRejected() throws {
        let fm = FileManager.default
        let tmp = fm.temporaryDirectory.appendingPathComponent("ktrace-symbolize-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: tmp) }
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try fm.copyItem(at: Self.fixtureURL("symbolize-prog-stripped", "elf"), to: tmp.appendingPathComponent("prog"))
        // A debug file of the right name but another build: flip one byte of its build-id note.
        var debug = try Data(contentsOf: Self.fixtureURL("symbolize-prog", "debug"))
        let id: [UInt8] = [0x88, 0x3b, 0xcb, 0x3c]
        let at = try #require(debug.firstRange(of: Data(id))).lowerBound
        debug[at] ^= 0xff
        try debug.write(to: tmp.appendingPathComponent("symbolize-prog.debug"))
        let s = UserSymbolizer(debugRoots: [])
        s.capture(pid: Self.fakePid, mappings: Self.pieMappings(tmp.appendingPathComponent("prog").path, base: 0x1_0000_0000))
        #expect(s.name(pid: Self.fakePid, address: 0x1_0000_1183) == "[prog+0x1183]")
    }

    @Test func liveSelfResolvesLibcFunction() throws {
        // This very process, through /proc/self-equivalent paths: libc's getpid must come back by name
        // (from .symtab, a debug file or .dynsym, whichever this host has).
        let pid = getpid()
        let fn: @convention(c) () -> pid_t = getpid
        let address = UInt64(UInt(bitPattern: unsafeBitCast(fn, to: Int.self)))
        let s = UserSymbolizer()
        s.capture(pid: pid)
        #expect(s.name(pid: pid, address: address + 1).contains("getpid"))
        #expect(s.name(pid: pid, address: 8) == "[unmapped]")
    }
}

/// SplitMix64: a seeded generator, so a failing random case repeats.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
