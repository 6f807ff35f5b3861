import ArgumentParser
import FoundationEssentials
import Glibc
import KtraceCore
import KtraceKernel

/// Longest duration or interval accepted (about 115 days): beyond it nanosecond arithmetic overflows.
let maxSeconds = 1e7

/// Largest stack map ktrace creates: each entry holds KT_MAX_STACK frames (1 KiB).
let maxStackStorage: UInt32 = 1 << 21

/// Target and sampling options shared by `stacks`, `offcpu` and `timeline`. Filtering happens in the kernel.
struct TargetOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Process IDs (comma-separated); a kernel thread such as ksoftirqd/0 works too.")
    var pid: String?
    @Option(help: "Thread IDs (comma-separated).") var tid: String?
    @Option(help: ArgumentHelp(kernelCommHelp)) var comm: String?
    @Flag(name: [.customShort("a"), .customLong("all-cpus")], help: "System wide (the default without --pid/--tid/--comm).")
    var all = false
    @Option(help: "Sample only this CPU.") var cpu: Int?
    @Option(name: [.customShort("F"), .customLong("frequency")], help: "Samples per second per CPU.") var frequency: UInt64?
    @Option(help: "Sample every N events instead of at a frequency (cpu-clock: nanoseconds).") var period: UInt64?
    @Option(help: ArgumentHelp("Sampling event: cpu-clock (default, works everywhere), cycles (hardware PMU); counted, every event or every --period: page-faults, context-switches, tracepoint:CATEGORY:NAME, kprobe:FUNC.",
                               valueName: "event"))
    var event: ProfileConfig.Event = .cpuClock
    @Option(name: [.short, .customLong("duration")], help: "Seconds to sample (default: until Ctrl-C).") var duration: Double?
    @Option(help: "Most distinct stacks of each kind (kernel, user) and depth (up to 32 frames, deeper) kept in the kernel, allocated as they appear.")
    var stackStorage: UInt32 = 131072
    @Flag(help: "Keep C++ and Swift function names mangled (they are demangled by default, as perf does).")
    var noDemangle = false
    @Option(help: ArgumentHelp("How user stacks are walked: auto (unwind tables from .eh_frame for the files built without frame pointers, walked in the kernel; frame pointers in the rest), dwarf (tables for every file), fp (frame pointers only, the kernel's walk).",
                               valueName: "auto|dwarf|fp"))
    var unwind: ProfileConfig.Unwind = .auto
    @OptionGroup var tracing: AttachOptions<TargetOptions>

    static let verboseHelp = "Verbose: attach details and libbpf messages."
    var verbose: Bool { tracing.verbose }

    var pids: [Int32] { (try? parseList(pid, "--pid")) ?? [] }
    var tids: [Int32] { (try? parseList(tid, "--tid")) ?? [] }
    var effectiveFrequency: UInt64 { period == nil && event.isTimed ? (frequency ?? 99) : 0 }

    func parseList(_ s: String?, _ name: String) throws -> [Int32] {
        guard let s else { return [] }
        if s.split(separator: ",").isEmpty { throw ValidationError("\(name) needs at least one id") }
        return try s.split(separator: ",").map {
            guard let v = Int32($0.trimmed), v > 0 else {
                throw ValidationError("\(name): '\($0)' is not a process id")
            }
            return v
        }
    }

    func validate() throws {
        if stackStorage < 64 || stackStorage > maxStackStorage {
            throw ValidationError("--stack-storage must be between 64 and \(maxStackStorage)")
        }
        let targets = [pid != nil, tid != nil, comm != nil].filter { $0 }.count
        if targets > 1 { throw ValidationError("give one of --pid, --tid or --comm") }
        if all && targets > 0 { throw ValidationError("-a samples everything: drop --pid/--tid/--comm, or drop -a") }
        for p in try parseList(pid, "--pid") where !FileManager.default.fileExists(atPath: "/proc/\(p)") {
            throw ValidationError("no process with pid \(p)")
        }
        for t in try parseList(tid, "--tid") where !FileManager.default.fileExists(atPath: "/proc/\(t)") {
            throw ValidationError("no thread with tid \(t)")
        }
        if let pattern = try commPattern(comm), pattern.kernelForm == nil {
            throw ValidationError("--comm '\(pattern)': a '*' is supported only at the end here (the kernel filters by it)")
        }
        if let frequency {
            if frequency == 0 { throw ValidationError("-F 0: the frequency must be at least 1 Hz") }
            if period != nil { throw ValidationError("give -F or --period, not both") }
            let maxRate = UInt64((try? String(contentsOfFile: "/proc/sys/kernel/perf_event_max_sample_rate", encoding: .utf8))?
                .trimmed ?? "") ?? 100_000
            if frequency > maxRate {
                throw ValidationError("-F \(frequency): above kernel.perf_event_max_sample_rate (\(maxRate))")
            }
        }
        if let period, period == 0 { throw ValidationError("--period must be at least 1") }
        if !event.isTimed && frequency != nil {
            throw ValidationError("-F: \(event) is counted, not timed: every event is a sample, or every N with --period N")
        }
        if case .tracepoint(let cat, let name) = event, let events = tracepointEventsDir(),
           !FileManager.default.fileExists(atPath: "\(events)/\(cat)/\(name)") {
            throw ValidationError("--event \(event): no such tracepoint on this kernel (see \(events), or perf list tracepoint)")
        }
        if let duration, !(duration > 0 && duration <= maxSeconds) {
            throw ValidationError("-d must be a number of seconds between 0 and \(Int(maxSeconds)), got \(duration)")
        }
        if let cpu {
            let n = Kernel.possibleCPUs
            if cpu < 0 || cpu >= n { throw ValidationError("no CPU \(cpu): this machine has CPUs 0-\(n - 1)") }
        }
    }

    /// What to sample, for the session. `stacks`, `offcpu` and `timeline` add what they record.
    var profileConfig: ProfileConfig {
        var c = ProfileConfig()
        if !pids.isEmpty {
            c.target = .processes(pids)
        } else if !tids.isEmpty {
            c.target = .threads(tids)
        } else if let form = (try? commPattern(comm))?.kernelForm {
            c.target = .comm(form.text, prefix: form.prefix)
        }
        c.cpu = cpu
        c.event = event
        c.frequency = effectiveFrequency > 0 ? effectiveFrequency : nil
        c.period = period ?? (event.isTimed ? 0 : 1)
        c.attach = tracing.attach
        c.stackStorage = stackStorage
        c.unwind = unwind
        return c
    }

    /// Human description for titles: "pid 9 (ksoftirqd/0)", "comm ksoftirqd/*", "all CPUs".
    var describe: String {
        if !pids.isEmpty {
            return pids.map { p in "pid \(p)" + (processName(p).map { " (\($0))" } ?? "") }.joined(separator: ", ")
        }
        if !tids.isEmpty { return "tid " + tids.map(String.init).joined(separator: ",") }
        if let comm { return "comm \(comm)" }
        return cpu.map { "CPU \($0)" } ?? "all CPUs"
    }

    var rateDescription: String {
        if !event.isTimed { return (period ?? 1) == 1 ? "every event" : "every \(period!) events" }
        if let period { return "period \(period)" }
        return "\(effectiveFrequency) Hz"
    }

    /// What a sample means in a pprof profile: CPU time for a timed event, else events counted.
    var pprofKind: Pprof.Kind {
        event.isTimed ? .onCPU(periodNs: samplePeriodNs) : .events(name: event.description, every: period ?? 1)
    }

    /// Nominal time between two samples of one CPU.
    var samplePeriodNs: UInt64 { effectiveFrequency > 0 ? 1_000_000_000 / effectiveFrequency : (period ?? 10_000_000) }

    /// Entries of the count map (preallocated, 48 bytes each): one per distinct (task, stacks, vector).
    var countEntries: UInt32 { max(stackStorage, 65536) }

    /// Read the --pid targets' memory maps now: a process may exit before the end.
    func captureMaps(_ s: StackSymbolizer) {
        for p in pids { s.userNames.capture(pid: p) }
    }

    /// The --pid/--tid targets, whose exit ends a recording early.
    var watched: [Int32] { pids.isEmpty ? tids : pids }
}

extension ProfileConfig.Unwind: ExpressibleByArgument {}

extension ProfileConfig.Event: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

/// The tracepoints' directory of a mounted tracefs, or nil when none is mounted (the kernel decides then).
func tracepointEventsDir() -> String? {
    ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"].first { FileManager.default.fileExists(atPath: $0 + "/sched") }
}

extension TargetOptions: VerboseWording {}
