import Foundation
import Testing
@testable import KtraceCore
import KtraceTestSupport

func fixture(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    return try String(contentsOf: url, encoding: .utf8)
}

struct HistogramTests {
    @Test func slotsMatchTheBPFSide() {
        // kt_slot(): log2, 0 and 1 in slot 0, clamped to the last slot.
        #expect(VecStats.slot(forNs: 0) == 0)
        #expect(VecStats.slot(forNs: 1) == 0)
        #expect(VecStats.slot(forNs: 2) == 1)
        #expect(VecStats.slot(forNs: 3) == 1)
        #expect(VecStats.slot(forNs: 1023) == 9)
        #expect(VecStats.slot(forNs: 1024) == 10)
        #expect(VecStats.slot(forNs: UInt64.max) == VecStats.histSlots - 1)
    }

    @Test func renderShowsRangesAndBars() {
        var h = [UInt64](repeating: 0, count: 40)
        h[10] = 4; h[12] = 8
        let text = Log2Histogram.render(h)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 4) // header + slots 10, 11, 12
        #expect(lines[1].contains("1024 -> 2047") && lines[1].contains(": 4 "))
        #expect(lines[3].contains(String(repeating: "*", count: 40)))
        #expect(lines[1].filter { $0 == "*" }.count == 20)
        #expect(Log2Histogram.render([0, 0]) == "")
    }
}

struct IntervalArithmeticTests {
    func stats(_ count: UInt64, _ total: UInt64, _ max: UInt64, ksoftirqd: UInt64 = 0) -> VecStats {
        var s = VecStats()
        s.count = count; s.totalNs = total; s.maxNs = max; s.ksoftirqdNs = ksoftirqd
        s.hist[VecStats.slot(forNs: max)] = count
        return s
    }

    @Test func mergeSumsAndKeepsTheLargerMax() {
        var a = stats(10, 1000, 300, ksoftirqd: 100)
        a.merge(stats(5, 500, 400, ksoftirqd: 500))
        #expect(a.count == 15 && a.totalNs == 1500 && a.maxNs == 400)
        #expect(a.avgNs == 100)
        #expect(a.ksoftirqdNs == 600 && a.inlineNs == 900)
        #expect(abs(a.ksoftirqdShare - 0.4) < 1e-9)
        #expect(a.hist.reduce(0, +) == 15)
    }

    @Test func totalsOverCPUsAndActiveCPUs() {
        var cpu0 = [VecStats](repeating: VecStats(), count: 10)
        var cpu1 = cpu0
        let cpu2 = cpu0
        cpu0[SoftirqVector.netRx.rawValue] = stats(100, 10_000, 500)
        cpu1[SoftirqVector.netRx.rawValue] = stats(50, 20_000, 900)
        cpu1[SoftirqVector.timer.rawValue] = stats(7, 700, 100)
        let iv = SoftirqInterval(perCPU: [cpu0, cpu1, cpu2], seconds: 1)
        let rx = iv.total[SoftirqVector.netRx.rawValue]
        #expect(rx.count == 150 && rx.totalNs == 30_000 && rx.maxNs == 900 && rx.avgNs == 200)
        #expect(iv.activeCPUs == [0, 1])
    }

    @Test func emptyStatsHaveNoDivisionByZero() {
        let s = VecStats()
        #expect(s.avgNs == 0 && s.latAvgNs == 0 && s.ksoftirqdShare == 0 && s.inlineNs == 0)
    }

    @Test func procSoftirqsDeltaFromRecordedFixtures() throws {
        let a = ProcSoftirqs.parse(try fixture("proc-softirqs-a.txt"))
        let b = ProcSoftirqs.parse(try fixture("proc-softirqs-b.txt"))
        #expect(a.counts.count == 10)
        #expect(a.counts[.netRx]?.count == b.counts[.netRx]?.count)
        let d = b.delta(since: a)
        for v in SoftirqVector.allCases {
            #expect(d.total(v) == b.total(v) - a.total(v))
        }
        #expect(d.total(.timer) > 0)
    }

    @Test func procSoftirqsParsesCPUColumns() {
        let text = """
                            CPU0       CPU1
                  HI:          1          2
               TIMER:         10         20
              NET_RX:        100        200
            """
        let p = ProcSoftirqs.parse(text)
        #expect(p.counts[.hi] == [1, 2])
        #expect(p.total(.netRx) == 300)
        #expect(p.total(.rcu) == 0)
    }
}

struct SoftirqReportTests {
    func interval() -> SoftirqInterval {
        var cpu0 = [VecStats](repeating: VecStats(), count: 10)
        var rx = VecStats()
        rx.count = 3; rx.totalNs = 3_000; rx.maxNs = 1_500; rx.ksoftirqdNs = 1_500; rx.ksoftirqdCount = 1
        rx.latCount = 3; rx.latTotalNs = 600; rx.latMaxNs = 400
        rx.hist[10] = 3; rx.latHist[7] = 3
        cpu0[SoftirqVector.netRx.rawValue] = rx
        return SoftirqInterval(perCPU: [cpu0, [VecStats](repeating: VecStats(), count: 10)], seconds: 1.0)
    }

