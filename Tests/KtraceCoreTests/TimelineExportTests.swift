import Foundation
import Testing
@testable import KtraceCore
@testable import KtraceTestSupport

private let ms: UInt64 = 1_000_000

private func sample(_ ts: UInt64, _ stack: String, tid: Int32 = 100, pid: Int32 = 100, cpu: Int = 0,
                    comm: String = "app", softirq: SoftirqVector? = nil) -> TimelineSample {
    TimelineSample(ts: ts, cpu: cpu, pid: pid, tid: tid, comm: comm,
                   frames: stack.split(separator: ";").map(String.init), softirq: softirq)
}

private func away(_ ts: UInt64, tid: Int32 = 100, cpu: Int = 0, to next: Int32 = 200) -> SwitchEvent {
    SwitchEvent(ts: ts, cpu: cpu, prevPid: tid, prevTid: tid, prevComm: "app", prevState: 1,
                nextPid: next, nextTid: next, nextComm: "other")
}

/// main;run;phase_a ×10, main;run;phase_b ×20, main;run;phase_c ×5, one sample per ms from 0.
private func phases(base: UInt64 = 0) -> [TimelineSample] {
    (0..<35).map { i in
        let leaf = i < 10 ? "phase_a" : i < 30 ? "phase_b" : "phase_c"
        return sample(base + UInt64(i) * ms, "main;run;\(leaf)")
    }
}

private func span(_ name: String, _ depth: Int, _ startMs: UInt64, _ endMs: UInt64) -> FlameSpan {
    FlameSpan(name: name, depth: depth, start: startMs * ms, end: endMs * ms)
}

/// Loads `Fixtures/<name>`: a recorded-shape timeline in JSON (times in ns, stacks as "a;b;c").
private func timelineFixture(_ name: String) throws -> Timeline {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    func u(_ d: [String: Any], _ k: String) -> UInt64 { (d[k] as? NSNumber)?.uint64Value ?? 0 }
    func i32(_ d: [String: Any], _ k: String) -> Int32 { (d[k] as? NSNumber)?.int32Value ?? 0 }
    let samples = (root["samples"] as? [[String: Any]] ?? []).map { d in
        sample(u(d, "ts"), d["stack"] as? String ?? "", tid: i32(d, "tid"), pid: i32(d, "pid"), cpu: Int(i32(d, "cpu")),
               comm: d["comm"] as? String ?? "", softirq: (d["softirq"] as? String).flatMap(SoftirqVector.init(name:)))
    }
    let slices = (root["slices"] as? [[String: Any]] ?? []).map { d in
        SoftirqSlice(ts: u(d, "ts"), dur: u(d, "dur"), cpu: Int(i32(d, "cpu")), vector: SoftirqVector(name: d["vector"] as? String ?? "")!,
                     ksoftirqd: d["ksoftirqd"] as? Bool ?? false, tid: i32(d, "tid"), comm: d["comm"] as? String ?? "")
    }
    let switches = (root["switches"] as? [[String: Any]] ?? []).map { d in
        SwitchEvent(ts: u(d, "ts"), cpu: Int(i32(d, "cpu")), prevPid: i32(d, "prevPid"), prevTid: i32(d, "prevTid"),
                    prevComm: d["prevComm"] as? String ?? "", prevState: Int64(i32(d, "prevState")),
                    nextPid: i32(d, "nextPid"), nextTid: i32(d, "nextTid"), nextComm: d["nextComm"] as? String ?? "")
    }
    return Timeline(samples: samples, slices: slices, switches: switches,
                    startNs: u(root, "startNs"), endNs: u(root, "endNs"), samplePeriodNs: u(root, "samplePeriodNs"))
}

private func json(_ s: String) -> Data { Data(s.utf8) }

