import KtraceCore
import KtraceKernel

/// Open the sampler, or fail with the kernel's reason; `verbose` also says how it attached. With `start`,
/// events and off-CPU time are counted from now; else the command calls startCounting once set up.
func openProfile(_ config: ProfileConfig, verbose: Bool, rate: String, start: Bool = true) -> ProfileSession {
    requireTracingPrivileges()
    Kernel.setVerbose(verbose)
    if case .kprobe = config.event, let problem = Kernel.kprobeProblem() {
        fail("--event \(config.event): kprobes do not work on this kernel (\(problem)); tracepoint: events do")
    }
    let started = Kernel.monotonicNs()
    let session: ProfileSession
    do { session = try ProfileSession(config) } catch { fail(error.message) }
    let prealloc = session.preallocatedStacks
    // The maps of stacks not taken are one entry each (ProfileSession): not worth a word.
    let kinds = [session.kernelStacks ? "kernel" : nil, session.userStacks ? "user" : nil].compactMap { $0 }
    if prealloc > 0 && !kinds.isEmpty && (config.stackStorage > prealloc || verbose) {
        note("stack maps preallocated with \(min(config.stackStorage, prealloc)) \(kinds.joined(separator: " and as many ")) stacks "
             + "of up to \(ProfileSession.shortStackFrames) frames, and as many deeper: allocating them "
             + "on demand in a perf_event program needs Linux 6.1, and loses stacks before 6.2 and on PREEMPT_RT")
    }
    if verbose {
        let ms = Double(Kernel.monotonicNs() - started) / 1e6
        let kind = config.trackSoftirq || config.timeline != nil || config.offCPU != nil ? " tracepoints with \(session.attachKind.rawValue)," : ""
        note("sampling \(config.event.description) at \(rate);\(kind) attached in \(fixed(ms, 1)) ms; \(memoryUse())")
    }
    if start { startCounting(session) }
    return session
}

func startCounting(_ session: ProfileSession) {
    do { try session.start() } catch { fail(error.message) }
}