    @Test func tableHasAllTenVectorsAndTheSplit() {
        let t = SoftirqReport().table(interval())
        let lines = t.split(separator: "\n")
        #expect(lines.first?.hasPrefix("SOFTIRQ") == true)
        #expect(lines.count == 11)
        let rx = lines.first { $0.hasPrefix("net_rx") }!
        let cols = rx.split(separator: " ")
        #expect(cols == ["net_rx", "3", "3.0", "1.0", "1.5", "1.5", "50.0%"])
        #expect(SoftirqVector.allCases.allSatisfy { v in lines.contains { $0.hasPrefix(v.name + " ") } })
    }

    @Test func perCPUTableListsActiveCPUsOnly() {
        let t = SoftirqReport(perCPU: true).table(interval())
        #expect(t.contains("CPU 0:") && !t.contains("CPU 1:"))
    }

    @Test func distributionsAndLatency() {
        let t = SoftirqReport(distributions: true, latency: true).table(interval())
        #expect(t.contains("softirq = net_rx (run time)"))
        #expect(t.contains("softirq = net_rx (raise to entry)"))
        #expect(t.contains("LAT_AVG_us"))
    }

    @Test func jsonSchema() throws {
        let line = SoftirqReport(distributions: true, latency: true).json(interval(), timestamp: "12:00:00")
        #expect(!line.contains("\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["interval_s"] as? Double == 1.0)
        #expect(obj["time"] as? String == "12:00:00")
        let vecs = try #require(obj["vectors"] as? [[String: Any]])
        #expect(vecs.map { $0["name"] as? String } == SoftirqVector.allCases.map(\.name))
        let rx = vecs[SoftirqVector.netRx.rawValue]
        for key in ["count", "total_ns", "avg_ns", "max_ns", "ksoftirqd_ns", "ksoftirqd_count", "inline_ns",
                    "inline_count", "lat_count", "lat_avg_ns", "lat_max_ns", "hist_log2_ns", "lat_hist_log2_ns"] {
            #expect(rx[key] != nil, "missing \(key)")
        }
        #expect(rx["count"] as? Int == 3 && rx["avg_ns"] as? Int == 1000 && rx["inline_ns"] as? Int == 1500)
        #expect((rx["hist_log2_ns"] as? [Int])?.count == 11)
        #expect(obj["orphan_exits"] as? Int == 0)
    }

    @Test func orphanExitsAreReportedNotTimed() {
        var iv = interval()
        iv.perCPU[1][SoftirqVector.netRx.rawValue].orphanExits = 2
        #expect(SoftirqReport().table(iv).contains("2 softirq exit(s) without their entry were discarded"))
        #expect(iv.total[SoftirqVector.netRx.rawValue].totalNs == 3_000)
    }

    /// Runs the kernel counted but no tracepoint showed are summed over CPUs, named per vector in the
    /// table's note, and kept apart from the traced count in JSON.
    @Test func untracedRunsAreReportedApart() throws {
        var iv = interval()
        iv.perCPU[0][SoftirqVector.netRx.rawValue].untraced = 7
        iv.perCPU[1][SoftirqVector.netRx.rawValue].untraced = 5
        iv.perCPU[1][SoftirqVector.timer.rawValue].untraced = 1
        #expect(SoftirqReport().table(iv).contains("note: 13 softirq run(s) counted by the kernel (/proc/softirqs) were shown by no "
                                                   + "tracepoint and are not in the table (1 timer, 12 net_rx)"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(SoftirqReport().json(iv).utf8)) as? [String: Any])
        #expect(obj["untraced"] as? Int == 13)
        let rx = try #require((obj["vectors"] as? [[String: Any]])?.first { $0["name"] as? String == "net_rx" })
        #expect(rx["untraced"] as? Int == 12 && rx["count"] as? Int == 3)
        #expect(!SoftirqReport().table(interval()).contains("shown by no tracepoint"))
    }
}

struct CapabilitiesTests {
    @Test func rootHasEverything() {
        #expect(Capabilities.missing(statusText: "Name:\tx\nCapEff:\t000001ffffffffff\n").isEmpty)
    }

    @Test func bpfAndPerfmonWithoutSysAdmin() {
        let mask = (UInt64(1) << 38) | (UInt64(1) << 39)
        #expect(Capabilities.missing(statusText: "CapEff:\t" + String(mask, radix: 16)).isEmpty)
        #expect(Capabilities.missing(statusText: "CapEff:\t" + String(UInt64(1) << 39, radix: 16)) == ["CAP_PERFMON"])
    }

    @Test func nobodyLacksBoth() {
        #expect(Capabilities.missing(statusText: "CapEff:\t0000000000000000") == ["CAP_BPF", "CAP_PERFMON"])
        #expect(Capabilities.missing(statusText: "") == ["CAP_BPF", "CAP_PERFMON"])
    }
}
