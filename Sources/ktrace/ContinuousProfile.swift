import KtraceCore
import KtraceKernel

/// `stacks --interval N -o DIR/`: one profile per interval, each holding only that interval's samples.
/// At each interval's end the kernel's count map changes epoch (as softirq's stats do), so the ended
/// interval's entries are final when they are read and removed, and no sample falls between two files.
/// Stored stacks are then removed from the kernel's maps too, so an always-on run does not fill them.
final class ContinuousProfile {
    let directory: String
    let fileExtension: String
    let verbose: Bool
    private var written = 0

    init(directory: String, fileExtension: String, verbose: Bool) {
        self.directory = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.fileExtension = fileExtension
        self.verbose = verbose
    }

    typealias Render = (_ counts: [StackCount], _ symbolizer: StackSymbolizer, _ seconds: Double, _ startUnixNs: Int64) -> [UInt8]

    /// Records until the duration, Ctrl-C/SIGTERM or the targets' exit, writing a profile every `every`
    /// seconds and one for the last, partial interval. `symbolizer` makes a fresh namer per interval (the
    /// symbol tables it shares stay loaded), `render` the file's bytes. Returns the number of files written.
    func run(_ session: ProfileSession, every: Double, duration: Double?, watching: [Int32], countEntries: Int,
             symbolizer: @escaping () -> StackSymbolizer, render: @escaping Render) -> Int {
        // The first interval began when the session began counting, not when this loop got to run (300 ms
        // later under emulation: the first file held 265 samples a second at 199 Hz).
        var start = session.countingSinceNs
        let poll = {
            guard Double(Kernel.monotonicNs() - start) >= every * 1e9 else { return }
            start = self.write(session, since: start, countEntries: countEntries, symbolizer(), render)
        }
        _ = record(for: duration, since: session.countingSinceNs, watching: watching, session: session, poll: poll)
        session.stop()
        _ = write(session, since: start, countEntries: countEntries, symbolizer(), render)
        return written
    }

    /// Drains the interval begun at `since`, writes its file; returns when the next interval began.
    private func write(_ session: ProfileSession, since: UInt64, countEntries: Int, _ s: StackSymbolizer, _ render: Render) -> UInt64 {
        let counts: [StackCount], endNs: UInt64
        do { (counts, endNs) = try session.drain(max: countEntries) } catch { fail(error.message) }
        let seconds = Double(endNs - since) / 1e9
        // The interval's start on the wall clock, as the session counts it. Not the clock when the file is
        // written, later by the drain and the naming (1.7 s for the first file on 6.12 under TCG): a late first
        // file then took a later second than the next one's (a CI run on 6.12 sorted 0002 first).
        let startUnixNs = session.unixNs(atMonotonic: since)
        StackProfile.prepareNaming(counts, s)
        let path = "\(directory)/" + IntervalFileName.name(startUnixNs: startUnixNs, number: written + 1, fileExtension: fileExtension)
        writeOutput(bytes: render(counts, s, seconds, startUnixNs), to: path, atomic: true)
        session.retireStacks()
        written += 1
        if verbose {
            // The next interval began at the flip; it ends at the first check after both its length and this
            // write: a write slower than the interval lengthens the next one, and says so here.
            let samples = counts.reduce(UInt64(0)) { $0 &+ $1.count }
            let took = Double(Kernel.monotonicNs() - endNs) / 1e9
            note("\(path): \(samples) samples in \(counts.count) stacks over \(fixed(seconds, 1)) s, written \(fixed(took, 2)) s after its end")
        }
        return endNs
    }
}
