import Foundation
import KtraceCore
import Testing

/// Share of samples (0...1) whose stack contains a frame satisfying `match`.
func share(_ p: FoldedProfile, where match: (String) -> Bool) -> Double {
    let total = p.totalSamples
    guard total > 0 else { return 0 }
    let hit = p.stacks.filter { $0.frames.contains(where: match) }.reduce(UInt64(0)) { $0 + $1.count }
    return Double(hit) / Double(total)
}

/// Starts workload `name` for `seconds` and samples it with `ktrace stacks --pid PID` once per argument
/// list, in turn, while it runs; each run must succeed and print a folded profile.
func sampleWorkload(_ name: String, seconds: Double, _ runs: [String]...) throws -> [(profile: FoldedProfile, result: RunResult)] {
    let w = try Workload.start(name, seconds: seconds)
    // Ended once the recordings are done: its length only has to outlast slow attaches.
    defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
    usleep(300_000)
    return try runs.map { args in
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid)] + args, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        return (try FoldedProfile.parse(r.stdout), r)
    }
}

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct StacksIntegrationTests {
    /// A workload whose functions burn CPU in known proportions (50/30/20): the folded output attributes
    /// them within 5 percentage points, with user function names symbolized.
    @Test func knownProportions() throws {
        let (p, r) = try sampleWorkload("burn", seconds: 60, ["-F", "499", "-d", "5"])[0]
        #expect(p.totalSamples > 1500, "only \(p.totalSamples) samples")
        #expect(p.stacks.allSatisfy { $0.frames.first == "burn" }, "comm must be the first frame")
        #expect(p.stacks.contains { $0.frames.contains("main") }, "main not symbolized: \(r.stdout.prefix(500))")
        for (fn, want) in [("burn_a", 0.5), ("burn_b", 0.3), ("burn_c", 0.2)] {
            let got = share(p) { $0 == fn }
            #expect(abs(got - want) <= 0.05, "\(fn): \(Int(got * 100))% of samples, expected \(Int(want * 100))%")
        }
        #expect(r.stderr.contains("0 lost (0.00%)"), "\(r.stderr)")
    }

    /// A syscall-heavy workload: its kernel frames appear, symbolized, under the right process.
    @Test func syscallKernelFrames() throws {
        let (p, r) = try sampleWorkload("syscalls", seconds: 60, ["-F", "499", "-d", "3", "--annotate"])[0]
        #expect(p.stacks.allSatisfy { $0.frames.first == "syscalls" })
        let kernel = share(p) { $0.hasSuffix("_[k]") }
        #expect(kernel > 0.3, "only \(Int(kernel * 100))% of samples have kernel frames")
        #expect(share(p) { $0.hasPrefix("entry_SYSCALL_64") || $0.hasPrefix("do_syscall_64") } > 0.3)
        #expect(share(p) { $0.hasPrefix("ksys_write") || $0.hasPrefix("vfs_write") || $0.contains("sys_write") } > 0.1)
        #expect(!p.stacks.contains { $0.frames.contains { $0.hasPrefix("0xffff") } }, "unsymbolized kernel frames")
        // Most samples store a new kernel and a new user stack at once: none may be lost to the
        // on-demand maps' per-CPU caches running dry (one shared map lost the first user stack).
        #expect(r.stderr.contains(" 0 lost (0.00%)"), "\(r.stderr)")
    }

    /// Kernels before 6.1 get preallocated stack maps; forced here, that path must sample as well.
    @Test func preallocatedStackMapsWork() throws {
        // Outlives the attach (7.7 s on 6.1-rt under TCG with these maps), then ended.
        let w = try Workload.start("syscalls", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "-F", "499", "-d", "1.5", "--annotate"], timeout: 90,
                        env: ["KTRACE_PREALLOC_STACKS": "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("stack maps preallocated with 16384 kernel"), "\(r.stderr)")
        #expect(r.stderr.contains(" 0 lost (0.00%)"), "\(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        #expect(share(p) { $0.hasPrefix("entry_SYSCALL_64") } > 0.3, "\(r.stdout.prefix(400))")
        // User part too (main itself is skipped: libc's syscall wrappers keep no frame pointer).
        #expect(share(p) { $0 == "__libc_start_call_main" } > 0.5, "user stacks missing: \(r.stdout.prefix(400))")
    }

    /// Preallocated (forced), each stack map holds 16384 stacks only when its stacks are taken, else one entry:
    /// the kernel maps with --user-only (unless offcpu --wakers keeps the wakers' kernel stacks there), the
    /// user maps with --kernel-only, the short stacks' map of each kind as its deep stacks' map; the note
    /// names what was preallocated.
    @Test func stackMapsSizedByWhatIsTaken() throws {
        let w = try Workload.start("syscalls", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        let pid = String(w.pid)
        let cases: [(args: [String], kernel: Int, user: Int, note: String)] = [
            (["stacks", "--pid", pid, "--user-only"], 1, 16384, "16384 user stacks"),
            (["stacks", "--pid", pid, "--kernel-only"], 16384, 1, "16384 kernel stacks"),
            (["offcpu", "--pid", pid, "--user-only", "--wakers"], 16384, 16384, "16384 kernel and as many user stacks"),
        ]
        for c in cases {
            // The kernel keeps a map's first 15 characters of its name: kt_ustacks_short is kt_ustacks_shor.
            let (sizes, r) = try whileAttached(c.args + ["-o", "/dev/null"], env: ["KTRACE_PREALLOC_STACKS": "1"]) {
                try ["kt_stacks", "kt_stacks_short", "kt_ustacks", "kt_ustacks_shor"].map { try mapMaxEntries($0) }
            }
            #expect(r.status == 0, "\(r.stderr)")
            #expect(sizes == [c.kernel, c.kernel, c.user, c.user],
                    "\(c.args.joined(separator: " ")): kt_stacks, kt_stacks_short, kt_ustacks, kt_ustacks_short: \(sizes)")
            #expect(r.stderr.contains("stack maps preallocated with \(c.note) of up to 32 frames, and as many deeper:"), "\(r.stderr)")
        }
    }

    /// C++ names come out demangled, as perf shows them; --no-demangle keeps the symbols.
    @Test func cxxNamesDemangled() throws {
        // Outlives both recordings however slow attaching is (under TCG on 6.1 a 6 s workload had exited
        // before the second one began: no samples).
        let runs = try sampleWorkload("cxx", seconds: 60, ["-F", "499", "-d", "1.5", "--user-only"],
                                      ["-F", "199", "-d", "0.5", "--user-only", "--no-demangle"])
        let (p, r) = runs[0]
        #expect(share(p) { $0 == "work::Spinner::spin(int)" } > 0.8, "\(r.stdout.prefix(600))")
        #expect(share(p) { $0 == "work::burn(int)" } > 0.3)
        #expect(share(p) { $0 == "work::burn(double)" } > 0.1)
        #expect(!p.stacks.contains { $0.frames.contains { $0.hasPrefix("_Z") } }, "mangled names left")
        #expect(share(runs[1].profile) { $0 == "_ZN4work7Spinner4spinEi" } > 0.8, "\(runs[1].result.stdout.prefix(400))")
    }

    /// ksoftirqd under a saturating SYN flood: its stacks hold the receive path, split by vector.
    @Test func ksoftirqdUnderFlood() throws {
        try underLoad("kttstk", "flood", seconds: 8, warmup: 2) {
            let svg = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-ksoftirqd-\(getpid()).svg").path
            defer { try? FileManager.default.removeItem(atPath: svg) }
            let r = try run(Env.ktrace, ["stacks", "--comm", "ksoftirqd/*", "--by-softirq", "-d", "3", "--annotate"], timeout: 60)
            #expect(r.status == 0, "\(r.stderr)")
            let p = try FoldedProfile.parse(r.stdout)
            #expect(p.totalSamples > 100, "ksoftirqd barely sampled: \(p.totalSamples)")
            #expect(p.stacks.allSatisfy { $0.frames.first?.hasPrefix("ksoftirqd/") == true })
            #expect(share(p) { $0 == "net_rx_action_[k]" } > 0.5, "net_rx_action missing: \(r.stdout.prefix(800))")
            #expect(share(p) { $0 == "[softirq:net_rx]" } > 0.5)
            #expect(share(p) { $0 == "run_ksoftirqd_[k]" } > 0.5, "flood work should run in ksoftirqd itself")
            // The receive path into the container goes through the bridge.
            #expect(share(p) { $0.hasPrefix("br_handle_frame") || $0.hasPrefix("br_nf_") } > 0.05)

            let s = try run(Env.ktrace, ["stacks", "--comm", "ksoftirqd/*", "-d", "2", "-o", svg], timeout: 60)
            #expect(s.status == 0, "\(s.stderr)")
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            #expect(text.hasPrefix("<?xml") && text.contains("net_rx_action") && text.contains("<script"))
        }
    }

    /// A tiny stack map under system-wide sampling fills up and loses stacks, and ktrace says how many.
    @Test func lostStacksAreReported() throws {
        let w = try Workload.start("syscalls", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        let r = try run(Env.ktrace, ["stacks", "-a", "-F", "999", "-d", "2", "--stack-storage", "64"], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stderr.split(separator: "\n").first { $0.contains(" lost (") } ?? ""
        #expect(!line.contains(" 0 lost (0.00%)") && line.contains("stacks not stored"), "loss not reported: \(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        #expect(share(p) { $0 == StackComposer.missingKernel || $0 == StackComposer.missingUser } > 0, "lost stacks not shown")
    }

    /// The target exits mid-run: partial result, clear note, exit 0.
    @Test func targetExitsMidRun() throws {
        // It exits 1.5 s into the recording, by SIGTERM once the banner is out: exiting by its own clock
        // raced the attach (seconds under TCG: 47 samples were left of 3 s on 6.12).
        let w = try Workload.start("burn", seconds: 60)
        defer { w.signal(SIGKILL); _ = w.wait(timeout: 10) }
        usleep(200_000)
        let kt = try Spawned(Env.ktrace, ["stacks", "--pid", String(w.pid), "-F", "199", "-d", "10"], streamStdout: false)
        try #require(kt.waitForStderr("Ctrl-C", timeout: 90), "ktrace stacks did not attach")
        usleep(1_500_000)
        w.signal(SIGTERM)
        let r = kt.wait(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("exited after"), "\(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        // 199 Hz over 1.5 s: 298 samples, fewer where the emulator's timer fires late (a third at the least).
        #expect(p.totalSamples > 100, "\(p.totalSamples) samples: \(r.stderr)")
        #expect(share(p) { $0 == "burn_a" } > 0.3, "symbols lost after exit: \(r.stdout.prefix(400))")
    }

    @Test(arguments: [
        (["stacks", "--pid", "999999999", "-d", "1"], "no process with pid 999999999"),
        (["stacks", "-F", "0", "-d", "1"], "-F 0"),
        (["stacks", "-d", "1", "-o", "/nonexistent-dir/x.svg"], "cannot write /nonexistent-dir/x.svg"),
        (["stacks", "--pid", "1", "--comm", "x", "-d", "1"], "give one of"),
        (["stacks", "--pid", ",", "-d", "1"], "--pid needs at least one id"),
        (["stacks", "-d", "1e300"], "-d must be"),
        (["stacks", "--stack-storage", "4294967295", "-d", "1"], "--stack-storage must be"),
    ])
    func badInput(args: [String], message: String) throws {
        let r = try run(Env.ktrace, args, timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    /// Ctrl-C ends sampling: what was gathered is written, everything is detached. The burn workload is in
    /// it: its leaf burn_a in the folded stacks; in the text timeline its runs, each named by the frames all
    /// its samples share (one 812 ms run of burn alternates burn_a/b/c and is named "main": 6.12 under TCG).
    /// The listing's columns are as wide as their widest entry (repeats merged into one line, "timer ×3", widen
    /// the kind: the RT kernels in the landing CI of 239fb4d), so the run is matched as a pattern.
    @Test(arguments: [(["stacks", "-a", "--by-softirq"], "burn_a"), (["timeline", "-a", "--format", "text"], #"run +burn \("#)])
    func interruptWritesWhatWasGathered(args: [String], gathered: String) throws {
        let w = try Workload.start("burn", seconds: 60)  // it must outlive a slow attach under emulation
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        let kt = try Spawned(Env.ktrace, args, streamStdout: false)
        #expect(kt.waitForStderr("Ctrl-C", timeout: 60), "no banner")  // attached (slow under emulation)
        usleep(1_500_000)
        kt.signal(SIGINT)
        let r = kt.wait(timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains(try Regex(gathered)), "nothing written after Ctrl-C: \(r.stdout.prefix(300))")
        let left = try ktraceProgramsAfterExit()
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// --interval rewrites the output while sampling goes on, with everything gathered so far.
    @Test func intervalRewritesTheOutput() throws {
        let w = try Workload.start("burn", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-interval-\(getpid()).folded").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let kt = try Spawned(Env.ktrace, ["stacks", "--pid", String(w.pid), "-F", "199", "-d", "4", "--interval", "1", "-o", file],
                             streamStdout: false)
        try #require(kt.waitForStderr("sampling pid"), "ktrace stacks did not attach")  // the -d 4 window opens now
        usleep(2_600_000)
        let early = try FoldedProfile.parse(String(contentsOfFile: file, encoding: .utf8))
        let r = kt.wait(timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        let last = try FoldedProfile.parse(String(contentsOfFile: file, encoding: .utf8))
        #expect(early.totalSamples > 100, "no interval output while sampling: \(early.totalSamples) samples")
        #expect(last.totalSamples > early.totalSamples + 200, "final \(last.totalSamples) vs early \(early.totalSamples)")
        #expect(share(last) { $0 == "burn_a" } > 0.3)
    }

    /// Hardware cycles: sampled where a PMU exists, else one line saying so (this VM has none).
    @Test func cyclesEventWorksOrExplains() throws {
        let r = try run(Env.ktrace, ["stacks", "-a", "--event", "cycles", "-d", "1"], timeout: 30)
        if r.status == 0 {
            _ = try FoldedProfile.parse(r.stdout)
        } else {
            #expect(r.stderr.hasPrefix("ktrace: error: hardware event 'cycles' is not available"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
    }

    /// The kernel's BTF is parsed from a mapping of /sys/kernel/btf/vmlinux where the kernel allows one
    /// (6.16+), one copy instead of libbpf 1.1's two (vmlinux_btf.c), and -v says which way was taken.
    /// Whether the mapping works is checked here independently, by mapping the file. Fails if ktrace's
    /// definition stops taking the place of libbpf's (no line at all), or if a kernel that maps the
    /// file is not parsed from the mapping.
    @Test func kernelBTFParsedFromItsMapping() throws {
        let fd = open("/sys/kernel/btf/vmlinux", O_RDONLY)
        try #require(fd >= 0, "no /sys/kernel/btf/vmlinux")
        var st = stat()
        fstat(fd, &st)
        let m = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
        close(fd)
        let maps = m != MAP_FAILED
        if maps { munmap(m, Int(st.st_size)) }
        let r = try run(Env.ktrace, ["stacks", "-a", "-d", "0.2", "-v"], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        let line = r.stderr.split(separator: "\n").first { $0.hasPrefix("ktrace: kernel BTF ") }.map(String.init)
        if line?.contains("(it maps the file itself") == true {
            // libbpf 1.6 and later: its own parse maps the file, without a copy.
        } else if maps {
            #expect(line == "ktrace: kernel BTF mapped from /sys/kernel/btf/vmlinux and copied once", "\(r.stderr)")
        } else {
            #expect(line?.hasPrefix("ktrace: kernel BTF read by libbpf ") == true, "\(r.stderr)")
        }
    }

    @Test func noProgramLeftAfterSampling() throws {
        let r = try run(Env.ktrace, ["stacks", "-a", "--by-softirq", "-d", "1"], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        let left = try ktraceProgramsAfterExit()
        #expect(left.isEmpty, "left behind: \(left)")
    }
}

@Suite struct FlamegraphCommandTests {
    /// `ktrace flamegraph` draws any folded file (perf's, bpftrace's) and rejects malformed input clearly.
    @Test func rendersFoldedInput() throws {
        let dir = FileManager.default.temporaryDirectory
        let folded = dir.appendingPathComponent("ktt-in-\(getpid()).folded").path
        let svg = dir.appendingPathComponent("ktt-out-\(getpid()).svg").path
        defer { try? FileManager.default.removeItem(atPath: folded); try? FileManager.default.removeItem(atPath: svg) }
        try "perf;main;work 30\nperf;main;idle 10\n".write(toFile: folded, atomically: false, encoding: .utf8)
        let r = try run(Env.ktrace, ["flamegraph", folded, "-o", svg, "--title", "perf run"], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(text.contains("perf run") && text.contains("work"))

        try "perf;main;work thirty\n".write(toFile: folded, atomically: false, encoding: .utf8)
        let bad = try run(Env.ktrace, ["flamegraph", folded], timeout: 30)
        #expect(bad.status != 0)
        #expect(bad.stderr.hasPrefix("ktrace: error:") && bad.stderr.contains("line 1"), "\(bad.stderr)")
    }
}
