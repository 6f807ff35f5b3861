import Foundation
import Testing
@testable import KtraceCore

/// Checks against the tools on this machine: tables of real binaries against `readelf
/// --debug-dump=frames-interp`, and the reference unwinder against a program that knows its own call
/// chain. Each test is skipped, saying why, when a tool or binary is missing.
enum UnwindPeer {
    static func tool(_ name: String) -> String? {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    @discardableResult
    static func run(_ exe: String, _ args: [String], requireSuccess: Bool = true) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 || !requireSuccess else { throw SymbolizeError("\(exe) \(args.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self)
    }

    static let libc = "/lib/x86_64-linux-gnu/libc.so.6"
    static let nginx = "/usr/sbin/nginx"
    static var hasReadelf: Bool { tool("readelf") != nil }
    static var hasCC: Bool { tool("cc") != nil }

    /// A fresh scratch directory.
    static func scratch() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-unwind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Compiles the fixture's source with `flags` into `dir`.
    static func compileFixture(_ flags: [String], into dir: URL, name: String) throws -> String {
        let src = try UnwindFixtures.url("unwind-fixture.c").path
        let out = dir.appendingPathComponent(name).path
        try run(tool("cc")!, flags + ["-o", out, src])
        return out
    }

    static func compareWithReadelf(_ path: String) throws -> UnwindTableBuild {
        // binutils 2.40 exits 1 on Debian's libc.so.6 after printing every frame, with nothing on stderr;
        // what it printed is checked instead (at least one FDE, and the rows below).
        let frames = try run(tool("readelf")!, ["--debug-dump=frames-interp", path], requireSuccess: false)
        let (build, checked) = try UnwindFixtures.check(elf: path, frames: frames)
        #expect(checked > 50)
        print("unwind coverage \(path): \(build.table.coverage); \(build.fdes) FDEs, \(checked) pcs checked against readelf; problems: \(build.problems)")
        return build
    }
}

@Suite struct UnwindPeerTests {
    @Test(.enabled(if: UnwindPeer.hasReadelf, "readelf (binutils) is not installed"),
          .enabled(if: FileManager.default.fileExists(atPath: UnwindPeer.libc), "no \(UnwindPeer.libc) on this machine"))
    func libcMatchesReadelf() throws {
        let build = try UnwindPeer.compareWithReadelf(UnwindPeer.libc)
        #expect(build.table.coverage.supportedShare > 0.99)
        #expect(build.failedFDEs == 0)
    }

    @Test(.enabled(if: UnwindPeer.hasReadelf, "readelf (binutils) is not installed"),
          .enabled(if: FileManager.default.fileExists(atPath: UnwindPeer.nginx), "nginx is not installed"))
    func nginxMatchesReadelf() throws {
        let build = try UnwindPeer.compareWithReadelf(UnwindPeer.nginx)
        #expect(build.table.coverage.supportedShare > 0.99)
    }

    @Test(.enabled(if: UnwindPeer.hasReadelf && UnwindPeer.hasCC, "cc or readelf is not installed"),
          arguments: [["-O2", "-fomit-frame-pointer"], ["-O2", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-g"],
                      ["-O0"], ["-O3", "-fomit-frame-pointer", "-fcf-protection=full", "-Wl,-z,ibtplt"]])
    func compiledFixturesMatchReadelf(flags: [String]) throws {
        let dir = try UnwindPeer.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let exe = try UnwindPeer.compileFixture(flags, into: dir, name: "fixture")
        let build = try UnwindPeer.compareWithReadelf(exe)
        #expect(build.table.coverage.supportedShare == 1, "\(flags): \(build.table.coverage)")
    }

    /// `auto` decides "built with frame pointers" from a sample of a file's FDEs (`rbpShare`) instead of
    /// its whole table: the sample must agree with the whole table's share of rbp-based code within 5 points
    /// and land on the same side of the threshold, for Debian's libraries and programs (without frame
    /// pointers: glibc 16.6%) and the fixture with and without them; and this test binary (Swift, frame
    /// pointers) must count as built with them.
    @Test(.enabled(if: UnwindPeer.hasCC, "cc is not installed"))
    func sampledFramePointerShareAgreesWithTheTable() throws {
        let dir = try UnwindPeer.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // libc and nginx have fewer FDEs than the sample (all are read); libstdc++ (4867), libcrypto (10911)
        // and python3.11 (10221) have more, so a sample of them is.
        let lib = "/usr/lib/x86_64-linux-gnu/"
        let files = [UnwindPeer.libc, UnwindPeer.nginx, lib + "libstdc++.so.6", lib + "libcrypto.so.3", "/usr/bin/python3.11"]
            .filter { FileManager.default.fileExists(atPath: $0) }
            + [try UnwindPeer.compileFixture(["-O2", "-fomit-frame-pointer"], into: dir, name: "nofp"),
               try UnwindPeer.compileFixture(["-O0", "-fno-omit-frame-pointer"], into: dir, name: "fp")]
        for path in files {
            let c = try UnwindTableBuilder.build(path: path).table.coverage
            let whole = Double(c.bytes[.rbp] ?? 0) / Double(c.fdeBytes)
            let sampled = try #require(try UnwindTableBuilder.rbpShare(path: path))
            print("rbp share \(path): sampled \(sampled), whole table \(whole)")
            #expect(abs(sampled - whole) < 0.05, "\(path): sampled \(sampled), whole table \(whole)")
            #expect((sampled >= UnwindTableSet.framePointerShare) == (whole >= UnwindTableSet.framePointerShare), "\(path)")
        }
        #expect(try UnwindTableBuilder.rbpShare(path: files[files.count - 1])! >= UnwindTableSet.framePointerShare)
        #expect(try UnwindTableBuilder.rbpShare(path: files[files.count - 2])! < UnwindTableSet.framePointerShare)
        let t0 = Date()
        let me = try #require(try UnwindTableBuilder.rbpShare(path: "/proc/self/exe"))
        print("rbp share of this test binary: \(me) (\(Int(Date().timeIntervalSince(t0) * 1000)) ms)")
        #expect(me >= UnwindTableSet.framePointerShare)
    }

    /// The program captures its own registers and stack in `capture`, under main -> level1 -> level2 ->
    /// level3 -> qsort (libc) -> cmp -> capture, with every return address it read; the reference unwinder
    /// must find exactly those, walk through libc's qsort, and stop at `_start` as the end of the stack.
    @Test(.enabled(if: UnwindPeer.hasCC, "cc is not installed"))
    func referenceUnwinderWalksARealStack() throws {
        let dir = try UnwindPeer.scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let exe = try UnwindPeer.compileFixture(["-O2", "-fomit-frame-pointer"], into: dir, name: "fixture")
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try UnwindPeer.run(exe, ["snapshot", out.path])

        let regs = try String(contentsOf: out.appendingPathComponent("regs"), encoding: .utf8)
            .split(whereSeparator: { $0 == " " || $0 == "\n" })
            .map { UInt64($0.replacingOccurrences(of: "0x", with: ""), radix: 16)! }
        let (rip, rsp, rbp) = (regs[0], regs[1], regs[2])
        let ra = Array(regs[3...])  // capture, cmp, level3, level2, level1, main
        let stack = try [UInt8](Data(contentsOf: out.appendingPathComponent("stack")))
        let maps = try ProcessMaps.parse(String(contentsOf: out.appendingPathComponent("maps"), encoding: .utf8))

        var tables: [String: (ELFFile, UnwindTable)] = [:]
        var mappings: [UnwindMapping] = []
        for m in maps where m.isExecutable && m.path.hasPrefix("/") {
            if tables[m.path] == nil {
                tables[m.path] = (try ELFFile(path: m.path), try UnwindTableBuilder.build(path: m.path).table)
            }
            let (elf, table) = tables[m.path]!
            let vaddr = try #require(elf.virtualAddress(forFileOffset: m.offset))
            mappings.append(UnwindMapping(start: m.start, end: m.end, bias: m.start - vaddr, table: table))
        }
        let unwinder = ReferenceUnwinder(mappings: mappings, framePointerFallback: false)
        let result = unwinder.unwind(rip: rip, rsp: rsp, rbp: rbp) { addr in
            guard addr >= rsp, addr - rsp + 8 <= UInt64(stack.count) else { return nil }
            return stack.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(addr - rsp), as: UInt64.self) }
        }

        // Where each frame is: the fixture's functions by symbol, else the mapping's file.
        let (fixtureELF, _) = try #require(tables[exe])
        let exeMap = try #require(mappings.first { m in maps.contains { $0.path == exe && $0.start == m.start } })
        func place(_ pc: UInt64) -> String {
            if let m = maps.first(where: { $0.contains(pc) }), m.path != exe { return m.path.split(separator: "/").last.map(String.init) ?? m.path }
            let v = pc &- exeMap.bias
            return fixtureELF.symtab.first { v >= $0.value && v < $0.value + max($0.size, 1) }?.name ?? "?"
        }
        let names = result.frames.map(place)
        let trace = zip(result.frames, names).map { "0x\(String($0, radix: 16)) \($1)" }.joined(separator: "\n")
        #expect(result.stop == .endOfStack, "stopped: \(result.stop)\n\(trace)")
        // capture, cmp: exact; then libc's qsort internals; then level3 .. main exact; then libc; then _start.
        try #require(names.count > 3, "\(trace)")
        #expect(Array(result.frames.prefix(3)) == [rip, ra[0], ra[1]], "\(trace)")
        #expect(names.first == "capture" && names[1] == "cmp", "\(trace)")
        let libc = names.dropFirst(2).prefix { $0.hasPrefix("libc") }  // cmp's caller onwards: qsort's insides
        #expect(libc.count >= 1, "\(trace)")
        let k = 2 + libc.count  // the frame in level3, after qsort returns
        try #require(names.count > k + 5, "\(trace)")
        #expect(names[k] == "level3", "\(trace)")
        #expect(Array(result.frames[(k + 1)...].prefix(4)) == [ra[2], ra[3], ra[4], ra[5]], "\(trace)")
        #expect(names.last == "_start", "\(trace)")
        #expect(names[(k + 4)...].dropLast().allSatisfy { $0.hasPrefix("libc") }, "\(trace)")
    }
}
