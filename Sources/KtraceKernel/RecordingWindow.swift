import FoundationEssentials
import KtraceCore

/// How a recording window ended.
public struct RecordingEnd: Sendable {
    public var seconds: Double
    /// Set when it ended because every watched target had exited.
    public var targetsExited = false
}

/// Sleep for `duration` seconds (nil: until Ctrl-C), calling `poll` every 200 ms at most; ends early
/// when every one of `watching` (pids or tids) has exited.
public func recordUntilEnd(duration: Double?, since: UInt64? = nil, watching ids: [Int32], poll: (() -> Void)? = nil) -> RecordingEnd {
    let start = since ?? Kernel.monotonicNs()
    let endNs = duration.map { start + UInt64($0 * 1e9) }
    var exited = false
    while !StopSignal.requested {
        let now = Kernel.monotonicNs()
        if let endNs, now >= endNs { break }
        let step = endNs.map { min(Int(($0 - now) / 1_000_000), 200) } ?? 200
        if StopSignal.wait(ms: max(step, 1)) { break }
        poll?()
        if !ids.isEmpty, ids.allSatisfy({ !isAlive($0) }) {
            exited = true
            break
        }
    }
    return RecordingEnd(seconds: Double(Kernel.monotonicNs() - start) / 1e9, targetsExited: exited)
}
