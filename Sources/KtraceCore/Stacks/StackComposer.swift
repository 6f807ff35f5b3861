/// A stack id as the kernel side hands it over: not taken, taken but lost (counted by BPF), or stored.
public enum StackRef: Sendable, Hashable {
    /// Not collected (not asked for; a kernel thread's user part; a user-mode sample's kernel part).
    case none
    /// Collected but not stored: the loss counters say why.
    case lost
    case stored(UInt64)
}

/// One half of a sampled stack (user or kernel), as read from the stack map.
public enum StackPart<Frame: Sendable & Equatable>: Sendable, Equatable {
    /// Frames leaf first, as the kernel's stack map stores them.
    case frames([Frame])
    /// Not collected (kernel thread's user part, --kernel-only, a user-mode sample's kernel part).
    case none
    /// Collected but lost (map full, no memory, a fault): shown so the loss stays visible.
    case missing

    @inlinable
    public var frameCount: Int {
        if case .frames(let f) = self { return f.count }
        return 1
    }
}

/// How one sampled stack becomes one root-first frame list: the task name, the softirq pseudo-frame,
/// then user frames and kernel frames, root first — the order perf and stackcollapse-perf use.
public enum StackComposer {
    public static let missingUser = "[missing user stack]"
    public static let missingKernel = "[missing kernel stack]"

    public static func commFrame(_ comm: String) -> String { comm.isEmpty ? "[unknown]" : comm }
    public static func softirqFrame(_ vector: SoftirqVector) -> String { "[softirq:\(vector.name)]" }
    /// The work item a kworker was running (`stacks --by-work`), named by its function.
    public static func workFrame(_ function: String) -> String { "[work:\(function)]" }

    /// The frame order, for any frame representation. Inlinable, so callers get a version specialised
    /// to their frame type (the generic one costs metadata lookups). `comm` nil: no task frame (the
    /// timeline keeps the task on its track instead).
    @inlinable
    public static func compose<Frame>(comm: Frame?, work: Frame? = nil, softirq: Frame?, user: StackPart<Frame>, kernel: StackPart<Frame>,
                                      missingUser: Frame, missingKernel: Frame) -> [Frame] {
        var out: [Frame] = []
        out.reserveCapacity(3 + (user.frameCount) + (kernel.frameCount))
        if let comm { out.append(comm) }
        if let work { out.append(work) }  // a softirq runs on top of the work item it interrupted
        if let softirq { out.append(softirq) }
        switch user {
        case .frames(let f): out.append(contentsOf: f.reversed())
        case .missing: out.append(missingUser)
        case .none: break
        }
        switch kernel {
        case .frames(let f): out.append(contentsOf: f.reversed())
        case .missing: out.append(missingKernel)
        case .none: break
        }
        return out
    }
}
