import Foundation
import Testing
@testable import KtraceCore

/// `ktrace kthreads`' intervals and outputs from two hand-made reads of the kernel's cumulative tables,
/// shaped as a kworker running refresh_vm_stats, ksoftirqd/0 running NET_RX and kswapd0 reclaiming.
@Suite struct KthreadsCoreTests {
    static let names: [UInt64: String] = [0xa0: "worker_thread", 0xa1: "run_ksoftirqd", 0xa2: "kswapd",
                                          0xb0: "refresh_vm_stats", 0xb1: "vmstat_update", 0xb2: "super_cache_scan"]

    static func work(_ fn: UInt64, count: UInt64, ns: UInt64, waits: UInt64, waitNs: UInt64) -> ActivityTotals {
        var d = ActivityTotals()
        d.count = count; d.ns = ns; d.waits = waits; d.waitNs = waitNs
        return d
    }

    static func thread(_ comm: String, fn: UInt64, sched: UInt64, wall: UInt64, irq: UInt64, sirq: UInt64, sw: UInt64) -> ThreadTotals {
        var t = ThreadTotals(comm: comm)
        t.schedNs = sched; t.wallNs = wall; t.irqNs = irq; t.softirqNs = sirq; t.switches = sw; t.threadFn = fn
        return t
    }

    /// At attach (a) and two seconds later (b). Thread 99 existed at a and did nothing since.
    static func reads() -> (KthreadsSnapshot, KthreadsSnapshot) {
        var a = KthreadsSnapshot(monoNs: 1_000_000_000, stealNs: 5_000_000_000)
        a.monoErrNs = 20_000
        a.threads[11] = thread("kworker/0:1", fn: 0xa0, sched: 10_000_000, wall: 10_000_000, irq: 0, sirq: 0, sw: 100)
        a.threads[14] = thread("ksoftirqd/0", fn: 0xa1, sched: 1_000_000, wall: 1_000_000, irq: 0, sirq: 0, sw: 10)
        a.threads[99] = thread("kworker/1:2", fn: 0xa0, sched: 7_000_000, wall: 7_000_000, irq: 0, sirq: 0, sw: 70)
        a.activities[ActivityKey(tid: 11, kind: .work, id: 0xb0)] = work(0xb0, count: 10, ns: 1_000_000, waits: 10, waitNs: 100_000)

        var b = KthreadsSnapshot(monoNs: 3_000_000_000, stealNs: 5_200_000_000)
        b.monoErrNs = 35_000
        b.threads[11] = thread("kworker/0:1", fn: 0xa0, sched: 410_000_000, wall: 500_000_000, irq: 2_000_000, sirq: 8_000_000, sw: 5100)
        b.threads[14] = thread("ksoftirqd/0", fn: 0xa1, sched: 301_000_000, wall: 301_000_000, irq: 1_000_000, sirq: 0, sw: 910)
        b.threads[99] = a.threads[99]
        b.threads[40] = thread("kswapd0", fn: 0xa2, sched: 50_000_000, wall: 50_000_000, irq: 0, sirq: 0, sw: 30)
        b.activities[ActivityKey(tid: 11, kind: .work, id: 0xb0)] = work(0xb0, count: 4010, ns: 381_000_000, waits: 4010, waitNs: 40_100_000)
        b.activities[ActivityKey(tid: 11, kind: .work, id: 0xb1)] = work(0xb1, count: 2, ns: 40_000, waits: 1, waitNs: 5_000)
        b.activities[ActivityKey(tid: 14, kind: .softirq, id: 3)] = work(0, count: 90_000, ns: 290_000_000, waits: 0, waitNs: 0)
        var reclaim = ActivityTotals()
        reclaim.count = 12; reclaim.pagesScanned = 4096; reclaim.pagesReclaimed = 3000
        b.activities[ActivityKey(tid: 40, kind: .reclaim, id: 0)] = reclaim
        b.activities[ActivityKey(tid: 40, kind: .shrinker, id: 0xb2)] = work(0xb2, count: 3, ns: 9_000_000, waits: 0, waitNs: 0)
        b.maxima[ActivityKey(tid: 11, kind: .work, id: 0xb0)] = ActivityMax(maxNs: 900_000, waitMaxNs: 300_000)
        b.maxima[ActivityKey(tid: 11, kind: .work, id: 0xb1)] = ActivityMax(maxNs: 30_000, waitMaxNs: 5_000)
        b.maxima[ActivityKey(tid: 14, kind: .softirq, id: 3)] = ActivityMax(maxNs: 60_000)
        b.maxima[ActivityKey(tid: 40, kind: .shrinker, id: 0xb2)] = ActivityMax(maxNs: 4_000_000)
        b.losses.unmatched = 2
        return (a, b)
    }

    static let decoders = [DecoderStatus(name: "workqueue", problem: nil),
                           DecoderStatus(name: "rcu", problem: "no tracepoint rcu/rcu_invoke_callback: the kernel is built without CONFIG_RCU_TRACE")]

    static func interval(irqTime: Bool = false, matching: @escaping (String) -> Bool = { _ in true }) -> KthreadsInterval {
        let (a, b) = reads()
        return KthreadsInterval(from: a, to: b, decoders: decoders, irqTimeAccounted: irqTime,
                                names: { names[$0] }, threadName: { $0 == 11 ? "kworker/0:1-mm_percpu_wq" : nil },
                                matching: matching)
    }

