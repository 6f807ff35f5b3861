/// The ten softirq vectors, in kernel order (include/linux/interrupt.h).
public enum SoftirqVector: Int, CaseIterable, Sendable, Codable {
    case hi, timer, netTx, netRx, block, irqPoll, tasklet, sched, hrtimer, rcu

    /// Lower-case name as ktrace prints it (and as /proc/softirqs spells it, lower-cased).
    public var name: String {
        ["hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched", "hrtimer", "rcu"][rawValue]
    }

    /// The row label in /proc/softirqs.
    public var procName: String { name.uppercased() }

    public init?(name: String) {
        guard let v = SoftirqVector.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
        self = v
    }
}
