import CKtrace
import KtraceCore

/// What `stacks`, `offcpu` and `timeline` sample and record, and how. Filtering happens in the kernel.
public struct ProfileConfig: Sendable {
    public enum Target: Sendable, Equatable {
        case all
        case processes([Int32])
        case threads([Int32])
        /// A task name, exact or (prefix) its beginning; '?' stands for any one character (CommPattern's
        /// kernel form).
        case comm(String, prefix: Bool)
    }

    /// What a sample is: a clock tick, a hardware event, or (counted) a software event, a tracepoint or
    /// a kprobe hit, each with its stacks.
    public enum Event: Sendable, Equatable, CustomStringConvertible {
        case cpuClock, cycles, pageFaults, contextSwitches
        case tracepoint(category: String, name: String)
        case kprobe(String)

        /// cpu-clock, cycles, page-faults (faults), context-switches (cs), tracepoint:CAT:NAME, kprobe:FUNC.
        public init?(parsing s: String) {
            switch s {
            case "cpu-clock": self = .cpuClock
            case "cycles": self = .cycles
            case "page-faults", "faults": self = .pageFaults
            case "context-switches", "cs": self = .contextSwitches
            default:
                let parts = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                if parts.count == 3, parts[0] == "tracepoint" || parts[0] == "t", !parts[1].isEmpty, !parts[2].isEmpty {
                    self = .tracepoint(category: parts[1], name: parts[2])
                } else if parts.count == 2, parts[0] == "kprobe" || parts[0] == "k", !parts[1].isEmpty {
                    self = .kprobe(parts[1])
                } else {
                    return nil
                }
            }
        }

        public var description: String {
            switch self {
            case .cpuClock: "cpu-clock"
            case .cycles: "cycles"
            case .pageFaults: "page-faults"
            case .contextSwitches: "context-switches"
            case .tracepoint(let c, let n): "tracepoint:\(c):\(n)"
            case .kprobe(let f): "kprobe:\(f)"
            }
        }

        /// Sampled by a clock or counter at a frequency; the others count occurrences.
        public var isTimed: Bool { self == .cpuClock || self == .cycles }
        /// Attached as a BPF program on the event itself, not through a perf event per CPU.
        var isProgram: Bool {
            switch self {
            case .tracepoint, .kprobe: true
            default: false
            }
        }
    }

    public var target: Target = .all
    public var cpu: Int?
    public var event: Event = .cpuClock
    /// Samples per second per CPU; nil samples every `period` events instead.
    public var frequency: UInt64? = 99
    public var period: UInt64 = 0
    public var attach: AttachKind = .auto
    public var kernelStacks = true
    public var userStacks = true
    public var perThread = false
    /// Most distinct kernel stacks, and as many user stacks, kept (allocated as they appear).
    public var stackStorage: UInt32 = 131072
    /// Entries of the map that counts per stack key (samples with `aggregate`, blocked time with `offCPU`).
    public var countEntries: UInt32 = 1

    // The features. Each is off unless set; a feature with settings of its own is a value that is nil
    // when off (`timeline`, `offCPU`).

    /// Count samples per stack in the kernel (`stacks`).
    public var aggregate = false
    /// Follow softirq entry and exit: the vector running in each sample, and with `timeline` each run a slice.
    public var trackSoftirq = false
    /// Key kworkers' samples by the work function they run (read from the kworker, no tracepoint).
    public var byWork = false

    /// Send samples, softirq runs and context switches through the ring buffer (`timeline`); sched_switch is
    /// attached for them (and for `offCPU`).
    public struct Timeline: Sendable {
        public var ringbufBytes: UInt32
        /// Each work item a kworker runs as a slice (the workqueue execute tracepoints).
        public var workSlices = false
        /// Kernel functions recorded at entry and exit (--trace).
        public var traceFunctions: [String] = []
        /// How they are recorded: BPF trampolines (fentry/fexit), or kprobes where those are refused.
        public var traceAttach: TraceAttach = .fentry
        public init(ringbufBytes: UInt32) { self.ringbufBytes = ringbufBytes }
    }
    public var timeline: Timeline?

    public enum TraceAttach: String, Sendable, CaseIterable { case fentry, kprobe }

    /// Off-CPU time per stack (`offcpu`, `stacks --hot-cold`): the switch-outs counted and the blocked
    /// times kept, all decided in the kernel.
    public struct OffCPU: Sendable {
        public var states: Set<OffCPUState> = Set(OffCPUState.allCases)
        public var minNs: UInt64 = 0
        public var maxNs: UInt64 = .max
        /// Tasks followed off the CPU at once.
        public var maxTasks: UInt32 = 16384
        /// Key blocked time by the waker's kernel stack too.
        public var wakers = false
        public init() {}
    }
    public var offCPU: OffCPU?
    /// How user stacks are walked: frame pointers (the kernel's own walk, bpf_get_stack); `dwarf`: unwind
    /// tables built from every mapped file's .eh_frame, frame pointers where no table row applies; `auto`:
    /// tables for the files built without frame pointers, frame pointers in the rest.
    public enum Unwind: String, Sendable, CaseIterable { case fp, dwarf, auto }
    /// The session's default is the cheapest; the commands' `--unwind` defaults to `auto`.
    public var unwind: Unwind = .fp
    /// Open no perf events: off-CPU time alone.
    public var sampling = true

    public init() {}

    /// --trace: at most this many functions; calls nested deeper than `maxTraceDepth` in one task are
    /// counted, not recorded.
    public static let maxTraceFunctions = Int(KT_TRACE_MAX)
    public static let maxTraceDepth = Int(KT_TRACE_DEPTH)

    /// What the programs do, fixed at load (their .rodata): the verifier drops the code of what is off.
    var bpfConfig: kt_profile_config {
        var c = kt_profile_config()
        c.cpu = Int32(cpu ?? -1)
        c.kernel_stack = kernelStacks ? 1 : 0
        c.user_stack = userStacks ? 1 : 0
        c.per_thread = perThread ? 1 : 0
        c.aggregate = aggregate ? 1 : 0
        c.events = timeline != nil ? 1 : 0
        c.work = byWork ? 1 : 0
        c.softirq = trackSoftirq ? 1 : 0
        if let off = offCPU {
            c.offcpu = 1
            c.offcpu_states = off.states.reduce(0) { $0 | (1 << UInt32($1.rawValue)) }
            c.offcpu_min_ns = off.minNs
            c.offcpu_max_ns = off.maxNs
            c.wakers = off.wakers ? 1 : 0
        }
        switch target {
        case .all: c.filter = UInt32(KT_FILTER_ALL.rawValue)
        case .processes: c.filter = UInt32(KT_FILTER_TGID.rawValue)
        case .threads: c.filter = UInt32(KT_FILTER_TID.rawValue)
        case .comm(let name, let prefix):
            c.filter = UInt32(KT_FILTER_COMM.rawValue)
            let bytes = Array(name.utf8.prefix(Int(KT_COMM_LEN) - 1))
            c.comm_prefix = prefix ? 1 : 0
            c.comm_len = UInt32(bytes.count)
            withUnsafeMutableBytes(of: &c.comm) { buf in
                for (i, b) in bytes.enumerated() { buf[i] = b }
            }
        }
        return c
    }

    var ids: [Int32] {
        switch target {
        case .processes(let p): p
        case .threads(let t): t
        default: []
        }
    }
}
