/// One half of a sampled stack (user or kernel), as read from the stack map.
public enum StackPart<Frame: Sendable & Equatable>: Sendable, Equatable {
    /// Frames leaf first, as the kernel's stack map stores them.
    case frames([Frame])
    /// Not collected (kernel thread's user part, --kernel-only, a user-mode sample's kernel part).
    case none
    /// Collected but lost (collision, map full, fault): shown so the loss stays visible.
    case missing

    @inlinable
    public var frameCount: Int {
        if case .frames(let f) = self { return f.count }
        return 1
    }
}

/// How one sampled stack becomes one folded line: the task name, the softirq pseudo-frame, then user
/// frames and kernel frames, root first — the order perf and stackcollapse-perf use.
public enum StackComposer {
    public typealias Part = StackPart<String>

    public static let missingUser = "[missing user stack]"
    public static let missingKernel = "[missing kernel stack]"
    static let kernelSuffix = "_[k]"

    public static func commFrame(_ comm: String) -> String { comm.isEmpty ? "[unknown]" : comm }
    public static func softirqFrame(_ vector: SoftirqVector) -> String { "[softirq:\(vector.name)]" }
    /// A kernel frame with perf's `_[k]` suffix (flamegraph.pl colours it as kernel code).
    public static func annotated(kernelFrame name: String) -> String { name + kernelSuffix }

    /// The frame order, for any frame representation (names, or ids into a name table). Inlinable, so
    /// callers get a version specialised to their frame type (the generic one costs metadata lookups).
    @inlinable
    public static func compose<Frame>(comm: Frame, softirq: Frame?, user: StackPart<Frame>, kernel: StackPart<Frame>,
                                      missingUser: Frame, missingKernel: Frame) -> [Frame] {
        var out = [comm]
        out.reserveCapacity(2 + (user.frameCount) + (kernel.frameCount))
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

    public static func frames(comm: String, softirq: SoftirqVector?, user: Part, kernel: Part,
                              annotateKernel: Bool) -> [String] {
        var kernel = kernel
        if annotateKernel, case .frames(let f) = kernel { kernel = .frames(f.map(annotated(kernelFrame:))) }
        return compose(comm: commFrame(comm), softirq: softirq.map(softirqFrame), user: user, kernel: kernel,
                       missingUser: missingUser,
                       missingKernel: annotateKernel ? annotated(kernelFrame: missingKernel) : missingKernel)
    }
}
