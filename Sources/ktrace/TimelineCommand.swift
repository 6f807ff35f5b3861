import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

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
    @Option(help: "perfetto, speedscope or text (default: from -o, else text).") var format: String?
    @Flag(help: "Text view: merge consecutive identical lines.") var collapse = false
    @Option(help: "Ring buffer size in bytes (events travel through it; drops are counted).")
    var ringbuf: UInt32 = 16 << 20
    @Option(help: ArgumentHelp("Kernel functions to record at entry and exit, comma-separated (at most \(ProfileConfig.maxTraceFunctions)).",
                               discussion: "Each call becomes a slice with its nesting depth on a 'calls' track of its thread, like retsnoop. Uses fentry/fexit (BPF trampolines), else kprobes (--trace-attach); where neither attaches, ktrace says why for each and stops.",
                               valueName: "func,..."))
    var trace: String?
    @Option(help: "How --trace records: auto (fentry/fexit, else kprobes), fentry or kprobe.")
    var traceAttach: TraceAttachOption = .auto

    enum TraceAttachOption: String, ExpressibleByArgument { case auto, fentry, kprobe }

    /// The --trace functions, in slot order (validated).
    var traceFunctions: [String] { trace.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [] }

    static var formats: OutputRegistry<TimelineOutput> { .timeline }

    var resolvedFormat: OutputFormat { Self.formats.format(format, path: output) }

    func validate() throws {
        try Self.formats.validate(format: format)
        if ringbuf < 4096 || ringbuf > 1 << 30 { throw ValidationError("--ringbuf must be between 4096 and \(1 << 30) bytes") }
        if trace != nil {
            let fs = traceFunctions
            if fs.count > Int(ProfileConfig.maxTraceFunctions) { throw ValidationError("--trace: at most \(ProfileConfig.maxTraceFunctions) functions") }
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
        let traceAttach = trace.map(chooseTraceAttach) ?? .fentry
        StopSignal.install()
        var config = target.profileConfig
        config.perThread = true
        config.trackSoftirq = true
        var stream = ProfileConfig.Timeline(ringbufBytes: ringbuf)
        stream.workSlices = true
        stream.traceFunctions = traceFunctions
        stream.traceAttach = traceAttach
        config.timeline = stream
        let session = openProfile(config, verbose: target.verbose, rate: target.rateDescription, start: false)
        let symbolizer = StackSymbolizer(source: session, kernelSymbols: KernelSymbolsLoader(report: note),
                                         userNames: UserSymbolizer(), demangle: !target.noDemangle)
        target.captureMaps(symbolizer)
        // Events begin now, every program attached and the command set up; the banner follows at once.
        startCounting(session)
        let start = session.countingSinceNs
        announceRecording("recording \(target.describe)", duration: target.duration)

        var events: [TraceEvent] = []
        let seconds = record(for: target.duration, watching: target.watched, session: session) { events += session.poll() }
        session.stop()
        // The window closes once everything is detached: events up to then are in it.
        let end = Kernel.monotonicNs()
        events += session.poll()

        let losses = session.losses()
        let timeline = Timeline.build(events, symbolizer: symbolizer, functions: traceFunctions, startNs: start, endNs: end,
                                      samplePeriodNs: target.samplePeriodNs)
        let file = Self.formats.bytes(TimelineOutput(timeline: timeline, name: "ktrace timeline: \(target.describe)", collapse: collapse),
                                      as: resolvedFormat)
        writeOutput(bytes: file, to: output)
        let bytes = file.count
        if trace != nil {
            let n = FunctionCalls.notes(FunctionCalls.pair(timeline.calls, startNs: start, endNs: end))
            note("\(n.calls) traced calls (\(n.beforeWindow) began before the recording, \(n.running) still running at the end, "
                 + "\(n.lostEntry) with their entry lost, \(n.lostExit) with their exit lost, \(n.clipped) cut to fit their caller); \(losses.callsTooDeep) not recorded "
                 + "(more than \(ProfileConfig.maxTraceDepth) open in a task); the kernel skipped \(losses.callsUnmatched) entries "
                 + "and \(losses.callsExitMissed) exits (recursion protection, kretprobe instances)"
                 + (losses.callsNoState > 0 ? ", \(losses.callsNoState) not recorded for want of room for their task's state" : ""))
        }
        note("\(timeline.samples.count) samples, \(timeline.slices.count) softirq runs, \(timeline.work.count) work items, \(timeline.switches.count) switches in "
             + "\(fixed(seconds, 1)) s; \(losses.eventsDropped) events dropped; \(losses.lostText); "
             + "\(bytes) bytes (\(Int(Double(bytes) / max(seconds, 0.001))) B/s)" + (output.map { " -> \($0)" } ?? ""))
        noteUnwinding(session)
        if losses.eventsDropped > 0 { note("warning: the ring buffer overflowed: raise --ringbuf") }
        if losses.workFull > 0 { note("warning: \(losses.workFull) work items not followed (more than 4096 kworkers at once): not drawn") }
    }

    /// fentry/fexit where BPF trampolines attach, else kprobes (as retsnoop falls back); each failed
    /// attempt is named when neither works.
    func chooseTraceAttach(_ list: String) -> ProfileConfig.TraceAttach {
        requireTracingPrivileges()
        let fentry = traceAttach == .kprobe ? nil : Kernel.fentryProblem()
        if traceAttach == .fentry, let fentry {
            fail("--trace \(list): fentry/fexit is not available on this kernel (\(fentry)); the sampled timeline works without it")
        }
        if traceAttach == .auto && fentry == nil { return .fentry }
        if let kprobe = Kernel.kprobeProblem() {
            fail("--trace \(list): cannot record calls on this kernel: " + (fentry.map { "fentry: \($0); " } ?? "") + "kprobe: \(kprobe); "
                 + "the sampled timeline works without --trace")
        }
        if let fentry, target.verbose || traceAttach == .auto { note("--trace with kprobes: fentry/fexit is not available (\(fentry))") }
        return .kprobe
    }

    static func isFunctionName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }
    }
}