    @Test func deltasOwnTimeAndOrder() throws {
        let iv = Self.interval()
        #expect(iv.seconds == 2 && iv.stealNs == 200_000_000)
        // Thread 99 did nothing in the interval: not listed. The busiest by own time come first.
        #expect(iv.threads.map(\.tid) == [11, 14, 40])
        #expect(iv.ran == 3)
        let kw = iv.threads[0]
        #expect(kw.name == "kworker/0:1-mm_percpu_wq" && kw.threadFn == "worker_thread")
        #expect(kw.oncpuNs == 400_000_000 && kw.wallNs == 490_000_000)
        #expect(kw.irqNs == 2_000_000 && kw.softirqNs == 8_000_000 && kw.ownNs == 390_000_000)
        #expect(kw.switches == 5000)
        #expect(kw.activities.map(\.name) == ["refresh_vm_stats", "vmstat_update"])
        let item = kw.activities[0]
        #expect(item.count == 4000 && item.ns == 380_000_000 && item.waits == 4000 && item.waitNs == 40_000_000)
        #expect(item.maxNs == 900_000 && item.waitMaxNs == 300_000)
        #expect(iv.threads[1].activities.first?.name == "net_rx")
        #expect(iv.losses.unmatched == 2)
    }

    /// On CONFIG_IRQ_TIME_ACCOUNTING kernels the scheduler's run time leaves irqs out: they are added back.
    @Test func irqTimeAccountingAddsIrqsBack() {
        let kw = Self.interval(irqTime: true).threads[0]
        #expect(kw.oncpuNs == 410_000_000 && kw.ownNs == 400_000_000)
    }

    /// Irq and softirq on top are wall-clock times, the scheduler's account leaves steal out: when they
    /// exceed it, own time is 0, not a wrapped number.
    @Test func timeOnTopBeyondTheAccountLeavesNoOwnTime() {
        var (a, b) = Self.reads()
        b.threads[14]!.softirqNs = a.threads[14]!.softirqNs + 400_000_000  // the account gave it 300 ms
        let t = KthreadsInterval(from: a, to: b, names: { Self.names[$0] }).threads.first { $0.tid == 14 }!
        #expect(t.oncpuNs == 300_000_000 && t.softirqNs == 400_000_000 && t.ownNs == 0)
    }

    /// A tid the kernel gave a new thread after its owner died: its totals start again from zero, so the
    /// difference with the dead thread's is not a wrapped 1.8e19 ns.
    @Test func aReusedTidIsANewThread() {
        var (a, b) = Self.reads()
        b.threads[99] = Self.thread("kworker/1:0", fn: 0xa0, sched: 2_000_000, wall: 2_000_000, irq: 0, sirq: 0, sw: 3)
        a.activities[ActivityKey(tid: 99, kind: .work, id: 0xb1)] = Self.work(0xb1, count: 50, ns: 9_000_000, waits: 50, waitNs: 0)
        b.activities[ActivityKey(tid: 99, kind: .work, id: 0xb1)] = Self.work(0xb1, count: 3, ns: 60_000, waits: 3, waitNs: 0)
        let t = KthreadsInterval(from: a, to: b, names: { Self.names[$0] }).threads.first { $0.tid == 99 }!
        #expect(t.oncpuNs == 2_000_000 && t.wallNs == 2_000_000 && t.switches == 3)
        #expect(t.activities.map(\.count) == [3] && t.activities.map(\.ns) == [60_000])
    }

    /// `ran` counts the threads --comm kept.
    @Test func ranCountsTheMatchingThreads() throws {
        #expect(Self.interval(matching: try CommPattern("kworker*").matches).ran == 1)
    }

    /// --comm is the exact name or a glob, as in stacks, offcpu and timeline: `kswapd` is not `kswapd0`.
    @Test func commMatchesExactNamesAndGlobs() throws {
        func tids(_ pattern: String) throws -> [UInt32] { Self.interval(matching: try CommPattern(pattern).matches).threads.map(\.tid) }
        #expect(try tids("kworker*") == [11])
        #expect(try tids("ksoftirqd/?") == [14])
        #expect(try tids("kswapd0") == [40])
        #expect(try tids("kswapd").isEmpty)
        // The kernel's comm matches too, not only /proc's current name.
        #expect(try tids("kworker/0:1") == [11])
        #expect(try tids("x*").isEmpty)
    }

    @Test func tableAsRecorded() throws {
        try GoldenOutputTests.expectGolden(KthreadsReport(top: 2, activities: 1).table(Self.interval()), "kthreads.txt")
    }

    @Test func jsonAsRecorded() throws {
        let text = KthreadsReport().json(Self.interval(), timestamp: "12:00:00")
        try GoldenOutputTests.expectGolden(text + "\n", "kthreads.json")
        // It parses, and carries every activity (the table shows --activities of them).
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let threads = try #require(obj["threads"] as? [[String: Any]])
        #expect((threads[0]["doing"] as? [Any])?.count == 2)
        #expect(obj["steal_ns"] as? Int == 200_000_000)
    }

    /// The note on the two clocks appears only when they part by more than 10%.
    @Test func clocksNoteOnlyWhenTheyPart() {
        var iv = Self.interval()
        #expect(KthreadsReport().table(iv).contains("was 12% more: the scheduler charges"))
        #expect(KthreadsReport().table(iv).contains("the 200.00 ms the hypervisor stole"))
        iv.stealNs = 0
        #expect(!KthreadsReport().table(iv).contains("stole"))
        iv.threads[0].wallNs = iv.threads[0].oncpuNs
        #expect(!KthreadsReport().table(iv).contains("clocks:"))
    }
}
