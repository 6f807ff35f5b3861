import Foundation
import KtraceCore
import Testing

/// User stacks of code built without frame pointers (Tests/Workloads/nofp.c, -O2 -fomit-frame-pointer),
/// walked in the kernel with unwind tables: the workload's call chains are known, so each stack is checked
/// frame by frame, and frame pointers are shown to fail on the same process (the premise).
/// Does a stack, from main on (root first), begin with `want`?
func startsFromMain(_ s: FoldedStack, with want: [String]) -> Bool {
    guard let i = s.frames.firstIndex(of: "main") else { return false }
    return Array(s.frames[i...].prefix(want.count)) == want
}

/// Samples (or microseconds) of the stacks that begin from main with `want`.
func countFromMain(_ p: FoldedProfile, _ want: [String]) -> UInt64 {
    p.stacks.filter { startsFromMain($0, with: want) }.reduce(UInt64(0)) { $0 + $1.count }
}

@Suite(.serialized, .enabled(if: Env.isRoot, "integration tests load BPF programs: run them as root"))
struct UnwindIntegrationTests {

    /// main -> outer -> chain x 20 -> sorter -> qsort (libc, no frame pointers either) -> by_value: with
    /// tables, at least 95% of samples carry that exact chain from main down to sorter (the rest: samples
    /// in the time check, or at an instruction whose row the stack read could not follow, each counted);
    /// with frame pointers, almost none reach main.
    @Test func knownChainWithoutFramePointers() throws {
        let w = try Workload.start("nofp", args: ["cpu", "20", "60"])
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let want = ["main", "outer"] + Array(repeating: "chain", count: 21) + ["sorter"]
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "3", "--unwind", "dwarf"],
                        timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        let exact = p.stacks.filter { startsFromMain($0, with: want) }
        let share = Double(countFromMain(p, want)) / Double(max(p.totalSamples, 1))
        #expect(p.totalSamples > 600, "\(p.totalSamples) samples: \(r.stderr)")
        #expect(share >= 0.95, "\(Int(share * 100))% of samples under main;outer;chain×21;sorter: \(r.stdout.prefix(1500)) \(r.stderr)")
        // Below sorter: libc's qsort, then by_value where the time goes.
        #expect(exact.contains { $0.frames.contains { $0.hasPrefix("qsort") } && $0.frames.last == "by_value" }, "\(r.stdout.prefix(1500))")
        #expect(r.stderr.contains("user stacks: ") && r.stderr.contains("walked with unwind tables"), "\(r.stderr)")

