/// The state a task left the CPU in (sched_switch's prev_state), as `ps` letters it.
public enum OffCPUState: Int, Sendable, CaseIterable, Comparable {
    /// Preempted while runnable: it waited for a CPU.
    case runnable = 1
    /// Interruptible sleep: waiting for an event (a socket, a pipe, a timer, a futex).
    case sleep = 2
    /// Uninterruptible sleep, counted in the load average: disk I/O, some locks, page faults.
    case disk = 3
    /// Idle kernel threads (TASK_IDLE, not in the load average), stopped, traced, parked.
    case other = 4

    public var letter: String {
        switch self {
        case .runnable: "R"
        case .sleep: "S"
        case .disk: "D"
        case .other: "I"
        }
    }

    public init?(letter: String) {
        guard let s = Self.allCases.first(where: { $0.letter == letter.uppercased() }) else { return nil }
        self = s
    }

    /// `[state:D]`, the frame `offcpu --by-state` adds after the task name.
    public var frame: String { "[state:\(letter)]" }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Hot/cold profiles: on-CPU samples and off-CPU time in one unit, under one root frame each.
public enum HotCold {
    public static let onCPUFrame = "[on-cpu]"
    public static let offCPUFrame = "[off-cpu]"

    /// Microseconds a count stands for: an on-CPU sample is one sample period, an off-CPU count is
    /// nanoseconds blocked.
    public static func microseconds(_ c: StackCount, samplePeriodNs: UInt64) -> UInt64 {
        let ns = c.offCPU == nil ? c.count.multipliedReportingOverflow(by: samplePeriodNs).partialValue : c.count
        return (ns + 500) / 1000
    }
}

/// Where a wakeup came from, told by the waker's kernel stack: a task (a lock released, a pipe written),
/// a softirq (the network, timers' softirq, RCU) or a hard irq (a device, an hrtimer).
public enum Wakeup: String, Sendable, CaseIterable {
    case task, softirq, irq

    public static let separator = "--"
    public var frame: String { "[woken in \(rawValue)]" }

    /// The innermost context wins: of the frames that enter a softirq or a hard irq, the one nearest the
    /// waker's leaf (`names` leaf first). A softirq run at irq exit has the irq's entry below it: softirq.
    /// An irq that interrupted a softirq has the softirq below it: irq (6.12 under TCG, an hrtimer's wakeup
    /// on top of handle_softirqs was called a softirq's, 8% of a sleep's blocked time).
    public static func context(ofWakerFrames names: [String]) -> Wakeup {
        for n in names {
            if n == "__do_softirq" || n == "handle_softirqs" || n == "run_ksoftirqd" || n == "do_softirq" { return .softirq }
            if n.hasPrefix("asm_sysvec_") || n.hasPrefix("__sysvec_") || n == "asm_common_interrupt" || n == "hrtimer_interrupt"
                || n == "handle_irq_event" || n == "irq_thread_fn" {
                return .irq
            }
        }
        return .task
    }
}
