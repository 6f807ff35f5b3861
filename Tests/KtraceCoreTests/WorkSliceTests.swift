import Foundation
import Testing
@testable import KtraceCore
@testable import KtraceTestSupport

/// Work items in the timeline's exports, and the [work:FUNCTION] frame of `stacks --by-work`.
@Suite struct WorkSliceTests {
    static let ms: UInt64 = 1_000_000

    /// A kworker (tid 40) runs cleanup_net twice and refresh_vm_stats once; another (41) runs one item
    /// that began before the window, so it is clipped to it.
    static func timeline() -> Timeline {
        let w = [WorkSlice(ts: 10 * ms, dur: 5 * ms, cpu: 0, pid: 40, tid: 40, comm: "kworker/u8:1", function: "cleanup_net"),
                 WorkSlice(ts: 20 * ms, dur: 1 * ms, cpu: 0, pid: 40, tid: 40, comm: "kworker/u8:1", function: "refresh_vm_stats"),
                 WorkSlice(ts: 30 * ms, dur: 7 * ms, cpu: 1, pid: 40, tid: 40, comm: "kworker/u8:1", function: "cleanup_net"),
                 WorkSlice(ts: 1 * ms, dur: 9 * ms, cpu: 1, pid: 41, tid: 41, comm: "kworker/1:0", function: "vmstat_update")]
        return Timeline(samples: [], slices: [], switches: [], startNs: 5 * ms, endNs: 50 * ms, samplePeriodNs: 10 * ms, work: w)
    }

    @Test func perfettoHasOneTrackOfSlicesPerKworker() throws {
        let text = ChromeTrace.render(Self.timeline())
        #expect(TraceValidator.validateChromeTrace(Data(text.utf8)).isEmpty, "\(TraceValidator.validateChromeTrace(Data(text.utf8)))")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        let work = events.filter { $0["cat"] as? String == "work" }
        #expect(work.map { $0["name"] as? String } == ["cleanup_net", "refresh_vm_stats", "cleanup_net", "vmstat_update"])
        #expect(Set(work.map { $0["tid"] as? Int }) == [40 + Int(ThreadWork.trackTidOffset), 41 + Int(ThreadWork.trackTidOffset)])
        // Relative to the window start (5 ms); the item that began before it starts at 0, 5 ms long.
        #expect(work[0]["ts"] as? Double == 5000 && work[0]["dur"] as? Double == 5000)
        #expect(work[3]["ts"] as? Double == 0 && work[3]["dur"] as? Double == 5000)
        #expect(events.contains { $0["name"] as? String == "thread_name" && ($0["args"] as? [String: Any])?["name"] as? String == "kworker/u8:1 (40) work" })
        #expect((root["otherData"] as? [String: Any])?["workItems"] as? Int == 4)
    }

    @Test func speedscopeAndTextListThem() {
        let ss = Speedscope.render(Self.timeline(), name: "t")
        #expect(TraceValidator.validateSpeedscope(Data(ss.utf8)).isEmpty)
        #expect(ss.contains("\"kworker/u8:1 (40) work\"") && ss.contains("\"cleanup_net\""))
        let text = TimelineText.render(Self.timeline(), collapse: false)
        let lines = text.split(separator: "\n").map(String.init)
        let i = lines.firstIndex(of: "kworker/u8:1 (40) work")
        #expect(i.map { lines[$0 + 1].hasSuffix("cleanup_net") && lines[$0 + 1].contains("+5.000ms") } == true, "\(text)")
    }

    /// The work item is outside a softirq that interrupts it: comm, then work, then softirq.
    @Test func workFrameComesBeforeTheSoftirqFrame() {
        let f = StackComposer.compose(comm: "kworker/0:1", work: StackComposer.workFrame("cleanup_net"),
                                      softirq: StackComposer.softirqFrame(.netRx),
                                      user: StackPart<String>.none, kernel: .frames(["leaf", "caller"]),
                                      missingUser: "[missing user]", missingKernel: "[missing kernel]")
        #expect(f == ["kworker/0:1", "[work:cleanup_net]", "[softirq:net_rx]", "caller", "leaf"])
    }
}