        let fp = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "1", "--unwind", "fp"],
                         timeout: 60)
        let fpProfile = try FoldedProfile.parse(fp.stdout)
        let fpMain = fpProfile.stacks.filter { $0.frames.contains("main") }.reduce(UInt64(0)) { $0 + $1.count }
        #expect(Double(fpMain) < 0.5 * Double(fpProfile.totalSamples),
                "frame pointers reached main in \(fpMain) of \(fpProfile.totalSamples) samples: is nofp built with them?")
    }

    /// 50 chain frames: the samples' stacks are 60 to 65 frames deep (libc's merge sort recurses to a
    /// varying depth under qsort; with Debian 12's glibc 2.36, 3 frames below main), across the walk's limit
    /// of 64: a quarter of the samples are 64 or 65 frames deep (the premise, checked below). A stack deeper than 64 is cut, marked
    /// (`[truncated]` as its outermost user frame) and counted on stderr; a stack of exactly 64 frames,
    /// whose last is `_start`, is whole and not marked (the walk marked it until it learned to look for
    /// the 64th frame's caller).
    @Test func deepStacksAreCutAndSaid() throws {
        let w = try Workload.start("nofp", args: ["cpu", "50", "60"])
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let r = try run(Env.ktrace, ["stacks", "--pid", String(w.pid), "--user-only", "-F", "499", "-d", "1.5", "--unwind", "dwarf"],
                        timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FoldedProfile.parse(r.stdout)
        func samples(_ s: [FoldedStack]) -> UInt64 { s.reduce(UInt64(0)) { $0 + $1.count } }
        // The comm, then the frames from the outermost: `_start` for a whole stack, `[truncated]` for a cut one.
        let whole = p.stacks.filter { $0.frames.dropFirst().first == "_start" }
        let marked = p.stacks.filter { $0.frames.dropFirst().first == "[truncated]" }
        let total = Double(max(p.totalSamples, 1))
        #expect(Double(samples(whole) + samples(marked)) >= 0.95 * total,
                "\(samples(whole)) whole and \(samples(marked)) cut of \(p.totalSamples) samples: \(r.stderr)")
        #expect(whole.allSatisfy { $0.frames.count <= 65 }, "a whole stack of \((whole.map(\.frames.count).max() ?? 1) - 1) frames")
        // Cut: exactly 64 frames below the mark, `_start` not among them (it would make the stack whole).
        #expect(marked.allSatisfy { $0.frames.count == 66 && !$0.frames.dropFirst(2).contains("[truncated]") },
                "a [truncated] stack without 64 frames below it: \(marked.first?.frames ?? [])")
        #expect(!marked.contains { $0.frames.contains("_start") },
                "a stack of 64 frames from _start marked cut: \(marked.first { $0.frames.contains("_start") }?.frames.count ?? 0)")
        // Both sides of the limit were sampled, so that both checks above could fail.
        let exactly64 = samples(whole.filter { $0.frames.count == 65 })
        #expect(Double(exactly64) >= 0.03 * total && Double(samples(marked)) >= 0.03 * total,
                "\(exactly64) samples of exactly 64 frames, \(samples(marked)) cut, of \(p.totalSamples): \(r.stdout.prefix(1500))")
        // The stacks counted cut are the ones marked: as many (bar a sample whose count was lost after its
        // walk, which the counter holds and the output does not), and no more.
        let cut = r.stderr.firstMatch(of: /; (\d+) cut at 64 frames/).flatMap { Int($0.1) } ?? 0
        #expect(samples(marked) <= UInt64(cut) && Double(samples(marked)) >= 0.9 * Double(cut),
                "\(samples(marked)) samples marked [truncated], \(cut) said cut: \(r.stderr)")
    }

    /// Stacks on both sides of 32 frames, where two limits sit: a stack of at most 32 frames is kept in the
    /// short stack maps, and the scheduler's tracepoints first ask for 32 frames, then again for the whole
    /// depth only when all 32 came back. The workload (Tests/Workloads/ladder.c) sleeps as long under each
    /// of 25 depths, in one lane or three, and its stacks are known frame for frame: every one must be
    /// main -> climb -> lane_L -> rung x (K + 1) -> nap for K = 16...40 under one unchanging root part,
    /// each depth and lane with its share of the time. A frame lost at a limit, a stack cut at 32, or the
    /// stacks of one depth lost break one of these; a stale frame after a 32-frame stack read back by
    /// whole maps, when one such stack lies in the first quarter of a batch (most runs). Sleeps only
    /// (`--state S`): a preemption at nap's first or last instruction, where rbp is still its caller's,
    /// would show one rung fewer to frame pointers. Walked with frame pointers (bpf_get_stack, its shallow
    /// first ask), 25 stacks: read back one at a time; with unwind tables (ktrace's own walk), 75 stacks:
    /// read back by whole maps, the short map at its 32-frame stride.
    @Test func stacksAcrossThe32FrameLimits() throws {
        let ks = 16...40  // the workload's K: K + 1 rung frames
        for (unwind, lanes) in [("fp", 1), ("dwarf", 3)] {
            // The read path each run is meant to take: one at a time up to the threshold, whole maps above.
            #expect((ks.count * lanes > StackSymbolizer.prefetchThreshold) == (unwind == "dwarf"))
            let w = try Workload.start("ladder", args: [String(ks.lowerBound), String(ks.upperBound), String(lanes), "60"])
            defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
            usleep(300_000)
            let r = try run(Env.ktrace, ["offcpu", "--pid", String(w.pid), "--user-only", "--state", "S", "-d", "2", "--unwind", unwind],
                            timeout: 90)
            #expect(r.status == 0, "\(r.stderr)")
            let p = try FoldedProfile.parse(r.stdout)
            let naps = p.stacks.filter { $0.frames.last == "nap" }
            var roots = Set<[String]>(), time: [Int: UInt64] = [:], laneTime: [String: UInt64] = [:], depths = Set<Int>()
            var napping: UInt64 = 0
            for s in naps {
                napping += s.count
                let body = s.frames.dropFirst() // the comm
                guard let m = body.firstIndex(of: "main") else {
                    Issue.record("--unwind \(unwind): a stack of nap without main: \(s.frames.joined(separator: ";"))")
                    continue
                }
                let below = Array(body[(m + 1)...]), rungs = below.dropFirst(2).dropLast()
                let lane = below.count > 1 ? below[1] : ""
                #expect(below.first == "climb" && lane.hasPrefix("lane_") && !rungs.isEmpty && rungs.allSatisfy { $0 == "rung" },
                        "--unwind \(unwind): not main;climb;lane_L;rung...;nap: \(s.frames.joined(separator: ";"))")
                roots.insert(Array(body[..<m]))
                time[rungs.count, default: 0] += s.count
                laneTime[lane, default: 0] += s.count
                depths.insert(body.count)
            }
            // Nearly all the time asleep is in nap (the rest: the exit, page faults, before the first nap).
            #expect(Double(napping) >= 0.95 * Double(max(p.totalSamples, 1)), "--unwind \(unwind): \(napping) of \(p.totalSamples) us in nap: \(r.stderr)")
            #expect(roots.count == 1, "--unwind \(unwind): the frames above main differ between stacks: \(roots)")
            #expect(time.keys.sorted() == ks.map { $0 + 1 }, "--unwind \(unwind): rung counts \(time.keys.sorted())")
            let mean = Double(napping) / Double(ks.count)
            #expect(time.allSatisfy { Double($0.value) >= 0.5 * mean }, "--unwind \(unwind): time per rung count \(time.sorted { $0.key < $1.key })")
            #expect(laneTime.count == lanes && laneTime.values.allSatisfy { Double($0) >= 0.5 * Double(napping) / Double(lanes) },
                    "--unwind \(unwind): time per lane \(laneTime)")
            #expect(naps.count == ks.count * lanes, "--unwind \(unwind): \(naps.count) stacks of nap")
            // The premise: stacks of 31 to 34 frames were among them.
            #expect(Set(31...34).isSubset(of: depths), "--unwind \(unwind): depths \(depths.sorted())")
        }
    }

    /// Off-CPU: the caller of libc's nanosleep (nap, then napper and main) is found, which frame pointers
    /// lose (libc has none). With --unwind auto, which builds tables for the files without frame pointers:
    /// the workload and libc.
    @Test func offCPUCallerOfLibc() throws {
        let (p, r) = try offcpuUserStacks("nofp", ["sleep", "60"], seconds: "1.5")
        let us = countFromMain(p, ["main", "napper", "nap"])
        #expect(Double(us) >= 0.9 * Double(p.totalSamples), "\(us) of \(p.totalSamples) us under main;napper;nap: \(r.stdout.prefix(1200)) \(r.stderr)")
        #expect(r.stderr.contains("walked with unwind tables"), "auto walked no stack with tables: \(r.stderr)")
    }

    /// Processes started after ktrace get their tables: --comm finds the chain of one that began 1.5 s in.
    @Test func laterProcessesGetTables() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("ktrace-unwind-\(getpid()).folded").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let k = try Spawned(Env.ktrace, ["stacks", "--comm", "nofp", "--user-only", "-F", "199", "-d", "5", "--unwind", "dwarf", "-o", out],
                            streamStdout: false)
        defer { k.signal(SIGTERM); _ = k.wait(timeout: 30) }
        usleep(1_500_000)
        // It outlives the recording, so that its frames can be named at the end.
        let w = try Workload.start("nofp", args: ["cpu", "5", "30"])
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        let r = k.wait(timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let p = try FoldedProfile.parse((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        let want = ["main", "outer"] + Array(repeating: "chain", count: 6) + ["sorter"]
        let exact = countFromMain(p, want)
        // The first second of the new process may fall before the refresh that loads its tables.
        #expect(Double(exact) >= 0.5 * Double(p.totalSamples) && p.totalSamples > 100,
                "\(exact) of \(p.totalSamples) under the chain: \(r.stderr)")
    }

    /// --unwind auto on a workload built with frame pointers: libc's frames from its table, the workload's
    /// through rbp, down to _start, which clears rbp. A zero rbp is the chain's end: the stacks end there,
    /// whole, and none is said to have ended early (all were, when the walk tried to read address 0).
    @Test func framePointerChainEndsAtZero() throws {
        let (p, r) = try offcpuUserStacks("offcpu", ["60", "mix"], seconds: "1")
        #expect(r.stderr.contains("walked with unwind tables") && r.stderr.contains("through frame pointers"), "\(r.stderr)")
        #expect(!r.stderr.contains("ended early"), "\(r.stderr)")
        let fromStart = p.stacks.filter { $0.frames.dropFirst().first == "_start" }.reduce(UInt64(0)) { $0 + $1.count }
        #expect(p.totalSamples > 0 && Double(fromStart) >= 0.95 * Double(p.totalSamples), "\(r.stdout.prefix(1200))")
    }

    /// `offcpu --pid W --user-only --unwind auto -d SECONDS` on a workload started for it (and ended after).
    private func offcpuUserStacks(_ workload: String, _ args: [String], seconds: String) throws -> (FoldedProfile, RunResult) {
        let w = try Workload.start(workload, args: args)
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        usleep(300_000)
        let r = try run(Env.ktrace, ["offcpu", "--pid", String(w.pid), "--user-only", "-d", seconds, "--unwind", "auto"], timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        return (try FoldedProfile.parse(r.stdout), r)
    }

    /// A kernel thread has no user stack: for one, no user stacks are taken, so --unwind auto builds no
    /// tables and loads the sampler without the unwinder (kt_sample stores a kernel stack only for a new
    /// count key), and the user stack map is one entry (not thousands preallocated before 6.2 and on RT);
    /// the same command on a process loads the unwinder, sizes the map and says what it walked.
    @Test func kernelThreadTargetsGetNoTables() throws {
        let found = try run("/usr/bin/pgrep", ["-x", "ksoftirqd/0"], timeout: 10)
        let kthread = try #require(Int32(found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "no ksoftirqd/0: \(found.stdout)")
        let w = try Workload.start("nofp", args: ["cpu", "30", "60"])
        defer { w.signal(SIGTERM); _ = w.wait(timeout: 30) }
        for (pid, unwound) in [(kthread, false), (w.pid, true)] {
            let ((programs, userMap), r) = try whileAttached(["stacks", "--pid", String(pid), "-o", "/dev/null"], attachTimeout: 60) {
                (try ktracePrograms(), try mapMaxEntries("kt_ustacks"))
            }
            #expect(r.status == 0, "\(r.stderr)")
            // bpftool names it in full from BTF, or cut to the kernel's 15 characters.
            #expect(programs.contains { $0.hasPrefix("kt_sample_unwo") } == unwound && programs.contains("kt_sample") == !unwound,
                    "--pid \(pid): loaded \(programs): \(r.stderr)")
            #expect(userMap != nil && (userMap == 1) == !unwound, "--pid \(pid): kt_ustacks holds \(String(describing: userMap)) stacks: \(r.stderr)")
            #expect(r.stderr.contains("walked with unwind tables") == unwound, "\(r.stderr)")
            if r.stderr.contains("stack maps preallocated") {
                #expect(r.stderr.contains("and as many user stacks") == unwound, "\(r.stderr)")
            }
        }
    }
}
