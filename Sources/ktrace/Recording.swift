import KtraceCore
import KtraceKernel

/// The banner once every program is attached: recording has begun. Always printed, with or without -d,
/// so that a script (or a test) can start its workload then: attaching can take seconds on a slow
/// kernel or emulator, and a workload started by the clock alone may be half done by then.
func announceRecording(_ what: String, duration: Double?) {
    note(duration.map { "\(what) for \(fixed($0, 1, trim: true)) s... (Ctrl-C to end early)" } ?? "\(what)... hit Ctrl-C to end.")
}

/// Record for `duration` seconds (nil: until Ctrl-C), or until every one of `watching` exits (with a
/// note). With a profile `session`, its unwind tables follow processes and libraries that appear meanwhile.
/// Returns the seconds actually recorded.
func record(for duration: Double?, since: UInt64? = nil, watching ids: [Int32], session: ProfileSession? = nil,
            poll: (() -> Void)? = nil) -> Double {
    let tick = session.map { s in { s.refreshUnwindTables(); poll?() } } ?? poll
    let end = recordUntilEnd(duration: duration, since: since, watching: ids, poll: tick)
    if end.targetsExited {
        note("target \(ids.map(String.init).joined(separator: ",")) exited after \(fixed(end.seconds, 1)) s: showing what was sampled until then")
    }
    return end.seconds
}

/// How user stacks were walked with unwind tables, when they were.
func noteUnwinding(_ session: ProfileSession) {
    if let u = session.unwindSummary() { note(u.line) }
    if let p = session.unwindProblem { note("user stacks by frame pointers: the unwinder did not load on this kernel (\(p))") }
}

/// The count map had no room for some distinct stacks: their samples are not in the output.
func warnIfCountMapFull(_ losses: ProfileLosses) {
    if losses.countFull > 0 { note("warning: the stack count map was full; raise --stack-storage") }
}
