import Foundation
import Glibc
import Testing
@testable import KtraceCore

/// Every unnamed user frame shows its mapping and offset and says why it has no name: on the committed
/// stripped fixture (symbolize-prog-stripped.elf, copied alone so its debug file is out of reach),
/// recorded maps lines, a perf map file and a fake dpkg database.
@Suite struct UnnamedFramesTests {
    /// A scratch directory: bin/prog (stripped, no debug file), dpkg/ (info/*.list), perf/ (perf maps).
    final class Scratch {
        let root: URL
        var bin: String { root.appendingPathComponent("bin/prog").path }
        var dpkg: String { root.appendingPathComponent("dpkg").path }
        var perf: String { root.appendingPathComponent("perf").path }

        init() throws {
            let fm = FileManager.default
            root = fm.temporaryDirectory.appendingPathComponent("ktrace-unnamed-\(UUID().uuidString)")
            for d in ["bin", "dpkg", "perf"] {
                try fm.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true)
            }
            try fm.copyItem(at: SymbolizeTests.fixtureURL("symbolize-prog-stripped", "elf"), to: URL(fileURLWithPath: bin))
        }

        deinit { try? FileManager.default.removeItem(at: root) }

        func write(_ text: String, _ path: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }
    }

    static let buildID = "883bcb3cbd97a15c94cdeff9666be57769f27786"

    // MARK: perf maps

    @Test func perfMapParsesAsPerf() {
        let m = PerfMap("""
            7f0000001000 40 LazyCompile:~busy /tmp/busy.js:3
            0x7f0000002000 0x20 JS:*spin file.js:1:2
            7f0000001000 40 JS:*busy /tmp/busy.js:3
            not a line
            7f0000003000 10
            7f0000004000 zz broken size
            7f0000005000 0 size zero
            7f0000006000 100 outer
            7f0000006010 10 inner\r
            ffffffffffffff00 1000 wraps
            """)
        #expect(m.count == 5)
        #expect(m.lookup(0x7f00_0000_1000) == "JS:*busy /tmp/busy.js:3")  // the later line wins
        #expect(m.lookup(0x7f00_0000_103f) == "JS:*busy /tmp/busy.js:3")
        #expect(m.lookup(0x7f00_0000_1040) == nil)
        #expect(m.lookup(0x7f00_0000_2010) == "JS:*spin file.js:1:2")
        #expect(m.lookup(0x7f00_0000_3000) == nil)
        #expect(m.lookup(0x7f00_0000_6014) == "inner")
        #expect(m.lookup(0x7f00_0000_6020) == "outer")  // past inner, still inside outer
        #expect(m.lookup(0xffff_ffff_ffff_fff0) == "wraps")
        #expect(m.lookup(0) == nil)
    }

    /// A perf map is written by the traced process: any bytes must parse without trapping, and names are
    /// cut to a bound.
    @Test func perfMapSurvivesGarbage() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var bytes = (0..<(round * 37 % 4096)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if round % 3 == 0 { bytes += Array("7f00 10 \(String(repeating: "x", count: 5000))\n".utf8) }
            let m = bytes.withUnsafeBytes { PerfMap(bytes: $0) }
            _ = m.lookup(0x7f00)
            if round % 3 == 0 { #expect((m.lookup(0x7f00)?.utf8.count ?? 0) <= PerfMap.maxNameBytes) }
        }
    }

    @Test func perfMapLoadRefusesLinksAndOtherFiles() throws {
        let s = try Scratch()
        let real = s.perf + "/real.map", link = s.perf + "/perf-1.map"
        try s.write("1000 10 f\n", real)
        #expect(symlink(real, link) == 0)
        #expect(PerfMap.load(real)?.lookup(0x1000) == "f")
        #expect(PerfMap.load(link) == nil)  // a link planted in /tmp could point anywhere
        #expect(PerfMap.load(s.perf) == nil)  // a directory
        #expect(PerfMap.load(real, owners: [getuid() == 0 ? 12345 : 0]) == nil)  // someone else's file
    }

    // MARK: naming unnamed frames

    @Test func strippedFileFrameNamesFileAndOffsetAndPackage() throws {
        let s = try Scratch()
        try s.write("/usr/share/doc/foo\n/usr/bin/other\n", s.dpkg + "/bar.list")
        try s.write("/.\n\(s.bin)\n", s.dpkg + "/foo:amd64.list")
        let u = UserSymbolizer(debugRoots: [], perfMapDirectory: s.perf, dpkgInfo: s.dpkg)
        let base: UInt64 = 0x5600_0000_0000
        u.capture(pid: SymbolizeTests.fakePid, mappings: SymbolizeTests.pieMappings(s.bin, base: base))
        let f = u.frame(pid: SymbolizeTests.fakePid, address: base + 0x1183)
        #expect(f.name == "[prog+0x1183]")
        let r = try #require(f.unnamed?.reason)
        #expect(r.kind == .stripped && r.file == s.bin && r.buildID == Self.buildID && r.package == "foo")
        #expect(f.unnamed?.fileAddress == 0x1183)
        #expect(r.text == "\(s.bin) stripped, install foo-dbgsym (build id \(Self.buildID))")

        // Not in any package: the build id, for a debuginfod server.
        let none = UserSymbolizer(debugRoots: [], perfMapDirectory: s.perf, dpkgInfo: s.root.appendingPathComponent("nodb").path)
        none.capture(pid: SymbolizeTests.fakePid, mappings: SymbolizeTests.pieMappings(s.bin, base: base))
        let r2 = try #require(none.frame(pid: SymbolizeTests.fakePid, address: base + 0x1183).unnamed?.reason)
        #expect(r2.package == nil && r2.text.contains("/buildid/\(Self.buildID)/debuginfo"))
    }

    @Test func mergedUsrPathsAndListNames() {
        #expect(PackageOwners.aliases(of: "/usr/bin/gzip") == ["/usr/bin/gzip", "/bin/gzip"])
        #expect(PackageOwners.aliases(of: "/lib/x86_64-linux-gnu/libc.so.6") == ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"])
        #expect(PackageOwners.package(ofListFile: "libc6:amd64.list") == "libc6")
        #expect(PackageOwners.hasLine(Array("/a\n/usr/bin/x\n".utf8), Array("/usr/bin/x".utf8)))
        #expect(!PackageOwners.hasLine(Array("/usr/bin/xy\n".utf8), Array("/usr/bin/x".utf8)))
        #expect(PackageOwners.hasLine(Array("/usr/bin/x".utf8), Array("/usr/bin/x".utf8)))
        // A longer line holding it first (a prefix, then inside another path), then the line itself.
        #expect(PackageOwners.hasLine(Array("/usr/bin/xy\n/opt/usr/bin/x\n/usr/bin/x\n/z".utf8), Array("/usr/bin/x".utf8)))
        #expect(!PackageOwners.hasLine(Array("/opt/usr/bin/x\n/usr/bin/x2".utf8), Array("/usr/bin/x".utf8)))
        #expect(!PackageOwners.hasLine(Array("".utf8), Array("/usr/bin/x".utf8)))
    }

    /// Recorded /proc/PID/maps lines of a JIT (anonymous r-x), a named anonymous region, a file deleted
    /// after it was mapped, and the stack.
    static let jitMaps = """
        7f1e38000000-7f1e38040000 rwxp 00000000 00:00 0
        7f1e38100000-7f1e38101000 r-xp 00000000 00:00 0                          [anon:v8 code]
        7f1e39000000-7f1e39010000 r-xp 00002000 fe:00 999999                     /opt/app/lib/libgone.so (deleted)
        7ffd7a2f0000-7ffd7a311000 rw-p 00000000 00:00 0                          [stack]
        """

    @Test func anonymousDeletedAndStackRegions() throws {
        let s = try Scratch()
        let pid = getpid()  // its status names this test's uid, whose perf map files are accepted
        let u = UserSymbolizer(debugRoots: [], perfMapDirectory: s.perf, dpkgInfo: s.dpkg)
        u.capture(pid: pid, mappings: ProcessMaps.parse(Self.jitMaps))
        let jit = u.frame(pid: pid, address: 0x7f1e_3800_01a0)
        #expect(jit.name == "[anon+0x1a0]")
        #expect(jit.unnamed?.reason.kind == .jitWithoutPerfMap)
        #expect(jit.unnamed?.reason.perfMap?.hasSuffix("/perf/perf-\(UserSymbolizer.status(pid: pid).nsPid ?? pid).map") == true)
        #expect(u.file(pid: pid, address: 0x7f1e_3800_01a0)?.path == "[anon]")
        let named = u.frame(pid: pid, address: 0x7f1e_3810_0010)
        #expect(named.name == "[anon:v8 code]" && named.unnamed?.reason.kind == .anonymous)
        let gone = u.frame(pid: pid, address: 0x7f1e_3900_0010)
        #expect(gone.name == "[libgone.so (deleted)+0x2010]" && gone.unnamed?.reason.kind == .fileDeleted)
        #expect(gone.unnamed?.reason.text == "/opt/app/lib/libgone.so deleted or replaced since it was mapped")
        let stack = u.frame(pid: pid, address: 0x7ffd_7a2f_0100)
        #expect(stack.name == "[stack+0x100]" && stack.unnamed?.reason.kind == .notCode)
    }

    @Test func perfMapNamesJITFrames() throws {
        let s = try Scratch()
        let pid = getpid()
        let ns = UserSymbolizer.status(pid: pid).nsPid ?? pid
        try s.write("7f1e38000100 100 JS:*busy /tmp/busy.js:3:14\n7f1e38000200 80 JS:~spin /tmp/busy.js:9:1\n",
                    s.perf + "/perf-\(ns).map")
        let u = UserSymbolizer(debugRoots: [], perfMapDirectory: s.perf, dpkgInfo: s.dpkg)
        u.capture(pid: pid, mappings: ProcessMaps.parse(Self.jitMaps))
        #expect(u.frame(pid: pid, address: 0x7f1e_3800_01a0).name == "JS:*busy /tmp/busy.js:3:14")
        #expect(u.frame(pid: pid, address: 0x7f1e_3800_01a0).unnamed == nil)
        #expect(u.name(pid: pid, address: 0x7f1e_3800_0230) == "JS:~spin /tmp/busy.js:9:1")
        #expect(u.file(pid: pid, address: 0x7f1e_3800_0230)?.path == "\(s.perf)/perf-\(ns).map")
        // Anonymous code the map does not cover: the map exists, so not "without a perf map".
        let out = u.frame(pid: pid, address: 0x7f1e_3800_0010)
        #expect(out.name == "[anon+0x10]" && out.unnamed?.reason.kind == .anonymous)
        #expect(out.unnamed?.reason.text == "anonymous executable memory outside \(s.perf)/perf-\(ns).map")
    }

    @Test func exitedProcessSaysSo() {
        let u = UserSymbolizer(debugRoots: [])
        let gone: Int32 = 0x3fff_fff0  // above any pid_max: never a live process
        let f = u.frame(pid: gone, address: 0x5555_0000_1000)
        #expect(f.name == "[process exited]" && f.unnamed?.reason.kind == .processExited)
    }

    // MARK: the summary, JSON and pprof

    /// Two processes: the stripped fixture (stack 1: two frames in it, 6 samples) and a JIT without a
    /// perf map (stack 2: two frames in its anonymous code, 2 samples).
    static func profile(_ s: Scratch) throws -> (StackSymbolizer, [StackCount]) {
        try s.write("\(s.bin)\n", s.dpkg + "/foo.list")
        let k = FakeKernel()
        let base: UInt64 = 0x5600_0000_0000
        k.user[1] = [base + 0x1183, base + 0x12c0]  // leaf, then a return address
        k.user[2] = [0x7f1e_3800_01a0, 0x7f1e_3800_01a0 + 1]
        let u = UserSymbolizer(debugRoots: [], perfMapDirectory: s.perf, dpkgInfo: s.dpkg)
        u.capture(pid: SymbolizeTests.fakePid, mappings: SymbolizeTests.pieMappings(s.bin, base: base))
        u.capture(pid: getpid(), mappings: ProcessMaps.parse(jitMaps))
        let sym = StackSymbolizer(source: k, kernelSymbols: nil, userNames: u)
        let counts = [
            StackCount(pid: SymbolizeTests.fakePid, tid: 0, comm: "prog", softirq: nil, kernel: .none, user: .stored(1), count: 6),
            StackCount(pid: getpid(), tid: 0, comm: "node", softirq: nil, kernel: .none, user: .stored(2), count: 2),
        ]
        return (sym, counts)
    }

    @Test func summaryGivesSharesPerReason() throws {
        let s = try Scratch()
        let (sym, counts) = try Self.profile(s)
        let folded = StackProfile.interned(counts, sym).renderFolded(annotate: false)
        #expect(folded == "node;[anon+0x1a0];[anon+0x1a0] 2\nprog;[prog+0x12bf];[prog+0x1183] 6\n")  // sorted
        let sum = UnnamedSummary(counts, sym)
        #expect(sum.userFrames == 16 && sum.unnamed == 16)
        let ns = UserSymbolizer.status(pid: getpid()).nsPid ?? getpid()
        #expect(sum.line == "100% of user frames unnamed: 75% \(s.bin) stripped, install foo-dbgsym (build id \(Self.buildID)); "
            + "25% anonymous JIT code without \(s.perf)/perf-\(ns).map")
        #expect(sum.entries.map(\.distinct) == [2, 1])
        #expect(UnnamedSummary.percent(0.04) == "<0.1%" && UnnamedSummary.percent(3.44) == "3.4%" && UnnamedSummary.percent(12.4) == "12%")
    }

    @Test func jsonAndPprofCarryTheReasons() throws {
        let s = try Scratch()
        let (sym, counts) = try Self.profile(s)
        let run = StackProfile.Summary(target: "t", seconds: 1, event: "cpu-clock", rate: "99 Hz", losses: ProfileLosses())
        let doc = StackProfile.json(counts, sym, run: run, perThread: false).text
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any])
        let unnamed = try #require(parsed["unnamed"] as? [String: Any])
        #expect(unnamed["user_frames"] as? Int == 16 && unnamed["unnamed_frames"] as? Int == 16)
        let reasons = try #require(unnamed["reasons"] as? [[String: Any]])
        #expect(reasons.map { $0["reason"] as? String } == ["stripped", "jit_without_perf_map"])
        #expect(reasons[0]["package"] as? String == "foo" && reasons[0]["build_id"] as? String == Self.buildID)
        #expect(reasons[0]["fix"] as? String == "install foo-dbgsym" && reasons[0]["share"] as? Double == 0.75)

        let p = Pprof.profile(counts, sym, run: Pprof.Header(kind: .onCPU(periodNs: 10_000_000), startUnixNs: 0, durationNs: 1_000_000_000,
                                                          perThread: false))
        let strings = p.stringTable
        let prog = try #require(p.mapping.first { strings[Int($0.filename)] == s.bin })
        #expect(!prog.hasFunctions_p && strings[Int(prog.buildID)] == Self.buildID)
        let anon = try #require(p.mapping.first { strings[Int($0.filename)] == "[anon]" })
        #expect(!anon.hasFunctions_p)
        // The stripped file's locations keep their ELF addresses for pprof to name with a debug file.
        let located = p.location.filter { $0.mappingID == prog.id }.map(\.address).sorted()
        #expect(located == [0x1183, 0x12bf])
        #expect(p.comment.map { strings[Int($0)] }.contains { $0.hasPrefix("100% of user frames unnamed: 75% ") })
    }

    /// A profile whose frames all have names says nothing more: no line, no JSON field.
    @Test func namedProfilesAreUnchanged() throws {
        let k = FakeKernel()
        k.user[1] = [0x4000]
        k.userNames[0x4000] = "main"
        let sym = StackSymbolizer(source: k, kernelSymbols: nil, userNames: k)
        let counts = [StackCount(pid: 1, tid: 0, comm: "a", softirq: nil, kernel: .none, user: .stored(1), count: 3)]
        #expect(UnnamedSummary(counts, sym).line == nil)
        let run = StackProfile.Summary(target: "t", seconds: 1, event: "cpu-clock", rate: "99 Hz", losses: ProfileLosses())
        #expect(!StackProfile.json(counts, sym, run: run, perThread: false).text.contains("unnamed"))
    }
}
