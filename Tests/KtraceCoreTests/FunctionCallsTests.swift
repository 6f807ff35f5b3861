import Foundation
import Testing
@testable import KtraceCore
import KtraceTestSupport

/// `--trace` events as the kernel side delivers them (hand-written: entry/exit pairing is pure logic).
private func entry(_ ts: UInt64, _ f: String, depth: Int, tid: Int32 = 100) -> FunctionEvent {
    FunctionEvent(ts: ts, cpu: 0, pid: 100, tid: tid, comm: "reader", function: f, depth: depth, kind: .entry)
}

private func exit(_ ts: UInt64, _ f: String, depth: Int, from entryTs: UInt64?, tid: Int32 = 100) -> FunctionEvent {
    FunctionEvent(ts: ts, cpu: 1, pid: 100, tid: tid, comm: "reader", function: f, depth: depth, kind: .exit(entryTs: entryTs))
}

private func summary(_ t: [ThreadCalls]) -> [String] {
    t.flatMap { th in th.calls.map { "\(th.tid) \($0.function) \($0.start)-\($0.end) d\($0.depth) \($0.begin.rawValue) \($0.finish.rawValue)" } }
}

private func timeline(_ calls: [FunctionEvent], start: UInt64 = 1000, end: UInt64 = 9000) -> Timeline {
    Timeline(samples: [], slices: [], switches: [], startNs: start, endNs: end, samplePeriodNs: 1_000_000, calls: calls)
}

