/// A sampled stack as recorded in the timeline: stack ids only; the stacks stay in the stack maps.
public struct SampledEvent: Sendable, Equatable {
    public var ts: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var softirq: SoftirqVector?
    public var kernel: StackRef
    public var user: StackRef

    public init(ts: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, softirq: SoftirqVector?, kernel: StackRef, user: StackRef) {
        self.ts = ts; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm; self.softirq = softirq
        self.kernel = kernel; self.user = user
    }
}

/// A --trace entry or exit, with the function as its index in the --trace list.
public struct CallEvent: Sendable, Equatable {
    public var ts: UInt64
    public var cpu: Int
    public var pid: Int32
    public var tid: Int32
    public var comm: String
    public var slot: Int
    public var depth: Int
    public var kind: FunctionEvent.Kind

    public init(ts: UInt64, cpu: Int, pid: Int32, tid: Int32, comm: String, slot: Int, depth: Int, kind: FunctionEvent.Kind) {
        self.ts = ts; self.cpu = cpu; self.pid = pid; self.tid = tid; self.comm = comm; self.slot = slot; self.depth = depth
        self.kind = kind
    }
}

/// One event from the timeline's ring buffer, decoded.
public enum TraceEvent: Sendable, Equatable {
    case sample(SampledEvent)
    case softirq(SoftirqSlice)
    case contextSwitch(SwitchEvent)
    case call(CallEvent)
    case work(WorkEvent)
}
