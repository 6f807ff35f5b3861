/// `ktrace diagnose`: everything one window measures, as plain values. The session layer fills it; the
/// rules only read it, so a recorded input (a JSON file) gives the same diagnosis as the live machine.
///
/// Conventions: counters are deltas over the window; gauges (sysctls, conntrack count, listen queues) are
/// read at the window's end. An optional left `nil` means "not measured" (a rule that needs it says so);
/// an empty array means "measured, nothing there". The JSON form uses these property names as keys.
public struct DiagnoseInput: Codable, Sendable {
    /// Length of the window the deltas cover.
    public var windowSeconds: Double
    /// `uname -r`, for the report's header.
    public var kernel: String?
    /// Per-CPU time by class over the window: /proc/stat deltas.
    public var cpus: [CPUTime]?
    /// Softirq time and runs per vector per CPU: ktrace's softirq programs (softirq_entry/exit).
    public var softirq: [SoftirqCPUTime]?
    /// The busiest kernel threads, their own CPU time and what they ran: ktrace's kthreads programs.
    public var kthreads: [KthreadObservation]?
    /// Who queued work items: the task current at `workqueue_queue_work`, per work function.
    public var workQueuers: [WorkQueuer]?
    /// The busiest processes by CPU time over the window: /proc/PID/stat utime and stime deltas.
    public var processes: [ProcessCPU]?
    /// Load average and R / D task counts: /proc/loadavg and the states in /proc/*/stat.
    public var load: LoadObservation?
    /// Pressure stall information (avg10), when the kernel has it: /proc/pressure/*.
    public var psi: PSIObservation?
    /// Per-CPU receive counters: /proc/net/softnet_stat deltas.
    public var softnet: [SoftnetCPU]?
    /// Network namespaces with their counters, sysctls, devices, listeners and rules.
    public var namespaces: [NetNamespace]?
    /// Machine-wide sysctls (only the initial namespace has them): net.core.netdev_budget,
    /// netdev_budget_usecs, netdev_max_backlog, rps_sock_flow_entries, vm.watermark_scale_factor.
    public var sysctls: [String: Int64]?
    /// Kernel stacks sampled during NET_RX, in ktrace's folded form: root first, `frame;frame;leaf COUNT`
    /// (one line per entry). See `NetRxSplit` for which samples count as NET_RX.
    public var netRxStacks: [String]?
    /// Packets freed as dropped: `skb:kfree_skb`, by reason (5.17+) and location, largest first (at most
    /// `DropNaming.listed` pairs).
    public var drops: [DropCount]?
    /// Drops in pairs smaller than the last one `drops` lists.
    public var dropsNotListed: UInt64?
    /// Drops not counted by pair: the kernel-side table was full, or the kernel skipped the counting
    /// program's run (its recursion protection).
    public var dropsNotCounted: UInt64?
    /// /proc/vmstat deltas (pgscan_kswapd, pgscan_direct, pgsteal_*, allocstall_*).
    public var vmstat: [String: UInt64]?

    public init(windowSeconds: Double) { self.windowSeconds = windowSeconds }
}

/// One CPU's time by class over the window, in seconds (/proc/stat ticks / USER_HZ).
public struct CPUTime: Codable, Sendable {
    public var cpu: Int
    public var user: Double
    public var nice: Double
    public var system: Double
    public var irq: Double
    public var softirq: Double
    public var idle: Double
    public var iowait: Double
    public var steal: Double

    public init(cpu: Int, user: Double = 0, nice: Double = 0, system: Double = 0, irq: Double = 0, softirq: Double = 0,
                idle: Double = 0, iowait: Double = 0, steal: Double = 0) {
        self.cpu = cpu; self.user = user; self.nice = nice; self.system = system; self.irq = irq
        self.softirq = softirq; self.idle = idle; self.iowait = iowait; self.steal = steal
    }

    public var total: Double { user + nice + system + irq + softirq + idle + iowait + steal }
    /// Time the CPU ran something: iowait is idle time with I/O outstanding, and steal ran someone else.
    public var busy: Double { user + nice + system + irq + softirq }
    public var busyFraction: Double { total > 0 ? busy / total : 0 }
    public var kernel: Double { system + irq + softirq }
}

/// One softirq vector on one CPU over the window (tracepoint softirq_entry/exit).
public struct SoftirqCPUTime: Codable, Sendable {
    public var cpu: Int
    /// ktrace's lower-case vector name: "net_rx", "timer", ... (`SoftirqVector.name`).
    public var vector: String
    public var ns: UInt64
    public var runs: UInt64
    /// The part served by ksoftirqd itself rather than inline at irq exit.
    public var ksoftirqdNs: UInt64

    public init(cpu: Int, vector: String, ns: UInt64, runs: UInt64, ksoftirqdNs: UInt64 = 0) {
        self.cpu = cpu; self.vector = vector; self.ns = ns; self.runs = runs; self.ksoftirqdNs = ksoftirqdNs
    }
}

/// A kernel thread over the window, as `ktrace kthreads` reports it.
public struct KthreadObservation: Codable, Sendable {
    public var tid: Int
    public var name: String
    /// Its own CPU time: the scheduler's account less the irq and softirq time on top of it.
    public var ownNs: UInt64
    /// Softirq time that ran on top of it (for ksoftirqd, what it served is in `items`).
    public var softirqNs: UInt64?
    /// What it ran, largest first: kind is `work`, `softirq`, `shrinker`, `reclaim`, ... (`ActivityKind.name`).
    public var items: [KthreadItem]?

