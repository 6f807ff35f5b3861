import ArgumentParser
import Glibc
import KtraceKernel

/// What a command prints each interval, as its --help names it ("report", "table"): the man pages are
/// generated from --help.
protocol IntervalWording { static var reportNoun: String { get } }

/// `INTERVAL [COUNT]` and -T, for the commands that report every interval (softirq, kthreads), and the
/// loop that reports by them.
struct IntervalOptions<Wording: IntervalWording>: ParsableArguments {
    @Argument(help: ArgumentHelp("Seconds between \(Wording.reportNoun)s (default: one \(Wording.reportNoun) at Ctrl-C)."))
    var interval: Double?
    @Argument(help: ArgumentHelp("Number of \(Wording.reportNoun)s (default: until Ctrl-C).")) var count: Int?
    @Flag(name: [.customShort("T"), .long], help: ArgumentHelp("Print a timestamp with each \(Wording.reportNoun)."))
    var timestamp = false

    func validate() throws {
        if let interval, !(interval > 0 && interval <= maxSeconds) {
            throw ValidationError("interval must be a number of seconds between 0 and \(Int(maxSeconds)), got \(interval)")
        }
        if let count, count <= 0 { throw ValidationError("count must be a positive integer, got \(count)") }
    }

    /// Waits for each interval's end (without an interval: Ctrl-C), then writes what `report` makes of
    /// the interval just ended, given -T's timestamp; `separator` goes between two reports. Ends after
    /// `count` reports, at Ctrl-C, or after the one report at Ctrl-C.
    func run(separator: String = "", _ report: (_ timestamp: String?) -> String) {
        var done = 0
        while true {
            let stopped = StopSignal.wait(ms: interval.map { Int(($0 * 1000).rounded()) } ?? Int.max / 2)
            if !writeAll(1, report(timestamp ? clockTimestamp() : nil)) { fail("cannot write to standard output: \(String(cString: strerror(errno)))") }
            done += 1
            if stopped || interval == nil || (count.map { done >= $0 } ?? false) { break }
            if !separator.isEmpty { _ = writeAll(1, separator) }
        }
    }
}

/// Wall-clock "HH:MM:SS" for -T.
func clockTimestamp() -> String {
    var now = time(nil), parts = tm()
    localtime_r(&now, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
}
