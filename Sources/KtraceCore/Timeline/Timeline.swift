/// What `ktrace timeline` records, after symbolization: time-ordered samples, softirq runs, context
/// switches and (--trace) function entries/exits on one clock (CLOCK_MONOTONIC nanoseconds).
public struct TimelineSample: Sendable, Equatable {
    public var ts: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    /// Root first, user frames then kernel frames (as in folded stacks), without the comm.
    public var frames: [String]
    /// The softirq running when the sample was taken, if any.
    public var softirq: SoftirqVector?

    public init(ts: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, frames: [String], softirq: SoftirqVector? = nil) {
        self.ts = ts; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm; self.frames = frames; self.softirq = softirq
    }
}

/// One complete softirq run on one CPU.
public struct SoftirqSlice: Sendable, Equatable {
    public var ts: UInt64
    public var dur: UInt64
    public var cpu: Int
    public var vector: SoftirqVector
    /// Served by ksoftirqd itself rather than inline at irq exit / bh enable.
    public var ksoftirqd: Bool
    /// The task that was current (the one interrupted, or ksoftirqd).
    public var tid: Int32
    public var comm: String

    public init(ts: UInt64, dur: UInt64, cpu: Int, vector: SoftirqVector, ksoftirqd: Bool, tid: Int32, comm: String) {
        self.ts = ts; self.dur = dur; self.cpu = cpu; self.vector = vector; self.ksoftirqd = ksoftirqd; self.tid = tid; self.comm = comm
    }
}

public struct SwitchEvent: Sendable, Equatable {
    public var ts: UInt64
    public var cpu: Int
    public var prevPid: Int32
    public var prevTid: Int32
    public var prevComm: String
    public var prevState: Int64
    public var nextPid: Int32
    public var nextTid: Int32
    public var nextComm: String

    public init(ts: UInt64, cpu: Int, prevPid: Int32, prevTid: Int32, prevComm: String, prevState: Int64,
                nextPid: Int32, nextTid: Int32, nextComm: String) {
        self.ts = ts; self.cpu = cpu; self.prevPid = prevPid; self.prevTid = prevTid; self.prevComm = prevComm
        self.prevState = prevState; self.nextPid = nextPid; self.nextTid = nextTid; self.nextComm = nextComm
    }
}

public struct Timeline: Sendable {
    public var samples: [TimelineSample]
    public var slices: [SoftirqSlice]
    public var switches: [SwitchEvent]
    /// `--trace` function entries and exits (see `FunctionCalls`); empty without --trace.
    public var calls: [FunctionEvent]
    /// Work items run by kworkers, in start order.
    public var work: [WorkSlice]
    /// Window start and end (CLOCK_MONOTONIC ns); exports show times relative to start.
    public var startNs: UInt64
    public var endNs: UInt64
    /// Nominal time between two samples of one CPU (1e9 / frequency).
    public var samplePeriodNs: UInt64

    public init(samples: [TimelineSample], slices: [SoftirqSlice], switches: [SwitchEvent], startNs: UInt64, endNs: UInt64, samplePeriodNs: UInt64,
                calls: [FunctionEvent] = [], work: [WorkSlice] = []) {
        self.samples = samples; self.slices = slices; self.switches = switches; self.calls = calls; self.work = work
        self.startNs = startNs; self.endNs = endNs; self.samplePeriodNs = samplePeriodNs
    }
}
