import ArgumentParser
import KtraceCore
import KtraceKernel

struct OffcpuCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "offcpu",
        abstract: "Time spent off the CPU per stack (where threads wait: I/O, locks, sleep), summed in the kernel, in microseconds.",
        discussion: """
        At each sched_switch the task leaving the CPU records its stacks; when it comes back, the time it
        was away is added to those stacks in the kernel. Tasks still off the CPU at the end are not counted.

        Examples:
          ktrace offcpu --state D -d 10 -o d-state.svg    load average high, CPU low: who sleeps uninterruptibly, where?
          ktrace offcpu --pid 1234 --min-us 1000 -d 30     waits of 1 ms or more of one process, folded
          ktrace offcpu --comm 'kworker/*' --by-state      kworkers' waits, split by the state they slept in
        """
    )

    @OptionGroup var target: TargetOptions
    @Option(help: "Which switch-outs count: any, or a comma list of R (preempted), S (sleep), D (uninterruptible, in the load average), I (idle, stopped, parked).")
    var state: String = "any"
    @Option(help: "Count only blocked times of at least this many microseconds.") var minUs: UInt64 = 0
    @Option(help: "Count only blocked times of at most this many microseconds.") var maxUs: UInt64?
    @Flag(help: "Add a [state:X] frame after the task name.") var byState = false
    @Flag(help: "Join the waker's kernel stack to each sleeper's, after '--' and a [woken in task|softirq|irq] frame, as offwaketime folds them.")
    var wakers = false
    @Flag(help: "Kernel stacks only.") var kernelOnly = false
    @Flag(help: "User stacks only.") var userOnly = false
    @Flag(help: "Key stacks by thread, not only by process.") var perThread = false
    @Option(help: "Most tasks followed off the CPU at once (beyond it, switch-outs are counted as lost).")
    var maxTasks: UInt32 = 16384
    @Option(name: [.short, .long], help: "Output file: .svg (flame graph), .json, .pb.gz (pprof, nanoseconds), anything else folded (microseconds). Default stdout.")
    var output: String?
    @Option(help: "folded, svg, json or pprof (default: from the -o extension, else folded).") var format: String?
    @Flag(help: "Suffix kernel frames with _[k] in folded output.") var annotate = false
    @Option(help: "Flame graph title.") var title: String?

    var states: Set<OffCPUState> {
        get throws {
            if state.lowercased() == "any" { return Set(OffCPUState.allCases) }
            return Set(try state.split(separator: ",").map { s in
                guard let st = OffCPUState(letter: String(s.trimmed)) else {
                    throw ValidationError("--state \(state): give any, or letters among R, S, D, I (comma-separated)")
                }
                return st
            })
        }
    }

    func validate() throws {
        if kernelOnly && userOnly { throw ValidationError("--kernel-only and --user-only exclude each other") }
        try StacksCommand.formats.validate(format: format)
        if target.frequency != nil || target.period != nil || target.event != .cpuClock {
            throw ValidationError("offcpu does not sample: -F, --period and --event apply to stacks and timeline")
        }
        if try states.isEmpty { throw ValidationError("--state needs at least one state") }
        if let maxUs, maxUs < minUs { throw ValidationError("--max-us \(maxUs) is below --min-us \(minUs)") }
        if maxTasks < 64 || maxTasks > 1 << 22 { throw ValidationError("--max-tasks must be between 64 and \(1 << 22)") }
    }

    var resolvedFormat: OutputFormat { StacksCommand.formats.format(format, path: output) }

    func run() throws {
        checkWritable(output)
        StopSignal.install()
        var config = target.profileConfig
        config.kernelStacks = !userOnly
        config.userStacks = !kernelOnly
        config.perThread = perThread
        config.countEntries = target.countEntries
        config.sampling = false
        var off = ProfileConfig.OffCPU()
        off.states = try states
        off.minNs = minUs.multipliedReportingOverflow(by: 1000).partialValue
        off.maxNs = maxUs.map { $0.multipliedReportingOverflow(by: 1000).overflow ? .max : $0 * 1000 } ?? .max
        off.maxTasks = maxTasks
        off.wakers = wakers
        config.offCPU = off
        let session = openProfile(config, verbose: target.verbose, rate: "off-CPU", start: false)
        let symbolizer = StackSymbolizer(source: session, kernelSymbols: session.namesKernelAddresses ? KernelSymbolsLoader(report: note) : nil,
                                         userNames: UserSymbolizer(), demangle: !target.noDemangle)
        target.captureMaps(symbolizer)
        // Counting begins now, set up: the window holds none of ktrace's own start-up (under emulation its
        // CPU use slowed the workload's pipe round trips in the first half second of a 3 s window).
        startCounting(session)
        announceRecording("tracing off-CPU time of \(target.describe) (state \(state))", duration: target.duration)
        _ = record(for: target.duration, since: session.countingSinceNs, watching: target.watched, session: session)
        // Off-CPU time was counted from startCounting (just before the banner) until stop()
        // turns it off, first thing (detaching, which follows, is slow under emulation).
        let seconds = Double(Kernel.monotonicNs() - session.countingSinceNs) / 1e9
        session.stop()
        let losses = session.losses()
        let counts = session.counts(max: Int(min(UInt64(config.countEntries), losses.offCPUSwitches + 4096)))
        StackProfile.prepareNaming(counts, symbolizer)
        let totalNs = counts.reduce(UInt64(0)) { $0 &+ $1.count }
        let run = StackProfile.Summary(target: target.describe, seconds: seconds, event: "off-cpu", rate: "state \(state)", losses: losses,
                                       startUnixNs: session.countingSinceUnixNs)
        let comments = ["ktrace offcpu: \(target.describe)", "\(fixed(seconds, 1)) s · state \(state) · \(losses.offCPUText)"]
        var out = StackOutput(counts: counts, symbolizer: symbolizer, run: run,
                              pprof: Pprof.Header(kind: .offCPU, run: run, perThread: perThread, comments: comments))
        if byState { out.labels.insert(.state) }
        if wakers { out.labels.insert(.wakers) }
        out.weight = { HotCold.microseconds($0, samplePeriodNs: 0) }
        out.perThread = perThread
        out.annotate = annotate
        out.jsonUnit = "ns"
        out.graph.title = title ?? "ktrace offcpu: \(target.describe)"
        out.graph.subtitle = "\(fixed(seconds, 1)) s · state \(state) · \(fixed(Double(totalNs) / 1e9, 3)) s off the CPU · \(losses.offCPUText)"
        out.graph.countName = "us"
        out.graph.palette = .cold
        writeOutput(bytes: StacksCommand.formats.bytes(out, as: resolvedFormat), to: output)
        note("\(fixed(Double(totalNs) / 1e9, 3)) s off the CPU in \(counts.count) distinct stacks over \(fixed(seconds, 1)) s; \(losses.offCPUText)"
             + (output.map { " -> \($0)" } ?? ""))
        if wakers { note(wakeupSummary(counts, symbolizer)) }
        if let unnamed = UnnamedSummary(counts, symbolizer).line { note(unnamed) }
        noteUnwinding(session)
        warnIfCountMapFull(losses)
    }

    /// "woken (share of the blocked time): 31.1% from tasks, 0.0% from softirq, 68.9% from irq, 0.0% no wakeup seen (...)"
    func wakeupSummary(_ counts: [StackCount], _ s: StackSymbolizer) -> String {
        var by: [Wakeup: UInt64] = [:], unseen: UInt64 = 0, total: UInt64 = 0
        for c in counts {
            total &+= c.count
            if case .frames(let f) = s.kernel(c.waker) {
                by[Wakeup.context(ofWakerFrames: f.map { s.table[$0] }), default: 0] &+= c.count
            } else {
                unseen &+= c.count
            }
        }
        let pct = { (v: UInt64) in fixed(total == 0 ? 0 : Double(v) / Double(total) * 100, 1) + "%" }
        return "woken (share of the blocked time): " + Wakeup.allCases.map { "\(pct(by[$0] ?? 0)) from \($0 == .task ? "tasks" : $0.rawValue)" }
            .joined(separator: ", ") + ", \(pct(unseen)) no wakeup seen (preempted, or woken before tracing)"
    }
}
