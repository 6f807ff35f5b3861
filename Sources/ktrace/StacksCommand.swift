import ArgumentParser
import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

struct StacksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stacks",
        abstract: "Sample stacks, aggregated in the kernel; write folded stacks or an interactive SVG flame graph.",
        discussion: """
        Examples:
          ktrace stacks --pid 9 -d 30 -o ksoftirqd.svg      why is ksoftirqd/0 busy?
          ktrace stacks --comm 'ksoftirqd/*' --by-softirq   split its time by softirq vector
          ktrace stacks -a -F 999 -d 10 > all.folded        system wide, folded for flamegraph.pl / inferno
        """
    )

    @OptionGroup var target: TargetOptions
    @Flag(help: "Kernel stacks only.") var kernelOnly = false
    @Flag(help: "User stacks only.") var userOnly = false
    @Flag(help: "Add a [softirq:VECTOR] frame after the task name for samples taken inside a softirq.")
    var bySoftirq = false
    @Flag(help: "Key stacks by thread, not only by process.") var perThread = false
    @Option(name: [.short, .long], help: "Output file: .svg (flame graph), .json, anything else folded. Default stdout.")
    var output: String?
    @Option(help: "folded, svg or json (default: from the -o extension, else folded).") var format: OutputFormat?
    @Flag(help: "Suffix kernel frames with _[k] in folded output (flamegraph.pl colours them).") var annotate = false
    @Option(help: "Flame graph title.") var title: String?
    @Option(help: "Also rewrite -o FILE every N seconds while sampling, with everything gathered so far.")
    var interval: Double?

    enum OutputFormat: String, ExpressibleByArgument { case folded, svg, json }

    /// Entries of the count map (preallocated, 48 bytes each): one per distinct (task, stacks, vector).
    var countEntries: UInt32 { max(target.stackStorage, 65536) }

    var resolvedFormat: OutputFormat {
        if let format { return format }
        if let output, output.hasSuffix(".svg") { return .svg }
        if let output, output.hasSuffix(".json") { return .json }
        return .folded
    }

    func validate() throws {
        if kernelOnly && userOnly { throw ValidationError("--kernel-only and --user-only exclude each other") }
        if let interval {
            if !(interval > 0 && interval <= maxSeconds) {
                throw ValidationError("--interval must be a number of seconds between 0 and \(Int(maxSeconds)), got \(interval)")
            }
            if output == nil || output == "-" {
                throw ValidationError("--interval needs -o FILE: the file is rewritten with the cumulative result")
            }
        }
    }

    func run() throws {
        checkWritable(output, atomic: interval != nil)
        kt_install_signal_handlers()
        let ctl = target.control(kernelStack: !userOnly, userStack: !kernelOnly, perThread: perThread,
                                 aggregate: true, events: false)
        let handle = target.openProfile(ctl: ctl, countEntries: countEntries,
                                        ringbufBytes: 0, trackSoftirq: bySoftirq, trackSwitch: false)
        defer { kt_profile_close(handle) }
        let resolver = StackResolver(handle: handle, kernelStacks: !userOnly, demangle: !target.noDemangle)
        // Read the targets' memory maps now: a process may exit before the end.
        for p in target.pids { resolver.userSymbols.capture(pid: p) }
        if target.duration == nil { note("sampling \(target.describe)... hit Ctrl-C to end.") }
        // With --interval the maps are read (not cleared: nothing can be lost) and the output rewritten
        // while sampling continues.
        let start = kt_monotonic_ns()
        var lastWrite = start
        let periodic: (() -> Void)? = interval.map { secs in {
            let now = kt_monotonic_ns()
            guard Double(now - lastWrite) >= secs * 1e9 else { return }
            lastWrite = now
            var timer = PhaseTimer()
            _ = emit(handle: handle, resolver: resolver, seconds: Double(now - start) / 1e9, timer: &timer)
        } }
        let seconds = target.waitForEnd(poll: periodic)
        let sampled = kt_monotonic_ns()
        var timer = PhaseTimer()
        kt_profile_stop(handle)
        timer.mark("detach")
        let (n, stats) = emit(handle: handle, resolver: resolver, seconds: seconds, timer: &timer)
        if target.verbose { note("after sampling: \(timer.summary); \(memoryUse())") }
        let summary = LossSummary(stats)
        let ms = Double(kt_monotonic_ns() - sampled) / 1e6
        note("\(summary.samples) samples in \(fixed(seconds, 1)) s, \(summary.lostText); \(n) distinct stacks; output in \(fixed(ms, 0)) ms"
             + (output.map { " -> \($0)" } ?? ""))
        if stats.count_full > 0 { note("warning: the stack count map was full; raise --stack-storage") }
    }

    /// Read the counts and stacks gathered so far, name them, and write the output. Returns the number
    /// of distinct stacks and the loss counters.
    func emit(handle: OpaquePointer, resolver: StackResolver, seconds: Double, timer: inout PhaseTimer) -> (Int, kt_profile_stats) {
        var stats = kt_profile_stats()
        _ = kt_profile_read_stats(handle, &stats)
        // The map holds at most one key per sample: size the copy by what was sampled (with slack, as the
        // per-CPU sample counters are not atomic), not by the map.
        let capacity = Int(min(UInt64(countEntries), stats.samples + 4096))
        var keys = [kt_stack_key](repeating: kt_stack_key(), count: capacity)
        var counts = [UInt64](repeating: 0, count: capacity)
        let n = Int(kt_profile_read_counts(handle, &keys, &counts, Int32(capacity)))

        resolver.prefetch(unnamed: keys.prefix(n).reduce(0) {
            $0 + (resolver.isNamed(kernel: $1.kstack) ? 0 : 1) + (resolver.isNamed(user: $1.ustack, pid: Int32(bitPattern: $1.tgid)) ? 0 : 1)
        })
        defer { resolver.dropFrames() }
        timer.mark("read maps")
        for tgid in Set(keys.prefix(n).map { Int32(bitPattern: $0.tgid) }) { resolver.userSymbols.capture(pid: tgid) }
        timer.mark("process maps")
        let format = resolvedFormat
        let annotateKernel = annotate || format == .svg
        var stacks: [InternedStack] = []
        var json: [JSONValue] = []
        let missingUser = resolver.id(StackComposer.missingUser)
        let missingKernel = resolver.id(annotateKernel ? StackComposer.annotated(kernelFrame: StackComposer.missingKernel)
                                                       : StackComposer.missingKernel)
        let softirqIDs = SoftirqVector.allCases.map { resolver.id(StackComposer.softirqFrame($0)) }
        for i in 0..<n {
            let k = keys[i]
            let pid = Int32(bitPattern: k.tgid)
            let vec = k.softirq > 0 ? SoftirqVector(rawValue: Int(k.softirq) - 1) : nil
            let comm = cString(k.comm)
            if format == .json {
                json.append(stackJSON(comm: comm, pid: pid, tid: Int32(bitPattern: k.tid), softirq: vec,
                                      user: resolver.user(pid: pid, k.ustack), kernel: resolver.kernel(k.kstack), count: counts[i]))
            } else {
                let frames = StackComposer.compose(comm: resolver.id(StackComposer.commFrame(comm)),
                                                   softirq: bySoftirq ? vec.map { softirqIDs[$0.rawValue] } : nil,
                                                   user: resolver.userFrames(pid: pid, k.ustack),
                                                   kernel: resolver.kernelFrames(k.kstack, annotated: annotateKernel),
                                                   missingUser: missingUser, missingKernel: missingKernel)
                stacks.append(InternedStack(frames: frames, count: counts[i]))
            }
        }
        timer.mark("symbolize")
        let summary = LossSummary(stats)
        let title = self.title ?? "ktrace stacks: \(target.describe)"
        let subtitle = "\(fixed(seconds, 1)) s · \(target.rateDescription) \(target.event.rawValue) · \(summary.samples) samples · \(summary.lostText)"
        switch resolvedFormat {
        case .folded:
            writeOutput(InternedProfile(table: resolver.table, stacks: stacks).renderFolded(), to: output, atomic: interval != nil)
        case .svg:
            var o = FlameGraphOptions()
            o.title = title
            o.subtitle = subtitle
            writeOutput(FlameGraphSVG.render(InternedProfile(table: resolver.table, stacks: stacks), options: o), to: output,
                        atomic: interval != nil)
        case .json:
            let doc = JSONValue.object([
                ("target", .string(target.describe)), ("seconds", .double(seconds)),
                ("event", .string(target.event.rawValue)), ("rate", .string(target.rateDescription)),
                ("samples", .uint(summary.samples)), ("lost", summary.json), ("stacks", .array(json)),
            ])
            writeOutput(doc.text + "\n", to: output, atomic: interval != nil)
        }
        timer.mark("render+write")
        return (n, stats)
    }

    func stackJSON(comm: String, pid: Int32, tid: Int32, softirq: SoftirqVector?, user: StackComposer.Part,
                   kernel: StackComposer.Part, count: UInt64) -> JSONValue {
        func part(_ p: StackComposer.Part) -> JSONValue {
            switch p {
            case .frames(let f): .array(f.reversed().map { .string($0) })
            case .none: .null
            case .missing: .string("missing")
            }
        }
        var o: [(String, JSONValue)] = [("comm", .string(comm)), ("pid", .int(Int64(pid)))]
        if perThread { o.append(("tid", .int(Int64(tid)))) }
        o.append(("softirq", softirq.map { .string($0.name) } ?? .null))
        o += [("user", part(user)), ("kernel", part(kernel)), ("count", .uint(count))]
        return .object(o)
    }
}

