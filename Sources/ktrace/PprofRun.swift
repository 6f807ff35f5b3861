import Glibc
import KtraceCore

/// A pprof profile of what a command gathered, ending now and `seconds` long.
struct PprofRun {
    var kind: Pprof.Kind
    var seconds: Double
    var perThread: Bool
    var comments: [String]

    /// The gzip-compressed profile, or a one-line failure.
    func file(_ counts: [StackCount], _ s: StackSymbolizer, wakers: Bool = false) -> [UInt8] {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let durationNs = Int64(seconds * 1e9)
        let run = Pprof.Run(kind: kind, startUnixNs: Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - durationNs,
                            durationNs: durationNs, perThread: perThread, comments: comments)
        do { return try Pprof.file(Pprof.profile(counts, s, run: run, wakers: wakers)) } catch { fail("cannot encode the pprof profile: \(error)") }
    }
}
