import Foundation
import KtraceCore
import Testing

/// offcputime's output (libbpf-tools): per stack, frames leaf first, "-  comm (pid)", the microseconds.
func parseOffcputime(_ text: String) -> [(frames: [String], us: UInt64)] {
    var out: [(frames: [String], us: UInt64)] = [], frames: [String] = []
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty { frames = []; continue }
        if line.hasPrefix("-") { continue }
        if let us = UInt64(line), !frames.isEmpty {
            out.append((frames, us))
            frames = []
        } else {
            frames.append(line)
        }
    }
    return out
}

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct OffcpuIntegrationTests {
    /// The workload outlives the recording however long attaching takes (seconds under TCG on 6.12-rt: a
    /// 5 s workload exited before a 1.5 s recording ended, which then ended early), and is ended by SIGTERM
    /// once ktrace (and the peer) are done; it prints its numbers then. Each tool's window is noted (ktrace's
    /// from its banner, offcputime's from its attach), so that the workload's own clock is read over the
    /// same seconds: its waits' shares move while tracers attach (the pipe's helper waits for a CPU then).
    private func offcpu(_ mode: String, _ args: [String], seconds: Double, peer: Bool = false) throws
        -> (profile: FoldedProfile, result: RunResult, window: (UInt64, UInt64), peer: (result: RunResult, start: UInt64)?, workload: RunResult) {
        let w = try Workload.start("offcpu", args: ["60", mode])
        defer { w.signal(SIGTERM) }  // on an early exit too: a 60 s workload must not outlive the test
        usleep(300_000)
        // The peer runs beside ktrace on the same process: ktrace starts once the peer has attached
        // (offcputime prints no banner; under TCG on 6.12 attaching took seconds, and its 3 s began after
        // the workload had ended). Its 3 s begin then. offcputime keeps stacks in a stack map without
        // BPF_F_REUSE_STACKID: a stack whose hash lands in a bucket another stack holds is dropped ("[Missed
        // User Stack]" on stderr), and with its default 1024 buckets the one user stack of all the sleeps
        // collided now and then (6.1 under TCG: every wait_sleep gone; reproduced here with 4 buckets).
        // 65536 buckets (64 MB) make that 64 times rarer; a collision that still happens is said, and the
        // comparison skipped.
        let p = peer ? try Spawned("/usr/sbin/offcputime", ["-p", String(w.pid), "--stack-storage-size", "65536", "3"],
                                   streamStdout: false) : nil
        var peerStart: UInt64 = 0
        if let p {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, p.isRunning, !holdsBPFLink(p.pid) { usleep(10_000) }
            peerStart = monoNs()
        }
        let rec = try recordWindow(["offcpu", "--pid", String(w.pid), "-d", String(seconds)] + args, seconds: seconds)
        #expect(rec.result.status == 0, "\(rec.result.stderr)")
        let peerResult = p?.wait(timeout: 60)
        w.signal(SIGTERM)
        return (try FoldedProfile.parse(rec.result.stdout), rec.result, (rec.start, rec.end), peerResult.map { ($0, peerStart) }, w.wait(timeout: 30))
    }

    /// What the "mix" workload printed last: SLEEP_NS PIPE_NS SHORT_PIECES LONG_BLOCKED_NS over its life.
    private func mixNumbers(_ w: RunResult) throws -> [Double] {
        let last = w.stdout.split(separator: "\n").last { !$0.hasPrefix("R ") } ?? ""
        let own = last.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(own.count == 4 && own[0] + own[1] > 0, "workload printed '\(last)'")
        return own
    }

    /// One thread blocks 7 ms in nanosleep under wait_sleep and 3 ms on a pipe under wait_pipe each round
    /// (about 70% / 30%; under emulation the pipe's answer comes later). ktrace attributes the blocked time
    /// as the workload's own clock measured it around the calls, within 5 points, with the user and kernel
    /// frames of each wait; the total is the wall time (the process is off the CPU nearly all of it); and
    /// offcputime on the same seconds agrees within 5 points.
    @Test func knownProportionsAgreeWithOffcputime() throws {
        let peerThere = FileManager.default.isExecutableFile(atPath: "/usr/sbin/offcputime")
        let (p, r, window, peer, workload) = try offcpu("mix", [], seconds: 3, peer: peerThere)
        let log = MixLog(workload.stdout)
        let own = log.window(window.0, window.1)
        try #require(own[0] + own[1] > 0, "the workload logged no round in ktrace's window: \(workload.stdout.suffix(300))")
        let want = own[0] / (own[0] + own[1])
        let sleepUs = p.stacks.filter { $0.frames.contains("wait_sleep") }.reduce(UInt64(0)) { $0 + $1.count }
        let pipeUs = p.stacks.filter { $0.frames.contains("wait_pipe") }.reduce(UInt64(0)) { $0 + $1.count }
        let total = Double(p.totalSamples) / 1e6
        #expect(total > 2.6 && total < 3.1, "\(total) s off the CPU in 3 s of a process that sleeps: \(r.stderr)")
        let a = Double(sleepUs) / Double(sleepUs + pipeUs)
        #expect(abs(a - want) <= 0.05, "wait_sleep: \(Int(a * 100))% of the blocked time, the workload measured \(Int(want * 100))% over the same seconds")
        #expect(p.stacks.contains { $0.frames.contains("wait_sleep") && $0.frames.contains("do_nanosleep") }, "\(r.stdout.prefix(800))")
        #expect(p.stacks.contains { $0.frames.contains("wait_pipe") && $0.frames.contains { $0.contains("pipe_read") } }, "\(r.stdout.prefix(800))")
        #expect(!p.stacks.contains { !tracerFrames($0.frames).isEmpty }, "the tracer's own frames: \(tracerStacks(p))")
        #expect(r.stderr.contains(" 0 lost (0.00%)"), "\(r.stderr)")
        guard let peer else { print("SKIP: offcputime comparison: /usr/sbin/offcputime not installed (libbpf-tools)"); return }
        #expect(peer.result.status == 0, "offcputime: \(peer.result.stderr)")
        // libbpf-tools 0.26 prints the marker on stderr; later releases on stdout, with a count on stderr.
        let missed = (peer.result.stderr + peer.result.stdout).components(separatedBy: "[Missed User Stack]").count - 1
        if missed > 0 || peer.result.stderr.contains("could not be displayed") {
            print("SKIP: offcputime comparison: it lost \(missed) user stacks to its stack map's hash collisions, so its shares are no reference")
            return
        }
        let stacks = parseOffcputime(peer.result.stdout)
        let ps = stacks.filter { $0.frames.contains("wait_sleep") }.reduce(UInt64(0)) { $0 + $1.us }
        let pp = stacks.filter { $0.frames.contains("wait_pipe") }.reduce(UInt64(0)) { $0 + $1.us }
        try #require(ps + pp > 0, "offcputime saw no wait: \(peer.result.stdout.prefix(800))")
        let b = Double(ps) / Double(ps + pp)
        // The two tools record different seconds (ktrace begins once offcputime has attached, after its own
        // attach): each is compared with the workload's clock over its own window, and they must agree on
        // how far off that they are.
        let ownPeer = log.window(peer.start, peer.start + 3_000_000_000)
        let wantPeer = ownPeer[0] / max(ownPeer[0] + ownPeer[1], 1)
        print("offcpu mix: ktrace wait_sleep \(fixed(a * 100, 1))% (\(sleepUs) us), wait_pipe \(pipeUs) us, the workload's clock \(fixed(want * 100, 1))% "
              + "over the same seconds; offcputime wait_sleep \(fixed(b * 100, 1))% (\(ps) us), wait_pipe \(pp) us, the workload's clock \(fixed(wantPeer * 100, 1))%")
        #expect(abs((a - want) - (b - wantPeer)) <= 0.05, "ktrace \(a) (workload \(want)), offcputime \(b) (workload \(wantPeer))")
    }

    /// A task in uninterruptible sleep (a vfork parent waits for its child in D) is what --state D finds,
    /// with its kernel stack; --state S leaves that wait out.
    @Test func uninterruptibleSleepByState() throws {
        let (d, r, _, _, _) = try offcpu("vfork", ["--state", "D", "--by-state"], seconds: 2)
        let vfork = d.stacks.filter { $0.frames.contains("wait_vfork") && $0.frames.contains("kernel_clone") }
        let dUs = vfork.reduce(UInt64(0)) { $0 + $1.count }
        #expect(Double(dUs) / 1e6 > 1.6, "\(dUs) us in D under wait_vfork in 2 s: \(r.stdout.prefix(800)) \(r.stderr)")
        #expect(d.stacks.allSatisfy { $0.frames.count > 1 && $0.frames[1] == "[state:D]" }, "\(r.stdout.prefix(800))")
        let (s, r2, _, _, _) = try offcpu("vfork", ["--state", "S"], seconds: 1.5)
        #expect(!s.stacks.contains { $0.frames.contains("kernel_clone") }, "a D wait under --state S: \(r2.stdout.prefix(800))")
    }

    /// --user-only --wakers: the blocked task's own stacks are user stacks only, but the wakers' are kernel
    /// stacks, and their frames are named (they read as addresses when --user-only left kallsyms unloaded).
    @Test func wakersNamedWithUserOnly() throws {
        let (p, r, _, _, _) = try offcpu("mix", ["--wakers", "--state", "S", "--user-only"], seconds: 1.5)
        let woken = p.stacks.filter { $0.frames.contains("[woken in task]") }
        let wakerFrames = woken.flatMap { s in s.frames.drop { $0 != "[woken in task]" }.dropFirst() }
        #expect(woken.contains { $0.frames.contains { $0.contains("pipe_write") } }, "\(r.stdout.prefix(1200)) \(r.stderr)")
        // Nearly all named: a frame of a module loaded after kallsyms was read, or of JIT code hidden from
        // kallsyms, may still read as an address.
        let unnamed = wakerFrames.filter { $0.hasPrefix("0x") }.count
        #expect(!wakerFrames.isEmpty && unnamed * 10 < wakerFrames.count, "\(unnamed) of \(wakerFrames.count) waker frames unnamed: \(r.stdout.prefix(1200))")
    }

    /// --wakers: the pipe waits are woken by the helper process writing the pipe (a task, its kernel stack
    /// through pipe_write), the 7 ms sleeps by the hrtimer interrupt; the summary line says so. On
    /// PREEMPT_RT timers expire in a thread and the kernel skips runs: the sleeps are only reported there.
    /// State S only: a preemption inside wait_sleep (R) ends with no wakeup at all (6.12 under TCG, all
    /// states: 81% of wait_sleep's time was woken in irq).
    @Test func wakersTellTaskFromIrq() throws {
        let (p, r, _, _, _) = try offcpu("mix", ["--wakers", "--state", "S"], seconds: 1.5)
        let pipe = p.stacks.filter { $0.frames.contains("wait_pipe") }, sleep = p.stacks.filter { $0.frames.contains("wait_sleep") }
        let pipeByTask = pipe.filter { s in
            s.frames.contains("[woken in task]") && s.frames.contains { $0.contains("pipe_write") } && s.frames.last == "offcpu"
        }
        let sleepByIrq = sleep.filter { $0.frames.contains("[woken in irq]") }
        func us(_ x: [FoldedStack]) -> UInt64 { x.reduce(0) { $0 + $1.count } }
        #expect(Double(us(pipeByTask)) >= 0.9 * Double(us(pipe)), "\(r.stdout.prefix(1200))")
        let rt = (try? String(contentsOfFile: "/sys/kernel/realtime", encoding: .utf8))?.hasPrefix("1") == true
        if rt {
            print("wakers on PREEMPT_RT: sleeps \(us(sleep)) us, \(us(sleepByIrq)) woken in irq; \(r.stderr.split(separator: "\n").last ?? "")")
        } else {
            // On failure, every wait_sleep stack with its waker, and ktrace's own split of the wakeups.
            #expect(Double(us(sleepByIrq)) >= 0.9 * Double(us(sleep)),
                    "\(sleep.map { "\($0.frames.joined(separator: ";")) \($0.count)" }.joined(separator: "\n")) \(r.stderr)")
        }
        #expect(p.stacks.allSatisfy { s in s.frames.firstIndex(of: "--").map { s.frames[$0 + 1].hasPrefix("[woken in ") } ?? true })
        #expect(r.stderr.contains("woken (share of the blocked time): ") && r.stderr.contains("from irq"), "\(r.stderr)")
        #expect(!p.stacks.contains { !tracerFrames($0.frames).isEmpty }, "the tracer's own frames: \(tracerStacks(p))")
    }

    /// A 7 ms nanosleep never ends sooner: --max-us 5000 drops every one of them and keeps the pipe
    /// waits, --min-us 6900 keeps them, and each run says how many blocked times it left out. In state S
    /// only: a preemption inside wait_sleep (R) may be short. A sleep preempted between arming its timer
    /// and blocking, woken before its timer, or whose vCPU the emulator stopped in between (6.12 under
    /// single-threaded TCG: one voluntary switch, 9303 us in short pieces), blocks for less than 7 ms: the
    /// workload counts the blocked pieces of such sleeps (its context switches around each, and its own CPU
    /// clock), and each may leave at most 5000 us. A vCPU stopped inside __schedule, after the task was
    /// dequeued and before the switch tracepoint (6.12 under TCG: a sleep counted as 3059 us, the workload
    /// undisturbed; 6.12-rt, woken on the other CPU: 3109 us), no longer shortens a sleep: its switch-out is
    /// stamped at the scheduler's clock read, wherever it comes back on.
    @Test func blockedTimeFilters() throws {
        let (p, r, _, _, w) = try offcpu("mix", ["--state", "S", "--max-us", "5000"], seconds: 1.5)
        let own = try mixNumbers(w)
        let split = UInt64(own[2])
        let shortSleeps = p.stacks.filter { $0.frames.contains("wait_sleep") }.reduce(UInt64(0)) { $0 + $1.count }
        #expect(shortSleeps <= split * 5000, "\(shortSleeps) us of sleeps under 5 ms, \(split) blocked pieces of disturbed sleeps: \(r.stdout.prefix(600)) \(r.stderr)")
        #expect(p.stacks.contains { $0.frames.contains("wait_pipe") }, "\(r.stdout.prefix(600))")
        #expect(r.stderr.contains("outside --min-us/--max-us"), "\(r.stderr)")
        // For the record (the guests' logs): how many switch-outs stalled inside the scheduler.
        print("blockedTimeFilters: \(r.stderr.split(separator: "\n").first { $0.contains("switch-outs") } ?? "")")
        // The sleeps that surely blocked 6.9 ms or more, in the recording's seconds as the workload's own
        // clock measured them: at least two thirds of that (window edges, and a recording that may begin or
        // end in a pipe wait).
        let (q, r2, window, _, w2) = try offcpu("mix", ["--min-us", "6900"], seconds: 1.5)
        let own2 = MixLog(w2.stdout).window(window.0, window.1)
        try #require(own2[3] > 1_500_000_000 * 0.3, "the workload's sleeps were too disturbed to test --min-us: \(own2)")
        let sleep = q.stacks.filter { $0.frames.contains("wait_sleep") }.reduce(UInt64(0)) { $0 + $1.count }
        #expect(Double(sleep) * 1000 > own2[3] * 2 / 3,
                "\(sleep) us of sleeps in 1.5 s, the workload's own clock \(Int(own2[3] / 1000)) us in long sleeps: \(r2.stdout.prefix(600))")
        #expect(r2.stderr.contains("outside --min-us/--max-us"), "\(r2.stderr)")
    }

    /// Hot/cold: a process that spins 4 ms and sleeps 7 ms each round is about 36% on the CPU, 64% off, in
    /// one unit (microseconds) under [on-cpu] and [off-cpu]; the SVG draws the off-CPU part in blues.
    /// The on-CPU share is checked against the kernel's own CPU time of the process over the recording
    /// (a 7 ms sleep overran by ~2 ms on the 6.1-rt guest under TCG: 31% on the CPU, not 36%).
    @Test func hotColdSplitsOnAndOffCPU() throws {
        let w = try Workload.start("offcpu", args: ["60", "hotcold"])  // two recordings, slow attaches under emulation
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        // The process's CPU time over the recorded seconds (around the run, ktrace's attach took its CPU).
        var cpu: [Double] = []
        let rec = try recordWindow(["stacks", "--pid", String(w.pid), "--hot-cold", "-F", "499", "-d", "3"], seconds: 3) { _ in
            cpu.append(try cpuSeconds(w.pid))
        }
        let r = rec.result
        let truth = (cpu[1] - cpu[0]) / (Double(rec.end - rec.start) / 1e9)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        #expect(abs(share(p) { $0 == "[on-cpu]" } + share(p) { $0 == "[off-cpu]" } - 1) < 0.001)
        // Periods the kernel's sampling timer skipped while the workload ran (a vCPU the emulator did not run:
        // 6.12 under single-threaded TCG, 398 samples for 1.2 s): its time, said by ktrace, not in the profile.
        let skippedUs = Double(skippedPeriods(r.stderr)) * 1e6 / 499
        let onUs = share(p) { $0 == "[on-cpu]" } * Double(p.totalSamples) + skippedUs
        let wholeUs = Double(p.totalSamples) + skippedUs
        let on = onUs / wholeUs
        #expect(abs(truth - 4.0 / 11) <= 0.1, "the workload ran \(Int(truth * 100))% on the CPU, not about 36%")
        #expect(abs(on - truth) <= 0.05, "on-CPU \(Int(on * 100))% (with \(Int(skippedUs)) us skipped), /proc/PID/stat says \(Int(truth * 100))%: \(r.stderr)")
        // Where each side's time went: the spinning under spin, the sleeping under wait_sleep. Taken within
        // [on-cpu] and within [off-cpu], since the split itself is checked against /proc above and moves with
        // the guest's speed (6.12-rt under TCG, run 27: spin under 30% of the whole, with the on-CPU share
        // matching /proc). The bounds are the old ones' share of each side: 30 of 36%, 55 of 64%.
        func within(_ side: String, _ function: String) -> Double {
            let stacks = p.stacks.filter { $0.frames.first == side }
            let all = stacks.reduce(UInt64(0)) { $0 + $1.count }
            let hit = stacks.filter { $0.frames.contains(function) }.reduce(UInt64(0)) { $0 + $1.count }
            return all > 0 ? Double(hit) / Double(all) : 0
        }
        #expect(within("[on-cpu]", "spin") > 0.82 && within("[off-cpu]", "wait_sleep") > 0.86, "\(r.stdout.prefix(800)) \(r.stderr)")
        #expect(wholeUs / 1e6 > 2.7, "\(p.totalSamples) us in the profile and \(Int(skippedUs)) us skipped in 3 s")
        let svg = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--hot-cold", "-d", "1", "--format", "svg"], timeout: 60)
        #expect(svg.stdout.contains("[off-cpu]") && svg.stdout.contains(" us, "), "\(svg.stdout.prefix(300))")
    }

    /// Bad input: one clear error, non-zero exit, no crash.
    @Test(arguments: [
        (["--state", "X"], "--state X: give any"),
        (["-F", "99"], "offcpu does not sample"),
        (["--min-us", "10", "--max-us", "5"], "--max-us 5 is below --min-us 10"),
    ])
    func badInput(args: [String], message: String) throws {
        let r = try run(Env.ktrace, ["offcpu", "-d", "1"] + args, timeout: 30)
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
    }
}