/// Samples that could not be fully recorded, from the BPF counters: never lost silently.
struct LossSummary {
    let samples: UInt64
    let stackLost: UInt64
    let countLost: UInt64
    let eventsDropped: UInt64
    let raw: kt_profile_stats

    init(_ s: kt_profile_stats) {
        raw = s
        samples = s.samples
        stackLost = s.kstack_full + s.kstack_err + s.ustack_full + s.ustack_err
        countLost = s.count_full
        eventsDropped = s.events_dropped
    }

    var lostText: String {
        let lost = stackLost + countLost
        let pct = samples == 0 ? 0 : Double(lost) / Double(samples) * 100
        var t = "\(lost) lost (\(fixed(pct, 2))%)"
        if lost > 0 {
            t += " [stacks not stored: \(raw.kstack_full) kernel, \(raw.ustack_full) user (map full: raise --stack-storage; or no memory in interrupt context); stacks not taken: \(raw.kstack_err) kernel, \(raw.ustack_err) user; count map full: \(countLost)]"
        }
        return t
    }

    var json: JSONValue {
        .object([("kernel_stack_map_full", .uint(raw.kstack_full)), ("kernel_stack_errors", .uint(raw.kstack_err)),
                 ("user_stack_map_full", .uint(raw.ustack_full)), ("user_stack_errors", .uint(raw.ustack_err)),
                 ("count_map_full", .uint(raw.count_full)), ("events_dropped", .uint(raw.events_dropped))])
    }
}
