import ArgumentParser
import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Record samples, softirq runs and context switches in time order; export to Perfetto, speedscope or text.",
        discussion: """
        A flame graph merges and sorts stacks, so it cannot say what ran after what; a timeline can.
        Examples:
          ktrace timeline -a -d 5 -o trace.json                 open in https://ui.perfetto.dev
          ktrace timeline --pid 1234 -F 999 -d 2 -o t.speedscope.json
          ktrace timeline --comm 'ksoftirqd/*' -d 1 --collapse  readable listing on the terminal
          ktrace timeline -p 1234 --trace vfs_read -d 2 -o t.json  with its calls (needs fentry)
        """
    )

    @OptionGroup var target: TargetOptions
    @Option(name: [.short, .long], help: "Output file (.json: Perfetto / Chrome trace; .speedscope.json: speedscope). Default stdout.")
    var output: String?
    @Option(help: "perfetto, speedscope or text (default: from -o, else text).") var format: TimelineFormat?
    @Flag(help: "Text view: merge consecutive identical lines.") var collapse = false
    @Option(help: "Ring buffer size in bytes (events travel through it; drops are counted).")
    var ringbuf: UInt32 = 16 << 20
    @Option(help: ArgumentHelp("Kernel functions to record at entry and exit, comma-separated (at most \(KT_TRACE_MAX)).",
                               discussion: "Each call becomes a slice with its nesting depth on a 'calls' track of its thread, like retsnoop. Needs fentry/fexit (BPF trampolines): where the kernel cannot attach them, ktrace says why and stops.",
                               valueName: "func,..."))
    var trace: String?

    /// The --trace functions, in slot order (validated).
    var traceFunctions: [String] { trace.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [] }

    enum TimelineFormat: String, ExpressibleByArgument { case perfetto, speedscope, text }

    var resolvedFormat: TimelineFormat {
        if let format { return format }
        if let output, output.hasSuffix(".speedscope.json") { return .speedscope }
        if let output, output.hasSuffix(".json") { return .perfetto }
        return .text
    }

    func validate() throws {
        if ringbuf < 4096 || ringbuf > 1 << 30 { throw ValidationError("--ringbuf must be between 4096 and \(1 << 30) bytes") }
        if trace != nil {
            let fs = traceFunctions
            if fs.count > Int(KT_TRACE_MAX) { throw ValidationError("--trace: at most \(KT_TRACE_MAX) functions") }
            for f in fs where !Self.isFunctionName(f) {
                throw ValidationError("--trace: '\(f)' is not a kernel function name (letters, digits and '_', comma-separated)")
            }
            for f in fs where f.utf8.count > 127 { throw ValidationError("--trace: '\(f.prefix(20))...' is longer than 127 characters") }
            if Set(fs).count != fs.count { throw ValidationError("--trace: a function is listed twice") }
        }
        if target.event == .cycles && target.period != nil {
            throw ValidationError("--period with --event cycles counts cycles, not time: give -F for a timeline")
        }
    }

    func run() throws {
        checkWritable(output)
        if let trace {
            requireTracingPrivileges()
            let r = cCall { kt_probe_fentry($0, $1) }
            if r.rc != 0 {
                fail("--trace \(trace): fentry/fexit is not available on this kernel (\(r.message)); the sampled timeline works without it")
            }
        }
        kt_install_signal_handlers()
        let ctl = target.control(kernelStack: true, userStack: true, perThread: true, aggregate: false, events: true)
        // The window opens before attaching, so the first events fall inside it.
        let start = kt_monotonic_ns()
        let handle = target.openProfile(ctl: ctl, countEntries: 1, ringbufBytes: ringbuf,
                                        trackSoftirq: true, trackSwitch: true, traceFunctions: traceFunctions)
        defer { kt_profile_close(handle) }
        let resolver = StackResolver(handle: handle, kernelStacks: true, demangle: !target.noDemangle)
        for p in target.pids { resolver.userSymbols.capture(pid: p) }
        if target.duration == nil { note("recording \(target.describe)... hit Ctrl-C to end.") }

        var events: [kt_event] = []
        let drain = {
            let n = Int(kt_profile_poll(handle, 0))
            if n > 0, let p = kt_profile_events(handle) {
                events.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
                kt_profile_clear_events(handle)
            }
        }
        let seconds = target.waitForEnd(poll: drain)
        kt_profile_stop(handle)
        // The window closes once everything is detached: events up to then are in it.
        let end = kt_monotonic_ns()
        drain()

        var stats = kt_profile_stats()
        _ = kt_profile_read_stats(handle, &stats)
        for tgid in Set(events.lazy.filter { $0.type == KT_EV_SAMPLE.rawValue }.map { Int32(bitPattern: $0.tgid) }) {
            resolver.userSymbols.capture(pid: tgid)
        }
        resolver.prefetch()
        let timeline = buildTimeline(events, resolver: resolver, start: start, end: end)
        let text: String
        switch resolvedFormat {
        case .perfetto: text = ChromeTrace.render(timeline)
        case .speedscope: text = Speedscope.render(timeline, name: "ktrace timeline: \(target.describe)")
        case .text: text = TimelineText.render(timeline, collapse: collapse)
        }
        writeOutput(text.hasSuffix("\n") ? text : text + "\n", to: output)
        let summary = LossSummary(stats)
        let bytes = text.utf8.count
        if trace != nil {
            let n = FunctionCalls.notes(FunctionCalls.pair(timeline.calls, startNs: start, endNs: end))
            note("\(n.calls) traced calls (\(n.beforeWindow) began before the recording, \(n.running) still running at the end, "
                 + "\(n.lostExit) with their exit lost, \(n.clipped) cut to fit their caller); \(stats.func_too_deep) not recorded "
                 + "(more than \(KT_TRACE_DEPTH) open in a task), \(stats.func_unmatched) unmatched exits")
        }
        note("\(timeline.samples.count) samples, \(timeline.slices.count) softirq runs, \(timeline.switches.count) switches in "
             + "\(fixed(seconds, 1)) s; \(summary.eventsDropped) events dropped; \(summary.lostText); "
             + "\(bytes) bytes (\(Int(Double(bytes) / max(seconds, 0.001))) B/s)" + (output.map { " -> \($0)" } ?? ""))
        if summary.eventsDropped > 0 { note("warning: the ring buffer overflowed: raise --ringbuf") }
    }

    static func isFunctionName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }
    }

    func buildTimeline(_ events: [kt_event], resolver: StackResolver, start: UInt64, end: UInt64) -> Timeline {
        var samples: [TimelineSample] = [], slices: [SoftirqSlice] = [], switches: [SwitchEvent] = []
        var calls: [FunctionEvent] = []
        let functions = traceFunctions  // computed from the option: once, not per event
        for e in events {
            switch e.type {
            case KT_EV_SAMPLE.rawValue:
                let pid = Int32(bitPattern: e.tgid)
                let vec = e.vec > 0 ? SoftirqVector(rawValue: Int(e.vec) - 1) : nil
                let frames = StackComposer.frames(comm: "", softirq: nil, user: resolver.user(pid: pid, e.ustack),
                                                  kernel: resolver.kernel(e.kstack), annotateKernel: false).dropFirst()
                samples.append(TimelineSample(ts: e.ts, cpu: Int(e.cpu), pid: pid, tid: Int32(bitPattern: e.tid),
                                              comm: cString(e.comm), frames: Array(frames), softirq: vec))
            case KT_EV_SOFTIRQ.rawValue:
                guard let vec = SoftirqVector(rawValue: Int(e.vec)) else { continue }
                slices.append(SoftirqSlice(ts: e.ts, dur: e.dur, cpu: Int(e.cpu), vector: vec,
                                           ksoftirqd: e.flags & UInt32(KT_EVF_KSOFTIRQD) != 0,
                                           tid: Int32(bitPattern: e.tid), comm: cString(e.comm)))
            case KT_EV_SWITCH.rawValue:
                switches.append(SwitchEvent(ts: e.ts, cpu: Int(e.cpu), prevPid: Int32(bitPattern: e.tgid),
                                            prevTid: Int32(bitPattern: e.tid), prevComm: cString(e.comm),
                                            prevState: e.prev_state, nextPid: Int32(bitPattern: e.next_tgid),
                                            nextTid: Int32(bitPattern: e.next_tid), nextComm: cString(e.next_comm)))
            case KT_EV_FUNC_ENTRY.rawValue, KT_EV_FUNC_EXIT.rawValue:
                guard Int(e.vec) < functions.count else { continue }
                let kind: FunctionEvent.Kind = e.type == KT_EV_FUNC_ENTRY.rawValue ? .entry
                    : .exit(entryTs: e.flags & UInt32(KT_EVF_NO_ENTRY) != 0 ? nil : e.ts - e.dur)
                calls.append(FunctionEvent(ts: e.ts, cpu: Int(e.cpu), pid: Int32(bitPattern: e.tgid), tid: Int32(bitPattern: e.tid),
                                           comm: cString(e.comm), function: functions[Int(e.vec)], depth: Int(e.depth), kind: kind))
            default: continue
            }
        }
        // Per-CPU ring order is time order per CPU only: merge all CPUs into one stream.
        samples.sort { $0.ts < $1.ts }
        slices.sort { $0.ts < $1.ts }
        switches.sort { $0.ts < $1.ts }
        let period = target.effectiveFrequency > 0 ? 1_000_000_000 / target.effectiveFrequency : (target.period ?? 10_000_000)
        return Timeline(samples: samples, slices: slices, switches: switches, startNs: start, endNs: end, samplePeriodNs: period,
                        calls: calls)
    }
}