/// The sampling periods ktrace says the kernel's timer skipped ("... the kernel's timer skipped N periods ..."), or 0.
func skippedPeriods(_ stderr: String) -> Int {
    guard let m = stderr.firstMatch(of: /the kernel's timer skipped (\d+) periods?/) else { return 0 }
    return Int(m.1) ?? 0
}

/// The tracer's own frames left in an off-CPU stack: `bpf_…` frames (its program, the tracepoint's glue)
/// where they can only be the tracer's, leafward of the function whose tracepoint took the stack:
/// `__schedule` in the blocked part (root first), `try_to_wake_up` in the waker's part after "--" (leaf
/// first); the whole part when that function is absent. Rootward, a `bpf_…` frame is the interrupted
/// code's own: an irq that woke a sleeper interrupted ktrace reading /proc/kallsyms, and the waker's stack
/// went on through bpf_iter_ksym_seq_stop, the kernel's BPF symbol iterator (6.1 under TCG, run 16).
func tracerFrames(_ frames: [String]) -> [String] {
    let sep = frames.firstIndex(of: "--") ?? frames.endIndex
    let blocked = frames[..<sep]
    let leafward = blocked.lastIndex(where: { $0 == "__schedule" || $0.hasPrefix("__schedule.") }).map { blocked[($0 + 1)...] } ?? blocked
    var found = leafward.filter { $0.hasPrefix("bpf_") }
    if sep < frames.endIndex {
        let waker = frames[(sep + 1)...]
        found += (waker.firstIndex(of: "try_to_wake_up").map { waker[..<$0] } ?? waker).filter { $0.hasPrefix("bpf_") }
    }
    return found
}

/// The stacks with a frame of the tracer's (tracerFrames), whole, for a failure message.
func tracerStacks(_ p: FoldedProfile) -> String {
    p.stacks.filter { !tracerFrames($0.frames).isEmpty }.prefix(5).map { "\($0.frames.joined(separator: ";")) \($0.count)" }
        .joined(separator: "\n")
}

/// utime + stime of /proc/PID/stat (fields 14 and 15, in clock ticks), in seconds.
func cpuSeconds(_ pid: Int32) throws -> Double {
    let fields = try statFields(pid)
    return Double(UInt64(fields[14 - 3])! + UInt64(fields[15 - 3])!) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The "mix" workload's log: a line per round, "R T_NS SLEEP_NS PIPE_NS SHORT_PIECES LONG_BLOCKED_NS",
/// its totals so far at T_NS (CLOCK_MONOTONIC).
struct MixLog {
    let rows: [[Double]]

    init(_ stdout: String) {
        rows = stdout.split(separator: "\n").filter { $0.hasPrefix("R ") }
            .map { $0.split(separator: " ").dropFirst().compactMap { Double($0) } }.filter { $0.count == 5 }
    }

    /// The totals at the last round ended by `ns` (zeros before the first).
    func at(_ ns: UInt64) -> [Double] { rows.last { $0[0] <= Double(ns) } ?? [0, 0, 0, 0, 0] }

    /// SLEEP_NS PIPE_NS SHORT_PIECES LONG_BLOCKED_NS of the rounds that ended between `start` and `end`.
    func window(_ start: UInt64, _ end: UInt64) -> [Double] {
        let a = at(start), b = at(end)
        return (1...4).map { b[$0] - a[$0] }
    }
}

/// The process holds a BPF link: a tracer has attached its programs (libbpf-tools print no banner).
func holdsBPFLink(_ pid: Int32) -> Bool {
    let dir = "/proc/\(pid)/fd"
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return false }
    return fds.contains { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")) ?? "").contains("bpf_link") }
}
