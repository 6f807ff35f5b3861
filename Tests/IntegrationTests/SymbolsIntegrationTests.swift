import Foundation
import KtraceCore
import Testing

/// Frames without names, on real processes: a workload built stripped shows `[name+0x…]` frames and the
/// summary names it stripped; Debian's nodejs with --perf-basic-prof shows its JavaScript functions
/// through /tmp/perf-PID.map. About 15 s.
@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct SymbolsIntegrationTests {
    /// This kernel's /proc/kallsyms, read back through the table ktrace builds from it (sorted in place,
    /// narrow columns, names as numbered words): every text symbol's address is named by one of the text
    /// names listed at that address, and a vmlinux name is found at its address. Ground truth is the file
    /// itself, read here line by line. Fails on any name decoded wrong or any address put in the wrong
    /// place by the sort or the columns. (About 6 s on the host; under TCG 50 s, so not in the guests' set.)
    @Test func liveKallsymsReadBack() throws {
        var names: [UInt64: Set<String>] = [:]
        var vmlinux: [(String, UInt64)] = []
        // Read to the end: the file's size reads 0, so a read sized by it stops early.
        let text = String(decoding: try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/kallsyms")).readToEnd() ?? Data(), as: UTF8.self)
        // The table from the same text: a program loaded between two reads would change the file.
        let k = try KernelSymbols(kallsyms: text)
        for line in text.split(separator: "\n") {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 3, let a = UInt64(f[0], radix: 16), "tTwW".contains(f[1]) else { continue }
            let name = f.count > 3 ? "\(f[2]) \(f[3])" : String(f[2])
            if name == "_etext" || name == "_einittext" { continue }  // end markers, never names
            names[a, default: []].insert(name)
            if f.count == 3 { vmlinux.append((name, a)) }
        }
        try #require(names.count > 10_000, "only \(names.count) text addresses")
        var wrong: [String] = []
        for (a, listed) in names {
            let got = k.name(for: a)
            if got == nil || !listed.contains(got!) { wrong.append("\(String(a, radix: 16)): \(got ?? "nil") not in \(listed.sorted())") }
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(names.count) addresses misnamed, e.g. \(wrong.prefix(5))")
        // By name: a sample across the table of names alone at their address (of aliases, the table keeps
        // one: 5.10 lists __x64_sys_setsid beside another name at its address).
        let alone = vmlinux.filter { names[$0.1]?.count == 1 }
        for (name, a) in stride(from: 0, to: alone.count, by: max(1, alone.count / 300)).map({ alone[$0] }) {
            let found = k.address(of: name)
            #expect(found.map { names[$0]?.contains(name) == true } == true, "\(name) at \(String(a, radix: 16)): \(found.map { String($0, radix: 16) } ?? "nil")")
        }
    }

    /// burn.c built as a distribution would ship it, `cc -O2 -s` (frame pointers kept so the stacks reach
    /// main): every frame in it is `[burn-stripped+0x…]`, and the summary line, the JSON and the pprof
    /// mapping all say it is stripped, with its build id.
    @Test func strippedWorkloadShowsFileAndOffset() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-symbols-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("burn-stripped").path
        let src = Env.root.appendingPathComponent("Tests/Workloads/burn.c").path
        let cc = try run("/usr/bin/cc", ["-O2", "-s", "-fno-omit-frame-pointer", "-Wl,--build-id", "-o", bin, src], timeout: 60)
        try #require(cc.status == 0, "\(cc.stderr)")
        let w = try Spawned(bin, ["60"], streamStdout: false)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let json = dir.appendingPathComponent("p.json").path, folded = dir.appendingPathComponent("p.folded").path
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "2", "-o", folded, "-o", json],
                        timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FoldedProfile.parse(String(contentsOfFile: folded, encoding: .utf8))
        #expect(p.totalSamples > 300, "only \(p.totalSamples) samples")
        // The leaf of nearly every sample is in the binary's own code (the spin loops), named by offset.
        let inBinary = share(p) { $0.range(of: #"^\[burn-stripped\+0x[0-9a-f]+\]$"#, options: .regularExpression) != nil }
        #expect(inBinary > 0.9, "\(Int(inBinary * 100))% of samples have a [burn-stripped+0x…] frame: \(p.stacks.prefix(5))")
        #expect(!p.stacks.contains { $0.frames.contains { $0.hasPrefix("[unknown]") } }, "a bare [unknown] frame")

        let line = try #require(r.stderr.split(separator: "\n").first { $0.contains("of user frames unnamed:") }, "\(r.stderr)")
        #expect(line.contains("\(bin) stripped"), "\(line)")
        #expect(line.contains("from no package") && line.contains("/buildid/"), "\(line)")

        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let reasons = try #require((doc["unnamed"] as? [String: Any])?["reasons"] as? [[String: Any]], "\(doc.keys)")
        let stripped = try #require(reasons.first { $0["file"] as? String == bin }, "\(reasons)")
        #expect(stripped["reason"] as? String == "stripped")
        #expect((stripped["build_id"] as? String)?.count == 40)
        #expect((stripped["share"] as? Double ?? 0) > 0.5, "\(stripped)")
    }

    /// A stripped binary from a Debian package: the summary names the -dbgsym package to install.
    /// gzip is essential on Debian and stripped; its package is found through dpkg's database.
    @Test func packagedBinaryNamesItsDbgsym() throws {
        let gzip = "/usr/bin/gzip"
        guard FileManager.default.isExecutableFile(atPath: gzip), FileManager.default.fileExists(atPath: "/var/lib/dpkg/info/gzip.list") else {
            print("skipped: no Debian gzip here")
            return
        }
        let w = try Spawned("/bin/sh", ["-c", "exec \(gzip) -9 < /dev/zero > /dev/null"], streamStdout: false)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "1"], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let line = try #require(r.stderr.split(separator: "\n").first { $0.contains("of user frames unnamed:") }, "\(r.stderr)")
        #expect(line.contains("\(gzip) stripped, install gzip-dbgsym (build id "), "\(line)")
    }

    /// Debian's nodejs running a busy script with --perf-basic-prof: its JavaScript functions appear by
    /// name, read from /tmp/perf-PID.map; without the flag, the summary says the JIT code has no perf map.
    /// With unwind tables (`--unwind dwarf`), the JIT frames, which have none, are crossed through their
    /// frame pointers, and the walk goes on through node's and libc's tables to `_start` (libc's start
    /// code has no frame pointer, so the frame-pointer walk stops below it).
    @Test func nodePerfMapNamesJavaScript() throws {
        guard let node = ["/usr/bin/node", "/usr/bin/nodejs"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("skipped: nodejs is not installed (apt-get install nodejs)")
            return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-symbols-node-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("busy.js").path
        try """
            function ktSpinInner(n) { let s = 0; for (let i = 0; i < n; i++) s += Math.sqrt(i) * 1.0001; return s; }
            function ktSpinOuter() { let t = 0; for (let k = 0; k < 50; k++) t += ktSpinInner(20000); return t; }
            const end = Date.now() + 1000 * Number(process.argv[2]);
            let sink = 0;
            while (Date.now() < end) sink += ktSpinOuter();
            console.log(sink > 0 ? "done" : "");
            """.write(toFile: script, atomically: false, encoding: .utf8)

        for (perfMap, unwind) in [(true, "fp"), (true, "dwarf"), (false, "fp")] {
            // --perf-basic-prof also starts V8's log, in the current directory unless told where.
            let flags = perfMap ? ["--perf-basic-prof", "--logfile=\(dir.path)/v8.log", "--no-logfile-per-isolate"] : []
            let w = try Spawned(node, flags + [script, "60"], streamStdout: false)
            defer {
                w.signal(SIGTERM)
                _ = w.wait(timeout: 30)
                try? FileManager.default.removeItem(atPath: "/tmp/perf-\(w.pid).map")
            }
            usleep(1_000_000)  // past start-up, into optimized code
            let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "2", "--unwind", unwind],
                            timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            let p = try FoldedProfile.parse(r.stdout)
            let js = share(p) { $0.contains("ktSpinOuter") || $0.contains("ktSpinInner") }
            let line = r.stderr.split(separator: "\n").first { $0.contains("of user frames unnamed:") }.map(String.init) ?? ""
            if perfMap {
                #expect(js > 0.8, "--unwind \(unwind): \(Int(js * 100))% of samples name the script's functions: \(p.stacks.prefix(3))")
                #expect(!line.contains("without /tmp/perf-"), "\(line)")
                if unwind == "dwarf" {
                    let whole = share(p) { $0 == "_start" }
                    #expect(whole > 0.9, "\(Int(whole * 100))% of samples reach _start with tables: \(p.stacks.prefix(3)) \(r.stderr)")
                }
            } else {
                #expect(js == 0)
                #expect(share(p) { $0.hasPrefix("[anon+0x") } > 0.3, "\(p.stacks.prefix(3))")
                #expect(line.contains("anonymous JIT code without /tmp/perf-\(w.pid).map (run node with --perf-basic-prof)"), "\(r.stderr)")
            }
        }
    }
}