/// Minimal valid envelope around some events on pid 1 tid 1.
private func chrome(_ events: [String]) -> Data {
    json(#"{"traceEvents":[{"name":"process_name","ph":"M","pid":1,"args":{"name":"p"}},"#
         + #"{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"t"}},"# + events.joined(separator: ",") + "]}")
}

struct TimelineExportTests {
    // MARK: FlameChart

    @Test func phasesMergeIntoOneSpanPerDepth() {
        let spans = FlameChart.spans(samples: phases(), periodNs: ms)
        #expect(spans == [
            span("main", 0, 0, 35), span("run", 1, 0, 35), span("phase_a", 2, 0, 10),
            span("phase_b", 2, 10, 30), span("phase_c", 2, 30, 35),
        ])
    }

    @Test func aGapOfMoreThanTwoPeriodsClosesEverything() {
        // 0..4 ms, then nothing until 10 ms (6 periods): two separate stacks of spans.
        let s = (0..<5).map { sample(UInt64($0) * ms, "main;run") } + (10..<13).map { sample(UInt64($0) * ms, "main;run") }
        #expect(FlameChart.spans(samples: s, periodNs: ms) == [
            span("main", 0, 0, 5), span("run", 1, 0, 5), span("main", 0, 10, 13), span("run", 1, 10, 13),
        ])
        // Exactly 2 periods is jitter, not a gap; 1 ns more is a gap.
        let j = [sample(0, "main"), sample(2 * ms, "main")]
        #expect(FlameChart.spans(samples: j, periodNs: ms) == [span("main", 0, 0, 3)])
        let g = [sample(0, "main"), sample(2 * ms + 1, "main")]
        #expect(FlameChart.spans(samples: g, periodNs: ms) == [
            span("main", 0, 0, 1), FlameSpan(name: "main", depth: 0, start: 2 * ms + 1, end: 3 * ms + 1),
        ])
    }

    @Test func aSwitchAwayClosesAtTheSwitchTime() {
        let s = (0..<4).map { sample(UInt64($0) * ms, "main;run") }
        // Switched away at 1.5 ms and back before the 2 ms sample; and away for good at 3.4 ms.
        let sw = [away(ms + ms / 2), away(3 * ms + 400_000)]
        #expect(FlameChart.spans(samples: s, periodNs: ms, switches: sw) == [
            FlameSpan(name: "main", depth: 0, start: 0, end: 1_500_000),
            FlameSpan(name: "run", depth: 1, start: 0, end: 1_500_000),
            FlameSpan(name: "main", depth: 0, start: 2 * ms, end: 3_400_000),
            FlameSpan(name: "run", depth: 1, start: 2 * ms, end: 3_400_000),
        ])
    }

    @Test func switchesOfOtherThreadsAndSwitchesAtSampleTimeAreIgnored() {
        let s = (0..<3).map { sample(UInt64($0) * ms, "main") }
        let other = SwitchEvent(ts: ms / 2, cpu: 0, prevPid: 7, prevTid: 7, prevComm: "x", prevState: 0, nextPid: 100, nextTid: 100, nextComm: "app")
        #expect(FlameChart.spans(samples: s, periodNs: ms, switches: [other, away(ms)]) == [span("main", 0, 0, 3)])
        // The idle task is per CPU: CPU 1's idle switching away does not end CPU 0's idle spans.
        let idle = (0..<3).map { sample(UInt64($0) * ms, "cpu_idle", tid: 0, pid: 0) }
        #expect(FlameChart.spans(samples: idle, periodNs: ms, switches: [away(ms / 2, tid: 0, cpu: 1)]).count == 1)
        #expect(FlameChart.spans(samples: idle, periodNs: ms, switches: [away(ms / 2, tid: 0, cpu: 0)]).count == 2)
    }

    @Test func anotherThreadsSamplesInBetweenEndARunWithoutSwitches() {
        // CPU 0 runs A at 0-1 ms, B at 2 ms, A at 3 ms; no sched_switch recorded. A stopped by 2 ms.
        let a = [sample(0, "a_main"), sample(ms, "a_main"), sample(3 * ms, "a_main")]
        let b = sample(2 * ms, "b_main", tid: 200, pid: 200, comm: "b")
        let t = Timeline(samples: a + [b], slices: [], switches: [], startNs: 0, endNs: 5 * ms, samplePeriodNs: ms)
        #expect(FlameChart.spans(samples: a, periodNs: ms, switches: t.exportSwitches()) == [
            span("a_main", 0, 0, 2), span("a_main", 0, 3, 4),
        ])
        // But if A was sampled on CPU 1 meanwhile, it migrated and kept running: no split.
        let moved = [a[0], a[1], sample(2 * ms, "a_main", cpu: 1), a[2]]
        let t2 = Timeline(samples: moved + [b], slices: [], switches: [], startNs: 0, endNs: 5 * ms, samplePeriodNs: ms)
        #expect(FlameChart.spans(samples: moved, periodNs: ms, switches: t2.exportSwitches()) == [span("a_main", 0, 0, 4)])
    }

    @Test func equalStartTimestampsNestParentFirst() throws {
        // Every depth opens at 0 and at 10 ms; the parent must come first each time.
        let spans = FlameChart.spans(samples: phases(), periodNs: ms)
        for (a, b) in zip(spans, spans.dropFirst()) where a.start == b.start {
            #expect(a.depth < b.depth)
            #expect(a.end >= b.end)
        }
        // Also once rendered: same-ts X events in parent-first order, and the validator agrees.
        let t = Timeline(samples: phases(base: 5 * ms), slices: [], switches: [], startNs: 5 * ms, endNs: 45 * ms, samplePeriodNs: ms)
        let trace = ChromeTrace.render(t)
        let x = trace.split(separator: "\n").filter { $0.contains(#""ph":"X""#) }
        #expect(x.prefix(3).map { String($0) } == [
            #"{"name":"main","cat":"stack","ph":"X","ts":0,"dur":35000,"pid":100,"tid":100},"#,
            #"{"name":"run","cat":"stack","ph":"X","ts":0,"dur":35000,"pid":100,"tid":100},"#,
            #"{"name":"phase_a","cat":"stack","ph":"X","ts":0,"dur":10000,"pid":100,"tid":100},"#,
        ])
        #expect(TraceValidator.validateChromeTrace(json(trace)) == [])
        // Child emitted before its same-start parent: the validator says what to do.
        let bad = TraceValidator.validateChromeTrace(chrome([
            #"{"name":"child","ph":"X","ts":0,"dur":1,"pid":1,"tid":1}"#,
            #"{"name":"parent","ph":"X","ts":0,"dur":5,"pid":1,"tid":1}"#,
        ]))
        #expect(bad.count == 1)
        #expect(bad.first?.contains("same start: emit the longer one first") == true)
    }

    // MARK: Chrome trace

    @Test func chromeTraceOfARecordingIsValidAndLaidOut() throws {
        let t = try timelineFixture("timeline-small.json")
        let text = ChromeTrace.render(t)
        #expect(TraceValidator.validateChromeTrace(json(text)) == [])

        let root = try #require(try JSONSerialization.jsonObject(with: json(text)) as? [String: Any])
        #expect(root["displayTimeUnit"] as? String == "ns")
        let events = try #require(root["traceEvents"] as? [[String: Any]])
        func meta(_ name: String) -> [String] {
            events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == name }
                .compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        }
        #expect(meta("process_name") == ["CPUs", "ksoftirqd/0", "nginx"])
        #expect(meta("thread_name") == ["CPU 0 softirq", "CPU 0 tasks", "CPU 1 softirq", "ksoftirqd/0 (15)", "nginx (2000)", "nginx (2001)"])

        let cpu0 = events.filter { $0["pid"] as? Int == ChromeTrace.cpusPid && $0["tid"] as? Int == 0 && $0["ph"] as? String == "X" }
        #expect(cpu0.map { $0["name"] as? String } == ["net_rx", "net_rx", "timer", "rcu"])
        let first = try #require(cpu0.first)
        #expect(first["cat"] as? String == "softirq")
        #expect((first["ts"] as? NSNumber)?.doubleValue == 3050)
        #expect((first["dur"] as? NSNumber)?.doubleValue == 400)
        #expect((first["args"] as? [String: Any])?["ksoftirqd"] as? Bool == false)
        #expect((cpu0[1]["args"] as? [String: Any])?["ksoftirqd"] as? Bool == true)

        // CPU 0 tasks: nginx until the 8 ms switch (from the window start), ksoftirqd/0, nginx again.
        let tasks = events.filter { $0["pid"] as? Int == ChromeTrace.cpusPid && $0["tid"] as? Int == 1 && $0["ph"] as? String == "X" }
        #expect(tasks.map { $0["name"] as? String } == ["nginx", "ksoftirqd/0", "nginx"])
        #expect(tasks.map { ($0["ts"] as? NSNumber)?.doubleValue } == [0, 8000, 12000])
        #expect(tasks.map { ($0["dur"] as? NSNumber)?.doubleValue } == [8000, 1700, 2500])

        // nginx (2000): its stack spans stop at the 8 ms sleep and restart with the 12.1 ms sample.
        let mains = events.filter { $0["tid"] as? Int == 2000 && $0["name"] as? String == "main" }
        #expect(mains.map { ($0["ts"] as? NSNumber)?.doubleValue } == [100, 12100])
        #expect(mains.map { ($0["dur"] as? NSNumber)?.doubleValue } == [7900, 2400])
    }

    @Test func microsecondTextReadsBackAsTheSameNanoseconds() {
        // Perfetto truncates double(µs) × 1000; the emitted text must survive that and plain rounding.
        var nudged = 0, wrong: [String] = []
        for ns in UInt64(0)..<300_000 {
            let s = ChromeTrace.micros(ns)
            if s.split(separator: ".").last?.count == 4 { nudged += 1 }
            if !ChromeTrace.readsBack(s, as: ns) || TJSON.number(s).ns != Int64(ns) { wrong.append("\(ns) → \(s)") }
        }
        #expect(wrong == [])
        #expect(nudged > 0) // the case exists, so the guard is doing something
        #expect(!ChromeTrace.readsBack("1.005", as: 1005)) // one of them: 1.005 × 1000 truncates to 1004
        #expect(ChromeTrace.micros(1_234_000) == "1234")
        #expect(ChromeTrace.micros(1_234_567) == "1234.567")
        // Foreign traces: exponents, more decimals (rounded), negatives.
        #expect([TJSON.number("1.5e3").ns, TJSON.number("2.0005").ns, TJSON.number("-2").ns] == [1_500_000, 2001, -2000])
    }

    @Test func chromeValidatorRejectsBrokenTraces() {
        let overlap = TraceValidator.validateChromeTrace(chrome([
            #"{"name":"a","ph":"X","ts":0,"dur":10,"pid":1,"tid":1}"#,
            #"{"name":"b","ph":"X","ts":5,"dur":10,"pid":1,"tid":1}"#,
        ]))
        #expect(overlap == [#"traceEvents[3] (X "b") on pid 1 tid 1 at ts 5.000µs: ends at 15.000µs, after its enclosing "a" (traceEvents[2], 0.000µs–10.000µs) ends: overlapping, not nested"#])

        let unbalanced = TraceValidator.validateChromeTrace(chrome([
            #"{"name":"a","ph":"B","ts":0,"pid":1,"tid":1}"#,
            #"{"name":"b","ph":"B","ts":1,"pid":1,"tid":1}"#,
            #"{"ph":"E","ts":2,"pid":1,"tid":1}"#,
            #"{"ph":"E","ts":3,"pid":1,"tid":2}"#,
        ]))
        #expect(unbalanced.contains { $0.contains("E without an open B") })
        #expect(unbalanced.contains { $0.contains(#"(B "a")"#) && $0.contains("never closed") })
        #expect(unbalanced.contains { $0.contains("pid 1 tid 2") && $0.contains("no thread_name") })

        let backwards = TraceValidator.validateChromeTrace(chrome([
            #"{"name":"a","ph":"X","ts":10,"dur":1,"pid":1,"tid":1}"#,
            #"{"name":"b","ph":"X","ts":4.5,"dur":1,"pid":1,"tid":1}"#,
        ]))
        #expect(backwards.count == 1)
        #expect(backwards.first?.contains("ts goes back from 10.000µs") == true)

        let fields = TraceValidator.validateChromeTrace(chrome([
            #"{"name":"a","ph":"X","ts":0,"pid":1,"tid":1}"#,
            #"{"name":"b","ph":"X","ts":1,"dur":-2,"pid":1,"tid":1}"#,
            #"{"name":"c","ph":"Q","ts":1,"pid":1,"tid":1}"#,
            #"{"name":"d","ph":"X","ts":"soon","dur":1,"pid":1,"tid":1}"#,
        ]))
        #expect(fields == [
            #"traceEvents[2] (X "a"): missing "dur""#,
            #"traceEvents[3] (X "b") on pid 1 tid 1 at ts 1.000µs: negative dur -2.000µs"#,
            #"traceEvents[4] (Q "c"): unknown ph"#,
            #"traceEvents[5] (X "d"): "ts" is "soon", expected a number (µs)"#,
        ])

        let noMeta = TraceValidator.validateChromeTrace(json(#"[{"name":"a","ph":"X","ts":0,"dur":1,"pid":3,"tid":4}]"#))
        #expect(noMeta == [
            "pid 3 (first used by traceEvents[0]) has no process_name metadata",
            "pid 3 tid 4 (first used by traceEvents[0]) has no thread_name metadata",
        ])

        let malformed = TraceValidator.validateChromeTrace(json("{\"traceEvents\":[\n{\"name\":\"a\",}]}"))
        #expect(malformed == ["not valid JSON: line 2 column 13: expected a string key"])
    }

    // MARK: speedscope

    @Test func speedscopeOfARecordingIsValid() throws {
        let t = try timelineFixture("timeline-small.json")
        let text = Speedscope.render(t, name: "ktrace timeline")
        #expect(TraceValidator.validateSpeedscope(json(text)) == [])

        let root = try #require(try JSONSerialization.jsonObject(with: json(text)) as? [String: Any])
        #expect(root["$schema"] as? String == "https://www.speedscope.app/file-format-schema.json")
        #expect(root["exporter"] as? String == "ktrace")
        let frames = try #require((root["shared"] as? [String: Any])?["frames"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        let profiles = try #require(root["profiles"] as? [[String: Any]])
        #expect(profiles.compactMap { $0["name"] as? String } == ["ksoftirqd/0 (15)", "nginx (2000)", "nginx (2001)", "CPU 0 softirq", "CPU 1 softirq"])
        #expect(root["activeProfileIndex"] as? Int == 1) // nginx (2000): most samples
        #expect(profiles.allSatisfy { $0["unit"] as? String == "nanoseconds" && $0["endValue"] as? Int == 20_000_000 })

        // The worker's phases in order: deflate opens at 0.3 ms, send opens when deflate closes at 3.3 ms.
        let worker = try #require(profiles[2]["events"] as? [[String: Any]])
        let seq = worker.map { "\($0["type"]!)\(frames[$0["frame"] as! Int])@\($0["at"]!)" }
        #expect(seq.contains("Odeflate@300000") && seq.contains("Cdeflate@3300000") && seq.contains("Osend@3300000"))
        #expect(seq.firstIndex(of: "Cdeflate@3300000")! < seq.firstIndex(of: "Osend@3300000")!)
    }

    @Test func speedscopeValidatorRejectsBrokenFiles() {
        func file(_ events: String, frames: String = #"[{"name":"a"},{"name":"b"}]"#, schema: String = Speedscope.schema) -> Data {
            json(#"{"$schema":"\#(schema)","shared":{"frames":\#(frames)},"profiles":[{"type":"evented","name":"p","unit":"nanoseconds","startValue":0,"endValue":100,"events":[\#(events)]}]}"#)
        }
        #expect(TraceValidator.validateSpeedscope(file(#"{"type":"O","at":0,"frame":0},{"type":"O","at":1,"frame":1},{"type":"C","at":2,"frame":1},{"type":"C","at":3,"frame":0}"#)) == [])

        let crossed = TraceValidator.validateSpeedscope(file(#"{"type":"O","at":0,"frame":0},{"type":"O","at":1,"frame":1},{"type":"C","at":2,"frame":0},{"type":"C","at":3,"frame":1}"#))
        #expect(crossed.first == #"profiles[0] "p" events[2]: closes frame 0 "a" but frame 1 "b" (opened by events[1]) is on top: not nested"#)

        let unbalanced = TraceValidator.validateSpeedscope(file(#"{"type":"O","at":0,"frame":0}"#))
        #expect(unbalanced == [#"profiles[0] "p" events[0]: frame 0 "a" opened and never closed"#])

        let backwards = TraceValidator.validateSpeedscope(file(#"{"type":"O","at":5,"frame":0},{"type":"C","at":4,"frame":0}"#))
        #expect(backwards == [#"profiles[0] "p" events[1]: at 4.0 goes back from 5.0; events must be in time order"#])

        let outside = TraceValidator.validateSpeedscope(file(#"{"type":"O","at":0,"frame":0},{"type":"C","at":101,"frame":0}"#))
        #expect(outside == [#"profiles[0] "p" events[1]: at 101.0 outside [startValue 0.0, endValue 100.0]"#])

        let badFrame = TraceValidator.validateSpeedscope(file(#"{"type":"O","at":0,"frame":2},{"type":"C","at":1,"frame":2}"#))
        #expect(badFrame.count == 2 && badFrame[0].contains("frame 2 is not an index into shared.frames (2 frames)"))

        let schema = TraceValidator.validateSpeedscope(file("", schema: "https://example.com/x.json"))
        #expect(schema.count == 1 && schema[0].hasPrefix("$schema:"))
    }

    // MARK: text

    @Test func textTimelineOfARecording() throws {
        let t = try timelineFixture("timeline-small.json")
        let text = TimelineText.render(t, collapse: false)
        // nginx's 0.1-4.1 ms samples share the epoll stack; the net_rx it took at 3.05 ms shows the
        // softirq end of the one sample inside it; the 4.1 ms sample is its own phase; the sleep at 8 ms
        // ends the run; ksoftirqd's run and its net_rx line up; no sample fell inside timer/rcu.
        #expect(text == """
            ktrace timeline: 20.0ms window, 2 CPU(s), 19 samples every 1.0ms, 6 softirq slices, 4 switches
            CPU 0
               +0.100ms    4.0ms  run     nginx (2000)      main > ngx_process_events > epoll_wait > entry_SYSCALL_64 > do_epoll_wait
               +3.050ms  400.0µs  net_rx  nginx (2000)      … > irq_exit_rcu > handle_softirqs > net_rx_action > __netif_receive_skb > ip_rcv
               +4.100ms    1.0ms  run     nginx (2000)      main > ngx_http_process_request > ngx_http_parse_request_line
               +5.100ms    2.9ms  run     nginx (2000)      main > ngx_http_process_request > ngx_http_send_response > writev
               +8.050ms    1.6ms  net_rx  [ksoftirqd/0]     … > run_ksoftirqd > handle_softirqs > net_rx_action > __napi_poll > mlx5e_napi_poll
               +8.100ms    1.6ms  run     ksoftirqd/0 (15)  … > run_ksoftirqd > handle_softirqs > net_rx_action > __napi_poll > mlx5e_napi_poll
              +12.100ms    1.0ms  run     nginx (2000)      main > ngx_process_events > epoll_wait
              +13.100ms    1.4ms  run     nginx (2000)      main > ngx_process_events > ngx_event_accept
              +13.500ms   12.5µs  timer   nginx (2000)
              +13.600ms    3.1µs  rcu     nginx (2000)
            CPU 1
               +0.300ms    3.0ms  run     nginx (2001)      start_thread > worker > deflate
               +2.000ms    850ns  rcu     nginx (2001)
               +2.600ms    900ns  rcu     nginx (2001)
               +3.300ms    3.0ms  run     nginx (2001)      start_thread > worker > send > sendmsg

            """)
        // Collapsed: nothing repeats back to back here except CPU 1's two rcu slices.
        let collapsed = TimelineText.render(t, collapse: true).split(separator: "\n")
        #expect(collapsed.count == text.split(separator: "\n").count - 1)
        #expect(collapsed.contains { $0.contains("rcu ×2") && $0.contains("1.8µs") })
    }

    @Test func collapseMergesRepeatsWithSummedDuration() throws {
        // Three identical timer softirqs in a row on CPU 0, then a different one.
        let slices = [0, 2, 4].map { SoftirqSlice(ts: UInt64($0) * ms, dur: 10_000, cpu: 0, vector: .timer, ksoftirqd: false, tid: 9, comm: "app") }
            + [SoftirqSlice(ts: 6 * ms, dur: 5_000, cpu: 0, vector: .rcu, ksoftirqd: false, tid: 9, comm: "app")]
        let t = Timeline(samples: [], slices: slices, switches: [], startNs: 0, endNs: 10 * ms, samplePeriodNs: ms)
        let lines = TimelineText.render(t, collapse: true).split(separator: "\n").map(String.init)
        #expect(lines.dropFirst() == ["CPU 0", "  +0.000ms  30.0µs  timer ×3  app (9)", "  +6.000ms   5.0µs  rcu       app (9)"])
        let plain = TimelineText.render(t, collapse: false).split(separator: "\n")
        #expect(plain.count == 6)
    }

    @Test func textStacksKeepTheLeafWhenTrimmed() {
        let frames = (0..<40).map { "frame_number_\($0)" }
        let s = TimelineText.trim(frames)
        #expect(s.count <= TimelineText.stackWidth)
        #expect(s.hasPrefix("… > "))
        #expect(s.hasSuffix("frame_number_38 > frame_number_39"))
        #expect(TimelineText.trim([String(repeating: "x", count: 150) + "_leaf"]).hasSuffix("x_leaf"))
        #expect(TimelineText.duration(999_960) == "1.0ms")
        #expect(TimelineText.duration(850) == "850ns")
        #expect(TimelineText.duration(3_240_000) == "3.2ms")
    }
}
