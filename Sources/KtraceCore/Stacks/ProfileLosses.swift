/// What the sampler could not fully record, from its BPF counters: never lost silently.
public struct ProfileLosses: Sendable, Equatable {
    public var samples: UInt64 = 0           // samples that matched the filter
    public var kernelStackFull: UInt64 = 0   // kernel stack not stored: map full or no memory
    public var kernelStackErrors: UInt64 = 0 // kernel stack not taken
    public var userStackFull: UInt64 = 0
    public var userStackErrors: UInt64 = 0   // user stack could not be read
    public var countFull: UInt64 = 0         // sample not counted: the count map was full
    public var eventsDropped: UInt64 = 0     // ring buffer full
    public var events: UInt64 = 0
    public var callsTooDeep: UInt64 = 0      // --trace: calls not recorded, too many open in their task
    public var callsUnmatched: UInt64 = 0    // --trace: exits whose entry the kernel skipped
    public var callsExitMissed: UInt64 = 0   // --trace: calls whose exit the kernel skipped
    public var callsNoState: UInt64 = 0      // --trace: calls not recorded, no room for their task's state
    public var workFull: UInt64 = 0          // work items not followed (their table full): unlabelled, no slice
    public var kernelSkipped: UInt64 = 0     // runs of ktrace's programs the kernel skipped (recursion protection, PREEMPT_RT)
    public var offCPUSwitches: UInt64 = 0    // off-CPU: switch-outs followed (stacks taken)
    public var offCPUCounted: UInt64 = 0     // off-CPU: switch-ins whose blocked time was counted
    public var offCPUOutOfRange: UInt64 = 0  // off-CPU: blocked times outside --min-us/--max-us (a filter, not a loss)
    public var offCPUStartFull: UInt64 = 0   // off-CPU: switch-outs not followed (too many tasks off the CPU at once)
    public var offCPUStalled: UInt64 = 0     // off-CPU: switch-outs stamped at the scheduler's clock read, a CPU stalled in the scheduler
    public var clockLate: UInt64 = 0         // CPU-clock samples after periods the kernel's timer skipped
    public var clockSkipped: UInt64 = 0      // those periods: no sample, their time not in the profile

    public init() {}

    public var stacksLost: UInt64 { kernelStackFull + kernelStackErrors + userStackFull + userStackErrors }
    public var lost: UInt64 { stacksLost + countFull }

    /// "0 lost (0.00%)", with the causes when any were lost.
    public var lostText: String {
        let pct = samples == 0 ? 0 : Double(lost) / Double(samples) * 100
        var t = "\(lost) lost (\(fixed(pct, 2))%)"
        if lost > 0 {
            t += " [stacks not stored: \(kernelStackFull) kernel, \(userStackFull) user (map full: raise --stack-storage; or no memory in interrupt context); stacks not taken: \(kernelStackErrors) kernel, \(userStackErrors) user; count map full: \(countFull)]"
        }
        return t + skippedText + lateText
    }

    /// Periods the kernel's sampling timer skipped before a sample of the target: time it ran that no sample
    /// stands for (perf counts one sample there too). Said, so a late-sampled profile never passes for whole.
    public var lateText: String {
        guard clockLate > 0 else { return "" }
        let late = clockLate == 1 ? "1 sample came" : "\(clockLate) samples came"
        let periods = clockSkipped == 1 ? "1 period" : "\(clockSkipped) periods"
        return "; \(late) late: the kernel's timer skipped \(periods) before them, time not in the profile (a CPU that did not run: an emulator's or hypervisor's turn, or interrupts off)"
    }

    /// Events the kernel did not run ktrace's programs for: never seen, so not in the counts above.
    public var skippedText: String {
        kernelSkipped == 0 ? "" : "; the kernel skipped \(kernelSkipped) runs of ktrace's programs (recursion protection: on PREEMPT_RT a preempted BPF program blocks the others on its CPU)"
    }

    /// Off-CPU: what of the followed switch-outs was not counted. A stack lost at a switch-out, the
    /// count map full, or no room to follow the task.
    public var offCPULost: UInt64 { stacksLost + countFull + offCPUStartFull }

    /// "812 switch-outs, 790 blocked times counted (20 outside --min-us/--max-us), 0 lost (0.00%)"
    public var offCPUText: String {
        let pct = offCPUSwitches == 0 ? 0 : Double(offCPULost) / Double(offCPUSwitches) * 100
        var t = "\(offCPUSwitches) switch-outs, \(offCPUCounted) blocked times counted"
        if offCPUOutOfRange > 0 { t += " (\(offCPUOutOfRange) outside --min-us/--max-us)" }
        t += ", \(offCPULost) lost (\(fixed(pct, 2))%)"
        if offCPULost > 0 {
            t += " [stacks not stored: \(kernelStackFull) kernel, \(userStackFull) user (raise --stack-storage); not taken: \(kernelStackErrors) kernel, \(userStackErrors) user; count map full: \(countFull); too many tasks off the CPU at once: \(offCPUStartFull) (raise --max-tasks)]"
        }
        return t + stalledText + skippedText
    }

    /// Switch-outs whose tracepoint ran 1 ms or more after the scheduler had stopped the task: stamped at the
    /// scheduler's clock read instead, and said, since the tracepoint's own stamp would have made them short.
    public var stalledText: String {
        guard offCPUStalled > 0 else { return "" }
        let n = offCPUStalled == 1 ? "1 switch-out" : "\(offCPUStalled) switch-outs"
        return "; \(n) stamped at the scheduler's clock read: the CPU stalled 1 ms or more inside the scheduler before the switch-out was traced (an emulator's or hypervisor's turn)"
    }

    public var json: JSONValue {
        var o: [(String, JSONValue)] = [("kernel_stack_map_full", .uint(kernelStackFull)), ("kernel_stack_errors", .uint(kernelStackErrors)),
                 ("user_stack_map_full", .uint(userStackFull)), ("user_stack_errors", .uint(userStackErrors)),
                 ("count_map_full", .uint(countFull)), ("events_dropped", .uint(eventsDropped))]
        if offCPUSwitches > 0 { o.append(("offcpu_tasks_full", .uint(offCPUStartFull))); o.append(("offcpu_stalled_switch_outs", .uint(offCPUStalled))) }
        if kernelSkipped > 0 { o.append(("kernel_skipped_runs", .uint(kernelSkipped))) }
        if clockLate > 0 { o.append(("clock_late_samples", .uint(clockLate))); o.append(("clock_skipped_periods", .uint(clockSkipped))) }
        return .object(o)
    }
}
