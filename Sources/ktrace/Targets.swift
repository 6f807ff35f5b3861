import ArgumentParser
import CKtrace
import FoundationEssentials
import Glibc
import KtraceCore

/// Target and sampling options shared by `stacks` and `timeline`. Filtering happens in the kernel.
/// Longest duration or interval accepted (about 115 days): beyond it nanosecond arithmetic overflows.
let maxSeconds = 1e7

/// Largest stack map ktrace creates: each entry holds KT_MAX_STACK frames (1 KiB).
let maxStackStorage: UInt32 = 1 << 21

struct TargetOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Process IDs (comma-separated); a kernel thread such as ksoftirqd/0 works too.")
    var pid: String?
    @Option(help: "Thread IDs (comma-separated).") var tid: String?
    @Option(help: "Task name, exact or a prefix ending in '*' (e.g. 'ksoftirqd/*').") var comm: String?
    @Flag(name: [.customShort("a"), .customLong("all-cpus")], help: "System wide (the default without --pid/--tid/--comm).")
    var all = false
    @Option(help: "Sample only this CPU.") var cpu: Int?
    @Option(name: [.customShort("F"), .customLong("frequency")], help: "Samples per second per CPU.") var frequency: UInt64?
    @Option(help: "Sample every N events instead of at a frequency (cpu-clock: nanoseconds).") var period: UInt64?
    @Option(help: "Sampling event: cpu-clock (software, works everywhere) or cycles (hardware PMU).")
    var event: SampleEvent = .cpuClock
    @Option(name: [.short, .customLong("duration")], help: "Seconds to sample (default: until Ctrl-C).") var duration: Double?
    @Option(help: "Tracepoint attach kind: auto, tp_btf, raw_tp or tracepoint.") var attach: AttachKind = .auto
    @Option(help: "Most distinct kernel stacks, and as many user stacks, kept in the kernel (allocated as they appear, 1 KiB each).")
    var stackStorage: UInt32 = 131072
    @Flag(help: "Keep C++ and Swift function names mangled (they are demangled by default, as perf does).")
    var noDemangle = false
    @Flag(name: .short, help: "Verbose: attach details and libbpf messages.") var verbose = false

    enum SampleEvent: String, ExpressibleByArgument { case cpuClock = "cpu-clock", cycles }

    var pids: [Int32] { (try? parseList(pid, "--pid")) ?? [] }
    var tids: [Int32] { (try? parseList(tid, "--tid")) ?? [] }
    var effectiveFrequency: UInt64 { period == nil ? (frequency ?? 99) : 0 }

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
        if let comm {
            let base = comm.hasSuffix("*") ? String(comm.dropLast()) : comm
            if base.isEmpty || base.utf8.count > 15 {
                throw ValidationError("--comm '\(comm)': a task name has 1 to 15 characters")
            }
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
        if let duration, !(duration > 0 && duration <= maxSeconds) {
            throw ValidationError("-d must be a number of seconds between 0 and \(Int(maxSeconds)), got \(duration)")
        }
        if let cpu {
            let n = Int(kt_num_possible_cpus())
            if cpu < 0 || cpu >= n { throw ValidationError("no CPU \(cpu): this machine has CPUs 0-\(n - 1)") }
        }
    }

    /// The BPF-side control block for these targets.
    func control(kernelStack: Bool, userStack: Bool, perThread: Bool, aggregate: Bool, events: Bool) -> kt_profile_ctl {
        var c = kt_profile_ctl()
        c.cpu = Int32(cpu ?? -1)
        c.kernel_stack = kernelStack ? 1 : 0
        c.user_stack = userStack ? 1 : 0
        c.per_thread = perThread ? 1 : 0
        c.aggregate = aggregate ? 1 : 0
        c.events = events ? 1 : 0
        if pid != nil {
            c.filter = UInt32(KT_FILTER_TGID.rawValue)
        } else if tid != nil {
            c.filter = UInt32(KT_FILTER_TID.rawValue)
        } else if let comm {
            c.filter = UInt32(KT_FILTER_COMM.rawValue)
            let prefix = comm.hasSuffix("*")
            let bytes = Array((prefix ? String(comm.dropLast()) : comm).utf8.prefix(15))
            c.comm_prefix = prefix ? 1 : 0
            c.comm_len = UInt32(bytes.count)
            withUnsafeMutableBytes(of: &c.comm) { buf in
                for (i, b) in bytes.enumerated() { buf[i] = b }
            }
        } else {
            c.filter = UInt32(KT_FILTER_ALL.rawValue)
        }
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
        if let period { return "period \(period)" }
        return "\(effectiveFrequency) Hz"
    }

    /// Open the sampler. The caller closes it.
    func openProfile(ctl: kt_profile_ctl, countEntries: UInt32, ringbufBytes: UInt32,
                     trackSoftirq: Bool, trackSwitch: Bool, traceFunctions: [String] = []) -> OpaquePointer {
        requireTracingPrivileges()
        kt_set_verbose(verbose ? 1 : 0)
        let ids = pids.isEmpty ? tids : pids
        var o = kt_profile_opts()
        o.attach = attach.cValue
        o.ctl = ctl
        o.npids = Int32(ids.count)
        o.hardware = event == .cycles ? 1 : 0
        o.freq = effectiveFrequency
        o.period = period ?? 0
        o.cpu = Int32(cpu ?? -1)
        o.stack_storage = stackStorage
        o.count_entries = countEntries
        o.ringbuf_bytes = ringbufBytes
        o.track_softirq = trackSoftirq ? 1 : 0
        o.track_switch = trackSwitch ? 1 : 0
        var handle: OpaquePointer?
        let started = kt_monotonic_ns()
        let trace = traceFunctions.isEmpty ? nil : strdup(traceFunctions.joined(separator: ","))
        defer { free(trace) }
        o.trace_funcs = UnsafePointer(trace)
        let r = ids.map { UInt32(bitPattern: $0) }.withUnsafeBufferPointer { buf in
            o.pids = buf.baseAddress
            return cCall { kt_profile_open(&handle, &o, $0, $1) }
        }
        guard r.rc == 0, let handle else { fail(r.message.isEmpty ? errnoText(r.rc) : r.message) }
        let prealloc = UInt32(kt_profile_stack_prealloc(handle))
        if prealloc > 0 && (stackStorage > prealloc || verbose) {
            note("stack maps preallocated with \(min(stackStorage, prealloc)) kernel and as many user stacks: allocating them "
                 + "on demand in a perf_event program needs Linux 6.1")
        }
        if verbose {
            let ms = Double(kt_monotonic_ns() - started) / 1e6
            let kind = trackSoftirq || trackSwitch ? " tracepoints with \(AttachKind(cValue: kt_profile_attach_kind(handle)).rawValue)," : ""
            note("sampling \(event.rawValue) at \(rateDescription);\(kind) attached in \(fixed(ms, 1)) ms; \(memoryUse())")
        }
        return handle
    }

    /// Sleep for the duration (or until Ctrl-C). Stops early, with a note, when every --pid/--tid target
    /// has exited. Returns the seconds actually sampled.
    func waitForEnd(poll: (() -> Void)? = nil) -> Double {
        let start = kt_monotonic_ns()
        let ids = pids.isEmpty ? tids : pids
        let endNs = duration.map { start + UInt64($0 * 1e9) }
        while kt_stop_requested() == 0 {
            let now = kt_monotonic_ns()
            if let endNs, now >= endNs { break }
            let step = endNs.map { min(Int(($0 - now) / 1_000_000), 200) } ?? 200
            if kt_wait_ms(max(step, 1)) != 0 { break }
            poll?()
            if !ids.isEmpty, ids.allSatisfy({ !isAlive($0) }) {
                let secs = Double(kt_monotonic_ns() - start) / 1e9
                note("target \(ids.map(String.init).joined(separator: ",")) exited after \(fixed(secs, 1)) s: showing what was sampled until then")
                break
            }
        }
        return Double(kt_monotonic_ns() - start) / 1e9
    }
}

/// A task that exists and has not exited (a zombie waiting for its parent counts as gone).
func isAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(after: close)...].trimmed.first
    return state != "Z" && state != "X"
}

func processName(_ pid: Int32) -> String? {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
    return s.trimmed
}

/// A C char[16] as a Swift string.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
