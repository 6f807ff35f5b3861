/// How one sampled stack becomes one root-first frame list: the task name, the softirq pseudo-frame,
/// then user frames and kernel frames, root first — the order perf and stackcollapse-perf use.
public enum StackComposer {
    public static let missingUser = "[missing user stack]"
    public static let missingKernel = "[missing kernel stack]"
    /// The outermost frame of a user stack the unwinder cut at its depth limit: its callers are not known.
    public static let truncatedUser = "[truncated]"

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
