/// Pseudo-frames a stack profile adds to each stack beside its task name and its own frames: what the
/// command split its stacks by (`StackProfile.interned`).
public struct StackLabels: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `[softirq:x]` after the task name: the vector running when sampled (`stacks --by-softirq`).
    public static let softirq = StackLabels(rawValue: 1 << 0)
    /// `[work:FUNCTION]` before the task name, for samples inside a work item (`stacks --by-work`).
    public static let work = StackLabels(rawValue: 1 << 1)
    /// `[state:D]` after the task name: what an off-CPU stack waited in (`offcpu --by-state`).
    public static let state = StackLabels(rawValue: 1 << 2)
    /// Each stack under `[on-cpu]` or `[off-cpu]` (`stacks --hot-cold`).
    public static let hotCold = StackLabels(rawValue: 1 << 3)
    /// The waker's kernel stack after `--`, as offwaketime folds it (`offcpu --wakers`).
    public static let wakers = StackLabels(rawValue: 1 << 4)
}
