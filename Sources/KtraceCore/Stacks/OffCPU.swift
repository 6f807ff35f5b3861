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

    /// Softirq first: a softirq run at irq exit has the irq's frames below it.
    public static func context(ofWakerFrames names: [String]) -> Wakeup {
        if names.contains(where: { $0 == "__do_softirq" || $0 == "handle_softirqs" || $0 == "run_ksoftirqd" || $0 == "do_softirq" }) {
            return .softirq
        }
        if names.contains(where: { $0.hasPrefix("asm_sysvec_") || $0.hasPrefix("__sysvec_") || $0 == "asm_common_interrupt"
            || $0 == "hrtimer_interrupt" || $0 == "handle_irq_event" || $0 == "irq_thread_fn" }) {
            return .irq
        }
        return .task
    }
}
