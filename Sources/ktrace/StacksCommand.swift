import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

struct StacksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stacks",
        abstract: "Sample stacks, aggregated in the kernel; write folded stacks or an interactive SVG flame graph.",
        discussion: """
        Examples:
          ktrace stacks --pid 9 -d 30 -o ksoftirqd.svg      why is ksoftirqd/0 busy?
          ktrace stacks --comm 'ksoftirqd/*' --by-softirq   split its time by softirq vector
          ktrace stacks --comm 'kworker/*' --by-work        split kworkers' time by work function
          ktrace stacks -a -F 999 -d 10 > all.folded        system wide, folded for flamegraph.pl / inferno
          ktrace stacks --pid 1234 --hot-cold -o hc.svg     where it runs and where it waits, in one picture
          ktrace stacks --pid $(pgrep -n nginx) --unwind dwarf -o ngx.svg   a binary built without frame pointers
          ktrace stacks -a -d 10 -o cpu.pb.gz -o cpu.svg    one recording, pprof (go tool pprof, Pyroscope) and SVG
          ktrace stacks -a -F 19 --interval 60 -o prof/     always on: one pprof file a minute into prof/
        """
    )

    @OptionGroup var target: TargetOptions
    @Flag(help: "Kernel stacks only.") var kernelOnly = false
    @Flag(help: "User stacks only.") var userOnly = false
    @Flag(help: "Add a [softirq:VECTOR] frame after the task name for samples taken inside a softirq.")
    var bySoftirq = false
    @Flag(help: "Add a [work:FUNCTION] frame after the task name for samples taken while a kworker ran a work item.")
    var byWork = false
    @Flag(help: "Key stacks by thread, not only by process.") var perThread = false
    @Flag(help: "Hot/cold: on-CPU samples (one sample period each) and off-CPU time in one graph, in microseconds, under [on-cpu] and [off-cpu].")
    var hotCold = false
    @Option(name: [.short, .long], help: ArgumentHelp(
        "Output file: .svg (flame graph), .json, .pb.gz (pprof), anything else folded; repeat for several outputs of one recording. A directory (DIR/) with --interval: one profile per interval, pprof unless --format. Default stdout.",
        valueName: "file"))
    var output: [String] = []
    @Option(help: "folded, svg, json or pprof (default: from the -o extension, else folded).") var format: String?
    @Flag(help: "Suffix kernel frames with _[k] in folded output (flamegraph.pl colours them).") var annotate = false
    @Option(help: "Flame graph title.") var title: String?
    @Option(help: "Every N seconds while sampling: rewrite each -o FILE with everything gathered so far, or write the interval's own profile into -o DIR/.")
    var interval: Double?

    static var formats: OutputRegistry<StackOutput> { .stacks }

    /// Each output and its format (one, stdout, when none is given).
    var outputs: [(path: String?, format: OutputFormat)] {
        output.isEmpty ? [(nil, Self.formats.format(format, path: nil))] : output.map { ($0 == "-" ? nil : $0, Self.formats.format(format, path: $0)) }
    }

    /// `-o DIR/`: one profile per interval into this directory (continuous profiling).
    var directory: String? {
        guard output.count == 1, let o = output.first, o != "-" else { return nil }
        var isDir = false
        return o.hasSuffix("/") || (FileManager.default.fileExists(atPath: o, isDirectory: &isDir) && isDir) ? o : nil
    }

    func validate() throws {
        if kernelOnly && userOnly { throw ValidationError("--kernel-only and --user-only exclude each other") }
        try Self.formats.validate(format: format)
        if let interval {
            if !(interval > 0 && interval <= maxSeconds) {
                throw ValidationError("--interval must be a number of seconds between 0 and \(Int(maxSeconds)), got \(interval)")
            }
            if output.isEmpty || output.contains("-") {
                throw ValidationError("--interval needs -o FILE (rewritten with the cumulative result) or -o DIR/ (a profile per interval)")
            }
        }
        if format != nil && output.count > 1 { throw ValidationError("--format applies to one output; with several, each -o names its format by extension") }
        if output.count > 1, output.contains(where: { $0.hasSuffix("/") }) { throw ValidationError("-o DIR/ is the only output of a continuous profile") }
        if directory != nil && interval == nil { throw ValidationError("-o \(output[0]): a directory takes one profile per --interval N") }
        if directory != nil && hotCold { throw ValidationError("--hot-cold is not written per interval") }
        if hotCold && !target.event.isTimed {
            throw ValidationError("--hot-cold turns samples into time: it needs a timed --event (cpu-clock or cycles), not \(target.event)")
        }
        if hotCold, let f = outputs.first(where: { $0.format == .json || $0.format == .pprof })?.format {
            throw ValidationError("--hot-cold writes folded or SVG; for \(f) use stacks and offcpu apart")
        }
    }

    func run() throws {
        if let directory { makeDirectory(directory) } else { for o in outputs { checkWritable(o.path, atomic: interval != nil) } }
        StopSignal.install()
        var config = target.profileConfig
        config.kernelStacks = !userOnly
        config.userStacks = !kernelOnly
        config.perThread = perThread
        config.aggregate = true
        config.countEntries = target.countEntries
        config.trackSoftirq = bySoftirq
        config.byWork = byWork
        if hotCold { config.offCPU = ProfileConfig.OffCPU() }
        let session = openProfile(config, verbose: target.verbose, rate: target.rateDescription, start: false)
        let kernelSymbols = session.namesKernelAddresses ? KernelSymbolsLoader(report: note) : nil, userNames = UserSymbolizer()
        let symbolizer = StackSymbolizer(source: session, kernelSymbols: kernelSymbols, userNames: userNames, demangle: !target.noDemangle)
        target.captureMaps(symbolizer)
        // Counting begins now, set up, and the banner says so at once: the window is the one announced
        // (under emulation the setup above took most of a second, counted before the banner).
        startCounting(session)
        announceRecording("sampling \(target.describe)", duration: target.duration)
        if let directory, let interval {
            let format = format.flatMap(Self.formats.format(named:)) ?? .pprof
            let c = ContinuousProfile(directory: directory, fileExtension: format.fileExtension, verbose: target.verbose)
            let n = c.run(session, every: interval, duration: target.duration, watching: target.watched, countEntries: Int(target.countEntries),
                          symbolizer: { StackSymbolizer(source: session, kernelSymbols: kernelSymbols, userNames: userNames, demangle: !target.noDemangle) },
                          render: { counts, s, seconds, startUnixNs in
                              let run = StackProfile.Summary(target: target.describe, seconds: seconds, event: target.event.description,
                                                         rate: target.rateDescription, losses: session.losses(), startUnixNs: startUnixNs)
                              return render(format, counts, s, run: run)
                          })
            let losses = session.losses()
            note("\(losses.samples) samples, \(losses.lostText); \(n) profiles in \(directory)")
            noteUnwinding(session)
            warnIfCountMapFull(losses)
            return
        }
        // With --interval the maps are read (not cleared: nothing can be lost) and the output rewritten
        // while sampling continues.
        let start = session.countingSinceNs
        var lastWrite = Kernel.monotonicNs()
        let periodic: (() -> Void)? = interval.map { secs in {
            let now = Kernel.monotonicNs()
            guard Double(now - lastWrite) >= secs * 1e9 else { return }
            lastWrite = now
            var timer = PhaseTimer()
            _ = emit(session, symbolizer, seconds: Double(now - start) / 1e9, timer: &timer)
        } }
        _ = record(for: target.duration, since: start, watching: target.watched, session: session, poll: periodic)
        let sampled = Kernel.monotonicNs()
        // Sampling ran from startCounting, just before the banner, until now.
        let seconds = Double(sampled - start) / 1e9
        var timer = PhaseTimer()
        session.stop()
        timer.mark("detach")
        let (n, losses, unnamed) = emit(session, symbolizer, seconds: seconds, timer: &timer)
        if target.verbose { note("after sampling: \(timer.summary); \(memoryUse())") }
        let ms = Double(Kernel.monotonicNs() - sampled) / 1e6
        note("\(losses.samples) samples in \(fixed(seconds, 1)) s, \(losses.lostText); \(n) distinct stacks; output in \(fixed(ms, 0)) ms"
             + (output.isEmpty ? "" : " -> " + output.joined(separator: ", ")))
        if hotCold { note("off-CPU: \(losses.offCPUText); weights in microseconds (a sample = \(fixed(Double(target.samplePeriodNs) / 1000, 0)) us)") }
        if let unnamed { note(unnamed) }
        noteUnwinding(session)
        warnIfCountMapFull(losses)
    }

    /// Read what was gathered so far, name it, write the output. Returns the number of distinct stacks,
    /// the loss counters, and the line on user frames without a name (nil: none).
    func emit(_ session: ProfileSession, _ symbolizer: StackSymbolizer, seconds: Double, timer: inout PhaseTimer) -> (Int, ProfileLosses, String?) {
        let losses = session.losses()
        // The map holds at most one key per sample: size the copy by what was sampled (with slack, as the
        // per-CPU sample counters are not atomic), not by the map.
        let counts = session.counts(max: Int(min(UInt64(target.countEntries), losses.samples + losses.offCPUSwitches + 4096)))
        StackProfile.prepareNaming(counts, symbolizer) { timer.mark("read maps") }
        timer.mark("process maps+symbolize")
        let run = StackProfile.Summary(target: target.describe, seconds: seconds, event: target.event.description,
                                   rate: target.rateDescription, losses: losses, startUnixNs: session.countingSinceUnixNs)
        for o in outputs {
            writeOutput(bytes: render(o.format, counts, symbolizer, run: run), to: o.path, atomic: interval != nil)
        }
        timer.mark("render+write")
        let period = target.samplePeriodNs
        let unnamed = UnnamedSummary(counts, symbolizer, weight: hotCold ? { HotCold.microseconds($0, samplePeriodNs: period) } : nil)
        return (counts.count, losses, unnamed.line)
    }

    /// One output of what was gathered (all of it, or one interval's), in `format`.
    func render(_ format: OutputFormat, _ counts: [StackCount], _ s: StackSymbolizer, run: StackProfile.Summary) -> [UInt8] {
        let period = target.samplePeriodNs
        var out = StackOutput(counts: counts, symbolizer: s, run: run,
                              pprof: Pprof.Header(kind: target.pprofKind, run: run, perThread: perThread,
                                               comments: [run.title, run.subtitle]))
        if bySoftirq { out.labels.insert(.softirq) }
        if byWork { out.labels.insert(.work) }
        if hotCold { out.labels.insert(.hotCold) }
        out.weight = hotCold ? { HotCold.microseconds($0, samplePeriodNs: period) } : nil
        out.perThread = perThread
        out.annotate = annotate
        out.graph.title = title ?? run.title
        out.graph.subtitle = run.subtitle + (hotCold ? " · off-CPU: \(run.losses.offCPUText)" : "")
        if hotCold {
            out.graph.countName = "us"
            out.graph.palette = .hotCold
        }
        return Self.formats.bytes(out, as: format)
    }
}