@Suite struct FunctionCallsTests {
    @Test func entriesAndExitsPairIntoNestedCallsPerThread() {
        let events = [
            entry(2000, "vfs_read", depth: 0), entry(2100, "rw_verify_area", depth: 1),
            exit(2200, "rw_verify_area", depth: 1, from: 2100), entry(2300, "security_file_permission", depth: 1),
            exit(2400, "security_file_permission", depth: 1, from: 2300), exit(3000, "vfs_read", depth: 0, from: 2000),
            // Another thread, delivered out of order (another CPU's ring records).
            exit(2600, "vfs_read", depth: 0, from: 2500, tid: 101), entry(2500, "vfs_read", depth: 0, tid: 101),
        ]
        #expect(summary(FunctionCalls.pair(events, startNs: 1000, endNs: 9000)) == [
            "100 vfs_read 2000-3000 d0 entry exit",
            "100 rw_verify_area 2100-2200 d1 entry exit",
            "100 security_file_permission 2300-2400 d1 entry exit",
            "101 vfs_read 2500-2600 d0 entry exit",
        ])
    }

    /// An exit whose entry came before the recording starts at the window start, around what its thread
    /// did meanwhile; an entry never exited runs to the window end.
    @Test func unmatchedExitsAndEntriesAreClosedAtTheWindow() {
        let events = [
            entry(1500, "rw_verify_area", depth: 0), exit(1600, "rw_verify_area", depth: 0, from: 1500),
            exit(1800, "vfs_read", depth: 0, from: nil),
            entry(5000, "vfs_read", depth: 0), entry(5100, "rw_verify_area", depth: 1),
        ]
        let calls = FunctionCalls.pair(events, startNs: 1000, endNs: 9000)
        #expect(summary(calls) == [
            "100 vfs_read 1000-1800 d0 beforeWindow exit",
            "100 rw_verify_area 1500-1600 d1 entry exit",
            "100 vfs_read 5000-9000 d0 entry windowEnd",
            "100 rw_verify_area 5100-9000 d1 entry windowEnd",
        ])
        let n = FunctionCalls.notes(calls)
        #expect(n.calls == 4 && n.beforeWindow == 1 && n.running == 2 && n.lostExit == 0)
    }

    /// A lost exit event: the call ended no later than the next call at its depth began.
    @Test func anEntryWhoseExitWasLostEndsAtTheNextSibling() {
        let events = [
            entry(2000, "vfs_read", depth: 0), entry(2100, "rw_verify_area", depth: 1), // exit lost
            entry(2500, "vfs_read", depth: 0), exit(2600, "vfs_read", depth: 0, from: 2500),
        ]
        let calls = FunctionCalls.pair(events, startNs: 1000, endNs: 9000)
        #expect(summary(calls) == [
            "100 vfs_read 2000-2500 d0 entry lostExit",
            "100 rw_verify_area 2100-2500 d1 entry lostExit",
            "100 vfs_read 2500-2600 d0 entry exit",
        ])
        #expect(FunctionCalls.notes(calls).lostExit == 2)
    }

    /// Calls that overlap partially (impossible on one thread, but lost or mismatched events can fake it)
    /// are cut to fit their parent, so a viewer never sees a child outlive its parent.
    /// The kernel forgets a task's open calls when it resyncs (or its state is evicted): their exits then
    /// come without entry although the entries were delivered. Each closes its own open entry — one call,
    /// not a second made-up one from the window start that would swallow everything before it.
    @Test func anExitTheKernelCouldNotPairClosesItsOpenEntry() {
        let events = [
            exit(1500, "rw_verify_area", depth: 0, from: 1400),
            entry(2000, "vfs_read", depth: 0), entry(2100, "rw_verify_area", depth: 1),
            // resync in the kernel: both exits arrive without entry
            exit(2200, "rw_verify_area", depth: 0, from: nil), exit(3000, "vfs_read", depth: 0, from: nil),
            // and one whose entry really came before the recording
            exit(4000, "vfs_write", depth: 0, from: nil),
        ]
        let threads = FunctionCalls.pair(events, startNs: 1000, endNs: 9000)
        #expect(summary(threads) == [
            "100 vfs_write 1000-4000 d0 beforeWindow exit",
            "100 rw_verify_area 1400-1500 d1 entry exit",
            "100 vfs_read 2000-3000 d1 entry exit",
            "100 rw_verify_area 2100-2200 d2 entry exit",
        ])
        #expect(FunctionCalls.notes(threads).beforeWindow == 1)
    }

    /// The kernel skipped an exit: the syscall's exit closes the call (ended by then, marked lost), and
    /// the next call does not nest inside it.
    @Test func anExitTheKernelSkippedEndsAtItsSyscallsExit() {
        var skipped = exit(2500, "vfs_read", depth: 0, from: 2000)
        skipped.kind = .missedExit(entryTs: 2000)
        let events = [entry(2000, "vfs_read", depth: 0), skipped,
                      entry(3000, "vfs_read", depth: 0), exit(3100, "vfs_read", depth: 0, from: 3000)]
        #expect(summary(FunctionCalls.pair(events, startNs: 1000, endNs: 9000)) == [
            "100 vfs_read 2000-2500 d0 entry lostExit", "100 vfs_read 3000-3100 d0 entry exit",
        ])
    }

    /// The kernel skipped an entry (PREEMPT_RT's recursion protection): the exit says since when the call
    /// can have run, its task's last return to user space, so it does not swallow the calls before it as a
    /// call from the window start would (4000 of 11740 calls nested in one RT guest run).
    @Test func anExitWhoseEntryTheKernelSkippedBeginsAfterThePreviousSyscall() {
        var lost = exit(3000, "vfs_read", depth: 0, from: nil)
        lost.kind = .lostEntry(after: 2500)
        var early = exit(1200, "vfs_read", depth: 0, from: nil)
        early.kind = .lostEntry(after: 500)  // its syscall began before the recording
        let events = [early, entry(2000, "vfs_read", depth: 0), exit(2100, "vfs_read", depth: 0, from: 2000), lost,
                      entry(3500, "vfs_read", depth: 0), exit(3600, "vfs_read", depth: 0, from: 3500)]
        let threads = FunctionCalls.pair(events, startNs: 1000, endNs: 9000)
        #expect(summary(threads) == [
            "100 vfs_read 1000-1200 d0 lostEntry exit", "100 vfs_read 2000-2100 d0 entry exit",
            "100 vfs_read 2500-3000 d0 lostEntry exit", "100 vfs_read 3500-3600 d0 entry exit",
        ])
        let n = FunctionCalls.notes(threads)
        #expect(n.lostEntry == 2 && n.beforeWindow == 0)
    }

    @Test func partialOverlapIsCutToNest() {
        let events = [
            exit(3000, "a", depth: 0, from: 2000), exit(3500, "b", depth: 1, from: 2500),
            exit(3200, "c", depth: 0, from: 3100),
        ]
        let calls = FunctionCalls.pair(events, startNs: 1000, endNs: 9000)
        #expect(summary(calls) == [
            "100 a 2000-3000 d0 entry exit",
            "100 b 2500-3000 d1 entry exit",
            "100 c 3100-3200 d0 entry exit",
        ])
        #expect(calls[0].calls[1].clippedNs == 500)
        let chrome = ChromeTrace.render(timeline(events))
        #expect(TraceValidator.validateChromeTrace(Data(chrome.utf8)).isEmpty)
    }

    @Test func exportsPutCallsOnTheirOwnValidTrackPerThread() throws {
        let events = [
            exit(1200, "vfs_read", depth: 0, from: nil),
            entry(2000, "vfs_read", depth: 0), entry(2100, "rw_verify_area", depth: 1),
            exit(2200, "rw_verify_area", depth: 1, from: 2100), exit(3000, "vfs_read", depth: 0, from: 2000),
            entry(4000, "vfs_read", depth: 0, tid: 101),
        ]
        // Samples of the same thread: their flame chart spans stay on the thread's own track.
        let samples = (0..<5).map { i in
            TimelineSample(ts: 1000 + UInt64(i) * 1000, cpu: 0, pid: 100, tid: 100, comm: "reader", frames: ["main", "read"])
        }
        var t = timeline(events)
        t.samples = samples
        t.samplePeriodNs = 1000

        let chrome = ChromeTrace.render(t)
        #expect(TraceValidator.validateChromeTrace(Data(chrome.utf8)) == [])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(chrome.utf8)) as? [String: Any])
        let evs = try #require(doc["traceEvents"] as? [[String: Any]])
        let funcs = evs.filter { $0["cat"] as? String == "func" }
        #expect(funcs.count == 4)
        #expect(Set(funcs.compactMap { $0["tid"] as? Int }) == [10_000_100, 10_000_101])
        let names = evs.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(names.contains("reader (100) calls") && names.contains("reader (101) calls") && names.contains("reader (100)"))
        let rw = try #require(funcs.first { $0["name"] as? String == "rw_verify_area" })
        #expect((rw["args"] as? [String: Any])?["depth"] as? Int == 1)
        #expect(rw["ts"] as? Double == 1.1 && rw["dur"] as? Double == 0.1)

        let speedscope = Speedscope.render(t, name: "test")
        #expect(TraceValidator.validateSpeedscope(Data(speedscope.utf8)) == [])
        #expect(speedscope.contains(#""name":"reader (100) calls""#))

        let text = TimelineText.render(t, collapse: false)
        #expect(text.contains("6 function entry/exit events"))
        #expect(text.contains("reader (100) calls\n"))
        #expect(text.contains("    rw_verify_area\n"), "\(text)")
        #expect(text.contains("vfs_read  (began before the recording)"))
        #expect(text.contains("vfs_read  (still running at the end)"))
    }

    /// Without calls nothing about them shows: files of a plain timeline stay as they were.
    @Test func noCallsNoCallTracks() {
        let t = timeline([])
        #expect(!ChromeTrace.render(t).contains("functionCalls"))
        #expect(!TimelineText.render(t, collapse: false).contains("function"))
    }
}
