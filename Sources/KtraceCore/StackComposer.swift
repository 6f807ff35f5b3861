/// How one sampled stack becomes one folded line: the task name, the softirq pseudo-frame, then user
/// frames and kernel frames, root first — the order perf and stackcollapse-perf use.
public enum StackComposer {
    public enum Part: Sendable, Equatable {
        /// Frames leaf first, as the kernel's stack map stores them.
        case frames([String])
        /// Not collected (kernel thread's user part, --kernel-only, a user-mode sample's kernel part).
        case none
        /// Collected but lost (collision, map full, fault): shown so the loss stays visible.
        case missing
    }

    public static let missingUser = "[missing user stack]"
    public static let missingKernel = "[missing kernel stack]"

    public static func frames(comm: String, softirq: SoftirqVector?, user: Part, kernel: Part,
                              annotateKernel: Bool) -> [String] {
        var out = [comm.isEmpty ? "[unknown]" : comm]
        if let softirq { out.append("[softirq:\(softirq.name)]") }
        switch user {
        case .frames(let f): out.append(contentsOf: f.reversed())
        case .missing: out.append(missingUser)
        case .none: break
        }
        switch kernel {
        case .frames(let f): out.append(contentsOf: f.reversed().map { annotateKernel ? $0 + "_[k]" : $0 })
        case .missing: out.append(annotateKernel ? missingKernel + "_[k]" : missingKernel)
        case .none: break
        }
        return out
    }
}
