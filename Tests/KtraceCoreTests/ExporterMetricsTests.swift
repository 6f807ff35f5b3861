import Testing
@testable import KtraceCore

@Suite struct ExporterMetricsTests {
    static func interval(cpu1NetRx count: UInt64, ns: UInt64, ksoftirqd: UInt64) -> SoftirqInterval {
        var s = VecStats()
        s.count = count; s.totalNs = ns; s.ksoftirqdCount = ksoftirqd; s.ksoftirqdNs = ns / 2
        s.hist[VecStats.slot(forNs: 3000)] = count - 1   // [2048, 4096) ns
        s.hist[VecStats.slot(forNs: 40)] = 1             // below the first bound
        var cpus = [[VecStats]](repeating: [VecStats](repeating: VecStats(), count: 10), count: 2)
        cpus[1][SoftirqVector.netRx.rawValue] = s
        return SoftirqInterval(perCPU: cpus, seconds: 1)
    }

    /// Counters add up over intervals, split by context; the histogram's buckets are cumulative in
    /// seconds at the log2 bounds, with +Inf, _sum and _count; HELP and TYPE head each family.
    @Test func softirqCountersAndHistogram() {
        var m = ExporterMetrics()
        m.add(Self.interval(cpu1NetRx: 10, ns: 30_000, ksoftirqd: 4), latency: false)
        m.add(Self.interval(cpu1NetRx: 5, ns: 15_000, ksoftirqd: 1), latency: false)
        let t = m.render(softirqs: true, kthreads: false)
        #expect(t.contains("# HELP ktrace_softirq_runs_total ") && t.contains("# TYPE ktrace_softirq_runs_total counter\n"))
        #expect(t.contains("ktrace_softirq_runs_total{vector=\"net_rx\",cpu=\"1\",context=\"ksoftirqd\"} 5\n"))
        #expect(t.contains("ktrace_softirq_runs_total{vector=\"net_rx\",cpu=\"1\",context=\"inline\"} 10\n"))
        #expect(t.contains("ktrace_softirq_time_seconds_total{vector=\"net_rx\",cpu=\"1\",context=\"inline\"} 2.25e-05\n"))
        #expect(t.contains("# TYPE ktrace_softirq_run_seconds histogram\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_bucket{vector=\"net_rx\",le=\"1.024e-06\"} 2\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_bucket{vector=\"net_rx\",le=\"2.048e-06\"} 2\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_bucket{vector=\"net_rx\",le=\"4.096e-06\"} 15\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_bucket{vector=\"net_rx\",le=\"+Inf\"} 15\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_sum{vector=\"net_rx\"} 4.5e-05\n"))
        #expect(t.contains("ktrace_softirq_run_seconds_count{vector=\"net_rx\"} 15\n"))
        #expect(!t.contains("vector=\"timer\""), "no series for what never ran")
        #expect(!t.contains("raise_delay"), "without -L")
        #expect(t.contains("# TYPE ktrace_softirq_untraced_runs_total counter\n") && !t.contains("ktrace_softirq_untraced_runs_total{"))
    }

    /// Runs no tracepoint showed add up per vector over CPUs and intervals, in their own series.
    @Test func untracedRunsPerVector() {
        var m = ExporterMetrics()
        for _ in 0..<2 {
            var iv = Self.interval(cpu1NetRx: 10, ns: 30_000, ksoftirqd: 4)
            iv.perCPU[0][SoftirqVector.netRx.rawValue].untraced = 3
            iv.perCPU[1][SoftirqVector.netRx.rawValue].untraced = 4
            m.add(iv, latency: false)
        }
        let t = m.render(softirqs: true, kthreads: false)
        #expect(t.contains("ktrace_softirq_untraced_runs_total{vector=\"net_rx\"} 14\n"), "\(t)")
        #expect(!t.contains("ktrace_softirq_untraced_runs_total{vector=\"timer\"}"))
    }

    /// Past the bound, new functions count under "other"; admitted ones keep their series, so no counter
    /// ever goes down.
    @Test func workFunctionsAreBounded() {
        var m = ExporterMetrics(maxThreads: 2, maxFunctions: 2)
        func iv(_ items: [(String, UInt64)]) -> KthreadsInterval {
            var a = KthreadsSnapshot(), b = KthreadsSnapshot()
            b.monoNs = 1_000_000_000
            for (i, (fn, ns)) in items.enumerated() {
                let tid = UInt32(100 + i)
                var t = ThreadTotals(comm: "kworker/0:\(i)")
                t.schedNs = ns; t.switches = 1
                b.threads[tid] = t
                var d = ActivityTotals()
                d.count = 1; d.ns = ns
                b.activities[ActivityKey(tid: tid, kind: .work, id: UInt64(0x1000 + i))] = d
                a.threads[tid] = ThreadTotals(comm: "kworker/0:\(i)")
            }
            let names = Dictionary(uniqueKeysWithValues: items.enumerated().map { (UInt64(0x1000 + $0.offset), $0.element.0) })
            return KthreadsInterval(from: a, to: b, names: { names[$0] })
        }
        m.add(iv([("a_work", 300), ("b_work", 200), ("c_work", 100)]))
        m.add(iv([("c_work", 1000), ("a_work", 1)]))
        let t = m.render(softirqs: false, kthreads: true)
        #expect(t.contains("ktrace_kthread_work_items_total{function=\"a_work\"} 2\n"), "\(t)")
        #expect(t.contains("ktrace_kthread_work_items_total{function=\"b_work\"} 1\n"))
        #expect(t.contains("ktrace_kthread_work_items_total{function=\"other\"} 2\n"), "c_work twice, past the bound")
        #expect(!t.contains("c_work"))
        #expect(t.contains("ktrace_kthread_cpu_seconds_total{thread=\"other\"}"))
    }

    @Test func labelValuesAreEscaped() {
        var p = PrometheusText()
        p.sample("x_total", [("thread", "a\"b\\c\nd")], 1.5)
        #expect(p.text == "x_total{thread=\"a\\\"b\\\\c\\nd\"} 1.5\n")
        #expect(PrometheusText.number(3) == "3" && PrometheusText.number(.infinity) == "+Inf")
    }
}
