import Foundation
import KtraceCore
import Testing

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct EventStacksIntegrationTests {
    private func stacks(_ w: Spawned, _ args: [String]) throws -> (FoldedProfile, RunResult) {
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid)] + args, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        return (try FoldedProfile.parse(r.stdout), r)
    }

    /// A workload that faults 3 fresh pages in touch_three for every 1 in touch_one: the page-faults
    /// graph (every fault a sample) splits 75/25, and so does perf's on the same seconds.
    @Test func pageFaultsSplitAsTheWorkloadAndPerf() throws {
        // Outlasts a slow attach (7.7 s on 6.1-rt under TCG, stack maps preallocated: the 8 s workload exited
        // 0.2 s into the recording), then ended.
        let w = try Workload.start("faults", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        // Debian's perf is a wrapper that needs the perf of the running kernel's version. No comparison under
        // TCG (the kernel matrix's guests; the host's run, make host-test, compares): there this perf took
        // 35 s for its 2 s (6.12) or hung until killed (5.10), a few tests' worth of CI time.
        let tcg = ProcessInfo.processInfo.environment["VMTEST_ACCEL"] == "tcg"
        if tcg { print("SKIP: perf comparison: not under TCG (the kernel matrix); the host run compares") }
        let perf = try !tcg && FileManager.default.isExecutableFile(atPath: "/usr/bin/perf")
            && run("/usr/bin/perf", ["--version"], timeout: 30).status == 0
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("ktt-faults-\(getpid()).data").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        // Each fault's own instruction is in touch_three or touch_one, so perf needs no callchain, nor the
        // build-id pass at its exit (every sample read again): both were a 6.12 guest's 42 s of perf, and
        // its 35 s without them are why the comparison is off under TCG.
        let peer = perf ? try Spawned("/usr/bin/perf", ["record", "-q", "-e", "page-faults", "-c", "1", "--no-buildid", "-p", String(w.pid),
                                                        "-o", data, "--", "sleep", "2"], streamStdout: false) : nil
        let faults0 = try pageFaults(w.pid)
        let (p, r) = try stacks(w, ["--event", "page-faults", "-d", "2"])
        let faults = try pageFaults(w.pid) - faults0
        let three = share(p) { $0 == "touch_three" }, one = share(p) { $0 == "touch_one" }
        // Every fault of the 2 s is a sample, and no sample is a fault that did not happen: at most the
        // process's own count over a span holding the recording, with 2% for faults retried (perf's event
        // counts a fault at its entry, each retry again; /proc counts it once). The count depends on the
        // machine's speed (6361 in 2 s on 6.12-rt under TCG); 2000 make the split's 2-point bound a test
        // (1 point of binomial spread).
        #expect(p.totalSamples > 2000 && p.totalSamples <= faults + faults / 50, "\(p.totalSamples) samples, \(faults) faults: \(r.stderr)")
        #expect(abs(three - 0.75) <= 0.02 && abs(one - 0.25) <= 0.02, "touch_three \(three), touch_one \(one)")
        #expect(p.stacks.contains { $0.frames.contains("main") && $0.frames.contains("touch_three") }, "\(r.stdout.prefix(400))")
        guard let peer else {
            if !tcg { print("SKIP: perf comparison: no perf for this kernel") }
            return
        }
        let recorded = peer.wait(timeout: 60)
        guard recorded.status == 0 else {
            // Debian's perf wrapper runs here but may find no perf for this kernel's version.
            print("SKIP: perf comparison: perf record failed: \(recorded.stderr.prefix(200))")
            return
        }
        // perf script prints each sample's address and function, one sample a line (it prints no function
        // without the address).
        let script = try run("/usr/bin/perf", ["script", "-i", data, "-F", "ip,sym"], timeout: 120)
        var t = 0, o = 0
        for line in script.stdout.split(separator: "\n") {
            if line.hasSuffix(" touch_three") { t += 1 } else if line.hasSuffix(" touch_one") { o += 1 }
        }
        try #require(t + o > 1000, "perf: \(t) + \(o) samples")
        let pt = Double(t) / Double(t + o)
        print("page-faults: ktrace touch_three \(fixed(three * 100, 1))% of \(p.totalSamples); perf \(fixed(pt * 100, 1))% of \(t + o)")
        #expect(abs(pt - three) <= 0.02, "perf \(pt), ktrace \(three)")
    }

    /// The process's page faults so far, minor and major (/proc/PID/stat, fields 10 and 12).
    private func pageFaults(_ pid: Int32) throws -> UInt64 {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        // After the name: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt.
        let minor = try #require(UInt64(fields[7]), "\(stat)"), major = try #require(UInt64(fields[9]), "\(stat)")
        return minor + major
    }

    /// tracepoint:syscalls:sys_enter_mmap counts each mmap once, under the code that called it;
    /// exceptions:page_fault_user every 7th fault keeps the 75/25 split at a seventh of the count (7, not
    /// 10: a period sharing a factor with the workload's 4 faults a round would alias with it).
    @Test func tracepointsCountedAndSampled() throws {
        // Long enough for three runs under emulation, where each start takes seconds; ended after them.
        let w = try Workload.start("faults", seconds: 60)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        // One mmap a round of 4 faults: a quarter of the window's faults, less its lag (see below).
        var marks0: [UInt64] = []
        let rec = try recordWindow(["stacks", "--pid", String(w.pid), "--event", "tracepoint:syscalls:sys_enter_mmap", "-d", "2"],
                                   seconds: 2) { _ in marks0.append(try minorFaults(w.pid)) }
        let r = rec.result
        #expect(r.status == 0, "\(r.stderr)")
        let m = try FoldedProfile.parse(r.stdout)
        let rounds = Double(marks0[1] - marks0[0]) / 4
        // On PREEMPT_RT the kernel skips runs of a preempted CPU's programs, and 6.1 does not count those
        // skips for tracepoints (20104 of 61066 faults seen on 6.1-rt): a known limitation.
        let rt = (try? String(contentsOfFile: "/sys/kernel/realtime", encoding: .utf8))?.hasPrefix("1") == true
        #expect(m.totalSamples > 100, "\(m.totalSamples) mmaps sampled: \(r.stderr)")
        if rt {
            print("sys_enter_mmap on PREEMPT_RT: \(m.totalSamples) of \(Int(rounds)) mmaps in the window seen (known limitation)")
        } else {
            #expect(Double(m.totalSamples) >= rounds * 0.8, "\(m.totalSamples) mmaps sampled, \(rounds) rounds in the window: \(r.stderr)")
        }
        #expect(share(m) { $0.contains("mmap") } > 0.99 && share(m) { $0 == "main" } > 0.99, "\(r.stdout.prefix(400))")
        // Ground truth: the process's own minor-fault count (/proc/PID/stat). Around the whole run (ktrace's
        // attach and exit included) it bounds the samples from above; over the recording's window, from the
        // banner on, nearly all of its faults are samples: the window as the test sees it lags the real one
        // by a tenth of a second at most under emulation (a fifth of it missed, at worst, of 1.5 s). Read
        // around the run instead, that share fell with the attach's length (19% on 6.12-rt under TCG, its
        // stack maps preallocated in seconds).
        for period in [1, 7] {
            let before = try minorFaults(w.pid)
            var marks: [UInt64] = []
            let rec = try recordWindow(["stacks", "--pid", String(w.pid), "--event", "tracepoint:exceptions:page_fault_user",
                                        "--period", String(period), "-d", "1.5"], seconds: 1.5) { _ in marks.append(try minorFaults(w.pid)) }
            let r2 = rec.result
            #expect(r2.status == 0, "\(r2.stderr)")
            let p = try FoldedProfile.parse(r2.stdout)
            let faults = Double(try minorFaults(w.pid) - before), inWindow = Double(marks[1] - marks[0])
            let seen = Double(p.totalSamples * UInt64(period))
            // Runs the kernel skipped (PREEMPT_RT) are reported, and are faults too.
            let skipped = r2.stderr.firstMatch(of: /the kernel skipped (\d+) runs/).map { Double($0.1)! } ?? 0
            print("page_fault_user --period \(period): \(p.totalSamples) samples, \(Int(skipped)) runs skipped, \(Int(inWindow)) faults in the window, \(Int(faults)) around the run (/proc)")
            #expect(seen <= faults * 1.01 + Double(period * 8), "\(p.totalSamples) samples of \(faults) faults: \(r2.stderr)")
            if rt {
                print("page_fault_user on PREEMPT_RT: \(Int(seen + skipped)) of \(Int(inWindow)) faults in the window seen (known limitation)")
            } else {
                #expect(seen + skipped >= inWindow * 0.8, "\(p.totalSamples) samples of \(inWindow) faults in the window: \(r2.stderr)")
            }
            #expect(abs(share(p) { $0 == "touch_three" } - 0.75) <= 0.03, "\(r2.stdout.prefix(400))")
            #expect(r2.stderr.contains(" 0 lost (0.00%)"), "\(r2.stderr)")
        }
    }

    @Test(arguments: [
        (["--event", "tracepoint:nosuch:event"], "no such tracepoint on this kernel"),
        (["--event", "bogus"], "'bogus' is invalid for '--event"),
        (["--event", "page-faults", "-F", "99"], "is counted, not timed"),
    ])
    func badEvent(args: [String], message: String) throws {
        let r = try run(Env.ktrace, ["stacks", "-a", "-d", "1"] + args, timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }

    /// Where kprobes are missing (this host), --event kprobe: says so in one line; where they exist, it
    /// counts the function's calls.
    @Test func kprobeEventWorksOrSaysWhy() throws {
        // The workload calls do_mmap only for 3 s (some 800 rounds a second on 6.12-rt under TCG), from the
        // SIGUSR1 sent once ktrace has attached (its sleep before is at most 60 s), then sleeps 10 s: the
        // kprobe is patched in and out (8 s after attaching) while nothing calls it, and the process still lives at the end, for its user frames.
        // Under qemu's multi-threaded TCG, patching it while another vCPU ran through it once crashed the
        // 6.1 guest (a call to address 0).
        let w = try Workload.start("faults", args: ["3", "60", "10"])
        defer { w.signal(SIGKILL); _ = w.wait(timeout: 30) }
        let kt = try Spawned(Env.ktrace, ["stacks", "--pid", String(w.pid), "--event", "kprobe:do_mmap", "-d", "8"], streamStdout: false)
        if kt.waitForStderr("Ctrl-C", timeout: 90) { w.signal(SIGUSR1) }
        let r = kt.wait(timeout: 60)
        if r.status != 0 {
            #expect(r.stderr.contains("kprobes do not work on this kernel"), "\(r.stderr)")
            print("SKIP: kprobeEventWorksOrSaysWhy: \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            return
        }
        let p = try FoldedProfile.parse(r.stdout)
        #expect(p.totalSamples > 1000 && share(p) { $0 == "main" } > 0.99, "\(r.stdout.prefix(400)) \(r.stderr)")
    }
}

/// The fields of /proc/PID/stat from field 3 (state) on: what follows the comm, which may hold spaces.
func statFields(_ pid: Int32) throws -> [Substring] {
    let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    return stat[stat.range(of: ") ")!.upperBound...].split(separator: " ")
}

/// Field 10 of /proc/PID/stat: minor faults so far.
func minorFaults(_ pid: Int32) throws -> UInt64 { UInt64(try statFields(pid)[10 - 3])! }