    public init(tid: Int, name: String, ownNs: UInt64, softirqNs: UInt64? = nil, items: [KthreadItem]? = nil) {
        self.tid = tid; self.name = name; self.ownNs = ownNs; self.softirqNs = softirqNs; self.items = items
    }
}

public struct KthreadItem: Codable, Sendable {
    public var kind: String
    public var name: String
    public var ns: UInt64
    public var count: UInt64

    public init(kind: String, name: String, ns: UInt64, count: UInt64) {
        self.kind = kind; self.name = name; self.ns = ns; self.count = count
    }
}

/// Work items of one function queued by one task (the task current at `workqueue_queue_work`).
public struct WorkQueuer: Codable, Sendable {
    public var function: String
    public var comm: String
    public var pid: Int
    public var cgroup: String?
    public var count: UInt64

    public init(function: String, comm: String, pid: Int, cgroup: String? = nil, count: UInt64) {
        self.function = function; self.comm = comm; self.pid = pid; self.cgroup = cgroup; self.count = count
    }
}

/// A process's CPU time over the window (/proc/PID/stat utime, stime deltas).
public struct ProcessCPU: Codable, Sendable {
    public var pid: Int
    public var comm: String
    public var userSeconds: Double
    public var systemSeconds: Double

    public init(pid: Int, comm: String, userSeconds: Double, systemSeconds: Double) {
        self.pid = pid; self.comm = comm; self.userSeconds = userSeconds; self.systemSeconds = systemSeconds
    }
}

/// The load average and what makes it up.
public struct LoadObservation: Codable, Sendable {
    /// /proc/loadavg at the window's end.
    public var load1: Double
    public var load5: Double
    public var load15: Double
    /// Tasks in state R and D, averaged over the window's samples of /proc/*/task/*/stat.
    public var running: Double
    public var uninterruptible: Double
    /// The D tasks grouped by wait channel (/proc/PID/wchan), largest first, averaged like `uninterruptible`.
    public var dByWchan: [WchanGroup]?

    public init(load1: Double, load5: Double, load15: Double, running: Double, uninterruptible: Double,
                dByWchan: [WchanGroup]? = nil) {
        self.load1 = load1; self.load5 = load5; self.load15 = load15; self.running = running
        self.uninterruptible = uninterruptible; self.dByWchan = dByWchan
    }
}

public struct WchanGroup: Codable, Sendable {
    public var wchan: String
    public var tasks: Double
    /// The processes waiting there, most frequent first, as "comm (pid)" or "comm".
    public var comms: [String]?
    /// Their most common kernel stack, root first (`offcpu --state D`), when sampled.
    public var stack: [String]?
    /// The files their system calls work on, most frequent first, as "PATH on FSTYPE", when they have one.
    public var files: [String]?

    public init(wchan: String, tasks: Double, comms: [String]? = nil, stack: [String]? = nil, files: [String]? = nil) {
        self.wchan = wchan; self.tasks = tasks; self.comms = comms; self.stack = stack; self.files = files
    }
}

/// /proc/pressure/{cpu,memory,io} avg10, in percent (0-100).
public struct PSIObservation: Codable, Sendable {
    public var cpuSome: Double?
    public var memorySome: Double?
    public var memoryFull: Double?
    public var ioSome: Double?
    public var ioFull: Double?

    public init(cpuSome: Double? = nil, memorySome: Double? = nil, memoryFull: Double? = nil, ioSome: Double? = nil,
                ioFull: Double? = nil) {
        self.cpuSome = cpuSome; self.memorySome = memorySome; self.memoryFull = memoryFull; self.ioSome = ioSome
        self.ioFull = ioFull
    }
}

/// One CPU's line of /proc/net/softnet_stat, as deltas.
public struct SoftnetCPU: Codable, Sendable {
    public var cpu: Int
    /// Packets taken off this CPU's queues (column 1).
    public var processed: UInt64
    /// Packets dropped because this CPU's input backlog held netdev_max_backlog already (column 2).
    public var dropped: UInt64
    /// net_rx_action rounds that ended with work left: netdev_budget or netdev_budget_usecs ran out (column 3).
    public var timeSqueeze: UInt64

    public init(cpu: Int, processed: UInt64, dropped: UInt64, timeSqueeze: UInt64) {
        self.cpu = cpu; self.processed = processed; self.dropped = dropped; self.timeSqueeze = timeSqueeze
    }
}

/// Packets freed as dropped (`skb:kfree_skb`), by reason and location.
public struct DropCount: Codable, Sendable, Equatable {
    /// The kernel's drop reason as its tracepoint prints it (enum skb_drop_reason without SKB_DROP_REASON_:
    /// `NETFILTER_DROP`); nil where the tracepoint has none (before 5.17).
    public var reason: String?
    /// The function that freed the packet (kallsyms: `func`, or `func [module]`).
    public var location: String?
    public var count: UInt64

    public init(reason: String? = nil, location: String? = nil, count: UInt64) {
        self.reason = reason; self.location = location; self.count = count
    }
}
